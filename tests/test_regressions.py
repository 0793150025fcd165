"""Tests aimed at regressions the rest of the suite would let pass (issue 17): each names the change to the
library it catches."""

import dataclasses

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


# ------------------------------------------------------------------ resume and divergence through the CLI

import json  # noqa: E402

from gankit.cli import main  # noqa: E402
from gankit.train import checkpoint  # noqa: E402


def cli(*args):
    return main([str(a) for a in args])


def weights_of(run):
    pipe = gankit.load(run)
    return {f"{n}.{k}": v.clone() for n, net in pipe.nets.items() for k, v in net.state_dict().items()}


def rewind_to(run, step):
    """Make the run look interrupted after `step`: later checkpoints removed, latest.json at `step`."""
    folder = run / "checkpoints"
    for path in folder.glob("step-*"):
        if int(path.name.split(".")[0].split("-")[1]) > step:
            path.unlink()
    stem = f"step-{step:07d}"
    (folder / "latest.json").write_text(json.dumps({"step": step, "weights": f"{stem}.safetensors",
                                                    "state": f"{stem}.state.pt"}))


@pytest.mark.parametrize("extra", [[], ["--set", "lr_decay=linear"], ["--precision", "bf16"]],
                         ids=["constant-lr", "linear-decay", "bf16"])
