"""Image folders streamed from disk: `folder:PATH` data too big to decode into memory once.

`ImageFolderStream` keeps only the file list, the labels and the spec. Each batch is decoded (open,
resize the shorter side, center-crop: the same code as the in-memory loader, so the same file gives the
same pixels) by a pool of worker processes, and the trainer's source asks for the *next* batch to be
decoded in the background while the current one trains (`prefetch`; at most `PREFETCH` batches ahead),
so memory stays flat whatever the folder's size and the images are never all on the device. The batch
for given indices does not depend on the workers, so resume stays bit-exact. A file that cannot be read
in the middle of training does not stop it: the next readable file takes its place (deterministically)
and it is named in one warning.

Channels: 1 if the first `PROBE_FILES` images (in sorted order) are all gray, else 3, unless `channels`
says. `load_dataset` streams a folder when asked (`stream=disk`) or, by default, when its decoded size
(files × 3 × resolution²) would exceed `STREAM_ABOVE_BYTES`.
"""

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import GankitError
from ..log import warn
from .base import Batch, DataSpec
from .folder import DEFAULT_RESOLUTION, _labels, _to_gray, _try_load, decode_all, folder_files, is_gray

STREAM_ABOVE_BYTES = 2 * 2**30   # auto: stream folders whose decoded images would take more than 2 GiB
PROBE_FILES = 64
PREFETCH = 2


def _decode(path: Path, resolution: int):
    return _try_load(path, resolution)


def _decode_many(paths: list[Path], resolution: int) -> list:
    return [_try_load(p, resolution) for p in paths]


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class ImageFolderStream:
    """A folder of images, decoded batch by batch by worker processes (duck-types `Dataset`)."""

    in_memory = False

    def __init__(self, path: str, resolution: int = 0, channels: int = 0, workers: int = 0):
        root, self.files = folder_files(path)
        self.resolution = resolution or DEFAULT_RESOLUTION
        probe = decode_all(path, root, self.files[:PROBE_FILES], self.resolution)
        if channels == 0:
            sample = torch.from_numpy(np.stack([a for _, a in probe])).permute(0, 3, 1, 2)
            channels = 1 if is_gray(sample) else 3
        self.y, names = _labels(root, self.files)
        self.spec = DataSpec("folder-" + (root.resolve().name or "root"), "image",
                             (channels, self.resolution, self.resolution), len(names) if self.y is not None else 0,
                             (-1.0, 1.0), names, {"path": str(root.resolve()), "files": len(self.files),
                                                  "streamed": True})
        self.path, self.root, self.workers = path, root, workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[tuple[int, ...], list[Future]] = {}  # indices -> one future per worker's share
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    # ------------------------------------------------------------------ decoding
    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:  # fork: workers start at once and only run Pillow and numpy
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        return self._pool

    def _submit(self, idx: list[int]) -> list[Future]:
        """One task per worker (a share of the batch each): one round trip per worker, not per image."""
        shares = [idx[w::self.workers] for w in range(self.workers) if idx[w::self.workers]]
        return [self.pool.submit(_decode_many, [self.files[i] for i in share], self.resolution) for share in shares]

    def prefetch(self, idx: Tensor) -> None:
        """Start decoding the batch of these indices in the background."""
        key = tuple(idx.tolist())
        if key not in self._pending and len(self._pending) < PREFETCH:
            self._pending[key] = self._submit(list(key))

    def batch(self, idx: Tensor) -> Batch:
        key = tuple(idx.tolist())
        futures = self._pending.pop(key, None) or self._submit(list(key))
        results = [None] * len(key)
        for w, future in enumerate(futures):  # worker w decoded positions w, w + W, w + 2W, ...
            results[w::len(futures)] = future.result()
        arrays = [self._readable(i, r) for i, r in zip(key, results)]
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()      # [n, 3, H, W] uint8
        if self.spec.shape[0] == 1:
            images = _to_gray(images)
        x = images.float().div_(127.5).sub_(1.0)
        return Batch(x, None if self.y is None else self.y[torch.as_tensor(key, dtype=torch.long)])

    def _readable(self, i: int, result) -> np.ndarray:
        """The decoded image of file i, or (unreadable) of the next readable file after it."""
        for step in range(len(self.files)):
            arr, reason = result if step == 0 else _decode(self.files[(i + step) % len(self.files)], self.resolution)
            if arr is not None:
                return arr
            bad = self.files[(i + step) % len(self.files)]
            if bad not in self._warned:
                self._warned.add(bad)
                warn(f"folder:{self.path}: {bad.relative_to(self.root)} cannot be read ({reason}); "
                     "training goes on with the next readable image in its place")
        raise GankitError(f"folder:{self.path}: no image in the folder can be read any more")

    def all(self) -> Batch:
        raise GankitError("a streamed folder is not loaded whole; draw batches (batch(idx)) instead")

    def to(self, device):
        return self  # batches are moved to the device one by one

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        for futures in self._pending.values():
            for f in futures:
                f.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "ImageFolderStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def decoded_bytes(files: int, resolution: int) -> int:
    return files * 3 * resolution * resolution
