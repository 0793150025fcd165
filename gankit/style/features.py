"""Feature networks for style transfer: VGG-19 to relu5_1, from the files users have, or fixed random.

Gatys et al. (2016) and Huang & Belongie (2017, AdaIN) both read images through VGG-19: content at
relu4_2 (Gatys) or relu4_1 (AdaIN), style statistics at relu1_1, relu2_1, relu3_1, relu4_1 (and relu5_1
for Gatys). `FeatureNet` is that topology up to conv5_1, with three ways to get weights:

* `vgg19:PATH` with torchvision's `vgg19().state_dict()` (or only its `features`): keys
  `features.N.weight`/`features.N.bias` (N = 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28 up to
  conv5_1); zero padding, max pooling; input normalised by ImageNet's mean and std.
* `vgg19:PATH` with the AdaIN authors' `vgg_normalised` weights, converted once by `gankit
  convert-vgg` from the PyTorch port's `vgg_normalised.pth` (an `nn.Sequential` whose keys are
  `0` = a 1x1 colour conv that maps RGB in [0, 1] to mean-subtracted BGR in [0, 255], then
  `2, 5 | 9, 12 | 16, 19, 22, 25 | 29, 32, 35, 38 | 42` = conv1_1 ... conv5_1, each after a
  reflection pad; pools with ceil_mode). The converted file is a safetensors file with our layer
  names (`input.weight`, `conv1_1.weight`, ...) and `{"format": "vgg_normalised"}` metadata.
* `random` (the default; nothing to download): the same topology at half width with fixed, seeded
  Kaiming-normal weights and reflection padding. Random filters do carry texture statistics (Ustyuzhaninov et al. 2017,
  "What does it take to generate natural textures?"; He et al. 2016 on random-weight networks), so
  Gatys and AdaIN both work with it, visibly weaker than with VGG: colours and local texture
  transfer, strokes and object-level structure much less.

A TorchScript file (`--features script:PATH`) can stand in for all of them in Gatys: its forward maps a
[B, 3, H, W] batch in [0, 1] to a dict of named feature maps that includes the layers asked for.
Any other file is a one-line error that says what was expected.
"""

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GankitError

# VGG-19 up to conv5_1: (block, convs in block). conv<b>_<i> follows relu; a 2x2 max pool ends each block.
BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 1))
LAYERS = tuple(f"conv{b}_{i}" for b, n in BLOCKS for i in range(1, n + 1))
TORCHVISION_INDEX = dict(zip(LAYERS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)))
ADAIN_INDEX = dict(zip(LAYERS, (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42)))
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 20170101
RANDOM_WIDTH = 32


def channels(width: int) -> dict[int, int]:
    """Channels per block: VGG's 64, 128, 256, 512, 512 for width 64."""
    return {1: width, 2: 2 * width, 3: 4 * width, 4: 8 * width, 5: 8 * width}


