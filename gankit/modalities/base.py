"""The modality interface and its registry (see the package docstring)."""

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch import Tensor

from ..errors import GankitError


class Modality:
    """What gankit does with samples of one kind of data; subclasses override what differs."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = (".npy",)   # what `write` can produce, the first is the default
    preview_count: ClassVar[int] = 64                    # fixed-noise samples in each training preview
    serve_max_n: ClassVar[int] = 64                      # the most samples one `gankit serve` request may ask for

    def preview(self, samples: Tensor, spec, path: Path, real: Tensor | None = None, title: str = "") -> Path | None:
        """A picture of samples during training (None if this kind has no picture)."""
        return None

    def preview_real(self, data) -> Tensor | None:
        """Real samples drawn under every preview (None: previews show generated samples only)."""
        return None

    def check_out(self, out: Path, spec) -> Path:
        """`gankit sample --out` checked before sampling: by default a file of one of `extensions`."""
        return check_extension(out, self.extensions, spec)

    def write(self, samples: Tensor, spec, out: Path, rows: int | None = None, title: str = "") -> list[Path]:
        """Write samples to `out` (its extension picks the format); returns the files written."""
        out = check_extension(out, self.extensions, spec)
        np.save(out, samples.detach().cpu().numpy())
        return [out]

    def report_media(self, pipe, folder: Path) -> list[Path]:
        """Files the run report embeds besides pictures (audio renderings of samples), written to `folder`."""
        return []

    def class_picture(self, samples: Tensor, spec, path: Path, per_class: int) -> Path | None:
        """One row per class (conditional runs' reports); None where the kind has no picture."""
        return None

    def default_extractor(self, spec):
        """The feature network gankit ships for this data, or None (users pass --features)."""
        return None

    def default_metrics(self, spec, extractor) -> list[str]:
        """The metric names `gankit eval` computes when the user asks for `auto`."""
        return list(spec.meta.get("metrics", []))

    def class_probe(self, spec) -> Callable[[Tensor], Tensor] | None:
        """A classifier of samples into the data's classes, where gankit has one (health checks)."""
        return None


def check_extension(out: Path, extensions: tuple[str, ...], spec) -> Path:
    out = Path(out)
    if out.suffix.lower() not in extensions:
        raise GankitError(f"--out {out}: {spec.kind} samples are written as {', '.join(extensions)} "
                          f"(got {out.suffix or 'no extension'})")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


MODALITIES: dict[str, Modality] = {}


def register(cls: type[Modality]) -> type[Modality]:
    MODALITIES[cls.kind] = cls()
    return cls


def get_modality(kind: str) -> Modality:
    if kind not in MODALITIES:
        raise GankitError(f"no modality for {kind!r} data; known: {', '.join(sorted(MODALITIES))}")
    return MODALITIES[kind]
