"""Pure pieces of the classic mode-collapse remedies (Salimans et al. 2016; Metz et al. 2017).

- Feature matching (Salimans §3.1): the generator matches the mean of an intermediate discriminator
  feature,  L_G = ‖E_x f(x) − E_z f(G(z))‖²₂  (f = the features D's logit is read from).
- Historical averaging (Salimans §3.3): each player pays ‖θ − (1/t) Σ_{i≤t} θ_i‖²; `RunningMean` keeps
  the running mean of a network's parameters as buffers (so it is checkpointed like any net).
- Unrolled GAN (Metz et al. 2017, eq. 8–10): the generator's loss is taken against the discriminator
  after k further gradient steps on it, θ_D^k = θ_D^{k-1} − η ∇L_D(θ_D^{k-1}), keeping the graph so G
  sees how D would react. `unrolled_parameters` returns θ_D^k as a dict for torch.func.functional_call.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn


def feature_matching(real_features: Tensor, fake_features: Tensor) -> Tensor:
    return (real_features.detach().float().mean(0) - fake_features.float().mean(0)).pow(2).sum()


class RunningMean(nn.Module):
    """The running mean (1/t) Σ θ_i of another module's parameters, t counted in `count`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.names = [name for name, _ in net.named_parameters()]
        for i, (_, p) in enumerate(net.named_parameters()):
            self.register_buffer(f"mean_{i}", p.detach().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.long))

    def means(self) -> list[Tensor]:
        return [getattr(self, f"mean_{i}") for i in range(len(self.names))]

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.count += 1
        weight = 1.0 / float(self.count)
        torch._foreach_lerp_(self.means(), [p.detach() for p in net.parameters()], weight)

    def penalty(self, net: nn.Module) -> Tensor:
        """‖θ − θ̄‖² summed over all parameters."""
        return sum((p - m).pow(2).sum() for p, m in zip(net.parameters(), self.means()))


def unrolled_parameters(D: nn.Module, d_loss: Callable[[dict], Tensor], steps: int, lr: float) -> dict[str, Tensor]:
    """D's parameters after `steps` differentiable gradient steps on `d_loss(params)` (SGD, step `lr`)."""
    params = dict(D.named_parameters())
    for _ in range(steps):
        grads = torch.autograd.grad(d_loss(params), list(params.values()), create_graph=True)
        params = {name: p - lr * g for (name, p), g in zip(params.items(), grads)}
    return params
