"""Images [N, C, H, W] in [-1, 1]: PNG grids, class rows, digit-classifier features for digit data.

Datasets describe themselves through `spec.meta`: `digits: true` (1-channel digit images whose classes
are the digits 0-9: the shipped classifier sorts samples into them), `metrics: [...]` (a protocol that
replaces the default feature metrics, e.g. Stacked MNIST's mode count).
"""

from .. import viz
from ..metrics.image import STACKED_MNIST_SAMPLES, class_coverage, image_metrics, stacked_mnist_modes
from ..metrics.registry import Metric, register_metric
from .base import Modality, check_extension, register


@register
class ImageModality(Modality):
    kind = "image"
    extensions = (".png", ".npy")
    preview_count = 64

    def preview(self, samples, spec, path, real=None, title=""):
        return viz.save_image_grid(samples, path)

    def write(self, samples, spec, out, rows=None, title=""):
        out = check_extension(out, self.extensions, spec)
        if out.suffix.lower() == ".npy":
            return super().write(samples, spec, out)
        return [viz.save_image_grid(samples, out, nrow=rows)]

    def class_picture(self, samples, spec, path, per_class):
        return viz.save_image_grid(samples, path, nrow=per_class)

    def default_extractor(self, spec):
        """The shipped digit classifier, for 1-channel images and for data made of digit channels."""
        from ..metrics.features import digit_features

        return digit_features() if spec.shape[0] == 1 or spec.meta.get("digit_channels") else None

    def default_metrics(self, spec, extractor):
        if spec.meta.get("metrics"):
            return list(spec.meta["metrics"])
        if extractor is None:
            return []
        names = ["fid", "kid", "pr", "dc"] + (["is"] if extractor.has_logits else [])
        if spec.meta.get("digits") and extractor.has_logits and extractor.name.startswith("digit"):
            names.append("classes")
        return names

    def class_probe(self, spec):
        if not (spec.meta.get("digits") and spec.shape[0] == 1 and spec.num_classes == 10):
            return None
        from ..metrics.features import digit_features

        classifier = digit_features()
        return lambda x: classifier.extract(x.float().cpu(), logits=True)[1].argmax(1)




def _features(ev, fake, names):
    return image_metrics(fake, ev.real_images(), ev.extractor, names, seed=ev.seed)


def _classes(ev, fake, names):
    s = class_coverage(fake, ev.extractor, ev.dataset.y, ev.spec.num_classes)
    return {"class_kl": s["kl"], "confident": s["confident"], "classes_present": s["classes"]}


def _stacked(ev, fake, names):
    s = stacked_mnist_modes(fake, ev.extractor)
    return {"stacked_modes": s["modes"], "stacked_kl": s["kl"]}


for _metric in [
    Metric("fid", ("image",), "Fréchet distance in the feature network's space", _features, needs_features=True),
    Metric("kid", ("image",), "kernel (MMD) distance in that space", _features, needs_features=True),
    Metric("is", ("image",), "Inception-style score (extractors with class logits)", _features, needs_features=True),
    Metric("pr", ("image",), "precision/recall (k=3)", _features, needs_features=True),
    Metric("dc", ("image",), "density/coverage (k=5)", _features, needs_features=True),
    Metric("classes", ("image",), "class coverage of labelled data: KL to the data's class histogram, "
           "confident fraction, classes present", _classes, needs_features=True,
           requires=lambda s: None if s.num_classes else "needs labelled data"),
    Metric("stacked", ("image",), "Stacked MNIST: distinct digit triples of 1,000 and KL to uniform", _stacked,
           needs_features=True, samples=STACKED_MNIST_SAMPLES,
           requires=lambda s: None if s.shape[0] == 3 else "needs 3-channel digit images"),
]:
    register_metric(_metric)
