"""2-D points (and other low-dimensional vectors): scatter plots over the real data, the mixture
protocol's mode metrics when the data is a Gaussian mixture (`spec.meta["means"]`)."""

import numpy as np
import torch

from .. import viz
from ..metrics.modes import PROTOCOL_SAMPLES, mode_stats
from ..metrics.registry import Metric, register_metric
from .base import Modality, check_extension, register

PREVIEW_POINTS = 2500


@register
class PointsModality(Modality):
    kind = "points"
    extensions = (".npy", ".png")  # either way: the .npy samples, and for 2-D data a .png scatter beside
    preview_count = PREVIEW_POINTS
    serve_max_n = 5000  # a scatter of 5,000 points is one cheap request

    def preview(self, samples, spec, path, real=None, title=""):
        if samples.shape[1] != 2:
            return None
        return viz.save_scatter(samples, path, real, spec.meta.get("means"), title)

    def preview_real(self, data):
        return data.x[:PREVIEW_POINTS].float().cpu()

    def write(self, samples, spec, out, rows=None, title=""):
        """The samples as .npy, and beside it (2-D data) a .png scatter over the mixture's means."""
        out = check_extension(out, self.extensions, spec).with_suffix(".npy")
        np.save(out, samples.detach().cpu().numpy())
        written = [out]
        if samples.shape[1] == 2:
            written.append(viz.save_scatter(samples, out.with_suffix(".png"), means=spec.meta.get("means"),
                                            title=title))
        return written

    def default_metrics(self, spec, extractor):
        return ["modes"] if "means" in spec.meta else []

    def class_probe(self, spec):
        if "means" not in spec.meta:
            return None
        means = torch.tensor(spec.meta["means"])
        return lambda x: torch.cdist(x.detach().float().cpu(), means).argmin(1)


def _modes(ev, fake, names):
    s = mode_stats(fake, ev.spec.meta["means"], ev.spec.meta["std"])
    return {"modes": s["modes"], "high_quality": s["high_quality"], "reverse_kl": s["reverse_kl"]}


register_metric(Metric("modes", ("points",), "2-D mixtures (PacGAN): modes covered, high-quality fraction, "
                       "reverse KL", _modes, samples=PROTOCOL_SAMPLES,
                       requires=lambda s: None if "means" in s.meta else "needs a Gaussian-mixture dataset"))
