"""`stylegan`: a style-based generator, Karras, Laine, Aila 2019 (CVPR), v1 as the course teaches it.

G = synthesis ∘ mapping (nets/progressive.py): z → w through 8 dense layers (lr × 0.01); the synthesis
network starts from a learned 4×4 constant and applies AdaIN(x, affine(w)) (eq. 1) after every conv,
with per-pixel noise scaled per channel, and grows progressively like ProGAN (`progressive=false`:
full resolution from step 0). Training: non-saturating loss + R1 γ = 10 (with the ½, eager by default as
in v1; `lazy` preset: StyleGAN2's every-16-steps form), Adam lr 1e-3 β = (0, 0.99), style mixing
with probability 0.9 (§3.1), w_avg tracked with β = 0.995. Sampling options: `truncation` ψ applied to
the first `cutoff` style layers (w' = w̄ + ψ(w - w̄), §3.2/Appendix B; ψ = 1 is off, ψ = 0 gives the
image of w̄), `noise` random (drawn from the seed) or const (the net's fixed maps).
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import OptimConfig, nested, param
from ..errors import GankitError
from ..nets.progressive import ProgressiveDiscriminator, StyleGANGenerator
from .adversarial import SAMPLE_CHUNK
from .base import register
from .progressive import CPU, PAPER, SMOKE, GrowDConfig, GrownSampler, GrowNetConfig, GrowthConfig, Progressive
from .r1 import R1Config, R1GAN
from .wgan_gp import adam

NOISE_MODES = ("random", "const")
@dataclass
class StyleGANConfig(R1Config, GrowthConfig):
    z_dim: int = param(512, "latent dimension of z (paper 512)", min=1)
    w_dim: int = param(512, "dimension of the intermediate latent w (paper 512)", min=1)
    mapping_depth: int = param(8, "dense layers of the mapping network (paper 8)", min=1, max=16)
    mapping_lr_mul: float = param(0.01, "learning-rate multiplier of the mapping network (paper 0.01)", positive=True)
    mixing_prob: float = param(0.9, "style mixing regularisation: probability of a second w (paper 0.9)",
                               min=0.0, max=1.0)
    w_avg_beta: float = param(0.995, "decay of the running mean w̄ used by truncation", min=0.0, max=1.0)
    demodulate: bool = param(False, "StyleGAN2's weight demodulation instead of instance norm + AdaIN (v1: false)")
    style_shift: bool = param(True, "AdaIN's per-channel shift y_b (v1: true; false: scale only, as StyleGAN2 "
                                    "found enough, and what keeps 32² digits from collapsing)")
    style_shift_init: float = param(1.0, "initial scale of the affine map w -> AdaIN shift (1: v1's init; 0: the "
                                         "shifts start at zero and are learnt)", min=0.0, max=1.0)
    rgb_offset: bool = param(False, "add to the image an offset from w (zero at init): without AdaIN's shift, "
                                    "the only way an image's mean brightness can depend on w")
    const_init: str = param("ones", "the learned 4×4 constant's start (ones: v1; normal: N(0, 1) as StyleGAN2, "
                                    "needed without AdaIN's shift, where ones give an all-zero 4² block)",
                            choices=("ones", "normal"))
    truncation_cutoff: int = param(8, "truncation applies to the first this-many style layers (paper 8)", min=1)
    G: GrowNetConfig = nested(GrowNetConfig, "synthesis network width")
    D: GrowDConfig = nested(GrowDConfig, "discriminator width and minibatch stddev")
    G_opt: OptimConfig = nested(lambda: adam(1e-3, (0.0, 0.99)), "generator optimizer (paper: Adam 1e-3, (0, 0.99))")
    D_opt: OptimConfig = nested(lambda: adam(1e-3, (0.0, 0.99)), "discriminator optimizer")
    lazy_interval: int = param(1, "R1 every k steps, scaled by k (1 = every D step, as StyleGAN v1)", min=1, max=1000)
    # channels_last made these nets' penalties slower on the CPUs tried (blur and instance norm on NHWC)
    channels_last: bool = param(False, "channels_last memory layout (slower for these nets on CPUs)")


@dataclass
class StyleSpace:
    """A trained StyleGAN generator's W space, for the tools (mix, truncation, interpolation, projection)."""

    G: StyleGANGenerator
    recipe: "StyleGAN"

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    @property
    def w_avg(self) -> Tensor:
        return self.G.w_avg

    def map(self, z: Tensor) -> Tensor:
        return self.G.mapping(z.to(self.G.w_avg.device))

    def broadcast(self, w: Tensor) -> Tensor:
        """[N, w_dim] -> [N, num_ws, w_dim] (the same style at every layer)."""
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesize(self, ws: Tensor, noise: list[Tensor] | str = "const") -> Tensor:
        """Images in data space at the data's size from per-layer styles [N, num_ws, w_dim]."""
        return self.recipe.full_size(self.G.synthesis(ws, noise))

    def layer_groups(self) -> dict[str, tuple[int, int]]:
        """The paper's coarse (4²-8²), middle (16²-32²) and fine (64² and up) style layers as [start, end).
        A net of 32² or less has no 64² layers: its top level counts as fine, the levels between as middle."""
        levels = self.num_ws // 2
        fine_from = 4 if levels > 4 else max(levels - 1, 2)
        return {"coarse": (0, 4), "middle": (4, 2 * fine_from), "fine": (2 * fine_from, self.num_ws)}


