"""`progan`: progressive growing of GANs, Karras, Aila, Laine, Lehtinen 2018 (ICLR).

The WGAN-GP game (λ = 10, one critic step per G step) plus the drift term ε·E[D(x)²] with ε = 0.001
(§A.1), on nets that grow from 4×4 to the data's resolution with fade-ins (§2, progressive.py),
equalised learning rate (§4.1), pixelwise feature normalisation in G (§4.2) and minibatch standard
deviation in D's last block (§3, group 4). Adam lr 1e-3, β = (0, 0.99); G_ema with decay 0.999. The
paper shows 600k (800k in the v1 config) real images per fade and per stabilisation phase; the `cpu`
preset scales that down for 32×32 data on a CPU, `paper` restores it.
"""

from dataclasses import dataclass

from torch import Tensor, nn

from ..config import OptimConfig, nested, param
from ..errors import GankitError
from ..nets.layers import need_double_backward
from ..nets.progressive import ProGANGenerator, ProgressiveDiscriminator
from ..objectives import drift_penalty
from .base import StepContext, register
from .progressive import CPU, PAPER, SMOKE, GrowDConfig, GrownSampler, GrowNetConfig, GrowthConfig, Progressive
from .wgan_gp import WGANGP, WGANGPConfig, adam

@dataclass
class ProGANConfig(WGANGPConfig, GrowthConfig):
    z_dim: int = param(512, "latent dimension (paper 512)", min=1)
    G: GrowNetConfig = nested(GrowNetConfig, "generator width")
    D: GrowDConfig = nested(GrowDConfig, "critic width and minibatch stddev")
    G_opt: OptimConfig = nested(lambda: adam(1e-3, (0.0, 0.99)), "generator optimizer (paper: Adam 1e-3, (0, 0.99))")
    D_opt: OptimConfig = nested(lambda: adam(1e-3, (0.0, 0.99)), "critic optimizer")
    n_critic: int = param(1, "critic steps per generator step (ProGAN: 1)", min=1, max=1000)
    drift: float = param(0.001, "ε of the drift term ε·E[D(x)²] on real data", min=0.0)
    # channels_last made these nets' penalties slower on the CPUs tried (blur and instance norm on NHWC)
    channels_last: bool = param(False, "channels_last memory layout (slower for these nets on CPUs)")


@register
class ProGAN(Progressive, WGANGP):
    name = "progan"
    Config = ProGANConfig
    description = "Karras et al. 2018: progressive growing with fade-in, WGAN-GP + drift, equalised lr, pixel norm"
    presets = {"smoke": SMOKE, "cpu": CPU, "paper": PAPER}
    auto_preset = {}
    data_kinds = ("image",)
    cfg: ProGANConfig

    def check(self) -> None:
        super().check()
        self.check_growth()

    def build_nets(self) -> dict[str, nn.Module]:
        channels, resolution = self.spec.shape[0], self.spec.shape[-1]
        G, D = self.cfg.G, self.cfg.D
        nets = {"G": ProGANGenerator(self.cfg.z_dim, resolution, channels, G.fmaps, G.fmap_max),
                "D": ProgressiveDiscriminator(resolution, channels, D.fmaps, D.fmap_max, D.mbstd_group)}
        need_double_backward(nets["D"])
        return nets

    def d_real_penalty(self, ctx: StepContext, d_real: Tensor) -> Tensor | None:
        if not self.cfg.drift:
            return None
        drift = drift_penalty(d_real, self.cfg.drift)
        ctx.report("loss/drift", drift)
        return drift

    def generate(self, G: nn.Module, z: Tensor, y: Tensor | None) -> Tensor:
        return self.full_size(super().generate(G, z, y))

    def export_module(self, nets, ema: bool = True):
        G = self.generator_net(nets, ema)
        return GrownSampler(G, self.spec.shape[-1]), (self.latent(2),), ["z"]
