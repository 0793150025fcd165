"""A user's folder of images: `--data folder:PATH`.

Every common image format Pillow reads is accepted. Images are resized so the
shorter side equals the resolution, then center-cropped to a square. Channels:
grayscale if every image is gray, RGB otherwise (or forced by `channels`).
If every image sits in a sub-folder, the top-level sub-folder names are the
class labels; otherwise the folder is unlabelled.

Bad input never reaches training: a missing or empty folder, or one where no
image can be read, is a one-line error naming the path; a few unreadable files
in a larger folder are skipped and reported in one warning.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import GankitError
from ..log import warn
from .base import Dataset, image_spec

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
DEFAULT_RESOLUTION = 64


def list_images(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(files)


def _load_rgb(path: Path, resolution: int) -> np.ndarray:
    """Decode, resize the shorter side to `resolution`, center-crop: [H, W, 3] uint8."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # force a full decode, so truncated files fail here
        img = img.convert("RGB")
        w, h = img.size
        scale = resolution / min(w, h)
        new_size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
        img = img.resize(new_size, Image.Resampling.LANCZOS)
        left, top = (new_size[0] - resolution) // 2, (new_size[1] - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
        return np.asarray(img, dtype=np.uint8)


def _try_load(path: Path, resolution: int):
    try:
        return _load_rgb(path, resolution), None
    except Exception as e:  # Pillow raises many types for bad files; all mean "unreadable"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, reason


def _labels(root: Path, files: list[Path]) -> tuple[torch.Tensor | None, tuple[str, ...]]:
    tops = [p.relative_to(root).parts for p in files]
    if not tops or any(len(parts) < 2 for parts in tops):
        return None, ()
    names = tuple(sorted({parts[0] for parts in tops}))
    if len(names) < 2:
        return None, ()
    index = {n: i for i, n in enumerate(names)}
    return torch.tensor([index[parts[0]] for parts in tops]), names


def folder_files(path: str) -> tuple[Path, list[Path]]:
    """The folder's root and its image files (sorted), or a one-line error for a missing/empty folder."""
    root = Path(path).expanduser()
    if not root.exists():
        raise GankitError(f"folder:{path}: no such folder")
    if not root.is_dir():
        raise GankitError(f"folder:{path}: {root} is a file, not a folder of images")
    files = list_images(root)
    if not files:
        raise GankitError(f"folder:{path}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return root, files


def decode_all(path: str, root: Path, files: list[Path], resolution: int, workers: int = 8):
    """Decode `files` (threads: Pillow releases the GIL); returns the readable (path, [H, W, 3] uint8)
    pairs, warning once about unreadable ones and failing if none can be read."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, os.cpu_count() or 1))) as pool:
        results = list(pool.map(lambda p: _try_load(p, resolution), files))
    bad = [(p, reason) for p, (arr, reason) in zip(files, results) if arr is None]
    good = [(p, arr) for p, (arr, _) in zip(files, results) if arr is not None]
    if not good:
        first, reason = bad[0]
        raise GankitError(f"folder:{path}: none of the {len(files)} images could be read; "
                          f"{first.relative_to(root)}: {reason}")
    if bad:
        examples = "; ".join(f"{p.relative_to(root)} ({r})" for p, r in bad[:3])
        warn(f"folder:{path}: skipped {len(bad)} of {len(files)} images that could not be read: {examples}"
             + (" ..." if len(bad) > 3 else ""))
    return good


def is_gray(images: torch.Tensor) -> bool:
    """[N, 3, H, W] uint8: every pixel has R = G = B."""
    return bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all())


def image_folder(path: str, resolution: int = 0, channels: int = 0) -> Dataset:
    """The whole folder decoded once into memory (uint8): see data/stream.py for folders too big for that."""
    root, files = folder_files(path)
    resolution = resolution or DEFAULT_RESOLUTION
    good = decode_all(path, root, files, resolution)
    paths = [p for p, _ in good]
    images = torch.from_numpy(np.stack([arr for _, arr in good])).permute(0, 3, 1, 2).contiguous()  # [N, 3, H, W]
    if channels == 1 or (channels == 0 and is_gray(images)):
        images = _to_gray(images)
    labels, names = _labels(root, paths)
    name = "folder-" + (root.resolve().name or "root")
    return Dataset(image_spec(name, images, labels, names, path=str(root.resolve()), files=len(paths)), images, labels)


def _to_gray(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, as Pillow's convert('L'): [N, 1, H, W] uint8."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
