"""torchrun on this machine: steps per second of data-parallel DCGAN training and the share of time spent
communicating, against one process with the same global batch.

    python benchmarks/bench_ddp.py            # runs the single-process case, then `torchrun --nproc_per_node=2`

One process uses 2 threads; under torchrun each of the 2 ranks uses 1 thread (torchrun's default), so both
cases use the machine's 2 cores. Communication: each step all-reduces D's gradients (one critic step) and
G's gradients once; we time a blocking all_reduce of tensors of exactly those sizes on the same process
group and report its share of the measured step time (gloo on CPU; DDP overlaps some of it with the
backward pass, so this is an upper bound).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import gankit
from gankit.train import Trainer, dist

SETTINGS = {"batch_size": 64, "G.width": 32, "D.width": 32, "ema": 0.0, "tensorboard": False, "diagnostics": False,
            "log_every": 10**9}
WARMUP, STEPS = 3, 20


def measure(ranks, device) -> dict:
    data = gankit.load_dataset("mnist5k")
    rec, ds, _ = gankit.build("dcgan", data, overrides=SETTINGS)
    trainer = Trainer(rec, ds, None, device=device, progress=False, dist=ranks)
    for _ in range(WARMUP):
        trainer.train_step()
    times = []
    for _ in range(STEPS):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    out = {"world_size": ranks.world_size, "threads_per_process": torch.get_num_threads(),
           "sec_per_step": round(step, 4), "steps_per_second": round(1 / step, 2)}
    if ranks.enabled:
        comm = allreduce_seconds([trainer.nets["D"], trainer.nets["G"]])
        out["allreduce_sec_per_step"] = round(comm, 4)
        out["communication_share"] = round(comm / step, 3)
    return out


def allreduce_seconds(nets) -> float:
    tensors = [torch.zeros(sum(p.numel() for p in net.parameters())) for net in nets]
    for t in tensors:
        torch.distributed.all_reduce(t)
    times = []
    for _ in range(10):
        torch.distributed.barrier()
        start = time.perf_counter()
        for t in tensors:
            torch.distributed.all_reduce(t)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    if dist.launched_by_torchrun():
        ranks, device = dist.init("cpu")
        result = measure(ranks, device)
        if ranks.is_main:
            Path(os.environ["BENCH_DDP_OUT"]).write_text(json.dumps(result))
        dist.shutdown()
        return 0
    single = measure(dist.DistInfo(), torch.device("cpu"))
    out = Path("bench_ddp_rank0.json").resolve()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_DDP_OUT": str(out)}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__],
                   check=True, env=env, capture_output=True)
    two = json.loads(out.read_text())
    out.unlink()
    print(json.dumps({"benchmark": "bench_ddp", "settings": SETTINGS, "single_process": single, "torchrun_2": two,
                      "speedup_2_vs_1": round(single["sec_per_step"] / two["sec_per_step"], 3)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
