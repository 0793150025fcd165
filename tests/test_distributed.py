"""Real `torchrun --nproc_per_node=2` runs on the CPU (gloo): the foundation of multi-process training."""

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as td

import gankit
from gankit.data.base import Batch
from gankit.train import Trainer

from dist_worker import dataset, flat_params, record_real_batches, with_accumulation

HERE = Path(__file__).parent
# Deterministic recipe for the comparison: no dropout, no BatchNorm (per-rank statistics would differ).
SETS = ["steps=4", "D.dropout=0", "G.norm=none", "batch_size=8", "ckpt_every=100", "sample_every=100"]


# A rank of a real torchrun on this 2-core CPU machine sometimes dies with SIGABRT in C++ ("terminate called
# without an active exception": a joinable std::thread destroyed), inside torch/gloo, not in gankit's code;
# seen in 3 of 5 full suite runs on 2026-12-04, never when the test runs alone, and once after the run had
# written its last checkpoint (so at teardown: dist.shutdown now waits for every rank before leaving the
# group). Such a run is retried once from the state it started from (`reset`), and the retry is checked in
# full, like any run; every other failure fails the test at once.
TORCH_ABORT = "terminate called without an active exception"


def torchrun(*args, timeout=240, reset=None):
    """A 2-rank torchrun of `args`; `reset()` puts back what the command changes before a retry."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0 and TORCH_ABORT in proc.stderr:
        print(f"torchrun: a rank aborted in C++ ({TORCH_ABORT}); running it again once", file=sys.stderr)
        if reset:
            reset()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


SGD = ["G_opt.name=sgd", "D_opt.name=sgd", "G_opt.lr=0.05", "D_opt.lr=0.05"]  # scale-sensitive, unlike Adam
# Every case trains under one torchrun (a process group costs seconds on 2 cores) and is compared with one
# process training on the same global batches.
CASES = {
    "mlp-adam": ("gan", "ring8", SETS),
    "accumulate": ("gan", "ring8", [*SETS, "reuse_fakes=false", "accumulate=2"]),
    "mlp-sgd": ("gan", "ring8", [*SETS, *SGD]),
    "n-critic": ("wgan", "ring8", [*SETS, "n_critic=3", "D.norm=none"]),  # 3 critic steps, each clipped
    "conditional": ("gan", "ring8", [*SETS, "condition=projection"]),
    # BatchNorm in G and D: per-rank batch statistics, compared with one process whose micro-batches are the
    # ranks' shards (fresh fakes in G's step, so every micro-batch draws the same way as a rank)
    "conv-batchnorm": ("dcgan", "tiny", ["steps=3", "batch_size=8", "reuse_fakes=false", *SGD, "shards=2"]),
}


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    spec = {name: {"recipe": r, "data": d, "sets": [s for s in sets if not s.startswith("shards=")]}
            for name, (r, d, sets) in CASES.items()}
    (out / "cases.json").write_text(json.dumps(spec))
    torchrun(HERE / "dist_worker.py", "--cases", out / "cases.json")
    return {name: torch.load(out / f"{name}.pt") for name in CASES}


def as_ranks(trainer, world):
    """Make one process draw as `world` ranks would, one rank per micro-batch: each draw of real data or
    latent codes takes the next global batch and hands out its shards [r::world] in turn."""
    pending = {"real": [], "z": []}
    real, z = trainer.real, trainer.z

    def next_shard(key, draw):
        if not pending[key]:
            full = draw()
            pending[key] = [full[r::world] if torch.is_tensor(full) else
                            Batch(full.x[r::world], None if full.y is None else full.y[r::world]) for r in range(world)]
        return pending[key].pop(0)

    trainer.real = lambda source=None, n=None: next_shard("real", lambda: real(source, world * (n or trainer.batch_size)))
    trainer.z = lambda n: next_shard("z", lambda: z(world * n))


def single_process(name):
    recipe, data, sets = CASES[name]
    overrides = dict(s.split("=", 1) for s in sets)
    accumulate, world = int(overrides.pop("accumulate", 1)), int(overrides.pop("shards", 1))
    rec, ds, _ = gankit.build(recipe, dataset(data), preset="smoke", overrides=overrides)
    with_accumulation(rec, accumulate * world)
    trainer = Trainer(rec, ds, None, progress=False)
    if world > 1:
        as_ranks(trainer, world)
    batches = record_real_batches(trainer)
    trainer.fit()
    return trainer, batches


@pytest.mark.torchrun
@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_match_each_other_and_one_process_on_the_same_global_batches(ddp_runs, name):
    run = ddp_runs[name]
    assert run["world_size"] == 2 and run["step"] == [run["step"][0]] * 2
    rank0, rank1 = run["params"]
    assert torch.equal(rank0, rank1)  # DDP kept the replicas identical
    single, batches = single_process(name)
    assert single.step == run["step"][0]
    flat = flat_params(single)
    assert torch.allclose(flat, rank0, atol=1e-5), float((flat - rank0).abs().max())
    untrained = flat_params(Trainer(single.recipe, single.primary_data, None, progress=False))
    assert (untrained - rank0).abs().max() > 1e-4  # training moved the weights: the comparison is not vacuous
    # each rank trained on its own half of every global batch: together, the batches of one process
    shards0, shards1 = run["real"]
    if name == "conv-batchnorm":  # one process drew them shard by shard already
        batches = [torch.cat(batches[i:i + 2]) for i in range(0, len(batches), 2)]
        shards = [torch.cat(pair) for pair in zip(shards0, shards1)]
    else:
        shards = [interleave(a, b) for a, b in zip(shards0, shards1)]
    assert len(shards) == len(batches) and all(torch.equal(a, b) for a, b in zip(shards, batches))
    assert all(len(a) == len(b) and not torch.equal(a, b) for a, b in zip(shards0, shards1))


def interleave(a, b):
    """The global batch whose shards [0::2] and [1::2] are a and b."""
    return torch.stack([a, b], 1).flatten(0, 1)


@pytest.mark.torchrun
def test_only_rank_0_writes_and_resume_under_torchrun_is_exact(tmp_path):
    common = ["-m", "gankit", "train", "wgan-gp", "--data", "ring8", "--preset", "smoke", "--no-progress",
              "--set", "batch_size=8", "--set", "log_every=1"]
    straight = torchrun(*common, "--steps", "4", "--out", tmp_path / "a", reset=lambda: shutil.rmtree(tmp_path / "a"))
    assert straight.stdout.count("run: ") == 1
    runs = list((tmp_path / "a").iterdir())
    assert [r.name for r in runs] == ["wgan-gp-ring8-000"]
    steps = [json.loads(line)["step"] for line in (runs[0] / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one writer: no duplicated lines
    torchrun(*common, "--steps", "2", "--out", tmp_path / "b", reset=lambda: shutil.rmtree(tmp_path / "b"))
    run_b, pristine = tmp_path / "b" / "wgan-gp-ring8-000", tmp_path / "b-at-step-2"
    shutil.copytree(run_b, pristine)
    torchrun("-m", "gankit", "train", "--resume", run_b, "--steps", "4", "--no-progress",
             reset=lambda: (shutil.rmtree(run_b), shutil.copytree(pristine, run_b)))
    a = gankit.load(tmp_path / "a" / "wgan-gp-ring8-000")
    b = gankit.load(tmp_path / "b" / "wgan-gp-ring8-000")
    assert a.step == b.step == 4
    for name in a.nets:  # gradient-penalty double backward under DDP, resumed bit-exactly
        for (k, va), vb in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().values()):
            assert torch.equal(va, vb), (name, k)


# ------------------------------------------------------------------ dist.py's helpers, in this process
class TwoRanks:
    """torch.distributed as rank 0 of two sees it: the other rank contributes `other` to each collective."""

    ReduceOp = td.ReduceOp

    def __init__(self, other):
        self.other = other

    def get_world_size(self):
        return 2

    def all_reduce(self, t, op=td.ReduceOp.SUM):
        other = torch.as_tensor(self.other, dtype=t.dtype)
        t.copy_({td.ReduceOp.SUM: t + other, td.ReduceOp.MAX: torch.maximum(t, other),
                 td.ReduceOp.MIN: torch.minimum(t, other)}[op])

    def broadcast_object_list(self, box, src):
        box[0] = [box[0], self.other][src]

    def all_gather_object(self, out, obj):
        out[:] = [obj, self.other]


def test_collective_helpers_combine_two_ranks(monkeypatch):
    from gankit.train import dist

    cpu = torch.device("cpu")
    monkeypatch.setattr(dist, "td", TwoRanks([3.0, 0.0]))  # the other rank's values, keys in sorted order
    assert dist.all_mean({"b": 4.0, "a": 1.0}, cpu) == {"a": 2.0, "b": 2.0}
    monkeypatch.setattr(dist, "td", TwoRanks([2.0 ** 24 + 1]))
    assert dist.all_mean({"step": 2.0 ** 24 + 1}, cpu) == {"step": 2.0 ** 24 + 1}  # summed in float64
    for mine, other, expected in [(False, 0.0, False), (False, 1.0, True), (True, 0.0, True), (True, 1.0, True)]:
        monkeypatch.setattr(dist, "td", TwoRanks([other]))
        assert dist.any_rank(mine, cpu) is expected
    monkeypatch.setattr(dist, "td", TwoRanks("theirs"))
    assert dist.broadcast("mine") == "mine" and dist.broadcast("mine", src=1) == "theirs"
    assert dist.gather("mine") == ["mine", "theirs"]


class Reached(Exception):
    pass


def test_collectives_build_their_tensors_on_the_given_device(monkeypatch):
    """NCCL reduces only CUDA tensors: each helper must put its tensor on the device it is given (checked
    with the meta device, which a CPU machine has)."""
    from gankit.train import dist

    devices = []

    class Recorder(TwoRanks):
        def all_reduce(self, t, op=td.ReduceOp.SUM):
            devices.append(t.device.type)
            raise Reached

    monkeypatch.setattr(dist, "td", Recorder(0.0))
    for call in (lambda: dist.all_mean({"a": 1.0}, torch.device("meta")), lambda: dist.any_rank(True, torch.device("meta"))):
        with pytest.raises(Reached):
            call()
    assert devices == ["meta", "meta"]


@pytest.fixture
def torchrun_env(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_init_reads_torchrun_variables_and_reports_a_failed_rendezvous(torchrun_env):
    from gankit.errors import GankitError
    from gankit.train import dist

    env = torchrun_env
    assert dist.init("meta") == (dist.DistInfo(), torch.device("meta")) and not dist.launched_by_torchrun()
    env.setenv("RANK", "0")
    assert not dist.launched_by_torchrun()  # both variables are needed
    env.setenv("WORLD_SIZE", "1")
    assert dist.launched_by_torchrun() and dist.init("meta") == (dist.DistInfo(), torch.device("meta"))  # no group
    env.setenv("RANK", "1")
    env.setenv("WORLD_SIZE", "2")
    with pytest.raises(GankitError, match=r"^could not join the torchrun process group \(gloo\): .*MASTER_ADDR"):
        dist.init("cpu")  # no MASTER_ADDR: the rendezvous fails at once
    info = dist.DistInfo(rank=1, world_size=2, local_rank=1)
    assert info.enabled and not info.is_main and dist.DistInfo().is_main and not dist.DistInfo().enabled


@pytest.mark.parametrize("device,local_rank,backend,expected", [("cpu", None, "gloo", "cpu"),
                                                                ("cuda", "1", "nccl", "cuda:1")])
def test_init_joins_with_the_backend_of_the_device(torchrun_env, device, local_rank, backend, expected):
    # the process group and CUDA calls are recorded, not made: this checks what init asks of them
    from gankit.train import dist

    env, calls = torchrun_env, []
    env.setenv("RANK", "1")
    env.setenv("WORLD_SIZE", "2")
    if local_rank:
        env.setenv("LOCAL_RANK", local_rank)
    env.setattr(dist.td, "is_initialized", lambda: False)
    env.setattr(dist.td, "init_process_group", lambda backend, timeout: calls.append((backend, timeout)))
    env.setattr(torch.cuda, "set_device", lambda dev: calls.append(dev))
    info, dev = dist.init(device)
    assert info == dist.DistInfo(1, 2, int(local_rank or 0)) and dev == torch.device(expected)
    assert calls[-1] == (backend, datetime.timedelta(minutes=30))
    assert calls[:-1] == ([torch.device("cuda", 1)] if device == "cuda" else [])


@pytest.fixture
def ddp_calls(monkeypatch):
    """DistributedDataParallel recorded, not built (a real one is built under torchrun above)."""
    from torch import nn

    made = []
    monkeypatch.setattr(nn.parallel, "DistributedDataParallel", lambda net, **kw: made.append(kw) or net)
    return made


def test_wrap_syncs_buffers_only_for_nets_that_have_them(ddp_calls):
    from torch import nn

    from gankit.errors import GankitError
    from gankit.train import dist

    info, cpu = dist.DistInfo(0, 2), torch.device("cpu")
    dist.wrap(nn.Linear(2, 2), info, cpu, sync_bn=False)
    dist.wrap(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), info, cpu, sync_bn=False)
    assert ddp_calls == [{"device_ids": None, "forward_sync_buffers": False},
                         {"device_ids": None, "forward_sync_buffers": True}]
    with pytest.raises(GankitError, match=r"^sync_bn=true needs CUDA devices \(PyTorch's SyncBatchNorm works only on GPU"):
        dist.wrap(nn.Linear(2, 2), info, cpu, sync_bn=True)
    dist.shutdown()  # a no-op without a group


def test_wrap_on_cuda_converts_batchnorm_and_names_the_device(ddp_calls):
    from torch import nn

    from gankit.train import dist

    net = dist.wrap(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), dist.DistInfo(1, 2, 1),
                    torch.device("cuda", 1), sync_bn=True)
    assert isinstance(net[1], nn.SyncBatchNorm) and ddp_calls == [{"device_ids": [1], "forward_sync_buffers": True}]
