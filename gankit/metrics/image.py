"""Feature-based image metrics of generated images against real ones.

Features φ(x) come from a `FeatureExtractor` (features.py): the shipped digit classifier for digit
data, or a user's TorchScript network. Each image set is passed through φ once (in chunks of 500);
every metric then works on the stored features and logits.

* FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium", NeurIPS 2017): fit Gaussians N(μ_r, Σ_r), N(μ_f, Σ_f) to the features (unbiased
  covariances, as pytorch-fid and torchmetrics), then
      FID = ‖μ_r − μ_f‖² + tr Σ_r + tr Σ_f − 2 tr (Σ_r Σ_f)^{1/2},
  with tr (Σ_r Σ_f)^{1/2} = tr (Σ_r^{1/2} Σ_f Σ_r^{1/2})^{1/2} = Σ √λ_i of a symmetric PSD matrix:
  two eigh calls in float64 instead of sqrtm of a non-symmetric product (no complex parts to discard).
* KID (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018): unbiased MMD² with the cubic kernel
  k(a, b) = (aᵀb/d + 1)³, mean and std over 100 random subsets of min(1000, n) samples per set
  (torchmetrics' KernelInceptionDistance on the stored features, seeded). When both sets have that
  many samples exactly, every subset is the whole set: one is computed and the std is 0.
* IS (Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016): exp E_x KL(p(y|x) ‖ p(y))
  over 10 splits (torchmetrics' InceptionScore on the stored logits, seeded). Only for extractors
  with class logits; with the digit classifier it is the "MNIST score" (at most 10).
* precision/recall (Kynkäänniemi et al. 2019, k=3) and density/coverage (Naeem et al. 2020, k=5):
  see prdc.py.
* `class_coverage`: the predicted-class histogram of the samples, KL(p̂ ‖ q) against the data's class
  histogram q (uniform if unknown), the fraction of confident predictions (max softmax ≥ threshold)
  and the number of classes present: mode dropping among labelled classes.
* `stacked_mnist_modes`: Stacked MNIST (Metz et al., "Unrolled GANs", 2017; the protocol of VEEGAN,
  Srivastava et al. 2017, and PacGAN, Lin et al. 2018): each of the 3 channels of a sample is a
  digit, classified separately; the mode d0·100 + d1·10 + d2 is one of 1000. Report the number of
  modes hit and KL(p̂ ‖ uniform(1/1000)) with 0·log 0 = 0, normally over 26,000 samples.
"""

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..errors import GankitError
from .features import FeatureExtractor
from .histograms import histogram_kl
from .prdc import density_coverage, precision_recall

METRICS = ("fid", "kid", "is", "pr", "dc")
KID_SUBSET = 1000
KID_SUBSETS = 100
IS_SPLITS = 10
STACKED_MNIST_SAMPLES = 26_000


