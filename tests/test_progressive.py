"""ProGAN and StyleGAN: the growth schedule, fade-ins, equalised layers, AdaIN, style mixing, truncation,
resume across growth, the latent tools (mix, truncation, interpolate, project) and their bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.data import load_dataset
from gankit.data.base import from_tensors
from gankit.errors import GankitError
from gankit.latents import interpolate, mix, parse_layers, project, slerp, truncation_rows
from gankit.nets.progressive import (EqualLinear, ProGANGenerator, ProgressiveDiscriminator, StyleGANGenerator,
                                     StyleLayer, downsample, upsample)
from gankit.objectives import drift_penalty
from gankit.recipes import resolve_config
from gankit.recipes.progressive import growth_plan, parse_level_batch, stage_at
from gankit.train import Trainer, checkpoint


def make(name, data, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, "image", "smoke", overrides)
    return cls(cfg, data.spec)


def run_cli(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def stylegan_run(tiny_images, tmp_path_factory):
    """A stylegan smoke run on 16×16 images grown to its last level (6 steps), as a pipeline and a folder."""
    out = tmp_path_factory.mktemp("stylegan")
    Trainer(make("stylegan", tiny_images, steps=6), tiny_images, out, progress=False).fit()
    return out, gankit.load(out)


# ------------------------------------------------------------------------------ schedule

def test_growth_plan_alternates_fade_and_stabilise_with_per_level_batches():
    batch = {0: 64, 1: 32, 2: 16}.get
    plan = growth_plan(3, 0, 1000, batch)
    assert [(level, fading) for _, level, fading, _ in plan] == [(0, False), (1, True), (1, False), (2, True),
                                                                  (2, False)]
    assert [steps for *_, steps in plan] == [16, 32, 32, 63, 63]               # ceil(1000 / batch)
    assert [start for start, *_ in plan] == [0, 16, 48, 80, 143]
    fade = [stage_at(s, plan, batch) for s in range(16, 48)]
    alphas = [s.alpha for s in fade]
    assert alphas[0] == 0.0 and all(b > a for a, b in zip(alphas, alphas[1:])) and alphas[-1] < 1.0
    assert stage_at(48, plan, batch).alpha == 1.0 and stage_at(48, plan, batch).batch == 32
    assert stage_at(10_000, plan, batch).level == 2  # the last level lasts forever


def test_level_batch_and_resolution_errors(tiny_images):
    assert parse_level_batch("4:64, 8:32", 32) == {0: 64, 1: 32}
    for bad in ("4:x", "6:8", "64:8", "8:0"):
        with pytest.raises(GankitError, match="level_batch"):
            parse_level_batch(bad, 32)
    with pytest.raises(GankitError, match="start_resolution"):
        make("progan", tiny_images, start_resolution=32)
    odd = from_tensors(torch.zeros(8, 1, 24, 24, dtype=torch.uint8), name="odd")
    for name in ("progan", "stylegan"):
        with pytest.raises(GankitError, match="power-of-two resolution"):
            make(name, odd)


def test_not_progressive_trains_the_last_level_from_step_zero(tiny_images):
    recipe = make("progan", tiny_images, progressive=False)
    assert recipe.stage(0).level == recipe.levels - 1 == 2 and recipe.stage(0).alpha == 1.0


def test_trainer_follows_the_schedule_and_resets_adam_at_phase_boundaries(tiny_images):
    recipe = make("stylegan", tiny_images, phase_images=16, level_batch="4:16,8:8", steps=5)
    trainer = Trainer(recipe, tiny_images, progress=False)
    seen = []
    for _ in range(5):
        trainer.train_step()
        seen.append((recipe._stage.level, recipe._stage.alpha, trainer.global_batch,
                     trainer.nets["G"].stage(), trainer.nets["G_ema"].stage(), trainer.nets["D"].stage()))
    # 4x4 for one step of 16, then 8x8 fading over 2 steps of 8, stable for 2 steps
    assert [s[:3] for s in seen] == [(0, 1.0, 16), (1, 0.0, 8), (1, 0.5, 8), (1, 1.0, 8), (1, 1.0, 8)]
    assert all(s[3] == s[4] == s[5] == (s[0], s[1]) for s in seen[:4])
    trainer.step = 3                       # a phase boundary: fresh Adam state
    recipe.begin_step(trainer.ctx)
    assert not trainer.optimizers["G"].state and not trainer.optimizers["D"].state


def test_g_ema_warms_up_again_at_every_phase_unless_told_not_to(tiny_images):
    def decays(**overrides):
        recipe = make("progan", tiny_images, phase_images=16, level_batch="4:16,8:8", ema=0.999, **overrides)
        trainer, out = Trainer(recipe, tiny_images, progress=False), []
        for _ in range(5):
            trainer.train_step()          # ema_nets() is read after the step, as the trainer reads it
            out.append(recipe.ema_nets()["G"])
        return out

    # phases start at steps 0, 1 (fade 8x8) and 3 (stable 8x8): the ramp (1 + t)/(10 + t) restarts at each
    assert decays() == [0.1, 0.1, 2 / 11, 0.1, 2 / 11]
    assert decays(ema_per_phase=False) == [0.999] * 5   # the trainer's own ramp from step 0 applies on top
    assert make("progan", tiny_images, ema=0.999).ema_nets() == {"G": 0.999}   # before training: as configured


def test_runs_saved_before_ema_per_phase_keep_their_warm_up(tiny_images, tmp_path):
    from gankit.recipes.base import recipe_from_header

    Trainer(make("stylegan", tiny_images, steps=2), tiny_images, tmp_path, progress=False).fit()
    header = checkpoint.read_header(checkpoint.latest(tmp_path / "checkpoints")["weights"])
    assert header["config"]["ema_per_phase"] is True
    del header["config"]["ema_per_phase"]             # as gankit wrote it before the setting existed
    assert recipe_from_header(header).cfg.ema_per_phase is False


@pytest.mark.parametrize("name", ["progan", "stylegan"])
@pytest.mark.parametrize("stop", [3, 4])  # mid-fade, and exactly at a phase boundary (optimizers reset)
def test_resume_across_growth_is_bit_exact(name, stop, tiny_images, tmp_path):
    settings = {"steps": 7, "phase_images": 16}  # phases of 2 steps: 4x4, fade 8, 8, fade 16, ...
    straight = Trainer(make(name, tiny_images, **settings), tiny_images, tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(make(name, tiny_images, **settings), tiny_images, tmp_path / "b", progress=False)
    first.fit(stop)
    resumed = Trainer(make(name, tiny_images, **settings), tiny_images, tmp_path / "b", progress=False)
    resumed.restore(checkpoint.latest(tmp_path / "b" / "checkpoints"))
    resumed.fit()
    for net in straight.nets:
        a, b = straight.nets[net].state_dict(), resumed.nets[net].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), (net, [k for k in a if not torch.equal(a[k], b[k])])
    for net in straight.optimizers:
        sa, sb = straight.optimizers[net].state_dict()["state"], resumed.optimizers[net].state_dict()["state"]
        assert sa.keys() == sb.keys() and all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


# ------------------------------------------------------------------------------ nets

def test_fade_in_starts_from_the_previous_level_exactly():
    """At α = 0 the grown nets compute what the previous level computed: G's image is the previous
    level's image upsampled, D's logit is the previous level's on the downsampled image."""
    torch.manual_seed(0)
    z, x = torch.randn(4, 16), torch.randn(4, 1, 16, 16)
    G = ProGANGenerator(16, 16, 1, 64, 16)
    S = StyleGANGenerator(16, 16, 16, 1, 64, 16, mapping_depth=2).eval()
    D = ProgressiveDiscriminator(16, 1, 64, 16, mbstd_group=2, blur=True)
    for net, run in ((G, lambda: G(z)), (S, lambda: S(z, noise="const"))):
        net.set_stage(1, 1.0)
        previous = run()
        net.set_stage(2, 0.0)
        assert torch.allclose(run(), upsample(previous), atol=1e-6)
        net.set_stage(2, 0.5)
        assert not torch.allclose(run(), upsample(previous), atol=1e-3)
    D.set_stage(1, 1.0)
    previous = D(downsample(x))
    D.set_stage(2, 0.0)
    assert torch.allclose(D(x), previous, atol=1e-5)
    D.set_stage(1, 1.0)
    with pytest.raises(GankitError, match="works at 8"):
        D(x)