class FeatureNet(nn.Module):
    """VGG-19 topology up to relu5_1; `forward(x, layers)` returns the named relu outputs asked for.

    Images come in as RGB in [0, 1]. `input` is how they are normalised: "imagenet" (mean/std),
    or "conv" (a learned 1x1 colour conv, as in vgg_normalised).
    """

    def __init__(self, width: int = 64, input: str = "imagenet", padding: str = "zeros", ceil_pool: bool = False,
                 kind: str = "vgg19"):
        super().__init__()
        self.width, self.input_mode, self.kind = width, input, kind
        self.padding, self.ceil_pool = padding, ceil_pool
        ch = channels(width)
        previous = 3
        for block, n in BLOCKS:
            for i in range(1, n + 1):
                self.add_module(f"conv{block}_{i}", nn.Conv2d(previous, ch[block], 3))
                previous = ch[block]
        if input == "conv":
            self.input = nn.Conv2d(3, 3, 1)
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def pad(self, x: Tensor) -> Tensor:
        """One pixel each side: reflected (vgg_normalised, random) or zeros (torchvision); a map one pixel
        wide or tall (a small image at relu5_1) cannot be reflected and gets zeros."""
        mode = "reflect" if self.padding == "reflect" and min(x.shape[-2:]) > 1 else "constant"
        return F.pad(x, (1, 1, 1, 1), mode=mode)

    def forward(self, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        wanted = set(layers)
        unknown = wanted - {"relu" + name[4:] for name in LAYERS}
        if unknown:
            raise GankitError(f"feature layers {', '.join(sorted(unknown))} are not in VGG-19 up to relu5_1")
        x = self.input(x) if self.input_mode == "conv" else (x - self.mean) / self.std
        out = {}
        for block, n in BLOCKS:
            if block > 1:
                x = F.max_pool2d(x, 2, ceil_mode=self.ceil_pool)
            for i in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{block}_{i}")(self.pad(x)))
                name = f"relu{block}_{i}"
                if name in wanted:
                    out[name] = x
                    if len(out) == len(wanted):
                        return out
        return out

    def truncated(self, last: str) -> "FeatureNet":
        """The same net without the layers after `last` (e.g. relu4_1 for AdaIN's encoder); shares weights."""
        keep = LAYERS[:LAYERS.index("conv" + last[4:]) + 1]
        for name in LAYERS[len(keep):]:
            delattr(self, name)
        self.last = last
        return self


def random_features(width: int = RANDOM_WIDTH, seed: int = RANDOM_SEED) -> FeatureNet:
    """Fixed random filters: Kaiming-normal (fan-in, ReLU gain) keeps each layer's activations at the
    scale of the last, so no layer's statistics dominate the losses; zero biases; seeded."""
    net = FeatureNet(width=width, padding="reflect", kind="random")  # zero padding would make borders a feature
    generator = torch.Generator().manual_seed(seed)
    for name in LAYERS:
        conv = getattr(net, name)
        fan_in = conv.in_channels * 9
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
        conv.bias.zero_()
    return net


def _read_state(path: Path) -> tuple[dict[str, Tensor], dict]:
    """A safetensors or torch state dict (loaded with weights_only=True), and safetensors metadata."""
    if not path.is_file():
        raise GankitError(f"{path}: no such feature-weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file, whatever the library raised
        raise GankitError(f"{path}: not a readable weights file ({str(e).splitlines()[0][:120]})") from None
    if isinstance(state, nn.Module) or not isinstance(state, dict):
        raise GankitError(f"{path}: expected a state dict (name -> tensor), found {type(state).__name__}")
    return state, {}


def _expected_shape(net: FeatureNet, layer: str) -> dict[str, tuple]:
    conv = getattr(net, layer)
    return {"weight": tuple(conv.weight.shape), "bias": tuple(conv.bias.shape)}


def _fill(net: FeatureNet, path: Path, state: dict[str, Tensor], key_of) -> FeatureNet:
    """Copy `state[key_of(layer, part)]` into each conv, checking names and shapes."""
    targets = [(layer, part) for layer in LAYERS for part in ("weight", "bias")]
    if net.input_mode == "conv":
        targets.append(("input", "weight"))
        targets.append(("input", "bias"))
    for layer, part in targets:
        key = key_of(layer, part)
        module = getattr(net, layer)
        want = tuple(getattr(module, part).shape)
        if key not in state:
            raise GankitError(f"{path}: no {key} (expected {layer}.{part} of shape {list(want)}); "
                              "not a VGG-19 state dict in torchvision's or vgg_normalised's layout")
        if tuple(state[key].shape) != want:
            raise GankitError(f"{path}: {key} has shape {list(state[key].shape)}, VGG-19's {layer}.{part} is "
                              f"{list(want)}")
        getattr(module, part).copy_(state[key].float())
    return net


def vgg19_net(layout: str) -> FeatureNet:
    """An empty VGG-19 of a file layout: torchvision's or vgg_normalised's (padding, pooling, input)."""
    if layout == "vgg_normalised":
        return FeatureNet(64, input="conv", padding="reflect", ceil_pool=True)
    return FeatureNet(64)


def vgg19_layout(path: str | Path) -> str:
    return "vgg_normalised" if _read_state(Path(path).expanduser())[1].get("format") == "vgg_normalised" \
        else "torchvision"


def vgg19(path: str | Path) -> FeatureNet:
    """A VGG-19 from torchvision's state dict or from `gankit convert-vgg`'s converted vgg_normalised."""
    path = Path(path).expanduser()
    state, meta = _read_state(path)
    if meta.get("format") == "vgg_normalised":
        return _fill(vgg19_net("vgg_normalised"), path, state, lambda layer, part: f"{layer}.{part}")
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    return _fill(vgg19_net("torchvision"), path, state,
                 lambda layer, part: f"{prefix}{TORCHVISION_INDEX[layer]}.{part}")


def convert_vgg(source: str | Path, out: str | Path) -> Path:
    """The AdaIN authors' vgg_normalised (PyTorch port, `N.weight` keys) -> our named safetensors file."""
    from safetensors.torch import save

    from ..train.checkpoint import atomic_write_bytes

    source = Path(source).expanduser()
    state, _ = _read_state(source)
    index = {**ADAIN_INDEX, "input": 0}
    net = _fill(vgg19_net("vgg_normalised"), source, state, lambda layer, part: f"{index[layer]}.{part}")
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, save(tensors, metadata={"format": "vgg_normalised"}))
    return out


class ScriptFeatures(nn.Module):
    """A user's TorchScript feature network: forward(x in [0, 1]) -> dict of named feature maps."""

    kind = "script"

    def __init__(self, path: Path):
        super().__init__()
        try:
            self.net = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # not TorchScript, truncated, ...
            raise GankitError(f"{path}: not a TorchScript file ({str(e).splitlines()[0][:120]})") from None
        self.path = path
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        out = self.net(x)
        if not isinstance(out, dict):
            raise GankitError(f"{self.path}: forward must return a dict of named feature maps, "
                              f"returned {type(out).__name__}")
        missing = [name for name in layers if name not in out]
        if missing:
            raise GankitError(f"{self.path}: its features lack {', '.join(missing)} (has {', '.join(out)})")
        return {name: out[name] for name in layers}


def load_features(spec: str = "random") -> nn.Module:
    """`random`, `vgg19:PATH` or `script:PATH` -> a frozen feature network in eval mode."""
    kind, _, path = spec.partition(":")
    if kind == "random" and not path:
        return random_features()
    if kind == "vgg19" and path:
        return vgg19(path)
    if kind == "script" and path:
        return ScriptFeatures(Path(path).expanduser())
    raise GankitError(f"--features {spec!r}: use random, vgg19:PATH (torchvision or converted vgg_normalised "
                      "weights) or script:PATH (TorchScript)")
