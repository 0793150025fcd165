"""Golden values for every objective, computed by hand (see each comment)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.objectives import (OBJECTIVES, d_hinge, d_least_squares, d_minimax, d_wasserstein, g_least_squares,
                               g_nonsaturating, g_saturating, g_wasserstein)

t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
LN2 = math.log(2.0)


def close(a, b):
    return abs(float(a) - b) < 1e-9


def test_minimax_d_loss_golden():
    assert close(d_minimax(t(0.0), t(0.0)), 2 * LN2)  # -log ½ - log ½
    # -log σ(2) - log(1 - σ(-1)) = softplus(-2) + softplus(-1)
    assert close(d_minimax(t(2.0), t(-1.0)), math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))


def test_saturating_generator_loss_is_log_one_minus_d():
    fake = t(-1.0, 0.5, 3.0)
    expected = torch.log(1 - torch.sigmoid(fake)).mean()
    assert close(g_saturating(fake), float(expected))
    assert close(g_saturating(t(-1.0)), math.log(1 - 1 / (1 + math.exp(1))))


def test_nonsaturating_generator_loss_is_minus_log_d():
    assert close(g_nonsaturating(t(-1.0)), -math.log(1 / (1 + math.exp(1))))
    fake = t(-3.0, 0.0, 2.0)
    assert close(g_nonsaturating(fake), float(-torch.log(torch.sigmoid(fake)).mean()))


def test_saturating_gradient_vanishes_when_d_rejects_fakes():
    # The course's dominance problem: at D(G(z)) ≈ 0 the saturating loss has almost no gradient.
    fake = t(-10.0).requires_grad_()
    g_saturating(fake).backward()
    sat = fake.grad.abs().item()
    fake2 = t(-10.0).requires_grad_()
    g_nonsaturating(fake2).backward()
    assert sat < 1e-4 and fake2.grad.abs().item() > 0.99


def test_minimax_matches_torch_bce():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(50, generator=g), torch.randn(50, generator=g)
    ref = F.binary_cross_entropy_with_logits(real, torch.ones(50)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(50))
    assert torch.allclose(d_minimax(real, fake), ref, atol=1e-6)
    smooth = F.binary_cross_entropy_with_logits(real, torch.full((50,), 0.9)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(50))
    assert torch.allclose(d_minimax(real, fake, real_label=0.9), smooth, atol=1e-6)


def test_one_sided_label_smoothing_golden():
    # 0.9·softplus(-2) + 0.1·softplus(2) + softplus(0)
    expected = 0.9 * math.log1p(math.exp(-2)) + 0.1 * math.log1p(math.exp(2)) + LN2
    assert close(d_minimax(t(2.0), t(0.0), real_label=0.9), expected)


def test_wasserstein_exactly_as_the_lecture():
    real, fake = t(1.0, 3.0), t(0.5, 1.5)
    assert close(d_wasserstein(real, fake), -(2.0 - 1.0))  # L_C = -(D_real - D_fake)
    assert close(g_wasserstein(fake), -1.0)  # L_G = -D_fake


def test_hinge_golden():
    # relu(1-0.5)=0.5, relu(1-2)=0 -> 0.25 ; relu(1-2)=0, relu(1+0.5)=1.5 -> 0.75
    assert close(d_hinge(t(0.5, 2.0), t(-2.0, 0.5)), 1.0)


def test_least_squares_golden():
    assert close(d_least_squares(t(1.0, 0.0), t(0.0, 1.0)), 0.5)
    assert close(g_least_squares(t(0.0, 1.0)), 0.25)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_objectives_are_pure_and_differentiable(name):
    obj = OBJECTIVES[name]
    real, fake = torch.randn(8, requires_grad=True), torch.randn(8, requires_grad=True)
    loss = obj.d(real, fake) + obj.g(fake)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert real.grad is not None and fake.grad is not None


def test_minimax_is_numerically_safe_for_extreme_logits():
    assert torch.isfinite(d_minimax(t(1e4), t(-1e4))) and torch.isfinite(g_saturating(t(-1e4)))
    assert close(d_minimax(t(1e4), t(-1e4)), 0.0)