def test_equalised_linear_scales_at_run_time_and_adain_sets_each_channels_statistics():
    layer = EqualLinear(256, 512, gain=1.0, lr_mul=0.01)
    assert 90 < float(layer.weight.detach().std()) < 110           # stored as N(0, 1/lr_mul²)
    y = layer(torch.randn(4096, 256))
    assert 0.9 < float(y.detach().std()) < 1.1                     # used as unit-variance outputs
    torch.manual_seed(0)
    style = StyleLayer(8, 8, 4, conv=True, up=False)
    x, w = torch.randn(3, 8, 8, 8), torch.randn(3, 4)
    out = style(x, w, torch.zeros(3, 1, 8, 8))
    scale, shift = style.style(w).chunk(2, 1)
    assert torch.allclose(out.mean((2, 3)), shift, atol=1e-4)                 # AdaIN: mean = b
    assert torch.allclose(out.std((2, 3), unbiased=False), (1 + scale).abs(), atol=1e-3)  # std = |1 + s|


def test_scale_only_adain_keeps_each_channel_zero_mean_and_scales_its_std():
    """style_shift=false: x·(1 + s), no shift: every channel keeps instance norm's zero mean, whatever w."""
    torch.manual_seed(0)
    style = StyleLayer(8, 8, 4, conv=True, up=False, shift=False)
    assert style.style.weight.shape == (8, 4)                                 # one scale per channel, no b
    x, w = torch.randn(3, 8, 8, 8), torch.randn(3, 4) * 3
    out = style(x, w, torch.zeros(3, 1, 8, 8))
    assert torch.allclose(out.mean((2, 3)), torch.zeros(3, 8), atol=1e-4)
    assert torch.allclose(out.std((2, 3), unbiased=False), (1 + style.style(w)).abs(), atol=1e-3)
    data = from_tensors(torch.rand(16, 1, 16, 16) * 2 - 1, name="tiny")
    G = make("stylegan", data, style_shift=False).build_nets()["G"]
    assert all(not layer.shift for layer in G.synthesis.layers)
    assert all(layer.shift for layer in make("stylegan", data).build_nets()["G"].synthesis.layers)  # v1 default


