"""Optimizers from an `OptimConfig`, and an EMA copy of a network."""

import copy

import torch
from torch import nn

from ..config import OptimConfig


def build_optimizer(cfg: OptimConfig, params, device: torch.device = torch.device("cpu")) -> torch.optim.Optimizer:
    """Multi-tensor (foreach) kernels everywhere; Adam's fused kernel on CUDA."""
    params = list(params)
    kernels = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                **kernels)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True)


def ema_decay(decay: float, step: int) -> float:
    """The EMA decay at `step`, ramped up as min(decay, (1 + t)/(10 + t)): early on G_ema follows G
    closely, so it is not dominated by the random initial weights (with a flat 0.999, 22% of G_ema
    is still the initial G after 1,500 steps, which produces blobs, not digits)."""
    return min(decay, (1.0 + step) / (10.0 + step))


def ema_copy(net: nn.Module) -> nn.Module:
    ema = copy.deepcopy(net).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 - decay)·net for parameters; buffers (BatchNorm statistics) are copied."""
    ema_params, params = list(ema.parameters()), list(net.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)
