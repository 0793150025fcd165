"""DCGAN networks (Radford, Metz, Chintala 2015), for square images of side 16 to 128.

Generator: z -> 4x4 by a transposed conv, then stride-2 transposed convs that
double the side and halve the channels, BatchNorm + ReLU inside, tanh out.
Discriminator: stride-2 convs with LeakyReLU(0.2) down to 4x4, then a 4x4 conv
to one logit; no norm on the first layer (paper §3). The discriminator's norm is
a setting: a gradient-penalty critic must not use BatchNorm, since it couples the
samples of a batch and the per-sample gradient penalty no longer makes sense
(Gulrajani et al. 2017, §4), so such critics use "layer" or "none".

Depth follows the resolution; `width` is the channel count at the last
generator stage and the first discriminator stage.
"""

import math

from torch import Tensor, nn

from .layers import dcgan_init, norm2d

RESOLUTIONS = (16, 32, 64, 128)


def _stages(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"DCGAN resolution must be one of {RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 2  # number of 2x resamplings between 4x4 and full size


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, resolution: int = 32, channels: int = 1, width: int = 64, norm: str = "batch"):
        super().__init__()
        self.z_dim, self.resolution, self.channels = z_dim, resolution, channels
        stages = _stages(resolution)
        ch = width * 2 ** (stages - 1)
        layers = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=norm == "none"), norm2d(norm, ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=norm == "none"), norm2d(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))  # [B, C, H, W] in [-1, 1]


class DCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int = 32, channels: int = 1, width: int = 64, norm: str = "batch",
                 dropout: float = 0.0):
        super().__init__()
        stages = _stages(resolution)
        layers, ch = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), norm2d(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            ch *= 2
        self.features = nn.Sequential(*layers)       # [B, ch, 4, 4]
        self.head = nn.Conv2d(ch, 1, 4, 1, 0)         # [B, 1, 1, 1]
        dcgan_init(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.features(x)).flatten()  # [B]