def test_without_shift_every_image_has_the_same_mean_and_shift_init_zero_starts_the_shifts_at_zero():
    """Scale-only AdaIN leaves every channel zero-mean, so toRGB (a 1×1 conv) gives every image one mean
    brightness, its bias, whatever z: a limit of that form. style_shift_init=0 keeps v1's learnt shifts
    but starts them at zero (b(w) = 0 at step 0), and a training step moves them."""
    torch.manual_seed(0)
    data = from_tensors(torch.rand(16, 1, 16, 16) * 2 - 1, name="tiny")
    no_shift = make("stylegan", data, style_shift=False).build_nets()["G"]
    with torch.no_grad():
        no_shift.synthesis.to_rgb[-1].bias.fill_(-0.7)
        for layer in no_shift.synthesis.layers:   # a trained-looking net: non-zero noise and a varied constant
            layer.noise_strength.fill_(0.5)
        no_shift.synthesis.const.normal_()
        means = no_shift.eval()(torch.randn(64, no_shift.mapping.layers[0].weight.shape[1])).mean((1, 2, 3))
    assert torch.allclose(means, torch.full_like(means, -0.7), atol=1e-5)
    rec = make("stylegan", data, style_shift_init=0.0)
    G = rec.build_nets()["G"]
    for layer in G.synthesis.layers:
        c_out = layer.bias.shape[0]
        assert layer.shift and float(layer.style.weight[c_out:].detach().abs().max()) == 0.0   # b(w) = 0 ...
        assert float(layer.style.weight[:c_out].detach().abs().min()) > 0.0                    # ... s(w) is v1's
    v1 = make("stylegan", data).build_nets()["G"].synthesis.layers[0]
    assert float(v1.style.weight[v1.bias.shape[0]:].detach().abs().max()) > 0.0
    G.synthesis.set_stage(G.synthesis.levels - 1, 1.0)
    with torch.no_grad():
        G.synthesis.const.normal_()
        for layer in G.synthesis.layers:
            layer.noise_strength.fill_(0.5)
    G(torch.randn(4, G.mapping.layers[0].weight.shape[1])).square().mean().backward()
    layer = G.synthesis.layers[2]
    assert float(layer.style.weight.grad[layer.bias.shape[0]:].abs().max()) > 0.0  # the shifts are learnt


