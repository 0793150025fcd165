"""Networks of ProGAN (Karras et al. 2018) and StyleGAN v1 (Karras et al. 2019), in plain PyTorch.

Both grow from 4×4 to the data's resolution. Every net here has all its levels from the start; a
buffer pair (`level`, `alpha`) says which part is live: level l works at 4·2^l pixels, and during a
fade-in (alpha < 1) the new level's output is blended with the previous level's, upsampled (ProGAN
§2, Fig. 2). So checkpoints never change shape, and a run that resumes mid-growth is the same run.
G outputs images at the current level's resolution and D takes them there (penalties are measured at
the resolution D works at, as in the papers' code); the recipe upsamples samples to the data's size.

ProGAN's pieces (§4): equalised learning rate (weights ~ N(0, 1) scaled at run time by He's constant,
so Adam's per-parameter step sizes are uniform), pixelwise feature normalisation in G, minibatch
standard deviation in D's last block. StyleGAN's (§2, Fig. 1b): a mapping network z → w (8 layers,
lr multiplier 0.01), a synthesis network from a learned 4×4 constant whose every conv is followed by
per-pixel noise (learned per-channel strength), a bias, LeakyReLU and AdaIN with a style affine(w),
blurred upsampling, style mixing (§3.1), and the truncation trick in W (§3.2/Appendix B).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import GankitError
from .heads import Discriminator, Head
from .layers import MinibatchStd

SQRT2 = math.sqrt(2.0)


def level_count(resolution: int) -> int:
    """Levels 4×4 … resolution×resolution; the resolution must be a power of two ≥ 8."""
    if resolution < 8 or resolution & (resolution - 1):
        raise GankitError(f"progressive nets need a square power-of-two resolution of at least 8; got {resolution} "
                          "(set resolution=32, 64, ...)")
    return int(math.log2(resolution)) - 1


def channels_at(level: int, fmaps: int, fmap_max: int) -> int:
    """Feature maps at a level: fmaps / resolution, at most fmap_max (the papers' nf(stage))."""
    return max(1, min(fmaps // (4 * 2 ** level), fmap_max))


# ------------------------------------------------------------------------------ building blocks

class EqualLinear(nn.Module):
    """A linear layer with equalised learning rate (ProGAN §4.1): w ~ N(0, 1/lr_mul), used as w·gain/√fan_in·lr_mul."""

    def __init__(self, fan_in: int, fan_out: int, gain: float = SQRT2, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), bias_init / lr_mul))
        self.scale, self.lr_mul = gain / math.sqrt(fan_in) * lr_mul, lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """A k×k convolution (same padding) with equalised learning rate."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = SQRT2, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = gain / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Each pixel's feature vector scaled to unit mean square (ProGAN §4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + eps)


class Blur(nn.Module):
    """The [1, 2, 1]² binomial filter StyleGAN puts after upsampling and before downsampling (against aliasing)."""

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = (k[:, None] * k[None, :] / 16.0).expand(channels, 1, 3, 3).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.kernel.to(x.dtype), groups=self.kernel.shape[0])


def upsample(x: Tensor, factor: int = 2) -> Tensor:
    """Nearest-neighbour upsampling by an integer factor (as a broadcast, which exports to ONNX as it is)."""
    if factor == 1:
        return x
    return x[:, :, :, None, :, None].expand(-1, -1, -1, factor, -1, factor).flatten(4, 5).flatten(2, 3)


def downsample(x: Tensor, factor: int = 2) -> Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


def instance_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Each channel of each sample to zero mean and unit variance over its pixels (written out, so it
    exports to ONNX whatever the channel count)."""
    x = x - x.mean((2, 3), keepdim=True)
    return x * torch.rsqrt(x.pow(2).mean((2, 3), keepdim=True) + eps)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class Growing(nn.Module):
    """What every progressive net shares: the live level and the fade-in weight, saved with the weights."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels = levels
        self.register_buffer("level", torch.tensor(levels - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_stage(self, level: int, alpha: float) -> None:
        if not 0 <= level < self.levels:
            raise GankitError(f"level {level} is outside this network's 0..{self.levels - 1}")
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def stage(self) -> tuple[int, float]:
        return int(self.level), float(self.alpha)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** int(self.level)


def fade(previous: Tensor, current: Tensor, alpha: float) -> Tensor:
    """The fade-in blend (ProGAN Fig. 2): the previous level's output, upsampled, mixed with the new one's."""
    return current if alpha >= 1.0 else torch.lerp(upsample(previous, current.shape[-1] // previous.shape[-1]),
                                                    current, alpha)


# ------------------------------------------------------------------------------ ProGAN generator

class ProGANGenerator(Growing):
    """z → 4×4 (dense) → [upsample, conv3×3, conv3×3] per level, pixel norm after every layer; toRGB per level."""

    def __init__(self, z_dim: int, resolution: int, channels: int, fmaps: int, fmap_max: int):
        super().__init__(level_count(resolution))
        nf = [channels_at(level, fmaps, fmap_max) for level in range(self.levels)]
        self.input = EqualLinear(z_dim, nf[0] * 16, gain=SQRT2 / 4)  # the official code's gain for the first dense
        self.blocks = nn.ModuleList([EqualConv2d(nf[0], nf[0], 3)] + [
            nn.ModuleList([EqualConv2d(nf[level - 1], nf[level], 3), EqualConv2d(nf[level], nf[level], 3)])
            for level in range(1, self.levels)])
        self.to_rgb = nn.ModuleList([EqualConv2d(c, channels, 1, gain=1.0) for c in nf])

    def block(self, level: int, x: Tensor) -> Tensor:
        if level == 0:
            return pixel_norm(lrelu(self.blocks[0](x)))
        x = upsample(x)
        for conv in self.blocks[level]:
            x = pixel_norm(lrelu(conv(x)))
        return x

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        level, alpha = self.stage()
        x = pixel_norm(lrelu(self.input(pixel_norm(z))).unflatten(1, (-1, 4, 4)))
        previous = x
        for index in range(level + 1):
            previous, x = x, self.block(index, x)
        image = self.to_rgb[level](x)
        return image if level == 0 else fade(self.to_rgb[level - 1](previous), image, alpha)


# ------------------------------------------------------------------------------ discriminator

class ProgressiveTrunk(Growing):
    """fromRGB at the live level, then [conv3×3, conv3×3, downsample] per level down to 4×4, then the last
    block: minibatch stddev, conv3×3, dense. StyleGAN blurs before each downsampling."""

    def __init__(self, resolution: int, channels: int, fmaps: int, fmap_max: int, mbstd_group: int, blur: bool):
        super().__init__(level_count(resolution))
        nf = [channels_at(level, fmaps, fmap_max) for level in range(self.levels)]
        self.from_rgb = nn.ModuleList([EqualConv2d(channels, c, 1) for c in nf])
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.ModuleList([EqualConv2d(nf[level], nf[level], 3), EqualConv2d(nf[level], nf[level - 1], 3)])
            for level in range(1, self.levels)])
        self.blurs = nn.ModuleList([Blur(c) if blur else nn.Identity() for c in nf])
        self.mbstd = MinibatchStd(mbstd_group) if mbstd_group else None
        self.last_conv = EqualConv2d(nf[0] + (1 if mbstd_group else 0), nf[0], 3)
        self.last_dense = EqualLinear(nf[0] * 16, nf[0])

    def block(self, level: int, h: Tensor) -> Tensor:
        first, second = self.blocks[level]
        return downsample(lrelu(second(self.blurs[level](lrelu(first(h))))))

    def forward(self, x: Tensor) -> Tensor:
        level, alpha = self.stage()
        if x.shape[-1] != self.resolution:
            raise GankitError(f"D works at {self.resolution}×{self.resolution} now; got {tuple(x.shape[-2:])} images")
        h = lrelu(self.from_rgb[level](x))
        if level > 0:
            h = self.block(level, h)
            if alpha < 1.0:  # fade in the new level: blend with the previous fromRGB on the downsampled input
                h = torch.lerp(lrelu(self.from_rgb[level - 1](downsample(x))), h, alpha)
        for index in range(level - 1, 0, -1):
            h = self.block(index, h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        return lrelu(self.last_dense(lrelu(self.last_conv(h)).flatten(1)))


class ProgressiveDiscriminator(Discriminator):
    """D of ProGAN and StyleGAN: the growing trunk and gankit's head (a linear logit on its features)."""

    def __init__(self, resolution: int, channels: int, fmaps: int, fmap_max: int, mbstd_group: int = 4,
                 blur: bool = False):
        super().__init__()
        self.trunk = ProgressiveTrunk(resolution, channels, fmaps, fmap_max, mbstd_group, blur)
        self.head = Head((channels_at(0, fmaps, fmap_max),))

    def set_stage(self, level: int, alpha: float) -> None:
        self.trunk.set_stage(level, alpha)

    def stage(self) -> tuple[int, float]:
        return self.trunk.stage()


# ------------------------------------------------------------------------------ StyleGAN generator

class MappingNetwork(nn.Module):
    """z → w: pixel norm, then `depth` dense layers with LeakyReLU, learning rate × lr_mul (StyleGAN §2)."""

    def __init__(self, z_dim: int, w_dim: int, depth: int = 8, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * depth
        self.layers = nn.ModuleList([EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims, dims[1:])])

    def forward(self, z: Tensor) -> Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


class StyleLayer(nn.Module):
    """[upsample, conv3×3, blur] (or just conv3×3; or nothing for the constant), then noise·strength, bias,
    LeakyReLU, instance norm and AdaIN: x·(1 + s) + b with (s, b) = affine(w) (StyleGAN eq. 1).

    `shift=False` keeps only AdaIN's scale, x·(1 + s): StyleGAN2 (§2.1) found the mean modulation
    unnecessary. On 32² digits it is also what keeps v1 from collapsing (benchmarks/README.md §14): at
    initialisation the shifts b(w) make each image's overall brightness depend on w, and a generator
    taught to hold the background at -1 learns to cancel w altogether rather than only that offset.

    `demodulate` (StyleGAN2, Karras et al. 2020, §2.2 eq. 1-3) replaces instance norm and AdaIN by a conv
    whose input channels are scaled by the style s = affine(w) (bias 1) and whose outputs are divided by
    their expected standard deviation, σ_o = sqrt(Σ_i,k (W_oik·s_i)² + ε): the statistics are normalised
    from the weights, not measured on the feature maps, so the generator has no reason to plant the
    "droplet" spikes v1 uses to steer instance norm (StyleGAN2 §2.1). Written as scale, shared conv,
    scale (the official code's unfused form): the same maths, any batch size, exportable to ONNX."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, conv: bool, up: bool, demodulate: bool = False,
                 shift: bool = True, shift_init: float = 1.0):
        super().__init__()
        conv = conv or demodulate  # a demodulated layer is a conv, the first one too (StyleGAN2's 4×4 block)
        self.conv = EqualConv2d(c_in, c_out, 3, bias=False) if conv else None
        self.up, self.blur = up, Blur(c_out) if up else None
        self.demodulate, self.shift = demodulate, shift and not demodulate
        self.noise_strength = nn.Parameter(torch.zeros(c_out))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.style = EqualLinear(w_dim, c_in, gain=1.0, bias_init=1.0) if demodulate else \
            EqualLinear(w_dim, (2 if self.shift else 1) * c_out, gain=1.0)
        if self.shift:  # shift_init 0: b(w) starts at zero, so no image's brightness depends on w at first
            with torch.no_grad():
                self.style.weight[c_out:].mul_(shift_init)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor) -> Tensor:
        if self.demodulate:
            return self.epilogue(self.modulated_conv(x, self.style(w)), noise)
        if self.conv is not None:
            x = self.resample_conv(x)
        x = instance_norm(self.epilogue(x, noise))
        style = self.style(w).unsqueeze(-1).unsqueeze(-1)
        if not self.shift:
            return x * (1 + style)
        scale, shift = style.chunk(2, 1)
        return x * (1 + scale) + shift

    def resample_conv(self, x: Tensor) -> Tensor:
        return self.blur(self.conv(upsample(x))) if self.up else self.conv(x)

    def epilogue(self, x: Tensor, noise: Tensor) -> Tensor:
        x = x + noise * self.noise_strength.view(1, -1, 1, 1)
        return lrelu(x + self.bias.view(1, -1, 1, 1))

    def modulated_conv(self, x: Tensor, style: Tensor) -> Tensor:
        """Modulate the inputs, convolve, demodulate the outputs (the blur, per channel, commutes with it)."""
        weight = self.conv.weight * self.conv.scale                                  # [out, in, k, k]
        sigma_sq = style.pow(2) @ weight.pow(2).sum((2, 3)).t()                      # [N, out]
        x = self.resample_conv(x * style.view(*style.shape, 1, 1))
        return x * torch.rsqrt(sigma_sq + 1e-8).view(*sigma_sq.shape, 1, 1)


class SynthesisNetwork(Growing):
    """A learned 4×4 constant, two style layers per level (the first of each level upsamples), toRGB per level."""

    def __init__(self, w_dim: int, resolution: int, channels: int, fmaps: int, fmap_max: int,
                 demodulate: bool = False, style_shift: bool = True, shift_init: float = 1.0,
                 rgb_offset: bool = False, const_init: str = "ones"):
        super().__init__(level_count(resolution))
        nf = [channels_at(level, fmaps, fmap_max) for level in range(self.levels)]
        # Scale-only AdaIN leaves every channel zero-mean, so toRGB would give every image the same mean; this
        # offset, an affine map of the live level's last style started at zero, lets it vary with w
        self.rgb_offset = EqualLinear(w_dim, channels, gain=1.0) if rgb_offset else None
        if rgb_offset:
            with torch.no_grad():
                self.rgb_offset.weight.zero_()
        # v1's constant is ones (instance norm makes the scale moot); a demodulated conv needs a varied input.
        # Ones are also degenerate without AdaIN's shift: instance norm of a flat map is zero, so the whole 4²
        # block starts at zero and only its noise can give it a shape (normalised up by 1/sqrt(eps), its
        # gradients overflow Adam's second moment and freeze the constant: benchmarks/README.md §14)
        normal = demodulate or const_init == "normal"
        self.const = nn.Parameter(torch.randn(1, nf[0], 4, 4) if normal else torch.ones(1, nf[0], 4, 4))
        style = {"demodulate": demodulate, "shift": style_shift, "shift_init": shift_init}
        layers = [StyleLayer(nf[0], nf[0], w_dim, False, False, **style),
                  StyleLayer(nf[0], nf[0], w_dim, True, False, **style)]
        for level in range(1, self.levels):
            layers += [StyleLayer(nf[level - 1], nf[level], w_dim, True, True, **style),
                       StyleLayer(nf[level], nf[level], w_dim, True, False, **style)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList([EqualConv2d(c, channels, 1, gain=1.0) for c in nf])
        # the "const" noise inputs: one fixed map per layer, drawn once (StyleGAN's noise variables)
        for index in range(len(layers)):
            side = 4 * 2 ** (index // 2)
            self.register_buffer(f"noise_const_{index}", torch.randn(1, 1, side, side))

    @property
    def num_ws(self) -> int:
        return len(self.layers)

    def noise_shapes(self, n: int) -> list[tuple[int, ...]]:
        return [(n, 1, 4 * 2 ** (i // 2), 4 * 2 ** (i // 2)) for i in range(self.num_ws)]

    def forward(self, ws: Tensor, noise: list[Tensor] | str = "random") -> Tensor:
        """ws: [N, num_ws, w_dim]; noise: per-layer maps, "random" (torch's generator) or "const"."""
        level, alpha = self.stage()
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        previous = x
        for index in range(level + 1):
            previous = x
            for i in (2 * index, 2 * index + 1):
                x = self.layers[i](x, ws[:, i], self.noise(i, noise, len(ws), x))
        image = self.to_rgb[level](x)
        image = image if level == 0 else fade(self.to_rgb[level - 1](previous), image, alpha)
        if self.rgb_offset is not None:
            image = image + self.rgb_offset(ws[:, 2 * level + 1]).view(*image.shape[:2], 1, 1)
        return image

    def noise(self, index: int, noise: list[Tensor] | str, n: int, x: Tensor) -> Tensor:
        if noise == "const":
            return getattr(self, f"noise_const_{index}")
        if noise == "random":
            side = 4 * 2 ** (index // 2)
            return torch.randn(n, 1, side, side, device=x.device, dtype=x.dtype)
        return noise[index].to(x.device, x.dtype)


class StyleGANGenerator(nn.Module):
    """mapping + synthesis, the running mean of w (for truncation) and style mixing while training."""

    def __init__(self, z_dim: int, w_dim: int, resolution: int, channels: int, fmaps: int, fmap_max: int,
                 mapping_depth: int = 8, mapping_lr_mul: float = 0.01, mixing_prob: float = 0.9,
                 w_avg_beta: float = 0.995, demodulate: bool = False, style_shift: bool = True,
                 shift_init: float = 1.0, rgb_offset: bool = False, const_init: str = "ones"):
        super().__init__()
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_depth, mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, fmaps, fmap_max, demodulate, style_shift,
                                          shift_init, rgb_offset, const_init)
        self.mixing_prob, self.w_avg_beta = mixing_prob, w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def set_stage(self, level: int, alpha: float) -> None:
        self.synthesis.set_stage(level, alpha)

    def stage(self) -> tuple[int, float]:
        return self.synthesis.stage()

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def live_ws(self) -> int:
        """Style inputs the live levels use (mixing crosses over among these)."""
        return 2 * (self.stage()[0] + 1)

    def forward(self, z: Tensor, y: Tensor | None = None, truncation: float = 1.0, cutoff: int | None = None,
                noise: list[Tensor] | str = "random") -> Tensor:
        w = self.mapping(z)
        if self.training:
            self.track_w_avg(w)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.training and self.mixing_prob > 0:
            ws = self.mix_styles(z, ws)
        return self.synthesis(self.truncate(ws, truncation, cutoff), noise)

    @torch.no_grad()
    def track_w_avg(self, w: Tensor) -> None:
        self.w_avg.copy_(torch.lerp(w.detach().float().mean(0), self.w_avg, self.w_avg_beta))

    def mix_styles(self, z: Tensor, ws: Tensor) -> Tensor:
        """Style mixing regularisation (§3.1): with probability p, the layers from a random crossover point
        on take the styles of a second code (one crossover per batch, as the official code draws it)."""
        if torch.rand(()) >= self.mixing_prob:
            return ws
        crossover = int(torch.randint(1, self.live_ws(), ()))
        w2 = self.mapping(torch.randn_like(z))
        return torch.cat([ws[:, :crossover], w2.unsqueeze(1).expand(-1, self.num_ws - crossover, -1)], 1)

    def truncate(self, ws: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
        """w' = w_avg + ψ(w - w_avg) on the first `cutoff` layers (all if None); ψ = 1 leaves w as it is."""
        if psi == 1.0:
            return ws
        cutoff = self.num_ws if cutoff is None else cutoff
        layer = torch.arange(self.num_ws, device=ws.device).view(1, -1, 1)
        truncated = torch.lerp(self.w_avg.to(ws.dtype), ws, psi)
        return torch.where(layer < cutoff, truncated, ws)
