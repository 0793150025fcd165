"""Building what the trainer trains: nets (with EMA copies) on the device, optimizers, DDP wrappers,
torch.compile and the fp16 loss scaler. Functions of the recipe and config, no training state."""

import torch
from torch import nn

from ..errors import GankitError
from . import dist
from .dist import DistInfo
from .optim import build_optimizer, ema_copy


def pick_device(name: str | None = None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def has_conv(net: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in net.modules())


def place(net: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move a net to the device, conv nets in the channels_last layout (faster oneDNN kernels on CPUs)."""
    net.to(device)
    if channels_last and has_conv(net):
        net.to(memory_format=torch.channels_last)
    return net


def build_nets(recipe, device: torch.device, channels_last: bool) -> dict[str, nn.Module]:
    """The recipe's nets plus an EMA copy `<net>_ema` of each net it names, on the device."""
    nets = recipe.build_nets()
    for name in recipe.ema_nets():
        nets[f"{name}_ema"] = ema_copy(nets[name])
    return {name: place(net, device, channels_last) for name, net in nets.items()}


def build_optimizers(recipe, nets: dict[str, nn.Module], device: torch.device) -> dict[str, torch.optim.Optimizer]:
    return {name: build_optimizer(ocfg, nets[name].parameters(), device) for name, ocfg in recipe.optimizers().items()}


def wrap(name: str, net: nn.Module, recipe, info: DistInfo, device: torch.device) -> nn.Module:
    """What phases call for a trainable net: DDP under torchrun, torch.compile if asked, else the net."""
    cfg = recipe.cfg
    if info.enabled:
        net = dist.wrap(net, info, device, cfg.sync_bn)
    if cfg.compile:
        if recipe.needs_double_backward():
            raise GankitError(f"compile=true cannot be used with {recipe.name}'s penalty: torch.compile "
                              "does not support the double backward it needs")
        net = torch.compile(net)
    return net


def grad_scaler(precision: str, device: torch.device):
    """fp16 needs loss scaling against underflow; it exists for CUDA only (fp16 is unusably slow on CPUs)."""
    if precision != "fp16":
        return None
    if device.type != "cuda":
        raise GankitError("precision=fp16 needs a CUDA device; on the CPU use precision=bf16")
    return torch.amp.GradScaler("cuda")
