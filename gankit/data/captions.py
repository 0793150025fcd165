"""Captioned images: `--data captions:FILE.jsonl` (and the bundled `shapes`, data/shapes.py).

A captions file has one JSON object per line, `{"image": "birds/001.jpg", "captions": ["a small bird ...",
...]}`, image paths relative to the file, several captions per image as CUB and COCO have. Images are
decoded once into memory (resized and center-cropped as folders are, data/folder.py). Each distinct
caption is embedded once by the recipe's sentence encoder (data/text.py, cached), so a batch carries,
beside the images, every caption embedding of each image: `batch.cond["text"]` [B, K, E] with
`batch.cond["text_mask"]` [B, K] (K = most captions of an image); the recipe picks among them.

Bad input: a line that is not UTF-8 or not a JSON object with an "image" path and a "captions" list, or an
empty caption, is a one-line error naming the file and line. An image with no captions, or whose file is
missing or unreadable, is skipped, and all such lines are named in one warning (a large crawled file
always has a few); if nothing is left, that is an error.
"""

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import GankitError
from ..log import warn
from .base import Batch, Dataset, image_spec
from .folder import DEFAULT_RESOLUTION, _to_gray, _try_load, is_gray

EXAMPLE_CAPTIONS = 64   # captions kept in the spec: what a run samples when asked for no sentence


class CaptionedDataset(Dataset):
    """Images (uint8) with their captions; `embeddings` [U, E] of the U distinct captions and `caption_index`
    [N, K] (-1 where an image has fewer than K captions) once a text encoder has embedded them."""

    def __init__(self, spec, x: Tensor, y: Tensor | None, captions: list[str], caption_index: Tensor,
                 embeddings: Tensor | None = None, attributes: Tensor | None = None):
        super().__init__(spec, x, y)
        self.captions, self.caption_index = captions, caption_index
        self.embeddings, self.attributes = embeddings, attributes

    def to(self, device) -> "CaptionedDataset":
        move = (lambda t: None if t is None else t.to(device))
        return CaptionedDataset(self.spec, self.x.to(device), move(self.y), self.captions,
                                self.caption_index.to(device), move(self.embeddings), move(self.attributes))

    def batch(self, idx: Tensor) -> Batch:
        batch = super().batch(idx)
        if self.embeddings is not None:
            index = self.caption_index[idx]                                     # [B, K]
            batch.cond = {"text": self.embeddings[index.clamp(min=0)],          # [B, K, E]
                          "text_mask": index >= 0}                              # [B, K]
        return batch

    def captions_of(self, i: int) -> list[str]:
        return [self.captions[j] for j in self.caption_index[i].tolist() if j >= 0]

    def embed(self, encoder_name: str, where: str = "") -> "CaptionedDataset":
        """Embed every distinct caption with the encoder (cached) and record it in the spec."""
        from .text import cached_embeddings

        emb, _ = cached_embeddings(self.captions, encoder_name, where or self.spec.name)
        self.embeddings = torch.from_numpy(emb)
        self.spec.meta.update(text_encoder=encoder_name, text_dim=int(emb.shape[1]))
        return self


def captioned(name: str, images: Tensor, captions: list[list[str]], labels: Tensor | None = None,
              attributes: Tensor | None = None, **meta) -> CaptionedDataset:
    """A captioned dataset from images and each image's captions (distinct captions stored once)."""
    distinct: dict[str, int] = {}
    rows = [[distinct.setdefault(c, len(distinct)) for c in caps] for caps in captions]
    width = max(len(r) for r in rows)
    index = torch.full((len(rows), width), -1, dtype=torch.long)
    for i, r in enumerate(rows):
        index[i, :len(r)] = torch.tensor(r)
    examples = [caps[0] for caps in captions[:EXAMPLE_CAPTIONS]]
    spec = image_spec(name, images, labels, meta.pop("class_names", ()), captioned=True, example_captions=examples,
                      **meta)
    return CaptionedDataset(spec, images, labels, list(distinct), index, attributes=attributes)


# ------------------------------------------------------------------------------ captions:FILE.jsonl

def parse_line(raw: bytes, where: str) -> dict | None:
    """One line of a captions file -> {"image", "captions"} (None for a blank line); one-line errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GankitError(f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except ValueError as e:
        raise GankitError(f"{where}: not JSON ({e.msg}, column {getattr(e, 'colno', '?')})") from None
    if not isinstance(record, dict) or not isinstance(record.get("image"), str) or not record["image"]:
        raise GankitError(f'{where}: expected {{"image": PATH, "captions": [...]}}')
    captions = record.get("captions", [])
    if isinstance(captions, str):
        captions = [captions]
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise GankitError(f"{where}: \"captions\" must be a list of strings")
    for k, c in enumerate(captions):
        if not c.strip():
            raise GankitError(f"{where}: caption {k + 1} is empty")
    return {"image": record["image"], "captions": [" ".join(c.split()) for c in captions]}


def read_captions_file(path: str) -> list[tuple[int, dict]]:
    """(line number, record) of every non-blank line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise GankitError(f"captions:{path}: no such file")
    records = []
    for number, raw in enumerate(file.read_bytes().splitlines(), 1):
        record = parse_line(raw, f"{path}:{number}")
        if record is not None:
            records.append((number, record))
    if not records:
        raise GankitError(f"captions:{path}: no lines with an image and captions")
    return records


def load_captions(path: str, resolution: int = 0, channels: int = 0, text_encoder: str = "") -> CaptionedDataset:
    """`captions:FILE.jsonl`: images decoded into memory, captions embedded by `text_encoder` (if named)."""
    records = read_captions_file(path)
    root, resolution = Path(path).expanduser().resolve().parent, resolution or DEFAULT_RESOLUTION
    skipped, images, captions = [], [], []
    for number, record in records:
        if not record["captions"]:
            skipped.append(f"line {number} (no captions)")
            continue
        arr, reason = _try_load(root / record["image"], resolution)
        if arr is None:
            skipped.append(f"line {number} ({record['image']}: {reason})")
            continue
        images.append(arr)
        captions.append(record["captions"])
    if not images:
        raise GankitError(f"captions:{path}: no usable image; {skipped[0]}")
    if skipped:
        warn(f"captions:{path}: skipped {len(skipped)} of {len(records)} images: {'; '.join(skipped[:3])}"
             + (" ..." if len(skipped) > 3 else ""))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    if channels == 1 or (channels == 0 and is_gray(x)):
        x = _to_gray(x)
    data = captioned("captions-" + Path(path).stem, x, captions, path=str(Path(path).resolve()))
    return data.embed(text_encoder, f"captions:{path}") if text_encoder else data