def test_without_shift_a_ones_constant_zeroes_the_4x4_block_and_const_init_normal_trains_finite(tmp_path):
    """v1 starts the constant at ones; without AdaIN's shift instance norm turns that flat map into zeros,
    for every w, so the 4² block has no shape but its noise's (what froze a 32² run: §14). const_init=normal
    gives it a shape that w scales, and training keeps every Adam state finite; the `cpu` preset uses it.
    With ones, a few steps overflow Adam's second moment in the 4² block, and the run warns by name."""
    torch.manual_seed(0)
    data = from_tensors(torch.rand(32, 1, 16, 16) * 2 - 1, name="tiny")
    for const_init in ("ones", "normal"):
        G = make("stylegan", data, style_shift=False, const_init=const_init).build_nets()["G"].eval()
        layer, const = G.synthesis.layers[0], G.synthesis.const.expand(2, -1, -1, -1)
        with torch.no_grad():
            layer.noise_strength.fill_(0.5)
            ws = G.mapping(torch.randn(2, G.mapping.layers[0].weight.shape[1]))
            block = layer(const, ws, torch.zeros(2, 1, 4, 4))
        if const_init == "ones":
            assert float(block.abs().max()) == 0.0
        else:
            assert float(block.std((2, 3)).min()) > 0.1 and not torch.allclose(block[0], block[1])
    for const_init in ("ones", "normal"):   # the run names the parameters Adam can no longer move
        out = tmp_path / const_init
        rec = make("stylegan", data, style_shift=False, progressive=False, const_init=const_init, steps=4, log_every=2)
        trainer = Trainer(rec, data, out, progress=False)
        trainer.fit()
        warnings = out / "warnings.jsonl"
        frozen = [json.loads(line) for line in warnings.read_text().splitlines()] if warnings.exists() else []
        frozen = [w for w in frozen if w["key"] == "frozen_parameters"]
        states = [v for opt in trainer.optimizers.values() for st in opt.state.values() for v in st.values()]
        if const_init == "ones":
            assert len(frozen) == 1 and "G.synthesis." in frozen[0]["message"]
        else:
            assert not frozen and all(torch.isfinite(v).all() for v in states if torch.is_tensor(v))
    cpu = gankit.get_recipe("stylegan").presets["cpu"]
    assert cpu["const_init"] == "normal" and cpu["progressive"] is False
    with pytest.raises(GankitError, match="const_init"):
        make("stylegan", data, const_init="zeros")


def test_rgb_offset_starts_at_zero_and_lets_each_images_mean_follow_w():
    """rgb_offset=true: image + A·w_last, A zero at init (the same images as without it), learnt from there,
    after which the per-image mean, fixed without AdaIN's shift, depends on w."""
    torch.manual_seed(0)
    data = from_tensors(torch.rand(16, 1, 16, 16) * 2 - 1, name="tiny")
    G = make("stylegan", data, style_shift=False, rgb_offset=True).build_nets()["G"]
    plain = make("stylegan", data, style_shift=False).build_nets()["G"]
    plain.load_state_dict({k: v for k, v in G.state_dict().items() if "rgb_offset" not in k})
    z = torch.randn(32, G.mapping.layers[0].weight.shape[1])
    with torch.no_grad():
        for net in (G, plain):
            net.synthesis.const.normal_(generator=torch.Generator().manual_seed(1))
            for layer in net.synthesis.layers:
                layer.noise_strength.fill_(0.5)
        G.eval(), plain.eval()
        assert torch.equal(G(z, noise="const"), plain(z, noise="const"))
    G.train()
    G(z).mean().backward()
    assert float(G.synthesis.rgb_offset.weight.grad.abs().max()) > 0.0
    with torch.no_grad():
        G.synthesis.rgb_offset.weight.normal_()
        means = G.eval()(z, noise="const").mean((1, 2, 3))
    assert float(means.std()) > 0.05


