"""Trainer behaviour: crash-safe checkpoints, divergence, interrupts, time budget, EMA, logs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

import gankit
from gankit.errors import TrainingDiverged
from gankit.recipes import resolve_config
from gankit.train import Trainer, checkpoint
from gankit.train.optim import ema_copy, ema_decay, ema_update


def smoke_trainer(name, data, run_dir=None, **overrides):
    cls = gankit.get_recipe(name)
    cfg, _ = resolve_config(cls, data.spec.kind, "smoke", overrides)
    return Trainer(cls(cfg, data.spec), data, run_dir, progress=False)


def test_checkpoint_state_loads_with_weights_only(tiny_images, tmp_path):
    trainer = smoke_trainer("wgan-gp", tiny_images, tmp_path)
    trainer.fit()
    entry = checkpoint.latest(tmp_path / "checkpoints")
    state = torch.load(entry["state"], weights_only=True)  # no code runs; fails if anything non-tensor sneaks in
    assert state["step"] == 2 and set(state["optimizers"]) == {"G", "D"}
    header = checkpoint.read_header(entry["weights"])
    assert header["recipe"] == "wgan-gp" and header["config"]["n_critic"] == 2


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tiny_images, tmp_path, monkeypatch):
    trainer = smoke_trainer("gan", tiny_images, tmp_path)
    trainer.fit(1)
    before = checkpoint.latest(tmp_path / "checkpoints")
    trainer.train_step()

    real_replace = os.replace

    def crash_on_state(src, dst):
        if str(dst).endswith(".state.pt"):
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_state)
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()
    monkeypatch.setattr(os, "replace", real_replace)
    after = checkpoint.latest(tmp_path / "checkpoints")
    assert after == before and after["step"] == 1
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))  # no temp files left behind
    fresh = smoke_trainer("gan", tiny_images, tmp_path)
    fresh.restore(after)
    assert fresh.step == 1


def test_kill_9_mid_training_leaves_a_loadable_checkpoint(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "gan", "--data", "ring8", "--preset", "smoke",
                             "--steps", "100000", "--out", str(tmp_path), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = tmp_path / "gan-ring8-000" / "checkpoints" / "latest.json"
    deadline = time.time() + 60
    while time.time() < deadline and not (latest.exists() and json.loads(latest.read_text())["step"] >= 5):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entry = checkpoint.latest(latest.parent)
    assert entry["step"] >= 5
    model = gankit.load(tmp_path / "gan-ring8-000")
    assert torch.isfinite(model.sample(10, seed=0)).all()


def test_nan_stops_the_run_without_overwriting_the_good_checkpoint(tiny_images, tmp_path):
    trainer = smoke_trainer("gan", tiny_images, tmp_path, steps=4)
    trainer.fit(2)
    with torch.no_grad():
        next(trainer.nets["D"].parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="diverged at step 3"):
        trainer.fit()
    assert checkpoint.latest(tmp_path / "checkpoints")["step"] == 2


def test_time_budget_stops_at_a_step_boundary_with_a_checkpoint(ring, tmp_path):
    trainer = smoke_trainer("gan", ring, tmp_path, steps=10**6, max_minutes=0.02, ckpt_every=10**6,
                            log_every=10**6, sample_every=10**6)
    result = trainer.fit()
    assert result["stopped"].startswith("time budget") and 0 < result["step"] < 10**6
    assert checkpoint.latest(tmp_path / "checkpoints")["step"] == result["step"]
    assert (tmp_path / "samples" / f"step-{result['step']:07d}.png").exists()


def test_ctrl_c_checkpoints_and_exits_130(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", "gan", "--data", "ring8", "--preset", "smoke",
                             "--steps", "100000", "--set", "ckpt_every=100000", "--out", str(tmp_path),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats = tmp_path / "gan-ring8-000" / "stats.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (stats.exists() and stats.read_text().count("\n") >= 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert checkpoint.latest(tmp_path / "gan-ring8-000" / "checkpoints")["step"] >= 3


def test_stats_and_tensorboard_are_written(tiny_images, tmp_path):
    trainer = smoke_trainer("r1", tiny_images, tmp_path, tensorboard=True)
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("loss/D", "loss/G", "D/real", "D/fake", "D/p_real", "D/p_fake", "grad_norm/D", "grad_norm/G",
                "time/sec_per_step"):
        assert key in rows[-1], key
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/D")] == [1, 2]


def test_ema_update_is_an_exponential_average():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ema_copy(net)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(5.0)
    old = [p.clone() for p in ema.parameters()]
    ema_update(ema, net, decay=0.9)
    for e, o, p in zip(ema.parameters(), old, net.parameters()):
        assert torch.allclose(e, 0.9 * o + 0.1 * p)
    assert torch.equal(ema[1].running_mean, net[1].running_mean)
    assert not any(p.requires_grad for p in ema.parameters())


def test_bf16_and_channels_last_smoke_give_finite_losses(tiny_images):
    trainer = smoke_trainer("wgan-gp", tiny_images, precision="bf16", channels_last=True)
    trainer.train_step()
    trainer.train_step()
    stats = trainer.stats.summary()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert trainer.nets["D"].trunk[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_ema_decay_ramps_up_then_caps():
    assert ema_decay(0.999, 0) == 0.1
    assert ema_decay(0.999, 90) == 0.91
    assert ema_decay(0.999, 10**6) == 0.999
    assert all(ema_decay(0.999, t) <= ema_decay(0.999, t + 1) for t in range(0, 20000, 97))


def test_fp16_is_refused_on_the_cpu_and_compile_with_penalties(tiny_images):
    with pytest.raises(gankit.GankitError, match="fp16 needs a CUDA device"):
        smoke_trainer("gan", tiny_images, precision="fp16")
    with pytest.raises(gankit.GankitError, match="double backward"):
        smoke_trainer("wgan-gp", tiny_images, compile=True)


@pytest.mark.slow
def test_compiled_networks_train(ring):
    trainer = smoke_trainer("gan", ring, compile=True)
    trainer.fit()
    assert all(torch.isfinite(p).all() for p in trainer.nets["G"].parameters())


def test_linear_lr_decay_follows_the_step(ring):
    trainer = smoke_trainer("gan", ring, steps=4, lr_decay="linear")
    base = trainer.optimizers["G"].param_groups[0]["lr"]
    seen = []
    for _ in range(4):
        trainer.train_step()
        seen.append(trainer.optimizers["G"].param_groups[0]["lr"] / base)
    assert seen == [1.0, 0.75, 0.5, 0.25]
    state = trainer.optimizers["G"].state_dict()["param_groups"][0]
    assert state["base_lr"] == base  # saved with the optimizer: a resumed run continues the schedule


def test_compile_wraps_every_trainable_net_and_trains(ring, monkeypatch):
    # The wiring of compile=true, fast: torch.compile is replaced by a recorder that returns the module as it is
    # (a real inductor compile costs ~17 s cold on 2 cores; test_compiled_networks_train runs it in the slow set).
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda net, **kw: compiled.append(net) or net)
    trainer = smoke_trainer("gan", ring, compile=True)
    assert sorted(compiled, key=id) == sorted([trainer.nets["G"], trainer.nets["D"]], key=id)
    assert trainer.ctx.nets["G"] is trainer.nets["G"]  # the phases call what torch.compile returned
    trainer.fit()
    assert all(torch.isfinite(p).all() for p in trainer.nets["G"].parameters())
