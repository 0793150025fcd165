"""Feature extractors for the image metrics (FID, KID, IS, precision/recall, density/coverage).

Every feature-based image metric compares generated and real images through a fixed network φ:
FID and KID compare the distributions of φ(x), precision/recall and density/coverage compare k-NN
manifolds of φ(x), the Inception Score and the class-coverage metrics use the class logits of φ.
`FeatureExtractor` wraps such a network so that it takes gankit images as they are (floats in
[-1, 1], [B, C, H, W], any size, 1 or 3 channels; uint8 [0, 255] is decoded first) and adapts them:

* channels: 1 → 3 by repeating the gray channel; 3 → 1 by ITU-R BT.601 luma
  (Y = 0.299 R + 0.587 G + 0.114 B), for a backbone that wants the other count;
* size: antialiased bilinear resize to the backbone's (H, W);
* values: the affine map of [-1, 1] onto the backbone's `input_range`.

Two sources:

* `digit_features()`: the shipped digit classifier (`classifier.py`): 128-d penultimate features,
  10 digit logits, inputs 1×32×32 in [-1, 1]. The features every gankit digit metric uses.
* `load_torchscript_features(path)`: your own network saved with
  `torch.jit.script(model).save(path)` (or `torch.jit.trace`). Its `forward(x)` must return features
  [B, F] (or [B, F, 1, 1], flattened). Convention: **it receives float32 images in [0, 1]**, like a
  torchvision model before its mean/std normalization (put that normalization inside the scripted
  module). Optional instance attributes (set in `__init__`, so that scripting keeps them):
  `self.input_size = (C, H, W)` (else the sizes 3×299×299, 3×224×224, 1×32×32, 1×28×28 are tried in
  that order and the first that runs is used) and `self.input_range = (lo, hi)` (default (0, 1); e.g.
  (-1, 1) for gankit's own range). A method exported with `@torch.jit.export def logits(self, x)`
  returning class logits [B, K] enables the Inception Score and class coverage; without it those
  metrics are unavailable for the module.
"""

import copy
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import GankitError

EXTRACT_BATCH = 500
PROBE_SIZES: tuple[tuple[int, int, int], ...] = ((3, 299, 299), (3, 224, 224), (1, 32, 32), (1, 28, 28))
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, the weights of PIL's convert("L")


class FeatureExtractor(nn.Module):
    """A backbone that takes gankit images: `features(x)` → [B, num_features], `logits(x)` → [B, K] or None.

    `forward` is `features`, and `num_features` is an int, so an extractor can be handed to
    torchmetrics' FrechetInceptionDistance / KernelInceptionDistance as `feature=` directly.
    """

    def __init__(self, backbone: nn.Module, input_size: tuple[int, int, int], num_features: int, *,
                 features_fn: Callable[[Tensor], Tensor], logits_fn: Callable[[Tensor], Tensor] | None = None,
                 head: Callable[[Tensor], Tensor] | None = None, input_range: tuple[float, float] = (-1.0, 1.0),
                 name: str = ""):
        super().__init__()
        self.backbone = backbone.eval()
        for p in backbone.parameters():  # not backbone.requires_grad_(): ScriptModules do not support it
            p.requires_grad_(False)
        self.input_size = tuple(int(v) for v in input_size)
        self.num_features = int(num_features)
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.name = name
        # features_fn / logits_fn take adapted inputs; head maps features to logits (saves a second pass).
        self._features_fn, self._logits_fn, self._head = features_fn, logits_fn, head

    @property
    def has_logits(self) -> bool:
        return self._head is not None or self._logits_fn is not None

    @property
    def device(self) -> torch.device:
        for t in [*self.backbone.parameters(), *self.backbone.buffers()]:
            return t.device
        return torch.device("cpu")

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """The backbone stays in eval mode (BatchNorm statistics, dropout): metrics must be deterministic."""
        super().train(mode)
        self.backbone.eval()
        return self

    def adapt(self, x: Tensor) -> Tensor:
        """gankit images ([-1, 1] floats or uint8, [B, C, H, W]) → the backbone's input."""
        if x.dim() != 4:
            raise GankitError(f"image metrics take [N, C, H, W] images, got shape {tuple(x.shape)}")
        x = x.to(self.device)
        x = x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x.float()
        c, h, w = self.input_size
        if x.shape[1] == 3 and c == 1:  # luma first: resizing one channel is cheaper than three
            x = torch.tensordot(x, x.new_tensor(LUMA), dims=([1], [0])).unsqueeze(1)
        elif x.shape[1] != c and x.shape[1] != 1:
            raise GankitError(f"{self.name or 'the feature network'} takes {c}-channel images; "
                              f"cannot adapt {x.shape[1]}-channel images")
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        if x.shape[1] != c:
            x = x.expand(-1, c, -1, -1)
        lo, hi = self.input_range
        if (lo, hi) != (-1.0, 1.0):
            x = (x + 1.0) * ((hi - lo) / 2.0) + lo
        return x.contiguous()

    def features(self, x: Tensor) -> Tensor:
        x = self.adapt(x)
        return _as_matrix(self._features_fn(x), len(x), self.name)

    def logits(self, x: Tensor) -> Tensor | None:
        """Class logits [B, K], or None when the backbone has no classifier head."""
        if self._logits_fn is not None:
            return self._logits_fn(self.adapt(x))
        return self._head(self._features_fn(self.adapt(x))) if self._head is not None else None

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)

    @torch.no_grad()
    def extract(self, images: Tensor, logits: bool = False,
                batch_size: int = EXTRACT_BATCH) -> tuple[Tensor, Tensor | None]:
        """Features [N, F] (and logits [N, K] when asked and available) of many images, in chunks.

        One pass per chunk gives both (for the digit classifier the logits are its head applied to the
        features). Results are float32 on the CPU, so the metrics after this do not hold device memory.
        """
        feats, outs = [], []
        want = logits and self.has_logits
        for chunk in images.split(batch_size):
            x = self.adapt(chunk)
            f = _as_matrix(self._features_fn(x), len(x), self.name)
            feats.append(f.float().cpu())
            if want:
                out = self._logits_fn(x) if self._logits_fn is not None else self._head(f)
                outs.append(out.float().cpu())
        return torch.cat(feats), (torch.cat(outs) if want else None)


