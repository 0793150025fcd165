"""Small building blocks shared by the networks (modules only, no losses)."""

from torch import nn

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": lambda: nn.Tanh(),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def norm1d(kind: str, features: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(features), "layer": lambda: nn.LayerNorm(features),
            "none": nn.Identity}[kind]()


def norm2d(kind: str, channels: int) -> nn.Module:
    # "layer" normalizes each sample over (C, H, W), as the WGAN-GP critic does;
    # GroupNorm with one group is exactly that, with a per-channel affine.
    return {"batch": lambda: nn.BatchNorm2d(channels), "layer": lambda: nn.GroupNorm(1, channels),
            "none": nn.Identity}[kind]()


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2015, §4: weights from N(0, 0.02); norm scales from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
