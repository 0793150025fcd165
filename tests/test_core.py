"""The generic core: schedules that change the step (growing nets, resetting optimizers, changing the
batch), gradient accumulation, named data sources, precision=auto, modalities and pipelines."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.config import OptimConfig, TrainConfig, nested, param
from gankit.data import from_tensors
from gankit.modalities import MODALITIES, get_modality
from gankit.pipelines import PIPELINES
from gankit.recipes.base import Phase, Recipe
from gankit.train import Trainer, checkpoint

from conftest import load_examples


# ------------------------------------------------------------------ a recipe that grows its net mid-run
@dataclass
class GrowConfig(TrainConfig):
    grow_at: int = param(3, "step at which the net gains a layer", min=1)
    opt: OptimConfig = nested(lambda: OptimConfig(lr=1e-2), "optimizer")
    accumulate: int = param(1, "micro-batches per step", min=1)


class Growing(nn.Module):
    """A regression net whose stack of layers can grow (ProGAN's shape of change, in miniature)."""

    def __init__(self, levels: int = 1):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(levels)])

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


class GrowRecipe(Recipe):
    """Fits points to their mirror image; at `grow_at` the net gains a layer, its optimizer restarts and
    the batch doubles (what ProGAN does between levels)."""

    name, Config, losses = "grow-test", GrowConfig, ("loss/fit",)
    presets = {"smoke": {}}

    def level(self, step: int) -> int:
        return 1 if step < self.cfg.grow_at else 2

    def build_nets(self):
        return {"N": Growing(1)}

    def optimizers(self):
        return {"N": self.cfg.opt}

    def phases(self):
        return [Phase("fit", ("N",), self.loss, accumulate=self.cfg.accumulate)]

    def begin_step(self, ctx):
        want = self.level(ctx.step)
        if len(ctx.nets["N"].layers) != want:
            grown = Growing(want)
            grown.layers[: len(ctx.nets["N"].layers)].load_state_dict(ctx.nets["N"].layers.state_dict())
            ctx.set_net("N", grown)
            ctx.reset_optimizer("N")
        ctx.set_batch_size(self.cfg.batch_size * want)

    def loss(self, ctx):
        x = ctx.real().x
        loss = (ctx.nets["N"](x) + x).pow(2).mean()
        ctx.report("loss/fit", loss)
        return loss

    def sample(self, nets, n, generator=None, condition=None):
        return nets["N"](torch.randn(n, 2, generator=generator))


def grow(data, **overrides):
    cfg = GrowConfig(steps=6, batch_size=8, log_every=1, ckpt_every=1, tensorboard=False, **overrides)
    return GrowRecipe(cfg, data.spec)


def state(trainer):
    return {f"{n}.{k}": v.clone() for n, net in trainer.nets.items() for k, v in net.state_dict().items()}


def test_a_net_grows_mid_run_with_a_fresh_optimizer_and_a_bigger_batch(ring):
    trainer = Trainer(grow(ring), ring, progress=False)
    seen = []
    for _ in range(5):
        trainer.train_step()
        seen.append((len(trainer.nets["N"].layers), trainer.global_batch,
                     len(trainer.optimizers["N"].param_groups[0]["params"])))
    assert seen == [(1, 8, 2)] * 3 + [(2, 16, 4)] * 2


def test_resume_across_a_growth_step_is_bit_exact(ring, tmp_path):
    straight = Trainer(grow(ring), ring, tmp_path / "a", progress=False)
    straight.fit()
    for stop in (2, 4):  # before and after the growth at step 3
        first = Trainer(grow(ring), ring, tmp_path / f"b{stop}", progress=False)
        first.fit(stop)
        resumed = Trainer(grow(ring), ring, tmp_path / f"b{stop}", progress=False)
        resumed.restore(checkpoint.latest(tmp_path / f"b{stop}" / "checkpoints"))
        assert len(resumed.nets["N"].layers) == (2 if stop >= 3 else 1)
        resumed.fit()
        a, b = state(straight), state(resumed)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_accumulation_equals_one_big_batch(ring):
    def run(accumulate):  # one trainer after the other: the growth at step 3 draws from the global RNG
        # SGD, not Adam: Adam's step would hide a gradient off by a constant factor
        trainer = Trainer(grow(ring, accumulate=accumulate, opt=OptimConfig(name="sgd", lr=0.5)), ring, progress=False)
        for _ in range(5):
            trainer.train_step()
        return state(trainer)

    a, b = run(1), run(2)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # equal up to summation order


