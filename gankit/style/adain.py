"""AdaIN style transfer (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive
Instance Normalization"): encoder f = a frozen feature net to relu4_1, t = AdaIN(f(c), f(s)) (eq. 8),
output g(t) by a trained decoder that mirrors the encoder (nearest-neighbour upsampling, reflection
padding, no normalisation: §6.1). At inference (§7.2):

* content-style trade-off: g((1 − α)·f(c) + α·t);
* style interpolation: the target statistics are the weighted mix of several styles' statistics;
* spatial control: with a mask, the masked region takes the first style's statistics and the rest the
  second's (or stays content with one style), each region normalised with its own content statistics;
* colour preservation: the output's luminance with the content's chrominance (Gatys et al. 2017).
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GankitError
from . import ops
from .features import BLOCKS, FeatureNet, channels
from .gatys import normalised_weights
from .images import fit

ENCODER_LAST = "relu4_1"   # the paper's; relu3_1 or relu2_1 make a shallower, faster-to-train pair
LAYERS = ("relu2_1", "relu3_1", "relu4_1")


def block_of(layer: str) -> int:
    return int(layer[4])


def stats_layers(last: str) -> tuple[str, ...]:
    """Where the style loss matches mean and std: relu1_1 up to the encoder's last layer."""
    return tuple(f"relu{b}_1" for b in range(1, block_of(last) + 1))


def multiple(last: str) -> int:
    """Image sides must be multiples of this: the encoder pools once per block before `last`'s."""
    return 2 ** (block_of(last) - 1)


def last_layer(encoder) -> str:
    return getattr(encoder, "last", ENCODER_LAST)


def conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect")


class Decoder(nn.Sequential):
    """The encoder's mirror from relu<b>_1 back to RGB (unbounded; clamped on output): per block, in
    reverse, its convs at the block's width, the last one narrowing to the previous block's, then a
    nearest-neighbour 2x upsampling. For relu4_1 and width 64 this is the AdaIN paper's decoder."""

    def __init__(self, width: int = 64, last: str = ENCODER_LAST):
        ch = channels(width)
        block = block_of(last)
        counts = dict(BLOCKS)
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        layers: list[nn.Module] = [conv(ch[block], ch[block - 1]), nn.ReLU(), up()]
        for b in range(block - 1, 0, -1):
            for _ in range(counts[b] - 1):
                layers += [conv(ch[b], ch[b]), nn.ReLU()]
            layers += [conv(ch[b], ch[b - 1] if b > 1 else 3)]
            layers += [nn.ReLU(), up()] if b > 1 else []
        super().__init__(*layers)


def training_losses(encoder: FeatureNet, decoder: nn.Module, content: Tensor, style: Tensor) -> dict[str, Tensor]:
    """Eq. 11-13: content loss at relu4_1 against the AdaIN target, style loss on μ and σ at relu1_1..4_1."""
    last = last_layer(encoder)
    layers = stats_layers(last)
    f_content = encoder(content, (last,))[last]
    f_style = encoder(style, layers)
    target = ops.adain(f_content, f_style[last]).detach()
    out = decoder(target)
    f_out = encoder(out, layers)
    content_loss = ops.content_loss(f_out[last], target)
    style_loss = sum(ops.stats_loss(f_out[layer], f_style[layer]) for layer in layers)
    return {"content": content_loss, "style": style_loss}


def _masked_stats(f: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    weight = mask.sum((2, 3), keepdim=True).clamp_min(1.0)
    mean = (f * mask).sum((2, 3), keepdim=True) / weight
    var = ((f - mean).pow(2) * mask).sum((2, 3), keepdim=True) / weight
    return mean, (var + ops.EPS).sqrt()


def _region_adain(f_content: Tensor, mask: Tensor, s_mean: Tensor, s_std: Tensor) -> Tensor:
    c_mean, c_std = _masked_stats(f_content, mask)
    return s_std * (f_content - c_mean) / c_std + s_mean


@torch.no_grad()
def stylize(encoder: FeatureNet, decoder: nn.Module, content: Tensor, styles: Sequence[Tensor],
            style_weights: Sequence[float] | None = None, alpha: float = 1.0, mask: Tensor | None = None,
            preserve_color: bool = False) -> Tensor:
    """content [B, 3, H, W] in [0, 1], style images [1 or B, 3, h, w] -> [B, 3, H', W'] in [0, 1], where
    H', W' are H, W rounded to multiples of 8 (the encoder pools three times to relu4_1)."""
    if not 0.0 <= alpha <= 1.0:
        raise GankitError(f"--alpha {alpha}: must be in [0, 1] (0 = content, 1 = full style)")
    if not styles:
        raise GankitError("AdaIN needs at least one style image (--style FILE)")
    weights = normalised_weights(style_weights, len(styles))
    original = content
    if preserve_color:
        styles = [ops.match_luminance(s, content) for s in styles]
        content = ops.luminance(content)
    last = last_layer(encoder)
    content = fit(content, multiple(last))
    f_content = encoder(content, (last,))[last]
    stats = [ops.mean_std(encoder(fit(s, multiple(last)), (last,))[last]) for s in styles]
    if mask is None:
        s_mean = sum(w * m for w, (m, _) in zip(weights, stats))
        s_std = sum(w * s for w, (_, s) in zip(weights, stats))
        target = ops.adain_stats(f_content, s_mean, s_std)
    else:
        target = _masked_target(f_content, mask, stats)
    out = decoder((1 - alpha) * f_content + alpha * target).clamp(0, 1)
    return ops.with_content_colour(out, original) if preserve_color else out


def _masked_target(f_content: Tensor, mask: Tensor, stats) -> Tensor:
    if len(stats) > 2:
        raise GankitError(f"a mask splits the image between two styles; got {len(stats)} style images")
    m = F.interpolate(mask.float(), size=f_content.shape[-2:], mode="nearest")
    inside = _region_adain(f_content, m, *stats[0])
    outside = _region_adain(f_content, 1 - m, *stats[1]) if len(stats) == 2 else f_content
    return m * inside + (1 - m) * outside


def read_mask(path: str, size: tuple[int, int]) -> Tensor:
    """A mask image of the content's size -> [1, 1, H, W] in {0, 1} (white = the first style)."""
    from .images import read_image

    mask = read_image(path, max_side=0, what="mask")
    if tuple(mask.shape[-2:]) != tuple(size):
        raise GankitError(f"mask {path}: {mask.shape[-1]}x{mask.shape[-2]} pixels, the content image is "
                          f"{size[1]}x{size[0]}: the mask must have the content's size")
    return (mask.mean(1, keepdim=True) >= 0.5).float()

