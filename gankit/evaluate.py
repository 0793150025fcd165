"""Evaluation: the metrics that fit a run's data, computed on G_ema unless told otherwise.

Metrics register by name with the kinds of data they apply to (metrics/registry.py; each modality module
registers its own); `auto` asks the data's modality which ones fit. `gankit eval --help` lists them all.
"""

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from .data import Dataset
from .errors import GankitError
from .metrics.registry import METRICS
from .modalities import get_modality

IMAGE_SAMPLES = 5000


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