def test_resume_through_the_cli_is_bit_exact(tmp_path, extra):
    """Catches: a resume that restores weights but not optimizer, RNG, data order or the lr schedule."""
    args = ["train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "4", "--set", "keep_ckpts=10",
            "--no-progress", *extra]
    assert cli(*args, "--out", tmp_path / "a") == 0
    assert cli(*args, "--out", tmp_path / "b") == 0
    straight, interrupted = next((tmp_path / "a").iterdir()), next((tmp_path / "b").iterdir())
    rewind_to(interrupted, 2)
    assert gankit.load(interrupted).step == 2
    assert cli("train", "--resume", interrupted, "--no-progress") == 0
    a, b = weights_of(straight), weights_of(interrupted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_through_the_api_is_bit_exact(tmp_path):
    straight = gankit.train("gan", "ring8", preset="smoke", steps=4, out=tmp_path / "a", progress=False,
                            overrides={"keep_ckpts": 10})
    run = gankit.train("gan", "ring8", preset="smoke", steps=4, out=tmp_path / "b", progress=False,
                       overrides={"keep_ckpts": 10})
    rewind_to(run.path, 3)
    gankit.resume(run.path, progress=False)
    a, b = weights_of(straight.path), weights_of(run.path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_when_latest_names_a_missing_file_or_the_state_is_unreadable(tmp_path, capsys):
    assert cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "3", "--set", "keep_ckpts=10",
               "--out", tmp_path, "--no-progress") == 0
    run = next(tmp_path.iterdir())
    folder = run / "checkpoints"
    (folder / "step-0000003.safetensors").unlink()  # latest.json now names a file that is gone
    capsys.readouterr()
    assert cli("train", "--resume", run, "--steps", "4", "--no-progress") == 0
    assert gankit.load(run).step == 4
    state = sorted(folder.glob("*.state.pt"))[-1]
    state.write_bytes(b"not a torch file")
    capsys.readouterr()
    assert cli("train", "--resume", run, "--steps", "5", "--no-progress") == 0
    err = capsys.readouterr().err
    assert state.name in err and "previous checkpoint" in err
    assert gankit.load(run).step == 5


def test_divergence_exits_3_and_keeps_a_finite_checkpoint(tmp_path, capsys):
    """Catches: a NaN run that exits 0, or a checkpoint written after the weights went non-finite (here
    ckpt_every=3 is not a multiple of log_every=2, so the guard must run at checkpoint time too)."""
    code = cli("train", "gan", "--data", "ring8", "--preset", "smoke", "--steps", "50", "--set", "D_opt.lr=1e30",
               "--set", "G_opt.lr=1e30", "--set", "log_every=2", "--set", "ckpt_every=3", "--out", tmp_path,
               "--no-progress")
    err = capsys.readouterr().err
    assert code == 3 and "diverged" in err
    run = next(tmp_path.iterdir())
    entry = checkpoint.latest(run / "checkpoints")
    if entry is not None:  # a checkpoint kept from before the divergence must hold finite weights
        assert all(torch.isfinite(v).all() for v in weights_of(run).values())


# ------------------------------------------------------------------ lazy penalties through the recipe

from types import SimpleNamespace  # noqa: E402


def test_lazy_gradient_penalty_equals_the_eager_one_in_expectation_through_the_recipe(tiny_images):
    """Catches: a lazy weight other than k·λ (e.g. λ), or the penalty on the wrong critic steps. Over k
    critic steps on a fixed batch, the recipe's lazy and eager penalties push D's parameters by the same
    amount on average over the interpolation draws (checked over 32 seeds; a lazy weight of λ is 75% off)."""
    k = 4
    lazy = make("wgan-gp", tiny_images, n_critic=k, gp_interval=k)
    eager = make("wgan-gp", tiny_images, n_critic=k, gp_interval=1)
    D = lazy.build_nets()["D"]
    real, fake = tiny_images.decode(tiny_images.x[:8]), tiny_images.decode(tiny_images.x[8:16])

    def summed_gradient(recipe, seed):
        torch.manual_seed(seed)
        D.zero_grad()
        for i in range(k):
            ctx = SimpleNamespace(step=0, repeat_index=i, nets={"D": D}, report=lambda *a: None)
            penalty = recipe.d_penalty(ctx, real, fake, None)
            if penalty is not None:
                penalty.backward()
        return torch.cat([p.grad.flatten() for p in D.parameters() if p.grad is not None])

    lazy_mean = torch.stack([summed_gradient(lazy, s) for s in range(32)]).mean(0)
    eager_mean = torch.stack([summed_gradient(eager, s) for s in range(32)]).mean(0)
    relative = (lazy_mean - eager_mean).norm() / eager_mean.norm()
    assert relative < 0.15, relative


# ------------------------------------------------------------------ mode-collapse switches act in real steps

import gankit.recipes.adversarial as adversarial  # noqa: E402
from gankit.nets.layers import MinibatchDiscrimination, MinibatchStd  # noqa: E402


def trainer_with(data, **overrides):
    trainer = Trainer(make("dcgan", data, **overrides), data, progress=False)
    return trainer


def shapes_into(module_type, trainer):
    seen = []
    for m in trainer.nets["D"].modules():
        if isinstance(m, module_type):
            m.register_forward_hook(lambda mod, args, out: seen.append((tuple(args[0].shape), tuple(out.shape))))
    return seen


def test_packing_changes_what_D_sees(tiny_images):
    """Catches: `pack` accepted but D still judging one sample at a time."""
    trainer = trainer_with(tiny_images, pack=2)
    seen = []
    trainer.nets["D"].register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape)))
    trainer.train_step()
    assert seen and all(s[:2] == (4, 2) for s in seen), seen  # batch 8 of 1-channel images -> 4 pairs


def test_minibatch_discrimination_and_stddev_layers_run_and_add_features(tiny_images):
    trainer = trainer_with(tiny_images, **{"D.minibatch_kernels": 6, "D.minibatch_kernel_dim": 3})
    seen = shapes_into(MinibatchDiscrimination, trainer)
    trainer.train_step()
    assert seen and all(out[1] == inp[1] + 6 for inp, out in seen), seen
    trainer = trainer_with(tiny_images, **{"D.mbstd_group": 4})
    seen = shapes_into(MinibatchStd, trainer)
    trainer.train_step()
    assert seen and all(out[1] == inp[1] + 1 for inp, out in seen), seen


def test_feature_matching_is_the_generator_loss_when_switched_on(tiny_images, monkeypatch):
    values = []
    original = adversarial.feature_matching
    monkeypatch.setattr(adversarial, "feature_matching", lambda a, b: values.append(original(a, b)) or values[-1])
    trainer = trainer_with(tiny_images, g_objective="feature_matching")
    trainer.train_step()
    assert len(values) == 1 and trainer.stats.summary()["loss/G"] == pytest.approx(values[0].item())


