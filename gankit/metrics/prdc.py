"""k-NN manifold metrics over feature vectors: precision/recall and density/coverage.

Real features X = {x_i} (N of them), fake features Y = {y_j} (M). NND_k(x_i) is the distance from x_i
to its k-th nearest neighbour in its own set, the point itself excluded; B(x, r) the closed ball.

* Precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen, Aila, "Improved Precision and Recall
  Metric for Assessing Generative Models", NeurIPS 2019), k = 3:
      manifold(X) = ∪_i B(x_i, NND_k(x_i))
      precision   = (1/M) Σ_j 1[y_j ∈ manifold(X)]        (fidelity: fakes that look real)
      recall      = (1/N) Σ_i 1[x_i ∈ manifold(Y)]        (diversity: reals the generator reaches)
* Density and coverage (Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for
  Generative Models", ICML 2020), k = 5, both from the real balls only (robust to fake outliers):
      density  = 1/(kM) Σ_j Σ_i 1[y_j ∈ B(x_i, NND_k(x_i))]     (≈ 1 when Y ~ X; unbounded above)
      coverage = (1/N) Σ_i 1[∃ j: y_j ∈ B(x_i, NND_k(x_i))]    (reals with a fake in their ball)
  For identical sets Y = X density is exactly (k+1)/k (each ball holds its centre and k neighbours)
  and coverage is 1.

Pairwise distances are computed with torch.cdist in row chunks of at most 2^25 entries, so 10k × 10k
comparisons take a few hundred MB instead of one 800 MB matrix. cdist's fast path expands
|a−b|² = |a|² + |b|² − 2a·b, whose round-off differs between d(a, b) and d(b, a) and leaves
d(a, a) ≈ 1e-8·|a| rather than 0, even in float64. Ties are not rare here: a fake that copies a real
image lies exactly on the ball of the real point whose k-th neighbour it copies. So ball membership
is tested with a slack of 1e-6 relative to the radius plus 1e-6 of the largest feature norm:
far below any real distance between different images, far above the round-off.
"""

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from ..errors import GankitError

CHUNK_ELEMENTS = 2**25  # doubles per distance block: 256 MB
SLACK = 1e-6


def _rows_per_chunk(n_cols: int, chunk: int | None) -> int:
    return chunk if chunk else max(1, CHUNK_ELEMENTS // max(1, n_cols))


def knn_radii(x: Tensor, k: int, chunk: int | None = None) -> Tensor:
    """NND_k(x_i): distance to the k-th nearest neighbour of each row of x, the row itself excluded."""
    x = x.double()
    if len(x) <= k:
        raise GankitError(f"k-NN radii need more than k={k} samples per set, got {len(x)}")
    out = []
    rows = _rows_per_chunk(len(x), chunk)
    for start in range(0, len(x), rows):
        d = torch.cdist(x[start:start + rows], x)
        idx = torch.arange(len(d), device=d.device)
        d[idx, idx + start] = float("inf")  # exclude self by index: duplicates still count as neighbours
        out.append(d.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(out)


def ball_limits(centers: Tensor, radii: Tensor, others: Tensor) -> Tensor:
    """Radii widened by the round-off slack (see the module docstring)."""
    scale = max(float(centers.double().norm(dim=1).max()), float(others.double().norm(dim=1).max()))
    return radii.double() * (1 + SLACK) + SLACK * scale


def ball_membership(query: Tensor, centers: Tensor, radii: Tensor,
                    chunk: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """For query points q_j against closed balls B(c_i, r_i):
    (q_j inside some ball [Q] bool, number of balls holding q_j [Q], each ball holds some query [C] bool)."""
    query, centers = query.double(), centers.double()
    limits = ball_limits(centers, radii, query)
    inside_any, counts = [], []
    covered = torch.zeros(len(centers), dtype=torch.bool, device=centers.device)
    rows = _rows_per_chunk(len(centers), chunk)
    for start in range(0, len(query), rows):
        inside = torch.cdist(query[start:start + rows], centers) <= limits
        inside_any.append(inside.any(1))
        counts.append(inside.sum(1))
        covered |= inside.any(0)
    return torch.cat(inside_any), torch.cat(counts), covered


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, chunk: int | None = None) -> dict[str, Tensor]:
    """Kynkäänniemi et al. 2019 precision and recall of fake features against real ones."""
    fake_in_real, _, _ = ball_membership(fake, real, knn_radii(real, k, chunk), chunk)
    real_in_fake, _, _ = ball_membership(real, fake, knn_radii(fake, k, chunk), chunk)
    return {"precision": fake_in_real.double().mean(), "recall": real_in_fake.double().mean()}


def density_coverage(real: Tensor, fake: Tensor, k: int = 5, chunk: int | None = None) -> dict[str, Tensor]:
    """Naeem et al. 2020 density and coverage of fake features against real ones."""
    _, counts, covered = ball_membership(fake, real, knn_radii(real, k, chunk), chunk)
    return {"density": counts.double().sum() / (k * len(fake)), "coverage": covered.double().mean()}


def _flat(features: Tensor) -> Tensor:
    if features.dim() < 2:
        raise GankitError(f"features must be [B, F], got shape {tuple(features.shape)}")
    return features.detach().flatten(1)


class _RealFakeFeatures(Metric):
    """Stores real and fake feature vectors; k-NN metrics need all of them at compute time."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(k, int) and k >= 1):
            raise GankitError(f"k must be a positive integer, got {k!r}")
        self.k = k
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(self, features: Tensor, real: bool) -> None:
        (self.real_features if real else self.fake_features).append(_flat(features))

    def _sets(self) -> tuple[Tensor, Tensor]:
        if not self.real_features or not self.fake_features:
            raise GankitError(f"{type(self).__name__} needs both real and fake features before compute()")
        return dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)


class PrecisionRecall(_RealFakeFeatures):
    """Improved precision and recall (Kynkäänniemi et al. 2019); `compute()` → {"precision", "recall"}."""

    def __init__(self, k: int = 3, **kwargs):
        super().__init__(k, **kwargs)

    def compute(self) -> dict[str, Tensor]:
        return precision_recall(*self._sets(), k=self.k)


class DensityCoverage(_RealFakeFeatures):
    """Density and coverage (Naeem et al. 2020); `compute()` → {"density", "coverage"}."""

    def __init__(self, k: int = 5, **kwargs):
        super().__init__(k, **kwargs)

    def compute(self) -> dict[str, Tensor]:
        return density_coverage(*self._sets(), k=self.k)
