"""`dcgan`: Radford, Metz, Chintala 2015 (DCGAN) on square images.

The `gan` recipe's non-saturating BCE game with the paper's settings: DCGAN
generator and discriminator (BatchNorm in both, LeakyReLU 0.2 in D, no dropout),
N(0, 0.02) init, Adam lr 2e-4, beta1 0.5 (§4). The paper's batch is 128; the
default here is 64, which trains the bundled MNIST digits faster on a CPU.
"""

from dataclasses import dataclass

from ..config import nested
from ..nets.config import DNetConfig, NetConfig, d_net, g_net
from .base import register
from .gan import GAN, GANConfig, SMOKE


@dataclass
class DCGANConfig(GANConfig):
    G: NetConfig = nested(lambda: g_net(arch="dcgan", width=64), "generator network")
    D: DNetConfig = nested(lambda: d_net(arch="dcgan", width=64, norm="batch"), "discriminator network")


@register
class DCGAN(GAN):
    name = "dcgan"
    Config = DCGANConfig
    description = "Radford et al. 2015: convolutional G/D with BatchNorm, Adam(2e-4, 0.5)"
    presets = {
        "smoke": SMOKE,
        "paper": {"batch_size": 128},
        # `gankit demo`: 32x32 MNIST digits in ~5 CPU minutes on 2 cores even without bf16 instructions
        # (benchmarks §9): a narrower D (width 32), batch 32 and a constant lr of 5e-4 reach FID ~31 in
        # 2,500 steps, where the paper's settings (width 64, batch 64, lr 2e-4) needed ~4,500; the precision
        # is timed at start (bf16 where it is faster), and the time budget caps slow machines.
        "demo": {"steps": 3000, "precision": "auto", "D.width": 32, "batch_size": 32, "G_opt.lr": 5e-4,
                 "D_opt.lr": 5e-4, "log_every": 100, "sample_every": 500, "ckpt_every": 1000, "max_minutes": 6.0},
        "fast": {"precision": "bf16"},
    }
    auto_preset = {}
    data_kinds = ("image",)
    demo = {"name": "images", "data": "mnist5k", "preset": "demo", "about": "32x32 MNIST digits"}
