"""The contract every registered recipe must meet, on its `smoke` preset, for each kind of data it
declares (image and 2-D points here; a recipe that takes neither, on a small dataset of its first kind:
tables, pianorolls, note events), including the README's example recipes (examples/)."""

import pytest
import torch

import gankit
from gankit import config as C
from gankit.recipes import load_all, resolve_config
from gankit.train import Trainer, checkpoint

from conftest import load_examples

load_examples()
RECIPES = sorted(load_all())
KINDS = ("image", "points")


def source_names(cls):
    return ("a", "b") if cls.sources_from_data else cls.sources


def make(name, data, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    return cls(cfg, {source: data.spec for source in source_names(cls)})


def feed(name, data):
    """The data for every source of the recipe (a recipe with content and style sources gets it twice; one
    whose data names its sources, two table domains)."""
    return {source: data for source in source_names(gankit.get_recipe(name))}


def cases():
    """Each recipe on images and 2-D points where it takes them; others on a small dataset of their first
    kind (a table, pianorolls, note events)."""
    return [(r, kind) for kind in KINDS for r in RECIPES if kind in gankit.get_recipe(r).data_kinds] + \
        [(r, gankit.get_recipe(r).data_kinds[0]) for r in RECIPES
         if not set(gankit.get_recipe(r).data_kinds) & set(KINDS)]


@pytest.fixture(params=cases(), ids=lambda c: f"{c[0]}-{c[1]}")
def recipe_and_data(request):
    name, kind = request.param
    fixture = {"image": "tiny_images", "points": "ring", "table": "labelled_table", "pianoroll": "tiny_pianoroll",
               "events": "tiny_events"}[kind]
    return name, request.getfixturevalue(fixture)


def params_of(net):
    return {k: v.detach().clone() for k, v in net.named_parameters()}


def all_state(trainer):
    return {f"{n}.{k}": v.detach().clone() for n, net in trainer.nets.items() for k, v in net.state_dict().items()}


def test_two_steps_give_finite_losses(recipe_and_data):
    name, data = recipe_and_data
    trainer = Trainer(make(name, data), feed(name, data), progress=False)
    trainer.train_step()
    trainer.train_step()
    stats = trainer.stats.summary()
    declared = trainer.recipe.losses
    assert declared and set(declared) <= set(stats), (declared, sorted(stats))
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats


def test_only_the_phase_parameters_change(recipe_and_data):
    name, data = recipe_and_data
    trainer = Trainer(make(name, data), feed(name, data), progress=False)
    for phase in trainer.phases:
        before = {n: params_of(trainer.nets[n]) for n in trainer.optimizers}
        trainer.run_phase(phase)
        for n in trainer.optimizers:
            after = params_of(trainer.nets[n])
            changed = any(not torch.equal(before[n][k], after[k]) for k in after)
            assert changed == (n in phase.nets), f"phase {phase.name}: net {n} changed={changed}"


def test_samples_have_the_right_shape_and_range(recipe_and_data):
    name, data = recipe_and_data
    trainer = Trainer(make(name, data), feed(name, data), progress=False)
    trainer.train_step()
    x = trainer.recipe.sample(trainer.nets, 7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (7, *data.spec.shape) and torch.isfinite(x).all()
    if data.spec.kind == "image":
        assert x.min() >= -1 and x.max() <= 1
    again = trainer.recipe.sample(trainer.nets, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)  # sampling is a pure function of the seed


def test_checkpoint_round_trips_bit_exactly(recipe_and_data, tmp_path):
    name, data = recipe_and_data
    trainer = Trainer(make(name, data), feed(name, data), tmp_path, progress=False)
    trainer.train_step()
    trainer.save_checkpoint()
    fresh = Trainer(make(name, data, seed=99), feed(name, data), tmp_path, progress=False)
    fresh.restore(checkpoint.latest(tmp_path / "checkpoints"))
    a, b = all_state(trainer), all_state(fresh)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert fresh.step == trainer.step
    for n in trainer.optimizers:
        sa, sb = trainer.optimizers[n].state_dict()["state"], fresh.optimizers[n].state_dict()["state"]
        assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i] if torch.is_tensor(sa[i][k]))