def test_demodulated_layer_is_a_per_sample_modulated_conv_with_unit_output_variance():
    """StyleGAN2 eq. 1-3: the unfused form (scale, shared conv, scale) equals a conv with each sample's
    own weights w'_oik = s_i·w_oik / σ_o; with unit-variance inputs every output channel has unit variance."""
    torch.manual_seed(0)
    layer = StyleLayer(16, 8, 4, conv=True, up=False, demodulate=True)
    x, w = torch.randn(3, 16, 32, 32), torch.randn(3, 4)
    style = layer.style(w)
    got = layer.modulated_conv(x, style)
    weight = layer.conv.weight * layer.conv.scale
    for n in range(3):
        per_sample = weight * style[n].view(1, -1, 1, 1)
        per_sample = per_sample / per_sample.pow(2).sum((1, 2, 3), keepdim=True).sqrt()
        expected = torch.nn.functional.conv2d(x[n:n + 1], per_sample, padding=1)
        assert torch.allclose(got[n:n + 1], expected, atol=1e-5)
    inner = got[..., 1:-1, 1:-1]  # away from the zero padding
    assert torch.allclose(inner.std((0, 2, 3)), torch.ones(8), atol=0.1)
    assert float(layer.style.bias.detach().mean()) == pytest.approx(1.0)  # styles start at 1: no modulation


def test_demodulated_upsampling_layer_blurs_each_samples_modulated_conv():
    torch.manual_seed(0)
    layer = StyleLayer(8, 4, 4, conv=True, up=True, demodulate=True)
    x, style = torch.randn(2, 8, 8, 8), layer.style(torch.randn(2, 4))
    got = layer.modulated_conv(x, style)
    weight = layer.conv.weight * layer.conv.scale
    for n in range(2):
        per_sample = weight * style[n].view(1, -1, 1, 1)
        per_sample = per_sample / per_sample.pow(2).sum((1, 2, 3), keepdim=True).sqrt()
        expected = layer.blur(torch.nn.functional.conv2d(upsample(x[n:n + 1]), per_sample, padding=1))
        assert got.shape == (2, 4, 16, 16) and torch.allclose(got[n:n + 1], expected, atol=1e-5)


def test_demodulated_generator_has_no_instance_norm_and_samples_through_the_recipe():
    torch.manual_seed(0)
    G = StyleGANGenerator(8, 8, 16, 1, 64, 16, mapping_depth=2, demodulate=True).eval()
    assert all(layer.conv is not None and layer.demodulate for layer in G.synthesis.layers)
    z = torch.randn(4, 8)
    with torch.no_grad():
        images, first = G(z, noise="const"), G(z[:1], noise="const")
    assert images.shape == (4, 1, 16, 16) and float(images.std(0).mean()) > 0.01  # images depend on z
    assert torch.allclose(first, images[:1], atol=1e-5)                        # one sample at a time: the same
    data = from_tensors(torch.rand(16, 1, 16, 16) * 2 - 1, name="tiny")
    rec = make("stylegan", data, demodulate=True)
    assert rec.build_nets()["G"].synthesis.layers[0].demodulate


def test_style_mixing_uses_a_second_code_from_a_crossover_and_w_avg_tracks_training():
    torch.manual_seed(0)
    G = StyleGANGenerator(8, 8, 16, 1, 64, 16, mapping_depth=2, mixing_prob=1.0)
    calls = []
    G.mapping.register_forward_hook(lambda *a: calls.append(1))
    G.train()(torch.randn(4, 8))
    assert len(calls) == 2 and float(G.w_avg.abs().sum()) > 0
    frozen = G.w_avg.clone()
    G.eval()(torch.randn(4, 8))
    assert len(calls) == 3 and torch.equal(G.w_avg, frozen)  # sampling neither mixes nor moves w̄
    ws = torch.randn(2, G.num_ws, 8)
    cut = G.truncate(ws, 0.0, cutoff=2)
    assert torch.allclose(cut[:, :2], G.w_avg.expand(2, 2, 8)) and torch.equal(cut[:, 2:], ws[:, 2:])
    assert torch.equal(G.truncate(ws, 1.0), ws)


def test_drift_penalty_is_epsilon_times_the_mean_square():
    d = torch.tensor([1.0, -3.0])
    assert float(drift_penalty(d, 0.001)) == pytest.approx(0.005)


# ------------------------------------------------------------------------------ sampling and the tools

