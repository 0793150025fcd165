"""Evaluation: the metrics that fit a run's data, computed on G_ema unless told otherwise.

Metrics register by name with the kinds of data they apply to (`register_metric`); `auto` asks the data's
modality which ones fit (modalities/): the PacGAN mode protocol for 2-D mixtures; Stacked MNIST's mode
count for digit-channel images; FID, KID, IS, precision/recall, density/coverage (+ class coverage for
labelled digits) for images with a feature network, the shipped digit classifier or the user's
TorchScript file (`--features`). `gankit eval --help` lists every registered metric.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data import Dataset
from .errors import GankitError
from .metrics.image import STACKED_MNIST_SAMPLES, class_coverage, image_metrics, stacked_mnist_modes
from .metrics.modes import PROTOCOL_SAMPLES, mode_stats
from .modalities import get_modality

IMAGE_SAMPLES = 5000


@dataclass(frozen=True)
class Metric:
    name: str
    kinds: tuple[str, ...]                          # kinds of data it applies to
    help: str
    compute: Callable[["Evaluator", torch.Tensor, list[str]], dict]  # (evaluator, fakes, names of its group)
    needs_features: bool = False                    # a feature network (images)
    requires: Callable[[object], str | None] = lambda spec: None  # why it cannot apply to this data, or None
    samples: int = 0                                # the protocol's sample count (0: min(5,000, data size))


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric


def _modes(ev, fake, names):
    s = mode_stats(fake, ev.spec.meta["means"], ev.spec.meta["std"])
    return {"modes": s["modes"], "high_quality": s["high_quality"], "reverse_kl": s["reverse_kl"]}


def _stacked(ev, fake, names):
    s = stacked_mnist_modes(fake, ev.extractor)
    return {"stacked_modes": s["modes"], "stacked_kl": s["kl"]}


def _features(ev, fake, names):
    return image_metrics(fake, ev.real_images(), ev.extractor, names, seed=ev.seed)


def _classes(ev, fake, names):
    s = class_coverage(fake, ev.extractor, ev.dataset.y, ev.spec.num_classes)
    return {"class_kl": s["kl"], "confident": s["confident"], "classes_present": s["classes"]}


for _m in [
    Metric("modes", ("points",), "2-D mixtures (PacGAN): modes covered, high-quality fraction, reverse KL", _modes,
           requires=lambda s: None if "means" in s.meta else "needs a Gaussian-mixture dataset",
           samples=PROTOCOL_SAMPLES),
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
    register_metric(_m)


def load_extractor(features: str | Path | None, spec):
    """The user's TorchScript feature network, or the one gankit ships for this data (or None)."""
    from .metrics.features import load_torchscript_features

    return load_torchscript_features(features) if features else get_modality(spec.kind).default_extractor(spec)


def check_metrics(names, spec, extractor) -> list[str]:
    for name in names:
        if name not in METRICS:
            raise GankitError(f"unknown metric {name!r}; choose from {', '.join(METRICS)} or auto")
        metric = METRICS[name]
        if spec.kind not in metric.kinds:
            raise GankitError(f"metric {name!r} is for {' or '.join(metric.kinds)} data; {spec.name} is "
                              f"{spec.kind} data")
        if (reason := metric.requires(spec)) is not None:
            raise GankitError(f"metric {name!r} {reason}; {spec.name} is not one")
        if metric.needs_features and extractor is None:
            raise GankitError(f"no feature network for {spec.name} ({spec.shape[0]}-channel images): "
                              "pass --features PATH (a TorchScript feature extractor)")
    return list(names)


class Evaluator:
    """Computes `metrics` for generated samples against `dataset`; real-set features are cached."""

    def __init__(self, dataset: Dataset, metrics: str | list[str] = "auto", n: int = 0,
                 features: str | Path | None = None, seed: int = 0):
        self.dataset, self.spec, self.seed = dataset, dataset.spec, seed
        self.extractor = load_extractor(features, self.spec)
        names = get_modality(self.spec.kind).default_metrics(self.spec, self.extractor) \
            if metrics in ("auto", ["auto"]) else ([metrics] if isinstance(metrics, str) else list(metrics))
        if not names:
            raise GankitError(f"no metric fits {self.spec.name} ({self.spec.kind} data); "
                              "pass --features PATH for images of 3 channels")
        self.metrics = check_metrics(names, self.spec, self.extractor)
        self.n = n or max([METRICS[m].samples for m in self.metrics] + [0]) or min(IMAGE_SAMPLES, len(dataset))
        self._real = None

    def real_images(self) -> torch.Tensor:
        if self._real is None:
            pick = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed))
            self._real = self.dataset.batch(pick[:min(self.n, IMAGE_SAMPLES)]).x
        return self._real

    def __call__(self, recipe, nets: Mapping[str, nn.Module], ema: bool = True) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed + 1)
        options = {"ema": ema} if recipe.ema_nets() else {}  # G or its EMA copy, for recipes that keep one
        fake = recipe.sample(nets, self.n, generator=generator, **options).cpu()
        return self.score(fake)

    def score(self, fake: torch.Tensor) -> dict[str, float]:
        """Each metric group (metrics sharing a compute function, e.g. the feature metrics) runs once."""
        out: dict[str, float] = {}
        groups: dict[Callable, list[str]] = {}
        for name in self.metrics:
            groups.setdefault(METRICS[name].compute, []).append(name)
        for compute, names in groups.items():
            out.update(compute(self, fake, names))
        return out