class _Stored(nn.Module):
    """A 'feature network' that returns its input: torchmetrics then works on features computed once."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # spares torchmetrics its dummy-image probe

    def forward(self, x: Tensor) -> Tensor:
        return x


def _sqrtm_psd(m: Tensor) -> Tensor:
    w, v = torch.linalg.eigh(m)
    return (v * w.clamp_min(0).sqrt()) @ v.T  # tiny negative eigenvalues are round-off of a PSD matrix


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}, in float64, clamped at 0."""
    mu1, cov1, mu2, cov2 = (t.double() for t in (mu1, cov1, mu2, cov2))
    s1 = _sqrtm_psd(cov1)
    inner = s1 @ cov2 @ s1
    root_trace = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    fid = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * root_trace
    return max(0.0, float(fid))  # FID ≥ 0; a -1e-12 is round-off of identical statistics


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (divisor n−1) of features [N, F], in float64."""
    x = features.double()
    if len(x) < 2:
        raise GankitError(f"FID needs at least 2 samples per set, got {len(x)}")
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # torchmetrics' KID and IS draw random subsets from the global RNG: fork it so that results
    # are reproducible and the caller's random stream is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def kid_from_features(real: Tensor, fake: Tensor, subsets: int = KID_SUBSETS, seed: int = 0) -> tuple[float, float]:
    """KID mean and std (torchmetrics, subset size min(1000, n_real, n_fake))."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(KID_SUBSET, len(real), len(fake))
    if size < 2:
        raise GankitError(f"KID needs at least 2 samples per set, got {len(real)} real and {len(fake)} fake")
    if size == len(real) == len(fake):
        subsets = 1  # every "subset" is the whole of both sets and the estimator ignores order: std = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer": we know
        kid = KernelInceptionDistance(feature=_Stored(real.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with _seeded(seed):
        mean, std = kid.compute()
    return float(mean), (float(std) if subsets > 1 else 0.0)


def inception_score_from_logits(logits: Tensor, splits: int = IS_SPLITS, seed: int = 0) -> tuple[float, float]:
    """IS mean and std over splits (torchmetrics; the logits go in unchanged: normalize=False)."""
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        score = InceptionScore(feature=_Stored(logits.shape[1]), splits=max(1, min(splits, len(logits))))
    score.update(logits.double())
    with _seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns on the std of a single split
        mean, std = score.compute()
    return float(mean), (float(std) if score.splits > 1 else 0.0)


def _check_metrics(metrics: Iterable[str]) -> list[str]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    bad = [m for m in names if m not in METRICS]
    if bad:
        raise GankitError(f"unknown image metric {bad[0]!r}; choose from {', '.join(METRICS)}")
    return names


def image_metrics(fake: Tensor, real: Tensor, extractor: FeatureExtractor, metrics: Iterable[str] = METRICS,
                  seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict[str, float]:
    """Metrics of generated images `fake` against `real` ([N, C, H, W], floats in [-1, 1] or uint8).

    Keys: fid; kid, kid_std; is, is_std (only when the extractor has logits; left out otherwise);
    precision, recall ("pr"); density, coverage ("dc"). Each image set goes through the extractor
    once; `seed` fixes the random subsets of KID and the splits of IS.
    """
    names = _check_metrics(metrics)
    want_is = "is" in names and extractor.has_logits
    if not want_is and not set(names) - {"is"}:
        return {}
    f_fake, l_fake = extractor.extract(fake, logits=want_is)
    f_real, _ = extractor.extract(real) if len(set(names) - {"is"}) else (None, None)
    out: dict[str, float] = {}
    if "fid" in names:
        out["fid"] = fid_from_features(f_real, f_fake)
    if "kid" in names:
        out["kid"], out["kid_std"] = kid_from_features(f_real, f_fake, subsets=kid_subsets, seed=seed)
    if want_is:
        out["is"], out["is_std"] = inception_score_from_logits(l_fake, seed=seed)
    if "pr" in names:
        out.update({k: float(v) for k, v in precision_recall(f_real, f_fake).items()})
    if "dc" in names:
        out.update({k: float(v) for k, v in density_coverage(f_real, f_fake).items()})
    return out


def _logits(images: Tensor, extractor: FeatureExtractor, what: str) -> Tensor:
    if not extractor.has_logits:
        raise GankitError(f"{what} needs a classifier; {extractor.name or 'this feature network'} has no logits")
    return extractor.extract(images, logits=True)[1]


def class_coverage(fake: Tensor, extractor: FeatureExtractor, data_labels: Tensor | None = None,
                   num_classes: int = 10, threshold: float = 0.9) -> dict:
    """{counts, kl, confident, classes, num_classes, n}: which classes the samples fall into.

    kl = KL(p̂ ‖ q), p̂ the histogram of predicted classes, q the class histogram of `data_labels`
    (uniform if None); confident = fraction of samples whose max softmax ≥ threshold; classes = number
    of classes predicted at least once.
    """
    logits = _logits(fake, extractor, "class coverage")
    if logits.shape[1] != num_classes:
        raise GankitError(f"the classifier has {logits.shape[1]} classes, not num_classes={num_classes}")
    probs = logits.double().softmax(1)
    counts = torch.bincount(probs.argmax(1), minlength=num_classes)
    if data_labels is None:
        reference = torch.ones(num_classes, dtype=torch.float64)
    else:
        reference = torch.bincount(torch.as_tensor(data_labels).long().flatten().cpu(), minlength=num_classes)
        if len(reference) != num_classes:
            raise GankitError(f"data labels go up to {len(reference) - 1}, beyond num_classes={num_classes}")
    return {
        "counts": counts.tolist(),
        "kl": histogram_kl(counts, reference),
        "confident": float((probs.max(1).values >= threshold).double().mean()),
        "classes": int((counts > 0).sum()),
        "num_classes": num_classes,
        "n": len(fake),
    }


def stacked_mnist_modes(fake3: Tensor, extractor: FeatureExtractor) -> dict:
    """{modes, max_modes, kl, counts, n} of 3-channel Stacked MNIST samples [N, 3, H, W]."""
    if fake3.dim() != 4 or fake3.shape[1] != 3:
        raise GankitError(f"Stacked MNIST samples are [N, 3, H, W], got shape {tuple(fake3.shape)}")
    n, _, h, w = fake3.shape
    # Each channel is one digit: classify the N·3 channels as separate 1-channel images.
    logits = _logits(fake3.reshape(n * 3, 1, h, w), extractor, "Stacked MNIST")
    if logits.shape[1] != 10:
        raise GankitError(f"Stacked MNIST needs a 10-class digit classifier, got {logits.shape[1]} classes")
    digits = logits.argmax(1).reshape(n, 3)
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(modes, minlength=1000)
    return {"modes": int((counts > 0).sum()), "max_modes": 1000, "kl": histogram_kl(counts),
            "counts": counts.tolist(), "n": n}


__all__ = ["METRICS", "STACKED_MNIST_SAMPLES", "class_coverage", "fid_from_features", "frechet_distance",
           "gaussian_stats", "image_metrics", "inception_score_from_logits", "kid_from_features",
           "stacked_mnist_modes"]
