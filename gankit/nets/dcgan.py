"""DCGAN networks (Radford, Metz, Chintala 2015), for square images of side 16 to 128.

Generator: z -> 4x4 by a transposed conv, then stride-2 transposed convs that double the side and halve
the channels, BatchNorm + ReLU inside, tanh out. Discriminator: stride-2 convs with LeakyReLU(0.2) down
to 4x4, then one linear map of the 4x4 features to a logit (the paper's final 4x4 convolution, written
as a linear layer so the shared head can add minibatch features or class projection); no norm on the
first layer (paper §3). The discriminator's norm is a setting: a gradient-penalty critic must not use
BatchNorm, since it couples the samples of a batch and the per-sample gradient penalty no longer makes
sense (Gulrajani et al. 2017, §4), so such critics use "layer" or "none".

Depth follows the resolution; `width` is the channel count at the last generator stage and the first
discriminator stage. Labels enter G as an embedding concatenated to z, and D (cGAN) as extra channels.
"""

import math

from torch import Tensor, nn

from .heads import Discriminator, Head, concat_label, label_dim
from .layers import dcgan_init, norm2d

RESOLUTIONS = (16, 32, 64, 128)


def _stages(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"DCGAN resolution must be one of {RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 2  # number of 2x resamplings between 4x4 and full size


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, resolution: int = 32, channels: int = 1, width: int = 64, norm: str = "batch",
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.resolution, self.channels = z_dim, resolution, channels
        self.label = nn.Embedding(num_classes, label_dim(num_classes)) if num_classes else None
        in_ch = z_dim + (label_dim(num_classes) if num_classes else 0)
        stages = _stages(resolution)
        ch = width * 2 ** (stages - 1)
        layers = [nn.ConvTranspose2d(in_ch, ch, 4, 1, 0, bias=norm == "none"), norm2d(norm, ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=norm == "none"), norm2d(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        z = concat_label(z, self.label, y)
        return self.net(z.view(z.shape[0], -1, 1, 1))  # [B, C, H, W] in [-1, 1]


class DCGANDiscriminator(Discriminator):
    def __init__(self, resolution: int = 32, channels: int = 1, width: int = 64, norm: str = "batch",
                 dropout: float = 0.0, mbstd_group: int = 0, mbd_kernels: int = 0, mbd_dim: int = 5,
                 num_classes: int = 0, condition: str = "none"):
        super().__init__()
        cgan = condition == "cgan"
        self.label = nn.Embedding(num_classes, label_dim(num_classes)) if cgan else None
        in_ch = channels + (label_dim(num_classes) if cgan else 0)
        stages = _stages(resolution)
        layers, ch = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), norm2d(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            ch *= 2
        self.trunk = nn.Sequential(*layers)                                   # [B, ch, 4, 4]
        self.head = Head((ch, 4, 4), mbstd_group, mbd_kernels, mbd_dim, num_classes, condition)
        dcgan_init(self)

    def condition_input(self, x: Tensor, y: Tensor | None) -> Tensor:
        return concat_label(x, self.label, y)
