"""Mode-collapse remedies (issue 4): layers checked by hand, and every switch through the recipe contract."""

import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.nets.heads import Head
from gankit.nets.layers import MinibatchDiscrimination, MinibatchStd, need_double_backward, pack
from gankit.objectives.remedies import RunningMean, feature_matching, unrolled_parameters
from gankit.recipes import load_all, resolve_config
from gankit.recipes.adversarial import AdversarialRecipe
from gankit.train import Trainer, checkpoint

SWITCHES = {
    "cgan": {"condition": "cgan"},
    "projection": {"condition": "projection"},
    "acgan": {"condition": "acgan"},
    "acgan-real-labels": {"condition": "acgan", "acgan_fake_labels": False},
    "pack2": {"pack": 2},
    "minibatch-disc": {"D.minibatch_kernels": 6, "D.minibatch_kernel_dim": 3},
    "mbstd": {"D.mbstd_group": 4},
    "feature-matching": {"g_objective": "feature_matching"},
    "historical-avg": {"historical_averaging": 0.01},
    "unrolled": {"unroll_steps": 2, "D.norm": "none"},
    "no-reuse": {"reuse_fakes": False},
}
# The remedy switches belong to the adversarial layer: every registered recipe of the GAN family
RECIPES = sorted(n for n, cls in load_all().items() if issubclass(cls, AdversarialRecipe))


def supported(name, switch) -> bool:
    """False for a switch the recipe declares unsupported or whose D key its nets do not have."""
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, "image", "smoke", {})
    for key in switch:
        if key.startswith("D.") and not hasattr(cfg.D, key[2:]):
            return False
        if key in getattr(cls, "unsupported_remedies", {}):
            return False
    return True