def test_unrolling_runs_the_configured_number_of_d_steps(tiny_images, monkeypatch):
    calls = []
    original = adversarial.unrolled_parameters
    monkeypatch.setattr(adversarial, "unrolled_parameters",
                        lambda D, loss, steps, lr: calls.append(steps) or original(D, loss, steps, lr))
    trainer = trainer_with(tiny_images, unroll_steps=3, **{"D.norm": "none"})
    trainer.train_step()
    trainer.train_step()
    assert calls == [3, 3]


def test_historical_averaging_adds_its_term_to_both_losses(tiny_images):
    trainer = trainer_with(tiny_images, historical_averaging=0.5)
    for _ in range(3):
        trainer.train_step()
    stats = trainer.stats.summary()
    assert stats["loss/hist_D"] > 0 and stats["loss/hist_G"] > 0


# ------------------------------------------------------------------ live diagnostics, by constructed readings

from gankit.train.diagnostics import Diagnostics  # noqa: E402


def diagnostics(ring, **overrides):
    return Diagnostics(make("gan", ring, steps=1000, **overrides), ring)


def test_collapse_is_judged_only_after_the_warm_up(ring):
    """Catches: a warm-up that never holds (e.g. `step >= 2`) or never ends. For 1,000 steps it is 500."""
    collapsed = torch.zeros(64, 2)
    d = diagnostics(ring)
    assert not [w for w in d.check_samples(100, {}, collapsed) if w.key == "collapse"]
    assert not [w for w in d.check_samples(499, {}, collapsed) if w.key == "collapse"]
    assert [w.key for w in d.check_samples(500, {}, collapsed)] == ["collapse"]


def test_exploding_losses_warn_whatever_their_sign_and_only_when_large(ring):
    d = diagnostics(ring)
    assert not d.check_samples(10, {"loss/D": 5e3, "loss/G": -9e3}, None)
    assert [w.key for w in d.check_samples(11, {"loss/G": -2e4}, None)] == ["exploding"]


def test_non_saturating_dominance_needs_the_generator_gradient_to_vanish(ring):
    confident = {"D/p_real": 0.97, "D/p_fake": 0.02, "D/saturated_fake": 0.9}
    d = diagnostics(ring, saturating=False)
    assert not d.check_samples(10, {**confident, "grad_norm/G": 1.0}, None)   # sets the start
    assert not d.check_samples(20, {**confident, "grad_norm/G": 0.5}, None)   # 50% of it: still learning
    fired = d.check_samples(30, {**confident, "grad_norm/G": 0.005}, None)   # 0.5%: vanished
    assert [w.key for w in fired] == ["dominance"] and "below 1% of its start" in fired[0].message
    unsure = diagnostics(ring, saturating=False)
    unsure.check_samples(10, {"D/p_real": 0.7, "D/p_fake": 0.3, "D/saturated_fake": 0.0, "grad_norm/G": 1.0}, None)
    assert not unsure.check_samples(20, {"D/p_real": 0.7, "D/p_fake": 0.3, "D/saturated_fake": 0.0,
                                         "grad_norm/G": 0.001}, None)  # D not confident: no dominance


# ------------------------------------------------------------------ survivors of the mutation run (benchmarks §12)

from gankit.nets.layers import dcgan_init, norm2d  # noqa: E402
from gankit.objectives.penalties import grad_sq_norm, interpolate, lazy_adam  # noqa: E402
from gankit.objectives.remedies import feature_matching  # noqa: E402


def test_layer_norm_normalises_each_sample_over_all_its_channels():
    """Catches: GroupNorm with more than one group (channels normalised in groups, not together)."""
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    x[:, :2] += 5.0  # two channels far above the other two: layer norm keeps them above
    out = norm2d("layer", 4)(x)
    assert out.mean().abs() < 1e-5 and out[:, :2].mean() > 0.8 and out[:, 2:].mean() < -0.8


