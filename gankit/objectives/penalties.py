"""Regularizers on the discriminator's input gradient.

- WGAN-GP, Gulrajani et al. 2017, Algorithm 1 / eq. 3:
    λ E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²],  x̂ = ε x + (1 - ε) x̃,  ε ~ U[0, 1] drawn *per sample*.
  Gradients are flattened per sample, so the norm is over all of a sample's
  dimensions whatever its rank (a per-channel norm was a real bug elsewhere).
- R1 / R2, Mescheder et al. 2018, eq. 9 with the γ/2 convention of the paper
  and of StyleGAN:  R1 = γ/2 E_{p_data}‖∇_x D(x)‖²,  R2 = the same over p_G.
- Drift, Karras et al. 2018 (ProGAN), §A.1: ε E_{p_data}[D(x)²] with ε = 0.001 keeps a WGAN-GP
  critic's outputs from drifting far from zero (the GP alone fixes only their slope).
- Lazy regularization, StyleGAN2 (Karras et al. 2020, §3.1): compute a penalty
  only every k steps and multiply it by k so its average strength is unchanged;
  Adam's lr and betas for that net are corrected by `lazy_adam`.
"""

import torch
from torch import Tensor


def input_gradient(D, x: Tensor, *d_args, **d_kwargs) -> tuple[Tensor, Tensor]:
    """(D(x), ∂ΣD(x)/∂x) with the graph kept, so a penalty on the gradient can be backpropagated."""
    x = x.detach().requires_grad_(True)
    out = D(x, *d_args, **d_kwargs)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out, grad


def grad_sq_norm(grad: Tensor) -> Tensor:
    """Per-sample squared L2 norm over every non-batch dimension: [B] (bf16/fp16 summed in fp32)."""
    if grad.dtype in (torch.bfloat16, torch.float16):
        grad = grad.float()
    return grad.pow(2).flatten(1).sum(1)


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """x̂ = ε real + (1 - ε) fake with one ε ~ U[0, 1] per sample, broadcast over the rest."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return torch.lerp(fake.detach().to(real.dtype), real.detach(), eps)  # fakes may be bf16 under autocast


def gradient_penalty(D, real: Tensor, fake: Tensor, *d_args, target: float = 1.0,
                     generator: torch.Generator | None = None, **d_kwargs) -> Tensor:
    """E[(‖∇D(x̂)‖ - target)²] at random interpolates (multiply by λ yourself)."""
    _, grad = input_gradient(D, interpolate(real, fake, generator), *d_args, **d_kwargs)
    norm = (grad_sq_norm(grad) + 1e-12).sqrt()
    return (norm - target).pow(2).mean()


def r1_penalty(D, real: Tensor, gamma: float, *d_args, **d_kwargs) -> Tensor:
    """γ/2 E‖∇_x D(x)‖² on real samples."""
    _, grad = input_gradient(D, real, *d_args, **d_kwargs)
    return 0.5 * gamma * grad_sq_norm(grad).mean()


def r2_penalty(D, fake: Tensor, gamma: float, *d_args, **d_kwargs) -> Tensor:
    """γ/2 E‖∇_x D(x)‖² on generated samples."""
    return r1_penalty(D, fake, gamma, *d_args, **d_kwargs)


def lazy_adam(lr: float, betas: tuple[float, float], interval: int) -> tuple[float, tuple[float, float]]:
    """StyleGAN2's correction for a net regularized every `interval` steps: lr·k/(k+1), β^(k/(k+1))."""
    ratio = interval / (interval + 1)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)


def drift_penalty(d_real: Tensor, epsilon: float) -> Tensor:
    """ε E[D(x)²] on the critic's outputs for real samples (ProGAN's drift term)."""
    return epsilon * d_real.float().pow(2).mean()
