"""Compute precision: autocast for a step, and `precision=auto`, which times the actual nets.

Whether bf16 autocast pays depends on the processor, not on the model alone: on Xeons with AMX it roughly
halves a DCGAN step; on CPUs with only avx512_bf16 it was about 15% slower than fp32, and on CPUs
without any bf16 instructions (AVX2 only) it is far slower. So `auto` times a few training steps of
each precision on the run's own nets, interleaved (stopping after one round when one is clearly slower),
and keeps the faster; the training state (weights,
optimizer moments, RNG, data order) is put back exactly as it was, so the run itself is unchanged by the
trial. Under torchrun rank 0's choice is broadcast to every rank.
"""

import copy
import statistics
import time

import torch

from ..log import info
from . import dist
from .stats import Stats

CANDIDATES = ("fp32", "bf16")
CLEAR_MARGIN = 1.5  # a candidate this many times slower than the best after one round is out at once
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # what bf16 speed depends on
ROUNDS, STEPS_PER_ROUND = 3, 2


def cpu_info() -> dict:
    """The CPU's model name and which of the instruction sets that decide bf16's speed it has."""
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        import platform

        return {"model": platform.processor() or platform.machine(), "flags": []}
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")
    flags = set(next((ln for ln in lines if ln.startswith("flags")), "").split())
    return {"model": name, "flags": [f for f in SPEED_FLAGS if f in flags]}


def autocast(precision: str, device: torch.device):
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision in ("bf16", "fp16"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(trainer, precision: str, steps: int) -> float:
    """Seconds per step of `steps` training steps at `precision`."""
    trainer.precision = precision
    _sync(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    _sync(trainer.device)
    return (time.perf_counter() - start) / steps


def snapshot(trainer) -> dict:
    return copy.deepcopy({"nets": {n: net.state_dict() for n, net in trainer.nets.items()},
                          "optimizers": {n: o.state_dict() for n, o in trainer.optimizers.items()},
                          "rng": trainer.rng_state(), "noise": trainer.noise.get_state(), "step": trainer.step,
                          "sources": {n: s.sampler.state_dict() for n, s in trainer.sources.items()}})


def put_back(trainer, state: dict) -> None:
    for name, net in trainer.nets.items():
        net.load_state_dict(state["nets"][name])
    for name, opt in trainer.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], trainer.device)
    trainer.noise.set_state(state["noise"])
    for name, source in trainer.sources.items():
        source.sampler.load_state_dict(state["sources"][name])
    trainer.step = state["step"]
    trainer.stats = Stats()


def choose_precision(trainer) -> str:
    """Time fp32 and bf16 steps on the trainer's nets (interleaved), restore its state, keep the faster."""
    state = snapshot(trainer)
    times = {p: [] for p in CANDIDATES}
    try:
        for p in CANDIDATES:
            time_steps(trainer, p, 1)  # warm-up: first-call allocations and kernel selection
        for round_index in range(ROUNDS):
            for p in CANDIDATES:
                times[p].append(time_steps(trainer, p, 1 if round_index == 0 else STEPS_PER_ROUND))
            best = min(min(t) for t in times.values())
            if max(min(t) for t in times.values()) > CLEAR_MARGIN * best:
                break  # e.g. bf16 emulated on a CPU without bf16 instructions: no need to measure it more
    finally:
        put_back(trainer, state)
    medians = {p: statistics.median(t) for p, t in times.items()}
    chosen = min(medians, key=medians.get)
    if trainer.dist.enabled:
        chosen = dist.broadcast(chosen)
    trainer.precision_trial = {"chosen": chosen, "sec_per_step": {p: round(t, 5) for p, t in medians.items()},
                               "cpu": cpu_info()}
    info(f"precision=auto: fp32 {medians['fp32'] * 1000:.0f} ms/step, bf16 {medians['bf16'] * 1000:.0f} ms/step "
         f"on this {trainer.device.type}; training in {chosen}")
    from .run import RUN_INFO, load_info, save_info

    if trainer.run_dir and (trainer.run_dir / RUN_INFO).exists():
        run_info = load_info(trainer.run_dir)
        run_info["precision_auto"] = trainer.precision_trial
        save_info(trainer.run_dir, run_info)
    return chosen
