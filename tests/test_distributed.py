"""Real `torchrun --nproc_per_node=2` runs on the CPU (gloo): the foundation of multi-process training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from gankit.train import Trainer

HERE = Path(__file__).parent
# Deterministic recipe for the comparison: no dropout, no BatchNorm (per-rank statistics would differ).
SETS = ["steps=4", "D.dropout=0", "G.norm=none", "batch_size=8", "ckpt_every=100", "sample_every=100"]


def torchrun(*args, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def test_two_ranks_match_each_other_and_a_single_process_with_the_same_global_batch(tmp_path):
    torchrun(HERE / "dist_worker.py", tmp_path, "gan", "ring8", *SETS)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == {"world_size": 2, "max_rank_diff": 0.0, "step": 4}
    rec, ds, _ = gankit.build("gan", "ring8", preset="smoke", overrides=dict(s.split("=") for s in SETS))
    single = Trainer(rec, ds, None, progress=False)
    single.fit()
    flat = torch.cat([p.detach().flatten() for n in ("G", "D") for p in single.nets[n].parameters()])
    ddp = torch.load(tmp_path / "params.pt")
    assert torch.allclose(flat, ddp, atol=1e-5), float((flat - ddp).abs().max())
    untrained = Trainer(rec, ds, None, progress=False)
    init = torch.cat([p.detach().flatten() for n in ("G", "D") for p in untrained.nets[n].parameters()])
    assert (init - ddp).abs().max() > 1e-4  # training moved the weights: the comparison is not vacuous


def test_gradient_accumulation_under_ddp_matches_one_process(tmp_path):
    # micro-batches keep their gradients local (no_sync) until the last one: the same weights as one
    # process accumulating the same micro-batches, and every rank identical
    sets = [*SETS, "reuse_fakes=false"]
    torchrun(HERE / "dist_worker.py", tmp_path, "gan", "ring8", *sets, "accumulate=2")
    assert json.loads((tmp_path / "result.json").read_text())["max_rank_diff"] == 0.0
    from dist_worker import with_accumulation

    rec, ds, _ = gankit.build("gan", "ring8", preset="smoke", overrides=dict(s.split("=") for s in sets))
    with_accumulation(rec, 2)
    single = Trainer(rec, ds, None, progress=False)
    single.fit()
    flat = torch.cat([p.detach().flatten() for n in ("G", "D") for p in single.nets[n].parameters()])
    assert torch.allclose(flat, torch.load(tmp_path / "params.pt"), atol=1e-5)


def test_only_rank_0_writes_and_resume_under_torchrun_is_exact(tmp_path):
    common = ["-m", "gankit", "train", "wgan-gp", "--data", "ring8", "--preset", "smoke", "--no-progress",
              "--set", "batch_size=8", "--set", "log_every=1"]
    straight = torchrun(*common, "--steps", "4", "--out", tmp_path / "a")
    assert straight.stdout.count("run: ") == 1
    runs = list((tmp_path / "a").iterdir())
    assert [r.name for r in runs] == ["wgan-gp-ring8-000"]
    steps = [json.loads(line)["step"] for line in (runs[0] / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one writer: no duplicated lines
    torchrun(*common, "--steps", "2", "--out", tmp_path / "b")
    torchrun("-m", "gankit", "train", "--resume", tmp_path / "b" / "wgan-gp-ring8-000", "--steps", "4", "--no-progress")
    a = gankit.load(tmp_path / "a" / "wgan-gp-ring8-000")
    b = gankit.load(tmp_path / "b" / "wgan-gp-ring8-000")
    assert a.step == b.step == 4
    for name in a.nets:  # gradient-penalty double backward under DDP, resumed bit-exactly
        for (k, va), vb in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().values()):
            assert torch.equal(va, vb), (name, k)


def test_ddp_matches_one_process_with_sgd_several_critic_steps_and_labels_and_ranks_split_the_batch(tmp_path):
    """Catches what the Adam case cannot: gradients averaged twice or summed (momentum-free SGD moves by
    the gradient's scale), every rank training on the whole batch, the critic loop or the labels out of
    step between ranks."""
    sets = [*SETS, "D_opt.name=sgd", "G_opt.name=sgd", "D_opt.lr=0.05", "G_opt.lr=0.05", "n_critic=2",
            "condition=projection"]
    torchrun(HERE / "dist_worker.py", tmp_path, "gan", "ring8", *sets, "record_shards=1")
    assert json.loads((tmp_path / "result.json").read_text())["max_rank_diff"] == 0.0
    rec, ds, _ = gankit.build("gan", "ring8", preset="smoke", overrides=dict(s.split("=") for s in sets))
    single = Trainer(rec, ds, None, progress=False)
    whole = single.sources["train"].sampler.peek(8)
    single.fit()
    flat = torch.cat([p.detach().flatten() for n in ("G", "D") for p in single.nets[n].parameters()])
    assert torch.allclose(flat, torch.load(tmp_path / "params.pt"), atol=1e-5)
    shards = [torch.load(tmp_path / f"first_batch_rank{r}.pt") for r in (0, 1)]
    assert [len(s) for s in shards] == [4, 4]  # each rank draws half of the global batch of 8 ...
    expected = ds.batch(whole).x
    assert torch.equal(torch.cat(shards)[torch.tensor([0, 4, 1, 5, 2, 6, 3, 7])], expected)  # ... and they interleave
