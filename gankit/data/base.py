"""In-memory datasets and a resumable batch sampler.

Small datasets (all the bundled ones, and image folders of moderate size) live
in memory as one tensor, so a training step costs an index, not a DataLoader
round trip. Images are stored as uint8 and decoded to [-1, 1] per batch.
"""

import json
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

Kind = Literal["image", "points", "table", "pianoroll", "events"]


@dataclass
class DataSpec:
    """What a recipe needs to know about its data to size its networks (no samples)."""

    name: str
    kind: Kind
    shape: tuple[int, ...]                      # one sample, e.g. (1, 32, 32) or (2,)
    num_classes: int = 0                        # 0 = unlabelled
    value_range: tuple[float, float] | None = None  # (-1, 1) for images
    class_names: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)    # JSON-safe extras, e.g. mixture means

    @classmethod
    def from_json(cls, text: str | dict) -> "DataSpec":
        d = json.loads(text) if isinstance(text, str) else dict(text)
        d["shape"] = tuple(d["shape"])
        d["class_names"] = tuple(d.get("class_names", ()))
        if d.get("value_range") is not None:
            d["value_range"] = tuple(float(v) for v in d["value_range"])
        return cls(**d)


@dataclass
class Batch:
    x: Tensor
    y: Tensor | None = None
    cond: dict[str, Tensor] | None = None  # other conditions by name, e.g. caption embeddings (data/captions.py)


def standardization(kind: Kind, x: Tensor) -> dict:
    """Shift and scale that bring vector data to zero mean and unit spread. Points share one scale
    across dimensions (a mixture stays isotropic); table columns get their own."""
    shift = x.mean(0)
    scale = x.std() if kind == "points" else x.std(0)
    scale = torch.where(torch.as_tensor(scale) > 1e-12, scale, torch.ones_like(torch.as_tensor(scale)))
    return {"shift": shift.tolist(), "scale": torch.as_tensor(scale).expand_as(shift).tolist()}


def _affine(spec: DataSpec, like: Tensor) -> tuple[Tensor, Tensor] | None:
    if "shift" not in spec.meta:
        return None
    shift = torch.tensor(spec.meta["shift"], dtype=like.dtype, device=like.device)
    return shift, torch.tensor(spec.meta["scale"], dtype=like.dtype, device=like.device)


def to_data_space(spec: DataSpec, x: Tensor) -> Tensor:
    """Undo the training-time standardization of vector data (images are returned unchanged)."""
    affine = _affine(spec, x)
    return x if affine is None else x * affine[1] + affine[0]


class Dataset:
    """Samples `x` ([N, ...]; uint8 for images) with optional integer labels `y` ([N]), in memory.

    Networks see vector data (points, tables) standardized, as is usual for MLPs: `decode` maps
    stored samples to that space and `to_data_space` maps generated samples back. The shift and
    scale live in `spec.meta`, so a checkpoint alone can map its samples back.
    """

    def __init__(self, spec: DataSpec, x: Tensor, y: Tensor | None = None):
        if len(x) == 0:
            raise ValueError(f"dataset {spec.name} is empty")
        if spec.kind in ("points", "table") and "shift" not in spec.meta:
            spec.meta.update(standardization(spec.kind, x.float()))
        self.spec, self.x, self.y = spec, x, y

    in_memory = True  # a streaming dataset (data/stream.py) decodes each batch from disk instead

    def to(self, device) -> "Dataset":
        """The same samples on `device` (one copy; batches are then indexed there)."""
        return Dataset(self.spec, self.x.to(device), None if self.y is None else self.y.to(device))

    def __len__(self) -> int:
        return len(self.x)

    def decode(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            return x.float().div_(127.5).sub_(1.0)
        affine = _affine(self.spec, x)
        return x.float() if affine is None else (x.float() - affine[0]) / affine[1]

    def batch(self, idx: Tensor) -> Batch:
        return Batch(self.decode(self.x[idx]), None if self.y is None else self.y[idx])

    def all(self) -> Batch:
        return self.batch(torch.arange(len(self)))


def image_spec(name: str, images: Tensor, labels: Tensor | None, class_names=(), **meta) -> DataSpec:
    num_classes = len(class_names) or (int(labels.max()) + 1 if labels is not None else 0)
    return DataSpec(name, "image", tuple(images.shape[1:]), num_classes, (-1.0, 1.0),
                    tuple(class_names), dict(meta))


def from_tensors(x: Tensor, y: Tensor | None = None, name: str = "tensors") -> Dataset:
    """A dataset from the user's own tensors. uint8 [N, C, H, W] or float images in [-1, 1]
    with 4 dims are images; anything else is a table of vectors (kept as given)."""
    if x.dim() == 4:
        return Dataset(image_spec(name, x, y), x, y)
    kind = "points" if x.dim() == 2 and x.shape[1] == 2 else "table"
    spec = DataSpec(name, kind, tuple(x.shape[1:]), int(y.max()) + 1 if y is not None else 0)
    return Dataset(spec, x.float(), y)


class BatchSampler:
    """Shuffled batches, epoch after epoch, from its own generator; its state makes resume exact."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def next(self, n: int | None = None) -> Tensor:
        """The next n indices (default: batch_size), reshuffling at each epoch's end."""
        parts, need = [], n or self.batch_size
        while need > 0:
            if self.pos >= self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.generator), 0
            take = self.perm[self.pos:self.pos + need]
            parts.append(take)
            self.pos += len(take)
            need -= len(take)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def peek(self, n: int | None = None) -> Tensor:
        """The indices the next `next(n)` will return, without advancing (for prefetching)."""
        state = self.state_dict()
        try:
            return self.next(n)
        finally:
            self.load_state_dict(state)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"].clone(), int(state["pos"])