def test_fixed_seed_gives_the_same_run(recipe_and_data):
    name, data = recipe_and_data
    runs = []
    for seed in (5, 5, 6):
        trainer = Trainer(make(name, data, seed=seed), feed(name, data), progress=False)
        trainer.train_step()
        trainer.train_step()
        runs.append(all_state(trainer))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert any(not torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_resume_equals_an_uninterrupted_run(recipe_and_data, tmp_path):
    name, data = recipe_and_data
    straight = Trainer(make(name, data, steps=4), feed(name, data), tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(make(name, data, steps=4), feed(name, data), tmp_path / "b", progress=False)
    first.fit(2)
    resumed = Trainer(make(name, data, steps=4), feed(name, data), tmp_path / "b", progress=False)
    resumed.restore(checkpoint.latest(tmp_path / "b" / "checkpoints"))
    assert resumed.step == 2
    resumed.fit()
    a, b = all_state(straight), all_state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


def test_every_recipe_has_a_smoke_preset_description_kinds_and_losses():
    for name in RECIPES:
        cls = gankit.get_recipe(name)
        assert "smoke" in cls.presets and cls.description and cls.losses and cls.data_kinds and cls.sources
        assert all(k.startswith("loss/") for k in cls.losses)
        C.validate(cls.Config())


def test_a_recipe_refuses_data_of_a_kind_it_does_not_declare(tiny_images, ring, labelled_table):
    for name in RECIPES:
        cls = gankit.get_recipe(name)
        for data in (tiny_images, ring, labelled_table):
            if data.spec.kind not in cls.data_kinds:
                with pytest.raises(gankit.GankitError, match=f"{name} trains on"):
                    make(name, data)


def test_pipelines_of_every_recipe_sample_with_metadata(recipe_and_data, tmp_path):
    name, data = recipe_and_data
    trainer = Trainer(make(name, data), feed(name, data), tmp_path, progress=False)
    trainer.fit()
    pipe = gankit.load(tmp_path)
    out = pipe(5, seed=3)
    assert out.data.shape == (5, *data.spec.shape) and out.meta["seed"] == 3 and out.meta["recipe"] == name
    assert torch.equal(out.data, pipe(5, seed=3).data) and not torch.equal(out.data, pipe(5, seed=4).data)
    written = pipe.write(out, tmp_path / "out.npy")
    assert written[0].exists()


def test_wgan_clip_bound_holds_after_each_critic_step(tiny_images):
    recipe = make("wgan", tiny_images, clip=0.02, n_critic=3)
    trainer = Trainer(recipe, tiny_images, progress=False)
    critic_phase = next(p for p in trainer.phases if p.name == "D")
    bounds = []
    for _ in range(2):
        for _ in range(critic_phase.runs_at(trainer.step)):
            trainer.run_phase(critic_phase)
            bounds.append(max(p.abs().max().item() for p in trainer.nets["D"].parameters()))
        trainer.run_phase(next(p for p in trainer.phases if p.name == "G"))
        trainer.step += 1
    assert len(bounds) == 6 and max(bounds) <= 0.02 + 1e-7
    assert max(bounds) > 0.019  # the bound is active, not vacuous


def test_wgan_critic_boost_schedule(tiny_images):
    recipe = make("wgan", tiny_images, critic_boost=True, n_critic=5)
    critic = next(p for p in recipe.phases() if p.name == "D")
    assert [critic.runs_at(s) for s in (0, 24, 25, 499, 500, 1000)] == [100, 100, 5, 5, 100, 100]


def test_lazy_r1_phase_runs_every_k_steps_scaled(tiny_images):
    recipe = make("r1", tiny_images, lazy_interval=4)
    reg = next(p for p in recipe.phases() if p.name == "D_reg")
    assert [reg.runs_at(s) for s in range(9)] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    d_opt = recipe.optimizers()["D"]
    assert d_opt.lr == pytest.approx(recipe.cfg.D_opt.lr * 4 / 5)
    eager = make("r1", tiny_images, lazy_interval=1)
    assert [p.name for p in eager.phases()] == ["D", "G"]


def test_wgan_gp_rejects_batchnorm_critic(tiny_images):
    with pytest.raises(gankit.GankitError, match="must not use BatchNorm"):
        make("wgan-gp", tiny_images, **{"D.norm": "batch"})


@pytest.mark.parametrize("reuse,expected", [(True, 1), (False, 2)])
def test_reuse_fakes_saves_one_generator_forward(tiny_images, reuse, expected):
    trainer = Trainer(make("gan", tiny_images, reuse_fakes=reuse), tiny_images, progress=False)
    calls = []
    trainer.nets["G"].register_forward_hook(lambda *a: calls.append(torch.is_grad_enabled()))
    trainer.train_step()
    assert len(calls) == expected and calls[-1]  # the G phase always sees a graph through G
    assert not trainer.stash  # nothing outlives the step



def test_lazy_gradient_penalty_every_kth_critic_step_weighted_k(tiny_images):
    recipe = make("wgan-gp", tiny_images, n_critic=3, gp_interval=4, gp_weight=2.0)
    trainer = Trainer(recipe, tiny_images, progress=False)
    seen = []
    original = recipe.d_penalty

    def spy(ctx, real, fake, y):
        out = original(ctx, real, fake, y)
        seen.append(None if out is None else round(float(out.detach() / trainer.stats.values["loss/GP"][-1]), 6))
        return out

    recipe.d_penalty = spy
    for _ in range(4):
        trainer.train_step()
    # critic steps 0..11: the penalty on 0, 4, 8 with weight k·λ = 8
    assert seen == [8.0, None, None, None, 8.0, None, None, None, 8.0, None, None, None]


def test_lazy_and_eager_penalties_agree_in_expectation_on_a_fixed_batch(tiny_images):
    # Over k critic steps on the same batch, lazy (k·λ once) and eager (λ every time) give D the same
    # total penalty gradient: the eager sum of k equal gradients equals the lazy one scaled by k.
    from gankit.objectives import gradient_penalty

    recipe = make("wgan-gp", tiny_images)
    D = recipe.build_nets()["D"]
    real, fake = tiny_images.batch(torch.arange(8)).x, tiny_images.batch(torch.arange(8, 16)).x
    k, lam = 4, 10.0

    def penalty_grad(weight, seed):
        D.zero_grad()
        torch.manual_seed(seed)  # the same interpolation weights
        (weight * gradient_penalty(D, real, fake)).backward()
        return torch.cat([p.grad.flatten() for p in D.parameters() if p.grad is not None])  # biases of the last layer get none

    eager = sum(penalty_grad(lam, seed=0) for _ in range(k))
    lazy = penalty_grad(k * lam, seed=0)
    assert torch.allclose(eager, lazy, rtol=1e-4, atol=1e-6)
