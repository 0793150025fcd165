"""KL divergence of a histogram of samples against a reference distribution (mode and class coverage)."""

import torch
from torch import Tensor


def histogram_kl(counts: Tensor, reference: Tensor | None = None, smoothing: float = 0.0) -> float:
    """KL(p̂ ‖ q) with p̂ = counts / Σ counts and q = (reference + smoothing) normalised (uniform if None).

    0·log 0 = 0; where p̂ > 0 = q the result is inf, as it should be (samples of a class the data lacks),
    unless `smoothing` > 0 keeps q positive (the live health checks use 0.5). NaN for an empty histogram.
    """
    total = counts.sum()
    if total == 0:
        return float("nan")
    p = counts.double() / total
    q = torch.ones_like(p) if reference is None else torch.as_tensor(reference).double()
    q = q + smoothing
    q = q / q.sum()
    nz = p > 0
    return float((p[nz] * (p[nz] / q[nz]).log()).sum())