@register
class StyleGAN(Progressive, R1GAN):
    name = "stylegan"
    Config = StyleGANConfig
    description = ("Karras et al. 2019: mapping net, AdaIN, noise, style mixing, truncation; NS loss + R1; "
                   "grown or fixed")
    # cpu (benchmarks/README.md §14): AdaIN without its shift, which keeps 32² digits from collapsing onto one,
    # so a N(0, 1) constant (ones would make the 4² block zero); and no growing: as good in FID at 30
    # CPU-minutes, and only then do the coarse styles decide the digit (style mixing: 66 % against 31 %)
    presets = {"smoke": {**SMOKE, "w_dim": 8, "mapping_depth": 2},
               "cpu": {**CPU, "w_dim": 128, "style_shift": False, "const_init": "normal", "progressive": False},
               "paper": {**PAPER, "w_dim": 512}, "lazy": {"lazy_interval": 16}}
    auto_preset = {}
    data_kinds = ("image",)
    cfg: StyleGANConfig

    def check(self) -> None:
        super().check()
        self.check_growth()

    def build_nets(self) -> dict[str, nn.Module]:
        cfg, channels, resolution = self.cfg, self.spec.shape[0], self.spec.shape[-1]
        G = StyleGANGenerator(cfg.z_dim, cfg.w_dim, resolution, channels, cfg.G.fmaps, cfg.G.fmap_max,
                              cfg.mapping_depth, cfg.mapping_lr_mul, cfg.mixing_prob, cfg.w_avg_beta,
                              cfg.demodulate, cfg.style_shift, cfg.style_shift_init, cfg.rgb_offset,
                              const_init=cfg.const_init)
        D = ProgressiveDiscriminator(resolution, channels, cfg.D.fmaps, cfg.D.fmap_max, cfg.D.mbstd_group, blur=True)
        return {"G": G, "D": D}

    def style_space(self, nets, ema: bool = True) -> StyleSpace:
        return StyleSpace(self.generator_net(nets, ema), self)

    # -- sampling -------------------------------------------------------------------------------
    def check_sample_options(self, G: StyleGANGenerator, truncation: float, cutoff: int | None, noise: str,
                             extrapolate: bool) -> int:
        if not (0.0 <= truncation <= 1.0 or (extrapolate and truncation > 1.0)):
            raise GankitError(f"truncation ψ={truncation:g} must lie in [0, 1] (above 1 extrapolates away from "
                              "the mean: allow it with --extrapolate, extrapolate=True in Python)")
        cutoff = min(self.cfg.truncation_cutoff, G.num_ws) if cutoff is None else cutoff
        if not 1 <= cutoff <= G.num_ws:
            raise GankitError(f"truncation cutoff {cutoff}: this generator has style layers 1..{G.num_ws}")
        if noise not in NOISE_MODES:
            raise GankitError(f"noise={noise!r}: choose one of {', '.join(NOISE_MODES)}")
        return cutoff

    def draw(self, G: StyleGANGenerator, n: int, generator, noise: str) -> tuple[Tensor, list[Tensor] | str]:
        """z, then (noise=random) every layer's noise maps, from `generator` in that order."""
        z = self.latent(n, generator)
        if noise == "const":
            return z, "const"
        return z, [torch.randn(shape, generator=generator) for shape in G.synthesis.noise_shapes(n)]

    @torch.no_grad()
    def render(self, G: StyleGANGenerator, z: Tensor, noise: list[Tensor] | str, truncation: float,
               cutoff: int) -> Tensor:
        """G(z) in eval mode, in chunks, at the data's size."""
        was_training, device = G.training, G.w_avg.device
        G.eval()
        try:
            chunks = []
            for idx in torch.arange(len(z)).split(SAMPLE_CHUNK):
                maps = noise if isinstance(noise, str) else [m[idx] for m in noise]
                chunks.append(G(z[idx].to(device), truncation=truncation, cutoff=cutoff, noise=maps).float())
        finally:
            G.train(was_training)
        images = torch.cat(chunks) if chunks else torch.empty(0, *self.spec.shape[:1], 4, 4)
        return self.full_size(images)

    def sample(self, nets, n: int, generator: torch.Generator | None = None, condition=None, ema: bool = True,
               truncation: float = 1.0, cutoff: int | None = None, noise: str = "random",
               extrapolate: bool = False) -> Tensor:
        """n images from G_ema (or G) with truncation ψ on the first `cutoff` style layers (default: the
        config's truncation_cutoff) and random (from the seed) or const noise."""
        if condition is not None:
            raise GankitError("stylegan runs are unconditional: they cannot sample given classes")
        G = self.generator_net(nets, ema)
        cutoff = self.check_sample_options(G, truncation, cutoff, noise, extrapolate)
        z, maps = self.draw(G, n, generator, noise)
        return self.render(G, z, maps, truncation, cutoff)

    def sample_many(self, nets, requests):
        """Concurrent requests through one G call, each drawing its z and noise from its own seed."""
        options = requests[0].options
        if any(r.options != options or r.condition is not None for r in requests):
            return super().sample_many(nets, requests)
        G = self.generator_net(nets, options.get("ema", True))
        cutoff = self.check_sample_options(G, options.get("truncation", 1.0), options.get("cutoff"),
                                           options.get("noise", "random"), options.get("extrapolate", False))
        draws = [self.draw(G, r.n, r.generator, options.get("noise", "random")) for r in requests]
        z = torch.cat([d[0] for d in draws])
        maps = "const" if isinstance(draws[0][1], str) else [torch.cat(m) for m in zip(*(d[1] for d in draws))]
        images = self.render(G, z, maps, options.get("truncation", 1.0), cutoff)
        return list(images.split([r.n for r in requests]))

    def export_module(self, nets, ema: bool = True, truncation: float = 1.0, cutoff: int | None = None):
        """mapping + truncation + synthesis with the const noise maps: z -> images."""
        G = self.generator_net(nets, ema)
        cutoff = self.check_sample_options(G, truncation, cutoff, "const", False)
        module = GrownSampler(TruncatedGenerator(G, truncation, cutoff), self.spec.shape[-1])
        return module, (self.latent(2),), ["z"]


class TruncatedGenerator(nn.Module):
    """z -> G(z) with fixed truncation and const noise (what `export` traces)."""

    def __init__(self, G: StyleGANGenerator, truncation: float, cutoff: int):
        super().__init__()
        self.G, self.truncation, self.cutoff = G, truncation, cutoff

    def forward(self, z: Tensor) -> Tensor:
        return self.G(z, truncation=self.truncation, cutoff=self.cutoff, noise="const")
