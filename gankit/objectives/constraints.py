"""Post-step constraints: applied to a network right after its optimizer step.

WGAN weight clipping (Arjovsky et al. 2017, Algorithm 1, line 7): every critic
parameter is clamped to [-c, c] *after* the update, so the generator always
trains against a critic that satisfies the Lipschitz bound.
"""

import torch
from torch import nn


@torch.no_grad()
def clip_weights(net: nn.Module, bound: float) -> None:
    params = [p for p in net.parameters()]
    if params:
        torch._foreach_clamp_min_(params, -bound)
        torch._foreach_clamp_max_(params, bound)


def weight_clipper(bound: float):
    """A post-step hook `hook(net)` that clips `net`'s weights to [-bound, bound]."""

    def hook(net: nn.Module) -> None:
        clip_weights(net, bound)

    hook.__name__ = f"clip_weights({bound})"
    return hook
