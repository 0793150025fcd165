"""Mode coverage of 2-D Gaussian mixtures (PacGAN protocol; Lin et al. 2018, §5.1; VEEGAN lineage).

For generated samples (2,500 by the protocol) and a mixture with means μ_k and isotropic std σ:
- a sample is *high quality* if it lies within 3σ of its nearest mean (for an isotropic Gaussian this is
  the Mahalanobis distance < 3 of the PacGAN code);
- *modes covered* = the number of means that are nearest to at least one high-quality sample;
- *reverse KL* = KL(p̂ ‖ uniform) of the histogram of high-quality samples over their nearest means
  (0 for a perfectly balanced generator, log K when everything sits in one mode).
"""

import torch
from torch import Tensor

from .histograms import histogram_kl

PROTOCOL_SAMPLES = 2500


def mode_stats(samples: Tensor, means: Tensor | list, std: float, threshold: float = 3.0) -> dict:
    """{modes, high_quality, reverse_kl, counts, n} for samples [N, D] against mixture means [K, D]."""
    x = samples.detach().double().cpu()
    mu = torch.as_tensor(means, dtype=torch.float64)
    finite = torch.isfinite(x).all(1)
    dist = torch.cdist(x[finite], mu)                   # [N', K]
    nearest_dist, nearest = dist.min(1)
    hq = nearest_dist < threshold * std
    counts = torch.bincount(nearest[hq], minlength=len(mu))
    return {
        "modes": int((counts > 0).sum()),
        "max_modes": len(mu),
        "high_quality": float(hq.sum()) / max(1, len(x)),
        "reverse_kl": histogram_kl(counts),
        "counts": counts.tolist(),
        "n": len(x),
    }
