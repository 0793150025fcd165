"""Networks: modules only (no losses, no optimizers), built from a `NetConfig` and the data's shape."""

from torch import nn

from .config import DNetConfig, NetConfig
from ..errors import GankitError
from .dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator


def resolve_arch(cfg: NetConfig, spec) -> str:
    """`auto` means DCGAN for square power-of-two images it supports, an MLP for everything else."""
    fits_dcgan = len(spec.shape) == 3 and spec.shape[1] == spec.shape[2] and spec.shape[1] in RESOLUTIONS
    if cfg.arch == "auto":
        return "dcgan" if fits_dcgan else "mlp"
    if cfg.arch == "dcgan" and not fits_dcgan:
        what = f"{spec.kind} data of shape {tuple(spec.shape)}"
        raise GankitError(f"the DCGAN nets need square images of side {', '.join(map(str, RESOLUTIONS))}; "
                          f"{spec.name} is {what} (use arch=mlp, or set resolution=32)")
    return cfg.arch


def build_generator(cfg: NetConfig, spec, z_dim: int, num_classes: int = 0) -> nn.Module:
    """G for data like `spec`; with `num_classes` it takes labels."""
    if resolve_arch(cfg, spec) == "dcgan":
        return DCGANGenerator(z_dim, spec.shape[1], spec.shape[0], cfg.width, cfg.norm, num_classes)
    out_activation = "tanh" if spec.value_range == (-1.0, 1.0) else None
    return MLPGenerator(z_dim, spec.shape, cfg.width, cfg.depth, cfg.activation, cfg.norm, cfg.dropout,
                        out_activation, num_classes)


def build_discriminator(cfg: DNetConfig, spec, condition: str = "none", pack: int = 1) -> nn.Module:
    """D for data like `spec`; `condition` says how labels enter, `pack` how many samples it sees at once."""
    head = {"mbstd_group": cfg.mbstd_group, "mbd_kernels": cfg.minibatch_kernels,
            "mbd_dim": cfg.minibatch_kernel_dim, "condition": condition,
            "num_classes": spec.num_classes if condition != "none" else 0}
    if resolve_arch(cfg, spec) == "dcgan":
        return DCGANDiscriminator(spec.shape[1], spec.shape[0] * pack, cfg.width, cfg.norm, cfg.dropout, **head)
    in_shape = (spec.shape[0] * pack, *spec.shape[1:])
    return MLPDiscriminator(in_shape, cfg.width, cfg.depth, cfg.activation, cfg.norm, cfg.dropout, **head)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "build_discriminator",
           "build_generator", "count_parameters", "resolve_arch"]