def _as_matrix(out: Tensor, n: int, who: str) -> Tensor:
    """[B, F] as is, [B, F, 1, 1] flattened (pooled CNN outputs); anything else is not a feature matrix."""
    if out.dim() == 4 and out.shape[-2:] == (1, 1):
        out = out.flatten(1)
    if out.dim() != 2 or out.shape[0] != n:
        raise GankitError(f"{who or 'the feature network'} must return features [B, F] (or [B, F, 1, 1]), "
                          f"got shape {tuple(out.shape)} for a batch of {n}")
    return out


def digit_features(device: str | torch.device = "cpu") -> FeatureExtractor:
    """The shipped digit classifier: 128-d penultimate features, 10 digit logits, 1×32×32 in [-1, 1]."""
    from .classifier import load_digit_classifier

    # A private copy: moving this extractor (.to) must not move the classifier cached for other users.
    net = copy.deepcopy(load_digit_classifier(device))
    net.to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on the CPU (as gankit's training)
    return FeatureExtractor(net, (1, 32, 32), net.num_features, features_fn=net.features, head=net.head,
                            input_range=(-1.0, 1.0), name="digit classifier")


def load_torchscript_features(path: str | Path) -> FeatureExtractor:
    """A user's TorchScript feature network (see the module docstring for its contract)."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"feature network {path}: no such file")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError/ValueError/... for non-TorchScript files
        raise GankitError(f"feature network {path} is not a TorchScript file "
                          f"(save one with torch.jit.script(model).save(path)): {_first_line(e)}") from None
    module.eval()
    input_range = _attr_range(module, path)
    size, num_features = _input_size_and_width(module, path)
    logits_fn = _logits_method(module, path, size)
    return FeatureExtractor(module, size, num_features, features_fn=module.forward, logits_fn=logits_fn,
                            input_range=input_range, name=f"feature network {path}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def _attr_range(module: nn.Module, path: Path) -> tuple[float, float]:
    value = getattr(module, "input_range", None)
    if value is None:
        return (0.0, 1.0)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise GankitError(f"feature network {path}: input_range must be two numbers, got {value!r}") from None
    if not lo < hi:
        raise GankitError(f"feature network {path}: input_range must have lo < hi, got {value!r}")
    return (lo, hi)


def _attr_size(module: nn.Module, path: Path) -> tuple[int, int, int] | None:
    value = getattr(module, "input_size", None)
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) and v > 0 for v in value)
    if not ok or value[0] not in (1, 3):
        raise GankitError(f"feature network {path}: input_size must be (C, H, W) with C 1 or 3, got {value!r}")
    return tuple(value)


@torch.no_grad()
def _probe(fn: Callable[[Tensor], Tensor], size: tuple[int, int, int]) -> Tensor:
    # A batch of 2 (not 1): a squeeze() or a batch-size-1 special case would pass with 1 and fail later.
    return fn(torch.zeros(2, *size))


def _input_size_and_width(module: nn.Module, path: Path) -> tuple[tuple[int, int, int], int]:
    declared = _attr_size(module, path)
    errors = []
    for size in [declared] if declared else PROBE_SIZES:
        try:
            out = _probe(module, size)
        except Exception as e:  # noqa: BLE001 - any failure means "not this size"
            errors.append(f"{'x'.join(map(str, size))}: {_first_line(e)}")
            continue
        if not isinstance(out, Tensor) or not out.is_floating_point():
            raise GankitError(f"feature network {path} must return a float tensor [B, F], got {type(out).__name__}"
                              + (f" {out.dtype}" if isinstance(out, Tensor) else ""))
        return size, _as_matrix(out, 2, f"feature network {path}").shape[1]
    if declared:
        raise GankitError(f"feature network {path} fails on its declared input_size {declared}: {errors[0]}")
    raise GankitError(f"feature network {path} runs on none of the input sizes "
                      f"{', '.join('x'.join(map(str, s)) for s in PROBE_SIZES)}; set self.input_size = (C, H, W) "
                      f"in the module (first error: {errors[0]})")


def _logits_method(module: nn.Module, path: Path, size) -> Callable[[Tensor], Tensor] | None:
    fn = getattr(module, "logits", None)
    if fn is None or not callable(fn):
        return None
    try:
        out = _probe(fn, size)
    except Exception as e:  # noqa: BLE001
        raise GankitError(f"feature network {path}: its logits() method fails: {_first_line(e)}") from None
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != 2 or out.shape[1] < 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise GankitError(f"feature network {path}: logits() must return [B, K] with K >= 2 classes, got {shape}")
    return fn
