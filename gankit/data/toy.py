"""2-D Gaussian mixtures with the PacGAN protocol (Lin et al. 2018, §5.1; VEEGAN lineage).

- ring8: 8 components, means (cos 2πk/8, sin 2πk/8) (radius 1; never linspace(0, 2π, 8),
  which repeats a mode), isotropic std 0.01.
- grid25: 25 components, means {-4, -2, 0, 2, 4}², std 0.05.

A fixed training set of 100,000 points is drawn with a fixed data seed (like
PacGAN's 100k-point set), so every run trains on the same points whatever its
training seed. Each point is labelled with its component.
"""

import math

import torch

from .base import DataSpec, Dataset

TRAIN_POINTS = 100_000
DATA_SEED = 1234


def ring_means(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return torch.stack([radius * angles.cos(), radius * angles.sin()], 1).float()


def grid_means(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(ticks, ticks)


def mixture(name: str, means: torch.Tensor, std: float, n: int = TRAIN_POINTS, seed: int = DATA_SEED) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(means), (n,), generator=g)
    points = means[labels] + std * torch.randn(n, means.shape[1], generator=g)
    spec = DataSpec(name, "points", (means.shape[1],), len(means), None,
                    tuple(str(i) for i in range(len(means))), {"means": means.tolist(), "std": std})
    return Dataset(spec, points, labels)


def ring8() -> Dataset:
    return mixture("ring8", ring_means(8, 1.0), 0.01)


def grid25() -> Dataset:
    return mixture("grid25", grid_means(5, 2.0), 0.05)