def test_accumulation_needs_a_divisible_batch(ring):
    with pytest.raises(gankit.GankitError, match="divisible by 3"):
        Trainer(grow(ring, accumulate=3), ring, progress=False)


# ------------------------------------------------------------------ named data sources
@dataclass
class PairConfig(TrainConfig):
    opt: OptimConfig = nested(lambda: OptimConfig(lr=1e-2), "optimizer")


class PairRecipe(Recipe):
    """Moves a point towards the mean of `content` minus the mean of `style`: two named sources."""

    name, Config, losses, sources = "pair-test", PairConfig, ("loss/pair",), ("content", "style")
    presets = {"smoke": {}}

    def build_nets(self):
        return {"P": nn.Linear(1, 2, bias=False)}

    def optimizers(self):
        return {"P": self.cfg.opt}

    def phases(self):
        return [Phase("P", ("P",), self.loss)]

    def loss(self, ctx):
        target = ctx.real("content").x.mean(0) - ctx.real("style", n=2).x.mean(0)
        loss = (ctx.nets["P"].weight[:, 0] - target).pow(2).sum()
        ctx.report("loss/pair", loss)
        return loss

    def sample(self, nets, n, generator=None, condition=None):
        return nets["P"].weight[:, 0].detach().expand(n, 2)


def pair_data():
    g = torch.Generator().manual_seed(0)
    return {"content": from_tensors(torch.randn(40, 2, generator=g) + 3, name="c"),
            "style": from_tensors(torch.randn(30, 2, generator=g), name="s")}


def test_two_named_sources_each_keep_their_own_resumable_order(tmp_path):
    data = pair_data()
    make = lambda: PairRecipe(PairConfig(steps=6, batch_size=4, ckpt_every=1, tensorboard=False),  # noqa: E731
                              {k: d.spec for k, d in data.items()})
    straight = Trainer(make(), data, tmp_path / "a", progress=False)
    straight.fit()
    first = Trainer(make(), data, tmp_path / "b", progress=False)
    first.fit(3)
    assert set(first.state_dict()["sources"]) == {"content", "style"}
    resumed = Trainer(make(), data, tmp_path / "b", progress=False)
    resumed.restore(checkpoint.latest(tmp_path / "b" / "checkpoints"))
    resumed.fit()
    assert torch.equal(straight.nets["P"].weight, resumed.nets["P"].weight)
    assert straight.sources["style"].sampler.pos != straight.sources["content"].sampler.pos


def test_a_missing_source_is_a_clear_error():
    with pytest.raises(gankit.GankitError, match="needs the data sources content, style; missing: style"):
        PairRecipe(PairConfig(), {"content": pair_data()["content"].spec})


