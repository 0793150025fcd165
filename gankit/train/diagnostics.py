"""Live training-health checks: the course's failure modes, named when they happen.

At every logging step the trainer hands the interval's averaged stats (and a probe of fixed-noise
samples) to `Diagnostics.check`, which adds a few `diag/*` scalars and returns warnings. Each warning
fires once per run, names the problem and the course's remedy:

- **Discriminator dominance / saturation** (Goodfellow et al. 2014, §3; the course's "κυριαρχία"):
  D is confident on both sides (mean sigmoid D(x) > 0.9 and D(G(z)) < 0.1) and most fake logits sit in
  the flat part of the sigmoid (σ < 0.01). Under the saturating loss log(1 - D(G(z))) the gradient that
  reaches G is scaled by D(G(z)) and vanishes there; under other losses we warn only if G's gradient
  norm also fell below 1% of its first logged value.
- **Mode collapse** (Salimans et al. 2016, §3.2): after a warm-up (10% of the run, at least 500 steps or
  half of a shorter run), the mean pairwise
  distance of fixed-noise samples is below 30% of that of real data; or, for labelled data with a class
  probe (digits: the shipped classifier; 2-D mixtures: the nearest mean), the samples' class histogram
  is far (KL > 1) from the data's.
- **Exploding losses**: a loss beyond 1e4 in magnitude. (NaN or inf stop the run in the trainer, without
  overwriting the last good checkpoint.)
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.base import to_data_space
from ..metrics.histograms import histogram_kl

PROBE_SAMPLES = 256
PROBE_SEED_OFFSET = 3  # the probe's noise: seed + 3 (the training previews use seed + 2)


@dataclass
class HealthWarning:
    key: str
    step: int
    message: str


def mean_pairwise_distance(x: Tensor) -> float:
    flat = x.detach().float().flatten(1)
    n = len(flat)
    if n < 2:
        return 0.0
    return float(torch.pdist(flat).mean())


class Diagnostics:
    """Checks each logged interval of an adversarial recipe; probes G (not G_ema: collapse shows in G
    first) with fixed noise. `classify` sorts samples into the data's classes (the modality's probe)."""

    def __init__(self, recipe, data, classify: Callable[[Tensor], Tensor] | None = None):
        self.recipe = recipe
        self.probabilistic = recipe.objective().probabilistic
        self.saturating = bool(getattr(recipe.cfg, "saturating", False))
        self.classify = classify
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:PROBE_SAMPLES]
        self.real_spread = mean_pairwise_distance(to_data_space(data.spec, data.batch(pick).x))
        self.class_reference = None
        if classify is not None and data.y is not None:
            self.class_reference = torch.bincount(data.y.cpu(), minlength=recipe.spec.num_classes)
        self.fired: dict[str, HealthWarning] = {}
        self.g_grad_start: float | None = None
        self.warmed_up = False

    def probe(self, nets) -> Tensor:
        generator = torch.Generator().manual_seed(self.recipe.cfg.seed + PROBE_SEED_OFFSET)
        return self.recipe.sample(nets, PROBE_SAMPLES, generator=generator, ema=False)

    def check(self, step: int, scalars: dict[str, float], nets) -> list[HealthWarning]:
        """Adds diag/* entries to `scalars` and returns the warnings that fire for the first time."""
        return self.check_samples(step, scalars, self.probe(nets))

    def check_samples(self, step: int, scalars: dict[str, float], samples: Tensor | None) -> list[HealthWarning]:
        # An untrained G is concentrated by construction: judge collapse only after a warm-up of
        # 10% of the run but at least 500 steps (or half of a shorter run).
        steps = self.recipe.cfg.steps
        self.warmed_up = step >= max(1, min(steps // 2, max(steps // 10, 500)))
        new = []
        for key, message in self._problems(scalars, samples):
            if key not in self.fired:
                self.fired[key] = HealthWarning(key, step, message)
                new.append(self.fired[key])
        return new

    def _problems(self, scalars: dict[str, float], samples: Tensor | None):
        yield from self._dominance(scalars)
        if samples is not None:
            yield from self._collapse(scalars, samples)
        for name, value in scalars.items():
            if name.startswith("loss/") and math.isfinite(value) and abs(value) > 1e4:
                yield "exploding", (f"{name} = {value:.3g} is exploding: lower the learning rates, or use a "
                                    "gradient penalty (wgan-gp, r1)")

    def _dominance(self, scalars: dict[str, float]):
        g_grad = scalars.get("grad_norm/G")
        if g_grad is not None and self.g_grad_start is None and g_grad > 0:
            self.g_grad_start = g_grad
        if g_grad is not None and self.g_grad_start:
            scalars["diag/G_grad_relative"] = g_grad / self.g_grad_start
        if not self.probabilistic or "D/p_real" not in scalars:
            return
        p_real, p_fake = scalars["D/p_real"], scalars["D/p_fake"]
        confident = p_real > 0.9 and p_fake < 0.1 and scalars.get("D/saturated_fake", 0.0) > 0.5
        if confident and self.saturating:
            # ∂ log(1 - σ(f)) / ∂f = -σ(f): the signal reaching G is scaled by D(G(z)) itself.
            yield "dominance", (f"the discriminator dominates: D(x) ≈ {p_real:.2f}, D(G(z)) ≈ {p_fake:.3f}, and under "
                                "the saturating loss log(1 - D(G(z))) the generator's gradient is scaled by "
                                "D(G(z)), so it has vanished; try the non-saturating loss (--set saturating=false), "
                                "dropout in D, or wgan-gp")
        elif confident and scalars.get("diag/G_grad_relative", 1.0) < 0.01:
            yield "dominance", (f"the discriminator dominates: D(x) ≈ {p_real:.2f}, D(G(z)) ≈ {p_fake:.3f} and the "
                                "generator's gradient fell below 1% of its start; try a weaker or regularized D "
                                "(dropout, label smoothing, r1) or wgan-gp")

    def _collapse(self, scalars: dict[str, float], samples: Tensor):
        if self.real_spread > 0:
            ratio = mean_pairwise_distance(samples) / self.real_spread
            scalars["diag/diversity"] = ratio
            if ratio < 0.3 and self.warmed_up:
                yield "collapse", (f"mode collapse: generated samples are {ratio:.0%} as spread out as real data; "
                                   "try minibatch discrimination, a conditional GAN, or wgan-gp")
        if self.classify is not None and self.class_reference is not None:
            counts = torch.bincount(self.classify(samples).cpu(), minlength=len(self.class_reference))
            kl = histogram_kl(counts, self.class_reference, smoothing=0.5)
            scalars["diag/class_kl"] = kl
            scalars["diag/classes_present"] = float((counts > 0).sum())
            if kl > 1.0 and self.warmed_up:
                shown = int((counts > 0).sum())
                yield "class_collapse", (f"mode collapse: samples fall in {shown} of {len(counts)} classes "
                                         f"(KL {kl:.2f} to the data's class histogram); try minibatch "
                                         "discrimination or a conditional GAN")