def test_dcgan_init_draws_weights_from_a_normal_of_std_0_02():
    """Catches: N(0.02, 1) or N(0, 1) instead of Radford et al.'s N(0, 0.02)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 4), torch.nn.BatchNorm2d(64))
    dcgan_init(net)
    w = net[0].weight
    assert abs(w.mean().item()) < 1e-3 and w.std().item() == pytest.approx(0.02, rel=0.03)
    assert torch.all(net[0].bias == 0) and net[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)


def test_minibatch_discrimination_defaults_and_dtype():
    """Catches: a default other than the paper's B = 100 kernels, T not scaled by 1/√A (M's entries O(1)),
    and the minibatch features left in fp32 beside bf16 features under autocast."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(400)
    assert layer(torch.randn(3, 400)).shape == (3, 500)
    assert layer.T.std().item() == pytest.approx(400 ** -0.5, rel=0.03)
    with torch.autocast("cpu", torch.bfloat16):
        out = layer(torch.randn(4, 400).bfloat16())
    assert out.dtype == torch.bfloat16


def test_penalty_helpers_in_low_precision_and_at_zero_gradient():
    """Catches: bf16 gradients not summed in fp32, bf16 fakes not cast to the reals' dtype before mixing,
    and a √(‖g‖² − 1e-12) that is NaN where the critic is flat."""
    g = torch.full((2, 300), 0.1, dtype=torch.bfloat16)
    norm = grad_sq_norm(g)
    assert norm.dtype == torch.float32 and torch.allclose(norm, torch.full((2,), 300 * float(g[0, 0]) ** 2))
    mixed = interpolate(torch.ones(3, 2), torch.zeros(3, 2, dtype=torch.bfloat16))
    assert mixed.dtype == torch.float32
    flat = gradient_penalty(lambda x: x.sum(1) * 0.0, torch.ones(2, 3), torch.zeros(2, 3))
    assert flat.item() == pytest.approx(1.0, abs=1e-5)  # (‖0‖ − 1)² with the 1e-12 guard: finite


def test_lazy_adam_raises_both_betas_to_the_power_k_over_k_plus_1():
    """Catches: β1·k/(k+1) instead of β1^(k/(k+1)) (invisible with StyleGAN2's β1 = 0)."""
    lr, (b1, b2) = lazy_adam(0.01, (0.5, 0.99), 3)
    assert lr == pytest.approx(0.0075) and b1 == pytest.approx(0.5 ** 0.75) and b2 == pytest.approx(0.99 ** 0.75)


def test_feature_matching_by_hand():
    """Catches: a sum instead of the difference of the mean features, means over the wrong axis, a cube
    instead of the square (all-ones against zeros hides each)."""
    real = t(1.0, 2.0, 3.0, 5.0).view(2, 2)   # mean (2, 3.5)
    fake = t(0.0, 1.0, -2.0, 0.0).view(2, 2)  # mean (-1, 0.5)
    assert feature_matching(real, fake).item() == pytest.approx(3.0 ** 2 + 3.0 ** 2)
    assert feature_matching(fake, real).item() == pytest.approx(18.0)


def test_acgan_loss_is_the_weighted_cross_entropy():
    """Catches: the class loss divided by its weight (or the weight ignored)."""
    data = gankit.data.from_tensors(torch.randn(8, 2), torch.arange(8) % 2, name="labelled")
    recipe = make("gan", data, condition="acgan", acgan_weight=2.0)
    logits, y = t(2.0, -1.0, 0.5, 0.5).view(2, 2), torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, y)
    got = recipe.acgan_loss(SimpleNamespace(report=lambda *a: None), logits, y, "D")
    assert got.item() == pytest.approx(2.0 * ce.item())


def test_unrolled_steps_use_d_learning_rate_unless_given_their_own(tiny_images, monkeypatch):
    """Catches: `unroll_lr and D_opt.lr` (0 = D's rate would unroll with step size 0: no look-ahead)."""
    rates = []
    original = adversarial.unrolled_parameters
    monkeypatch.setattr(adversarial, "unrolled_parameters",
                        lambda D, loss, steps, lr: rates.append(lr) or original(D, loss, steps, lr))
    trainer_with(tiny_images, unroll_steps=1, **{"D.norm": "none", "D_opt.lr": 0.01}).train_step()
    trainer_with(tiny_images, unroll_steps=1, unroll_lr=0.3, **{"D.norm": "none", "D_opt.lr": 0.01}).train_step()
    assert rates == [0.01, 0.3]