def make(name, data, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    return cls(cfg, data.spec)


def cases():
    for switch in SWITCHES:
        for recipe in RECIPES:
            yield switch, recipe, "image"
        yield switch, "gan", "points"


@pytest.fixture(params=list(cases()), ids=lambda c: "-".join(c))
def case(request, tiny_images, ring):
    switch, recipe, kind = request.param
    return recipe, (tiny_images if kind == "image" else ring), SWITCHES[switch]


def state(trainer):
    return {f"{n}.{k}": v.detach().clone() for n, net in trainer.nets.items() for k, v in net.state_dict().items()}


def test_switch_trains_with_finite_losses_and_only_phase_params_change(case):
    name, data, switch = case
    if not supported(name, switch):  # declared unsupported: a one-line config error, never a silent no-op
        with pytest.raises(GankitError, match="does not support|unknown config key"):
            make(name, data, **switch)
        return
    trainer = Trainer(make(name, data, **switch), data, progress=False)
    for phase in trainer.phases:
        before = {n: [p.detach().clone() for p in trainer.nets[n].parameters()] for n in trainer.optimizers}
        trainer.run_phase(phase)
        for n in trainer.optimizers:
            changed = any(not torch.equal(a, b) for a, b in zip(before[n], trainer.nets[n].parameters()))
            assert changed == (n in phase.nets), (phase.name, n)
    trainer.stash.clear()
    trainer.train_step()
    stats = trainer.stats.summary()
    assert "loss/G" in stats and all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_switch_resume_equals_uninterrupted(switch, tiny_images, tmp_path):
    name, data, switch = "wgan-gp", tiny_images, SWITCHES[switch]
    straight = Trainer(make(name, data, steps=3, **switch), data, tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(make(name, data, steps=3, **switch), data, tmp_path / "b", progress=False)
    first.fit(1)
    resumed = Trainer(make(name, data, steps=3, **switch), data, tmp_path / "b", progress=False)
    resumed.restore(checkpoint.latest(tmp_path / "b" / "checkpoints"))
    resumed.fit()
    a, b = state(straight), state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------- layers by hand


def test_minibatch_discrimination_identical_rows_give_exp0_terms():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    same = torch.ones(2, 4)
    out = layer(same)
    assert out.shape == (2, 4 + 3)
    assert torch.allclose(out[:, 4:], torch.full((2, 3), 2.0))  # exp(0) from itself and from its twin
    far = torch.tensor([[0.0, 0, 0, 0], [1e4, 1e4, 1e4, 1e4]])
    with torch.no_grad():
        layer.T.copy_(torch.ones(4, 6))
    assert torch.allclose(layer(far)[:, 4:], torch.ones(2, 3))  # only exp(0) from itself


def test_minibatch_discrimination_o_matches_the_formula():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(3, kernels=2, kernel_dim=4)
    f = torch.randn(5, 3)
    M = (f @ layer.T).view(5, 2, 4)
    expected = torch.stack([torch.stack([sum(torch.exp(-(M[i, b] - M[j, b]).abs().sum()) for j in range(5))
                                         for b in range(2)]) for i in range(5)])
    assert torch.allclose(layer(f)[:, 3:], expected, atol=1e-6)


def test_minibatch_discrimination_fast_and_twice_differentiable_paths_agree():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=4, kernel_dim=3)
    f = torch.randn(7, 6, requires_grad=True)
    fast = layer(f)
    (g_fast,) = torch.autograd.grad(fast.pow(2).sum(), f)
    need_double_backward(layer)
    slow = layer(f)
    (g_slow,) = torch.autograd.grad(slow.pow(2).sum(), f, create_graph=True)
    assert torch.allclose(fast, slow, atol=1e-5) and torch.allclose(g_fast, g_slow, atol=1e-4)
    g_slow.pow(2).sum().backward()  # the R1 / WGAN-GP / unrolled path: a gradient of a gradient
    assert torch.isfinite(layer.T.grad).all() and layer.T.grad.abs().sum() > 0


def test_minibatch_std_appends_the_group_std():
    x = torch.zeros(4, 2, 3, 3)
    x[1] = 2.0  # groups are {0, 2}, {1, 3} (sample i in group i mod 2 with group size 2) or one group of 4
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (4, 3, 3, 3)
    expected = torch.tensor([0.0, 2.0, 0.0, 0.0]).std(unbiased=False)
    assert torch.allclose(out[:, 2], torch.full((4, 3, 3), float(expected)), atol=1e-4)
    assert MinibatchStd(4)(torch.randn(6, 5)).shape == (6, 6)  # vectors too; group shrinks to divide 6


def test_packing_groups_consecutive_samples_along_channels():
    x = torch.arange(6).float().view(6, 1, 1, 1).expand(6, 2, 2, 2)
    packed = pack(x, 3)
    assert packed.shape == (2, 6, 2, 2)
    assert packed[0, :, 0, 0].tolist() == [0, 0, 1, 1, 2, 2] and packed[1, :, 0, 0].tolist() == [3, 3, 4, 4, 5, 5]
    assert pack(torch.arange(8.).view(4, 2), 2).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_feature_matching_and_running_mean():
    assert feature_matching(torch.ones(4, 3), torch.zeros(5, 3)).item() == 3.0
    net = torch.nn.Linear(2, 1)
    avg = RunningMean(net)
    with torch.no_grad():
        net.weight.add_(3.0)
    avg.update(net)  # mean of the two snapshots
    assert torch.allclose(avg.means()[0], net.weight - 1.5)
    assert avg.count.dtype == torch.long and int(avg.count) == 2  # an exact step count, saved with checkpoints
    assert torch.allclose(avg.penalty(net), (1.5 ** 2) * torch.ones(()) * 2)


def test_unrolled_parameters_are_differentiable_sgd_steps():
    D = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        D.weight.fill_(1.0)
    x = torch.tensor([[2.0]], requires_grad=True)
    loss = lambda p: (torch.func.functional_call(D, p, (x,)) ** 2).sum()  # noqa: E731  L = (w x)², dL/dw = 2 w x²
    params = unrolled_parameters(D, loss, steps=1, lr=0.1)
    assert torch.allclose(params["weight"], torch.tensor([[1.0 - 0.1 * 8.0]]))
    (g,) = torch.autograd.grad(params["weight"].sum(), x)  # the step depends on x: dw'/dx = -0.1·4wx
    assert torch.allclose(g, torch.tensor([[-0.8]]))


def test_head_projection_and_acgan_shapes():
    h = torch.randn(5, 8)
    y = torch.tensor([0, 1, 2, 1, 0])
    proj = Head((8,), num_classes=3, condition="projection")
    assert proj.logit(proj.vector(h), y).shape == (5,)
    ac = Head((8,), num_classes=3, condition="acgan")
    assert ac.classifier(ac.vector(h)).shape == (5, 3)


# ------------------------------------------------------------------------------------- conditional sampling


@pytest.mark.parametrize("condition", ["cgan", "projection", "acgan"])
def test_conditional_sampler_returns_the_requested_classes(tiny_images, condition, tmp_path):
    trainer = Trainer(make("dcgan", tiny_images, condition=condition), tiny_images, tmp_path, progress=False)
    trainer.fit()
    model = gankit.load(tmp_path)
    y = torch.tensor([2, 2, 0, 1])
    x = model.sample(4, seed=0, y=y)
    assert x.shape == (4, 1, 16, 16)
    again = model.sample(4, seed=0, y=torch.tensor([0, 2, 0, 1]))
    assert torch.equal(x[2:], again[2:]) and not torch.equal(x[0], again[0])  # the label changes the sample


@pytest.mark.parametrize("fake_labels", [True, False])
def test_acgan_fake_labels_switch_decides_whether_D_classifies_fakes(tiny_images, fake_labels):
    trainer = Trainer(make("dcgan", tiny_images, condition="acgan", acgan_fake_labels=fake_labels), tiny_images,
                      progress=False)
    trainer.train_step()
    stats = trainer.stats.summary()
    assert "loss/class_D_real" in stats and "loss/class_G" in stats
    assert ("loss/class_D_fake" in stats) == fake_labels


def test_unconditional_model_refuses_classes(tiny_images):
    recipe = make("gan", tiny_images)
    trainer = Trainer(recipe, tiny_images, progress=False)
    with pytest.raises(gankit.GankitError, match="unconditional"):
        recipe.sample(trainer.nets, 2, condition=torch.tensor([0, 1]))


def test_conditioning_needs_labels(ring):
    unlabelled = gankit.from_tensors(ring.x[:100])
    with pytest.raises(gankit.GankitError, match="needs labelled data"):
        make("gan", unlabelled, condition="cgan")


@pytest.mark.parametrize("name", ["gan", "dcgan", "r1"])
def test_one_sided_label_smoothing_on_bce_recipes(tiny_images, name):
    recipe = make(name, tiny_images, label_smoothing=0.1)
    real, fake = torch.tensor([2.0]), torch.tensor([0.0])
    from gankit.objectives import d_minimax

    assert torch.allclose(recipe.objective().d(real, fake), d_minimax(real, fake, real_label=0.9))
    trainer = Trainer(recipe, tiny_images, progress=False)
    trainer.train_step()
    assert all(torch.isfinite(torch.tensor(v)) for v in trainer.stats.summary().values())


def test_label_smoothing_is_refused_for_critics(tiny_images):
    with pytest.raises(gankit.GankitError, match="needs a probabilistic"):
        make("wgan-gp", tiny_images, label_smoothing=0.1)


def test_minibatch_std_picks_the_largest_group_that_tiles_the_batch():
    assert MinibatchStd().group_size == 4  # ProGAN's default
    x = torch.arange(6.0).view(6, 1)  # group size 4 does not divide 6: groups of 3, {0, 2, 4} and {1, 3, 5}
    out = MinibatchStd(4)(x)
    std = torch.tensor([0.0, 2.0, 4.0]).std(unbiased=False)  # each member of a group differs by 2 from the next
    assert torch.allclose(out[:, 1], torch.full((6,), float(std)), atol=1e-3)
    assert torch.allclose(MinibatchStd(4)(torch.arange(5.0).view(5, 1))[:, 1], torch.full((5,), 1e-4))  # prime: groups of 1
    half = MinibatchStd(2)(torch.randn(4, 3, 2, 2, dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16 and half.shape == (4, 4, 2, 2)
