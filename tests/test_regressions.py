"""Tests aimed at regressions the rest of the suite would let pass (issue 17): each names the change to the
library it catches."""

import pytest
import torch

import gankit
from gankit.objectives.adversarial import d_hinge, d_least_squares, g_least_squares
from gankit.objectives.penalties import gradient_penalty
from gankit.recipes import resolve_config
from gankit.train import Trainer


def t(*values):
    return torch.tensor(values)


def make(name, data, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    return cls(cfg, data.spec)


def test_gradient_penalty_is_taken_at_the_interpolates_not_at_real_or_fake():
    """Catches: the penalty computed at the real or the fake samples instead of x̂ = εx + (1 − ε)x̃.
    The critic D(x) = ½x² has gradient x, so its norm at x̂ is |x̂| and depends on where it is taken."""
    critic = lambda x: 0.5 * x.pow(2).sum(1)  # noqa: E731
    real, fake = t(3.0).view(1, 1), t(-2.0).view(1, 1)
    eps = torch.rand((1, 1), generator=torch.Generator().manual_seed(0)).item()  # 0.496
    x_hat = eps * 3.0 + (1 - eps) * -2.0
    expected = (abs(x_hat) - 1.0) ** 2
    got = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0)).item()
    assert got == pytest.approx(expected, rel=1e-5)
    assert abs(got - (3.0 - 1.0) ** 2) > 0.1 and abs(got - (2.0 - 1.0) ** 2) > 0.1  # at real: 4, at fake: 1


def test_least_squares_and_hinge_with_asymmetric_inputs_by_hand():
    """Catches: swapped real/fake targets, or G's target 0 instead of 1 (symmetric inputs hide both)."""
    # LSGAN: 0.5·mean((D(x) − 1)²) + 0.5·mean(D(G(z))²) = 0.5·mean(1, 0.25) + 0.5·mean(0.0625, 1)
    assert d_least_squares(t(2.0, 0.5), t(0.25, -1.0)).item() == pytest.approx(0.5 * 0.625 + 0.5 * 0.53125)
    assert g_least_squares(t(0.25, 3.0)).item() == pytest.approx(0.5 * (0.5625 + 4.0) / 2)  # target 1
    # hinge: mean(relu(1 − D(x))) + mean(relu(1 + D(G(z)))) = mean(0.5, 0) + mean(0.5, 1.25)
    assert d_hinge(t(0.5, 2.0), t(-0.5, 0.25)).item() == pytest.approx(0.25 + 0.875)


@pytest.mark.parametrize("loss", ["hinge", "least_squares"])
def test_the_gan_recipe_trains_with_each_objective_and_uses_it(tiny_images, loss):
    """Catches: the recipe ignoring `loss=` (training with minimax whatever the setting)."""
    stats = {}
    for name in ("minimax", loss):
        torch.manual_seed(0)
        trainer = Trainer(make("gan", tiny_images, loss=name), tiny_images, progress=False)
        for _ in range(3):
            trainer.train_step()
        stats[name] = trainer.stats.summary()
        assert all(torch.isfinite(torch.tensor(v)) for v in stats[name].values())
    assert stats[loss]["loss/D"] != pytest.approx(stats["minimax"]["loss/D"], rel=1e-3)


@pytest.mark.parametrize("condition", ["cgan", "projection"])
def test_discriminator_output_depends_on_the_label(tiny_images, condition):
    """Catches: D ignoring its label under cgan or projection conditioning."""
    recipe = make("dcgan", tiny_images, condition=condition)
    nets = recipe.build_nets()
    x = tiny_images.decode(tiny_images.x[:6])
    y = tiny_images.y[:6]
    with torch.no_grad():
        a, b = nets["D"](x, y), nets["D"](x, (y + 1) % 3)
    assert not torch.allclose(a, b)
