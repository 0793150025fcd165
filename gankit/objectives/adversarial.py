"""Adversarial objectives as pure functions of discriminator outputs.

Every function takes raw discriminator outputs (logits, or critic values for
Wasserstein) of shape [B] and returns a scalar to *minimize*. Networks never
know which objective trains them.

- Minimax GAN, Goodfellow et al. 2014, eq. 1:
    L_D = -E[log D(x)] - E[log(1 - D(G(z)))],   D = sigmoid(logit)
  with the *saturating* generator loss  L_G = E[log(1 - D(G(z)))]  (the game as
  written; its gradient vanishes when D confidently rejects fakes) and the
  *non-saturating* one  L_G = -E[log D(G(z))]  (same fixed point, strong gradient
  early on; §3 of the paper).
  Written with softplus: -log sigmoid(t) = softplus(-t), -log(1 - sigmoid(t)) = softplus(t),
  which is exact and never takes log(0).
- Wasserstein, Arjovsky et al. 2017, exactly as the course writes it:
    L_C = -(E[D(x)] - E[D(G(z))]),   L_G = -E[D(G(z))].
- Hinge (Lim & Ye 2017; Miyato et al. 2018):
    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],   L_G = -E[D(G(z))].
- Least squares (Mao et al. 2017, a=0, b=c=1, eq. 2):
    L_D = ½E[(D(x) - 1)²] + ½E[D(G(z))²],   L_G = ½E[(D(G(z)) - 1)²].
- One-sided label smoothing (Salimans et al. 2016, §3.4): the real target of the
  minimax D loss becomes `real_label` (0.9); fakes keep target 0.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def d_minimax(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    """Binary cross-entropy of D: reals towards `real_label`, fakes towards 0."""
    real_term = real_label * F.softplus(-real) + (1.0 - real_label) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def g_saturating(fake: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))]: the generator's side of the minimax game (saturates)."""
    return -F.softplus(fake).mean()


def g_nonsaturating(fake: Tensor) -> Tensor:
    """-E[log D(G(z))]: the non-saturating generator loss."""
    return F.softplus(-fake).mean()


def d_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """L_C = -(D_real - D_fake)."""
    return -(real.mean() - fake.mean())


def g_wasserstein(fake: Tensor) -> Tensor:
    """L_G = -D_fake."""
    return -fake.mean()


def d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def d_least_squares(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_least_squares(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()


@dataclass(frozen=True)
class Objective:
    """A named pair of losses: `d(real, fake)` for the discriminator, `g(fake)` for the generator."""

    name: str
    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor], Tensor]
    probabilistic: bool  # True when D's output is a logit of P(real)


OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective("minimax", d_minimax, g_saturating, True),
    "nonsaturating": Objective("nonsaturating", d_minimax, g_nonsaturating, True),
    "wasserstein": Objective("wasserstein", d_wasserstein, g_wasserstein, False),
    "hinge": Objective("hinge", d_hinge, g_wasserstein, False),
    "least_squares": Objective("least_squares", d_least_squares, g_least_squares, False),
}


SATURATED_LOGIT = math.log(0.01 / 0.99)  # sigmoid below 0.01: the flat region where log(1 - D) saturates


def mean_probability(logits: Tensor) -> Tensor:
    """Mean sigmoid(D), the discriminator's average belief that its inputs are real."""
    return torch.sigmoid(logits.detach().float()).mean()