# ------------------------------------------------------------------ precision=auto
def test_precision_auto_times_both_and_leaves_the_run_unchanged(tiny_images, tmp_path):
    def make(precision):
        cfg, _ = gankit.recipes.resolve_config(gankit.get_recipe("dcgan"), "image", "smoke",
                                               {"precision": precision, "steps": 3})
        return gankit.get_recipe("dcgan")(cfg, tiny_images.spec)

    plain = Trainer(make("fp32"), tiny_images, progress=False)
    plain.fit()
    auto = Trainer(make("auto"), tiny_images, progress=False)
    result = auto.fit()
    trial = auto.precision_trial
    assert result["precision"] == trial["chosen"] in ("fp32", "bf16") and set(trial["sec_per_step"]) == {"fp32", "bf16"}
    if trial["chosen"] == "fp32":  # the trial steps were undone: the same weights as a plain fp32 run
        a, b = state(plain), state(auto)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_precision_auto_is_recorded_in_config_json(tmp_path):
    run = gankit.train("gan", "ring8", preset="smoke", overrides={"precision": "auto"}, out=tmp_path, progress=False)
    info = json.loads((run.path / "config.json").read_text())
    assert info["precision_auto"]["chosen"] in ("fp32", "bf16") and info["config"]["precision"] == "auto"


# ------------------------------------------------------------------ modalities and pipelines
def test_modalities_write_their_formats(tmp_path, ring):
    table = from_tensors(torch.randn(20, 3), name="t")
    written = get_modality("table").write(torch.randn(4, 3), table.spec, tmp_path / "rows.csv")
    rows = written[0].read_text().splitlines()
    assert rows[0] == "x0,x1,x2" and len(rows) == 5
    pts = get_modality("points").write(torch.randn(9, 2), ring.spec, tmp_path / "p.png")
    assert [p.suffix for p in pts] == [".npy", ".png"] and np.load(pts[0]).shape == (9, 2)
    with pytest.raises(gankit.GankitError, match=r"table samples are written as \.csv, \.npy"):
        get_modality("table").write(torch.randn(4, 3), table.spec, tmp_path / "rows.png")
    assert {"image", "points", "table"} <= set(MODALITIES)


def test_a_table_recipe_trains_and_samples_csv(tmp_path):
    g = torch.Generator().manual_seed(0)
    table = from_tensors(torch.randn(64, 5, generator=g) * torch.arange(1, 6) + 10, name="tab")
    run = gankit.train("gan", table, preset="smoke", out=tmp_path, progress=False)
    pipe = gankit.load(run.path)
    out = pipe.write(pipe(6, seed=0), tmp_path / "rows.csv")
    assert len(out[0].read_text().splitlines()) == 7


@pytest.fixture(scope="module")
def example_pipelines():
    load_examples()
    return sorted(PIPELINES)


def test_pipeline_contract_over_every_registered_pipeline(example_pipelines, tiny_images, tmp_path):
    assert example_pipelines  # the README's optimisation-only example at least
    for name in example_pipelines:
        pipe = PIPELINES[name].smoke(tiny_images)
        out = pipe(3, seed=1)
        assert out.data.shape == (3, *tiny_images.spec.shape) and torch.isfinite(out.data).all()
        assert out.meta["seed"] == 1 and torch.equal(out.data, pipe(3, seed=1).data)
        assert pipe.write(out, tmp_path / f"{name}.png")[0].exists()


def test_texture_pipeline_lowers_its_loss(tiny_images):
    load_examples()
    out = PIPELINES["texture"](tiny_images)(2, seed=0)
    assert out.meta["losses"][-1] < 0.5 * out.meta["losses"][0]


def test_pipeline_refuses_options_the_recipe_does_not_take(tmp_path):
    run = gankit.train("gan", "ring8", preset="smoke", out=tmp_path, progress=False)
    with pytest.raises(gankit.GankitError, match="cannot sample with these options"):
        gankit.load(run.path)(4, truncation=0.5)


def test_cli_takes_named_sources_and_explains_keys(capsys):
    from gankit.cli import main

    assert main(["train", "gan", "--data", "ring8", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "D_opt.lr" in out and "learning rate" in out and "toy" in out
    assert main(["train", "gan", "--data", "a=ring8", "--data", "b=ring8", "--dry-run"]) == 2
    assert "gan has no data source 'a'" in capsys.readouterr().err
    assert main(["train", "gan", "--data", "ring8", "--data", "grid25"]) == 2
    assert "name each one's source" in capsys.readouterr().err
