"""Penalties checked against analytic values: a linear critic has a known gradient norm."""

import math

import pytest
import torch
from torch import nn

from gankit.objectives import (clip_weights, gradient_penalty, interpolate, lazy_adam, r1_penalty, r2_penalty,
                               weight_clipper)


class LinearCritic(nn.Module):
    """D(x) = w · flatten(x) + b, so ∇_x D = w everywhere and ‖∇D‖ = ‖w‖."""

    def __init__(self, shape, norm):
        super().__init__()
        n = math.prod(shape)
        w = torch.randn(n, dtype=torch.float64)
        self.w = nn.Parameter(w / w.norm() * norm)
        self.b = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w + self.b


class Quadratic(nn.Module):
    """D(x) = ½‖x‖², so ∇_x D = x."""

    def forward(self, x, y=None):
        return 0.5 * x.pow(2).flatten(1).sum(1)


@pytest.mark.parametrize("shape", [(2,), (5, 3), (3, 4, 4), (2, 3, 4, 5)])
def test_gradient_penalty_of_linear_critic(shape):
    D = LinearCritic(shape, norm=3.0)
    real, fake = torch.randn(6, *shape, dtype=torch.float64), torch.randn(6, *shape, dtype=torch.float64)
    gp = gradient_penalty(D, real, fake)
    assert abs(gp.item() - (3.0 - 1.0) ** 2) < 1e-9
    gp.backward()  # d/dw (‖w‖ - 1)² = 2(‖w‖ - 1) w/‖w‖
    expected = 2 * (3.0 - 1.0) * D.w.detach() / 3.0
    assert torch.allclose(D.w.grad, expected, atol=1e-9)


def test_gradient_penalty_norm_is_per_sample_over_all_dims():
    # Quadratic critic at x̂ = x (real == fake): ‖∇D(x̂)‖ = ‖x‖ per sample, over C, H and W together.
    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    x[0, 0, 0, 0], x[1, 2, 3, 3] = 2.0, 0.5
    gp = gradient_penalty(Quadratic(), x, x.clone())
    assert abs(gp.item() - ((2 - 1) ** 2 + (0.5 - 1) ** 2) / 2) < 1e-12


def test_interpolation_weight_is_drawn_per_sample():
    real, fake = torch.ones(64, 3, 8, 8), torch.zeros(64, 3, 8, 8)
    xhat = interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = xhat.flatten(1)
    assert torch.equal(eps.min(1).values, eps.max(1).values)  # one ε within a sample
    assert eps[:, 0].std() > 0.1  # different ε across samples
    assert (eps >= 0).all() and (eps <= 1).all()


def test_r1_and_r2_use_half_gamma_convention():
    D = LinearCritic((3, 4, 4), norm=3.0)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    assert abs(r1_penalty(D, x, gamma=10.0).item() - 0.5 * 10.0 * 9.0) < 1e-9
    assert abs(r2_penalty(D, x, gamma=2.0).item() - 0.5 * 2.0 * 9.0) < 1e-9


def test_r1_of_quadratic_critic():
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)  # ‖x‖² = 25 and 1
    assert abs(r1_penalty(Quadratic(), x, gamma=1.0).item() - 0.5 * (25 + 1) / 2) < 1e-12


def test_lazy_adam_correction_matches_stylegan2():
    lr, betas = lazy_adam(0.002, (0.0, 0.99), 16)
    assert abs(lr - 0.002 * 16 / 17) < 1e-15
    assert betas[0] == 0.0 and abs(betas[1] - 0.99 ** (16 / 17)) < 1e-15


def test_weight_clipping_bounds_every_parameter():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 1)
    weight_clipper(0.01)(net)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())
    clip_weights(net, 0.005)
    assert max(p.abs().max().item() for p in net.parameters()) == pytest.approx(0.005)


class Conditional(nn.Module):
    """D(x, y, scale=1) = scale · y · ½‖x‖²: the penalties must pass D's extra arguments through."""

    def forward(self, x, y, scale=1.0):
        return scale * y * 0.5 * x.pow(2).flatten(1).sum(1)


def test_penalties_pass_labels_and_keywords_to_d():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)  # ∇D = scale·y·x: norms scale·y·(1, 2)
    y = torch.tensor([3.0, 1.0], dtype=torch.float64)
    expected = 0.5 * 2.0 * ((2 * 3 * 1) ** 2 + (2 * 1 * 2) ** 2) / 2
    assert abs(r1_penalty(Conditional(), x, 2.0, y, scale=2.0).item() - expected) < 1e-12
    assert abs(r2_penalty(Conditional(), x, 2.0, y, scale=2.0).item() - expected) < 1e-12
    gp = gradient_penalty(Conditional(), x, x.clone(), y, scale=2.0)
    assert abs(gp.item() - ((6 - 1) ** 2 + (4 - 1) ** 2) / 2) < 1e-12