def test_truncation_zero_gives_the_image_of_w_avg_and_one_changes_nothing(stylegan_run):
    _, pipe = stylegan_run
    zero = pipe(4, seed=1, truncation=0.0, noise="const").data
    space = pipe.recipe.style_space(pipe.nets)
    w_avg_image = space.synthesize(space.broadcast(space.w_avg.unsqueeze(0)))
    num_ws = space.num_ws
    assert torch.allclose(zero, w_avg_image.expand_as(zero), atol=1e-5)
    assert not torch.allclose(pipe(4, seed=1, truncation=0.0, cutoff=num_ws - 2, noise="const").data, zero)
    assert torch.equal(pipe(4, seed=1, truncation=1.0).data, pipe(4, seed=1).data)
    assert not torch.equal(pipe(4, seed=1, noise="const").data, pipe(4, seed=1).data)  # noise matters
    for bad, match in (({"truncation": 1.5}, "--extrapolate"), ({"truncation": -0.1}, r"\[0, 1\]"),
                       ({"cutoff": 99}, "style layers"), ({"noise": "pink"}, "noise")):
        with pytest.raises(GankitError, match=match):
            pipe(2, **bad)
    assert pipe(2, truncation=1.5, extrapolate=True).data.shape[0] == 2


def test_sample_many_equals_sample_per_request(stylegan_run):
    from gankit.recipes.base import SampleRequest

    _, pipe = stylegan_run
    requests = [SampleRequest(n, torch.Generator().manual_seed(s), None, {"truncation": 0.7}) for n, s in ((2, 3), (3, 4))]
    together = pipe.recipe.sample_many(pipe.nets, requests)
    for r, got in zip(((2, 3), (3, 4)), together):
        alone = pipe(r[0], seed=r[1], truncation=0.7).data
        assert torch.allclose(got, alone, atol=1e-5)


def test_mixing_grid_copies_the_chosen_layers_from_the_columns(stylegan_run):
    _, pipe = stylegan_run
    space = pipe.recipe.style_space(pipe.nets)
    last = space.num_ws - 1
    grid, per_row = mix(pipe, [0, 1], [2, 3, 4], f"0-{last}")       # every layer from B: the mixes are B
    assert per_row == 4 and grid.shape[0] == 12
    cols, rows = grid[1:4], grid[4:].view(2, 4, *grid.shape[1:])
    assert torch.allclose(rows[:, 1:], cols.expand(2, 3, *cols.shape[1:]), atol=1e-5)
    grid, _ = mix(pipe, [0, 1], [2, 3, 4], "coarse")
    rows = grid[4:].view(2, 4, *grid.shape[1:])
    assert not torch.allclose(rows[:, 1:], cols.expand(2, 3, *cols.shape[1:]), atol=1e-3)
    assert parse_layers("coarse", space) == (0, 4) and parse_layers("fine", space) == (4, 6)  # 16x16: 3 levels
    with pytest.raises(GankitError, match="no middle layers"):
        parse_layers("middle", space)
    with pytest.raises(GankitError, match="style layers 0..5"):
        parse_layers("3-9", space)
    with pytest.raises(GankitError, match="coarse, middle, fine"):
        parse_layers("top", space)


def test_truncation_rows_and_interpolation_frames(stylegan_run, tiny_images, tmp_path):
    _, pipe = stylegan_run
    rows = truncation_rows(pipe, [1.0, 0.0], [0, 1, 2])
    assert rows.shape[0] == 6 and torch.allclose(rows[3], rows[5], atol=1e-5)  # ψ = 0: one image
    frames = interpolate(pipe, [0, 1], 5, "w")
    assert frames.shape[0] == 5 and torch.allclose(frames[0], pipe(1, seed=0, noise="const").data[0], atol=1e-5)
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    a, b = 3 * a / a.norm(dim=1, keepdim=True), 3 * b / b.norm(dim=1, keepdim=True)
    mid = slerp(a, b, torch.full((3,), 0.5))
    assert torch.allclose(mid.norm(dim=1), torch.full((3,), 3.0), atol=1e-4)   # on the sphere, where
    assert (torch.lerp(a, b, 0.5).norm(dim=1) < 2.99).all()                     # the chord dips inside
    assert torch.allclose(slerp(a, b, torch.ones(3)), b, atol=1e-5)
    dcgan = tmp_path / "dcgan"
    Trainer(make("dcgan", tiny_images), tiny_images, dcgan, progress=False).fit()
    z_frames = interpolate(gankit.load(dcgan), [0, 1, 2], 4, "z")
    assert z_frames.shape == (7, 1, 16, 16)
    with pytest.raises(GankitError, match="only z"):
        interpolate(gankit.load(dcgan), [0, 1], 4, "w")
    with pytest.raises(GankitError, match="W space"):
        mix(gankit.load(dcgan), [0], [1], "coarse")


