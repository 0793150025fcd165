"""Network configs of the GAN family's nets (MLP and DCGAN): architecture, width, depth, norm, dropout,
and the minibatch features a discriminator's head may add. Typed like every config (see config.py)."""

from dataclasses import dataclass
from typing import Literal

from ..config import param


@dataclass
class NetConfig:
    """One network's architecture. `auto` picks DCGAN for square power-of-two images, else an MLP."""

    arch: Literal["auto", "mlp", "dcgan"] = param("auto", "architecture")
    width: int = param(64, "hidden units (MLP) or base channel count (DCGAN)", min=1)
    depth: int = param(3, "hidden layers (MLP only; DCGAN depth follows the resolution)", min=1, max=32)
    activation: Literal["relu", "leaky_relu", "tanh", "elu", "gelu", "silu"] = param("relu", "hidden activation (MLP)")
    norm: Literal["batch", "layer", "none"] = param("none", "normalization layer")
    dropout: float = param(0.0, "dropout probability after each hidden layer", min=0.0, max=0.95)


@dataclass
class DNetConfig(NetConfig):
    """A discriminator: the architecture plus the minibatch features its head may add."""

    mbstd_group: int = param(0, "minibatch standard deviation over groups of this size (ProGAN; 0 = off)", min=0)
    minibatch_kernels: int = param(0, "minibatch discrimination kernels B (Salimans 2016; 0 = off, paper 100)", min=0)
    minibatch_kernel_dim: int = param(5, "minibatch discrimination kernel dimension C", min=1)


def g_net(**kw) -> NetConfig:
    return NetConfig(**{"activation": "relu", "norm": "batch", **kw})


def d_net(**kw) -> DNetConfig:
    return DNetConfig(**{"activation": "leaky_relu", **kw})
