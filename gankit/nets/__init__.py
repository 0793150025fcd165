"""Networks: modules only (no losses, no optimizers), built from a `NetConfig` and the data's shape."""

from torch import nn

from ..config import NetConfig
from ..errors import GankitError
from .dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator


def resolve_arch(cfg: NetConfig, spec) -> str:
    """`auto` means DCGAN for square power-of-two images it supports, an MLP for everything else."""
    fits_dcgan = spec.kind == "image" and spec.shape[1] == spec.shape[2] and spec.shape[1] in RESOLUTIONS
    if cfg.arch == "auto":
        return "dcgan" if fits_dcgan else "mlp"
    if cfg.arch == "dcgan" and not fits_dcgan:
        what = f"{spec.kind} data of shape {tuple(spec.shape)}"
        raise GankitError(f"the DCGAN nets need square images of side {', '.join(map(str, RESOLUTIONS))}; "
                          f"{spec.name} is {what} (use arch=mlp, or set resolution=32)")
    return cfg.arch


def build_generator(cfg: NetConfig, spec, z_dim: int) -> nn.Module:
    if resolve_arch(cfg, spec) == "dcgan":
        return DCGANGenerator(z_dim, spec.shape[1], spec.shape[0], cfg.width, cfg.norm)
    out_activation = "tanh" if spec.value_range == (-1.0, 1.0) else None
    return MLPGenerator(z_dim, spec.shape, cfg.width, cfg.depth, cfg.activation, cfg.norm, cfg.dropout, out_activation)


def build_discriminator(cfg: NetConfig, spec) -> nn.Module:
    if resolve_arch(cfg, spec) == "dcgan":
        return DCGANDiscriminator(spec.shape[1], spec.shape[0], cfg.width, cfg.norm, cfg.dropout)
    return MLPDiscriminator(spec.shape, cfg.width, cfg.depth, cfg.activation, cfg.norm, cfg.dropout)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "build_discriminator",
           "build_generator", "count_parameters", "resolve_arch"]