def test_projection_finds_a_w_that_reproduces_a_generated_image(stylegan_run):
    _, pipe = stylegan_run
    space = pipe.recipe.style_space(pipe.nets)
    target = space.synthesize(space.broadcast(space.map(torch.randn(1, 8))))[0]
    result = project(pipe, target, steps=60, lr=0.1)
    assert result.history[-1] < 0.5 * result.history[0] and result.mse < result.history[0]
    with pytest.raises(GankitError, match="shape"):
        project(pipe, torch.zeros(3, 16, 16))


def test_cli_tools_write_pictures_and_refuse_bad_input(stylegan_run, tiny_images, tmp_path, capsys):
    run, _ = stylegan_run
    assert run_cli("mix", run, "--rows", "0-1", "--cols", "2,3", "--layers", "coarse", "--out", tmp_path / "m.png") == 0
    assert Image.open(tmp_path / "m.png").size[0] > 0
    assert run_cli("truncation", run, "--psi", "1,0.5", "--seeds", "0-3", "--out", tmp_path / "t.png") == 0
    assert run_cli("interpolate", run, "--seeds", "0,1", "--frames", "4", "--space", "w", "--out",
                   tmp_path / "i.gif") == 0
    assert Image.open(tmp_path / "i.gif").n_frames == 4
    assert run_cli("sample", run, "--n", "4", "--truncation", "0.5", "--noise", "const", "--out", tmp_path / "s.png") == 0
    face = ((load_dataset("faces").x[0, 0].numpy()).astype(np.uint8))
    Image.fromarray(face).save(tmp_path / "face.png")
    assert run_cli("project", run, tmp_path / "face.png", "--steps", "5", "--out", tmp_path / "p.png") == 0
    assert np.load(tmp_path / "p.npy").shape == (1, 8)
    capsys.readouterr()
    (tmp_path / "bad.png").write_text("not an image")
    bad = [("sample", run, "--n", "2", "--truncation", "2", "--out", tmp_path / "x.png"),
           ("mix", run, "--layers", "0-40", "--out", tmp_path / "x.png"),
           ("mix", run, "--rows", "a-b", "--out", tmp_path / "x.png"),
           ("truncation", run, "--psi", "1,-1", "--out", tmp_path / "x.png"),
           ("interpolate", run, "--frames", "1", "--out", tmp_path / "x.gif"),
           ("interpolate", run, "--out", tmp_path / "x.mp4"),
           ("project", run, tmp_path / "bad.png", "--out", tmp_path / "x.png"),
           ("project", run, tmp_path / "missing.png", "--out", tmp_path / "x.png"),
           ("mix", run, "--out", tmp_path / "x.jpg")]
    for args in bad:
        assert run_cli(*args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err, (args, err)


def test_faces_are_the_lfw_faces_and_their_mirror_images():
    data = load_dataset("faces")
    assert data.x.shape == (200, 1, 32, 32) and data.x.dtype == torch.uint8
    assert torch.equal(data.x[100:], data.x[:100].flip(-1))
    assert 30 < float(data.x.float().std()) and not torch.equal(data.x[0], data.x[1])


def test_growing_recipes_refuse_switches_their_nets_lack(tiny_images):
    for name in ("progan", "stylegan"):
        with pytest.raises(GankitError, match="does not support"):
            make(name, tiny_images, **{"remedy.condition": "cgan"})


def test_a_folder_of_mixed_sizes_modes_and_corrupt_files_trains_with_one_warning(tmp_path, capsys):
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (mode, size) in enumerate([("RGB", (40, 30)), ("L", (64, 64)), ("RGBA", (20, 20)), ("P", (33, 17))] * 3):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(
            folder / f"{i}.{'jpg' if mode == 'L' else 'png'}")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.jpg").write_text("a text file")
    capsys.readouterr()
    assert run_cli("train", "progan", "--data", f"folder:{folder}", "--preset", "smoke", "--set", "resolution=16",
                   "--out", tmp_path / "runs", "--no-progress") == 0
    err = capsys.readouterr().err
    assert err.count("skipped 2 of 14 images that could not be read") == 1, err
    [run] = (tmp_path / "runs").iterdir()
    assert gankit.load(run)(2, seed=0).data.shape == (2, 3, 16, 16)