def test_dcgan_init_draws_norm_scales_around_one():
    """Catches: BatchNorm/GroupNorm scales left at exactly 1 (Radford et al.: N(1, 0.02))."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.BatchNorm2d(4096))
    dcgan_init(net)
    assert net[0].weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_pack_drops_the_remainder_and_minibatch_discrimination_kernel_shape():
    """Catches: packing that rounds the batch up instead of dropping the samples that do not fill a pack,
    and a kernel size other than the paper's C = 5."""
    from gankit.nets.layers import pack

    assert pack(torch.arange(7.0).view(7, 1), 2).shape == (3, 2)
    assert MinibatchDiscrimination(8).T.shape == (8, 100 * 5)


def ema_nets_of(recipe):
    from gankit.train.build import build_nets

    return build_nets(recipe, torch.device("cpu"), channels_last=False)


def test_sampling_uses_g_ema_by_default_and_its_generator_for_labels(tiny_images):
    """Catches: G instead of G_ema by default (or whenever G_ema exists), labels drawn from the global RNG
    instead of the sampling generator, and an EMA copy only for decays above 1."""
    recipe = make("dcgan", tiny_images, condition="projection", ema=0.99)
    assert recipe.ema_nets() == {"G": 0.99}
    nets = ema_nets_of(recipe)
    with torch.no_grad():
        for p in nets["G_ema"].parameters():
            p.add_(0.05 * torch.randn_like(p))  # G_ema differs from G (a little: tanh must not saturate)
    assert recipe.generator_net(nets) is nets["G_ema"] and recipe.generator_net(nets, ema=False) is nets["G"]
    a = recipe.sample(nets, 6, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(123)  # the global RNG moves: the samples must not
    b = recipe.sample(nets, 6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, recipe.sample(nets, 6, torch.Generator().manual_seed(3), ema=False))
    zeros, ones = (recipe.sample(nets, 6, torch.Generator().manual_seed(3), condition=c) for c in (0, 1))
    assert not torch.equal(zeros, ones)  # the labels show in the samples: the check above can see them


@pytest.mark.parametrize("condition,reason", [
    ([0, 1], "2 class labels given for 5 samples"), (3, "class labels must lie in 0..2"),
    (-1, "class labels must lie in 0..2"), ([0, 1, 2, 3, 0], "class labels must lie in 0..2")])
def test_sample_labels_are_checked(tiny_images, condition, reason):
    """Catches: a wrong count accepted, a label equal to the class count or negative accepted."""
    recipe = make("dcgan", tiny_images, condition="projection")
    with pytest.raises(gankit.GankitError, match=reason):
        recipe.sample_labels(5, condition, None)


def test_sample_labels_expand_one_class_and_keep_a_full_list(tiny_images):
    recipe = make("dcgan", tiny_images, condition="projection")
    assert recipe.sample_labels(4, 2, None).tolist() == [2, 2, 2, 2]
    assert recipe.sample_labels(3, [2, 0, 1], None).tolist() == [2, 0, 1]


def test_export_module_is_what_sample_computes(tiny_images):
    """Catches: the export using G_ema when asked for G, dropping its labels, naming its inputs otherwise
    or mapping to data space with another spec."""
    from gankit.data.base import to_data_space

    for condition, names in (("projection", ["z", "y"]), ("none", ["z"])):
        recipe = make("dcgan", tiny_images, condition=condition, ema=0.99)
        nets = ema_nets_of(recipe)
        with torch.no_grad():
            for p in nets["G_ema"].parameters():
                p.add_(0.05 * torch.randn_like(p))
        for ema, G in ((False, nets["G"]), (True, nets["G_ema"])):
            module, inputs, input_names = recipe.export_module(nets, ema=ema)
            assert input_names == names
            G.eval()
            expected = to_data_space(recipe.spec, G(*inputs, *([None] if len(inputs) == 1 else [])).float())
            assert torch.allclose(module(*inputs), expected, atol=1e-6)


def test_check_messages_name_the_fix(tiny_images):
    with pytest.raises(gankit.GankitError, match=r"^remedy.pack=2 needs an unconditional recipe and batch_size "
                                                 r"divisible by it$"):
        make("dcgan", tiny_images, pack=2, batch_size=7)
    with pytest.raises(gankit.GankitError, match=r"^remedy.unroll_steps needs a discriminator without BatchNorm "
                                                 r"\(set D.norm=layer or none\)$"):
        make("dcgan", tiny_images, unroll_steps=1, **{"D.norm": "batch"})


def test_one_unrolled_step_needs_double_backward(tiny_images):
    assert make("dcgan", tiny_images, unroll_steps=1, **{"D.norm": "none"}).needs_double_backward()
    assert not make("dcgan", tiny_images).needs_double_backward()


def test_phases_run_n_critic_d_steps_and_one_g_step_named_d_and_g(ring):
    """Catches: n_critic ignored (one D step), the phases renamed (their names key the step's timing and
    stats), G's graph kept in D's phase when the G step does not reuse the fakes."""
    recipe = make("gan", ring, n_critic=3)
    d, g = recipe.phases()
    assert (d.name, d.runs_at(1), d.keeps_graph, g.name) == ("D", 3, ("G",), "G")
    assert make("gan", ring, reuse_fakes=False).phases()[0].keeps_graph == ()
    calls = []
    original = recipe.d_loss
    recipe.phases = lambda: [dataclasses.replace(d, loss=lambda ctx: calls.append(1) or original(ctx)), g]
    Trainer(recipe, ring, progress=False).train_step()
    assert len(calls) == 3


def g_calls(trainer) -> list:
    """Each call of G during a step: (batch size, labels given)."""
    calls, G = [], trainer.nets["G"]
    G.register_forward_pre_hook(lambda m, args: calls.append((len(args[0]), args[1] is not None)))
    return calls


@pytest.mark.parametrize("reuse", [True, False])
def test_the_g_step_reuses_the_last_d_fakes_or_draws_labelled_ones(tiny_images, reuse):
    """Catches: fakes never reused (a second G forward every step), and without reuse G's step drawing
    fakes without labels in a conditional run."""
    trainer = trainer_with(tiny_images, condition="projection", reuse_fakes=reuse)
    calls = g_calls(trainer)
    trainer.train_step()
    assert len(calls) == (1 if reuse else 2) and all(labelled for _, labelled in calls)


def test_conditional_feature_matching_and_unrolling_give_d_the_labels(tiny_images, monkeypatch):
    """Catches: D's real features for feature matching, or the unrolled D's logits, computed without the
    labels in a conditional run."""
    seen = []
    original = adversarial.AdversarialRecipe.discriminate
    monkeypatch.setattr(adversarial.AdversarialRecipe, "discriminate",
                        lambda self, D, x, y: seen.append(y is not None) or original(self, D, x, y))
    trainer_with(tiny_images, condition="projection", g_objective="feature_matching").train_step()
    assert seen and all(seen)
    unrolled = []
    original_unrolled = adversarial.AdversarialRecipe.unrolled_logits
    monkeypatch.setattr(adversarial.AdversarialRecipe, "unrolled_logits",
                        lambda self, ctx, fake, y: unrolled.append(y is not None) or original_unrolled(self, ctx, fake, y))
    trainer_with(tiny_images, condition="projection", unroll_steps=1, **{"D.norm": "none"}).train_step()
    assert unrolled == [True]


def test_historical_averages_follow_both_players(tiny_images):
    """Catches: G's running average never updated (only D's)."""
    trainer = trainer_with(tiny_images, historical_averaging=0.5)
    for _ in range(3):
        trainer.train_step()
    assert int(trainer.nets["G_hist"].count) == int(trainer.nets["D_hist"].count) > 1


def test_the_step_reports_d_outputs_under_their_names(ring):
    trainer = Trainer(make("gan", ring), ring, progress=False)
    trainer.train_step()
    assert {"D/real", "D/fake", "D/p_real", "D/p_fake", "D/saturated_fake"} <= set(trainer.stats.summary())


def test_interpolates_are_drawn_on_the_samples_device():
    """Catches: ε drawn on the default device (a CUDA run would mix devices); the meta device shows it here."""
    mixed = interpolate(torch.ones(2, 3, device="meta"), torch.zeros(2, 3, device="meta"))
    assert mixed.device.type == "meta"
