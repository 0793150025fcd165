"""Evaluation: the metrics that fit a run's data, computed on G_ema unless told otherwise.

Metric names:
  modes    2-D Gaussian mixtures (PacGAN protocol): modes covered, high-quality fraction, reverse KL
  fid kid  Fréchet / kernel distances in the feature space of a feature extractor
  is       Inception-style score (extractors with class logits)
  pr dc    precision/recall (k=3) and density/coverage (k=5) in that feature space
  classes  class coverage of labelled digit data: KL of the predicted-class histogram to the data's,
           confident fraction, classes present
  stacked  Stacked MNIST: distinct digit triples out of 1,000 and KL to uniform

`auto` picks: `modes` for mixtures; `stacked` for stacked-mnist; fid, kid, is, pr, dc (+ classes when
labelled with 10 classes) for 1-channel images with the shipped digit classifier; with a user's
`--features` TorchScript file: fid, kid, pr, dc (+ is when it exposes logits).
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .data import Dataset
from .errors import GankitError
from .metrics.image import STACKED_MNIST_SAMPLES, class_coverage, image_metrics, stacked_mnist_modes
from .metrics.modes import PROTOCOL_SAMPLES, mode_stats

ALL_METRICS = ("modes", "fid", "kid", "is", "pr", "dc", "classes", "stacked")
IMAGE_SAMPLES = 5000


def load_extractor(features: str | Path | None, spec):
    """The feature extractor for this data: the user's TorchScript file, or the shipped digit
    classifier for 1-channel images and Stacked MNIST; None where gankit has none."""
    from .metrics.features import digit_features, load_torchscript_features

    if features:
        return load_torchscript_features(features)
    if spec.kind == "image" and (spec.shape[0] == 1 or spec.name == "stacked-mnist"):
        return digit_features()
    return None


def auto_metrics(spec, extractor) -> list[str]:
    if spec.kind == "points":
        return ["modes"] if "means" in spec.meta else []
    if spec.kind != "image" or extractor is None:
        return []
    if spec.name == "stacked-mnist":
        return ["stacked"]
    names = ["fid", "kid", "pr", "dc"] + (["is"] if extractor.has_logits else [])
    if spec.num_classes == 10 and extractor.has_logits and extractor.name.startswith("digit"):
        names.append("classes")
    return names


def check_metrics(names, spec, extractor) -> list[str]:
    for name in names:
        if name not in ALL_METRICS:
            raise GankitError(f"unknown metric {name!r}; choose from {', '.join(ALL_METRICS)} or auto")
        if name == "modes" and "means" not in spec.meta:
            raise GankitError(f"metric 'modes' needs a Gaussian-mixture dataset; {spec.name} is not one")
        if name != "modes" and spec.kind != "image":
            raise GankitError(f"metric {name!r} is for images; {spec.name} is {spec.kind} data")
        if name != "modes" and extractor is None:
            raise GankitError(f"no feature network for {spec.name} ({spec.shape[0]}-channel images): "
                              "pass --features PATH (a TorchScript feature extractor)")
    return list(names)


class Evaluator:
    """Computes `metrics` for generated samples against `dataset`; real-set features are cached."""

    def __init__(self, dataset: Dataset, metrics: str | list[str] = "auto", n: int = 0,
                 features: str | Path | None = None, seed: int = 0):
        self.dataset, self.spec, self.seed = dataset, dataset.spec, seed
        self.extractor = load_extractor(features, self.spec)
        names = auto_metrics(self.spec, self.extractor) if metrics in ("auto", ["auto"]) else \
            ([metrics] if isinstance(metrics, str) else list(metrics))
        if not names:
            raise GankitError(f"no metric fits {self.spec.name} ({self.spec.kind} data); "
                              "pass --features PATH for images of 3 channels")
        self.metrics = check_metrics(names, self.spec, self.extractor)
        self.n = n or self.default_samples()
        self._real = None

    def default_samples(self) -> int:
        if "modes" in self.metrics:
            return PROTOCOL_SAMPLES
        if "stacked" in self.metrics:
            return STACKED_MNIST_SAMPLES
        return min(IMAGE_SAMPLES, len(self.dataset))

    def real_images(self) -> torch.Tensor:
        if self._real is None:
            pick = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed))
            self._real = self.dataset.batch(pick[:min(self.n, IMAGE_SAMPLES)]).x
        return self._real

    def __call__(self, recipe, nets: Mapping[str, nn.Module], ema: bool = True) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed + 1)
        fake = recipe.sample(nets, self.n, generator=generator, ema=ema).cpu()
        return self.score(fake)

    def score(self, fake: torch.Tensor) -> dict[str, float]:
        out: dict[str, float] = {}
        if "modes" in self.metrics:
            s = mode_stats(fake, self.spec.meta["means"], self.spec.meta["std"])
            out.update(modes=s["modes"], high_quality=s["high_quality"], reverse_kl=s["reverse_kl"])
        if "stacked" in self.metrics:
            s = stacked_mnist_modes(fake, self.extractor)
            out.update(stacked_modes=s["modes"], stacked_kl=s["kl"])
        feature_metrics = [m for m in self.metrics if m in ("fid", "kid", "is", "pr", "dc")]
        if feature_metrics:
            out.update(image_metrics(fake, self.real_images(), self.extractor, feature_metrics, seed=self.seed))
        if "classes" in self.metrics:
            s = class_coverage(fake, self.extractor, self.dataset.y, self.spec.num_classes)
            out.update(class_kl=s["kl"], confident=s["confident"], classes_present=s["classes"])
        return out
