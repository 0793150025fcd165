"""Seconds per generator step: gankit's generic trainer against a plain eager PyTorch loop of the same nets.

Both run in the same process, on the same in-memory MNIST batches, interleaved round by round, so
machine noise hits both alike; the figure of merit is the ratio of medians (gankit / plain).

Cases (DCGAN nets, 32x32x1, width 64, z 100, batch 64, EMA off in both):
  dcgan    non-saturating BCE, BatchNorm in D; the plain loop is the PyTorch DCGAN tutorial's loop
           (one G forward reused for the G step, two D backward calls, D weight gradients in the G step).
  wgan_gp  5 critic steps, no norm in the critic, λ = 10; the plain loop draws fakes under no_grad for
           each critic step, computes the penalty with autograd.grad(create_graph=True), one backward.
Modes, each against the plain fp32 loop (NCHW, as written in tutorials): gankit fp32 with its defaults
(channels_last layout for conv nets), gankit fp32 forced to NCHW (the trainer alone, same layout as the
plain loop), and gankit bf16 autocast + channels_last.

    python benchmarks/bench_step.py                # prints JSON
    python benchmarks/bench_step.py --rounds 3 --steps 5   # quicker, noisier
"""

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import gankit
from gankit.data import BatchSampler
from gankit.nets import DCGANDiscriminator, DCGANGenerator
from gankit.train import Trainer

NETS = {"G.width": 64, "D.width": 64, "z_dim": 100, "batch_size": 64, "ema": 0.0, "tensorboard": False,
        "log_every": 10**9}
CASES = {
    "dcgan": ("dcgan", {**NETS, "D.norm": "batch"}),
    "wgan_gp": ("wgan-gp", {**NETS, "D.norm": "none", "G.arch": "dcgan", "D.arch": "dcgan", "n_critic": 5,
                            "gp_weight": 10.0}),
}


class PlainLoop:
    """The same nets and optimizers, trained by a hand-written loop."""

    def __init__(self, case: str, dataset, seed: int = 0):
        torch.manual_seed(seed)
        self.case = case
        self.G = DCGANGenerator(100, 32, 1, 64)
        self.D = DCGANDiscriminator(32, 1, 64, norm="batch" if case == "dcgan" else "none")
        lr, betas = (2e-4, (0.5, 0.999)) if case == "dcgan" else (1e-4, (0.5, 0.9))
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.data = dataset
        self.sampler = BatchSampler(len(dataset), 64, seed)

    def real(self):
        return self.data.batch(self.sampler.next()).x

    def step(self):
        return self.dcgan_step() if self.case == "dcgan" else self.wgan_gp_step()

    def dcgan_step(self):
        G, D = self.G, self.D
        real = self.real()
        ones, zeros = torch.ones(64), torch.zeros(64)
        D.zero_grad()
        F.binary_cross_entropy_with_logits(D(real), ones).backward()
        fake = G(torch.randn(64, 100))
        F.binary_cross_entropy_with_logits(D(fake.detach()), zeros).backward()
        self.opt_D.step()
        G.zero_grad()
        F.binary_cross_entropy_with_logits(D(fake), ones).backward()
        self.opt_G.step()

    def wgan_gp_step(self):
        G, D = self.G, self.D
        for _ in range(5):
            real = self.real()
            with torch.no_grad():
                fake = G(torch.randn(64, 100))
            eps = torch.rand(64, 1, 1, 1)
            xhat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = -(D(real).mean() - D(fake).mean()) + 10.0 * gp
            self.opt_D.zero_grad()
            loss.backward()
            self.opt_D.step()
        self.opt_G.zero_grad()
        (-D(G(torch.randn(64, 100))).mean()).backward()
        self.opt_G.step()


def gankit_runner(case: str, dataset, **extra):
    recipe, overrides = CASES[case]
    rec, _, _ = gankit.build(recipe, dataset, overrides={**overrides, **extra})
    trainer = Trainer(rec, dataset, None, progress=False)
    return trainer.train_step


def time_steps(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def flops_per_step(fn) -> float | None:
    """FLOPs of one step (forward and backward), or None where the counter cannot follow the step
    (it does not support autograd.grad on leaf inputs, i.e. the gradient penalty)."""
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            fn()
    except RuntimeError:
        return None
    return float(counter.get_total_flops())


def bench_case(case: str, dataset, rounds: int, steps: int, warmup: int) -> dict:
    runners = {"plain_fp32": PlainLoop(case, dataset).step,
               "gankit_fp32": gankit_runner(case, dataset),  # defaults: channels_last on
               "gankit_fp32_nchw": gankit_runner(case, dataset, channels_last=False),
               "gankit_bf16_channels_last": gankit_runner(case, dataset, precision="bf16", channels_last=True)}
    for fn in runners.values():
        time_steps(fn, warmup)
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            times[name] += time_steps(fn, steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    flops = {k: flops_per_step(fn) for k, fn in runners.items()}
    plain = med["plain_fp32"]
    return {
        "ms_per_G_step": {k: round(1000 * v, 2) for k, v in med.items()},
        "ratio_gankit_fp32_vs_plain_fp32": round(med["gankit_fp32"] / plain, 3),
        "ratio_gankit_fp32_nchw_vs_plain_fp32": round(med["gankit_fp32_nchw"] / plain, 3),
        "speedup_gankit_bf16_cl_vs_plain_fp32": round(plain / med["gankit_bf16_channels_last"], 3),
        "gflop_per_step": {k: v and round(v / 1e9, 2) for k, v in flops.items()},
        "achieved_gflops": {k: flops[k] and round(flops[k] / med[k] / 1e9, 1) for k in runners},
        "samples_per_runner": len(times["plain_fp32"]),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="timed steps per runner per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = p.parse_args(argv)
    dataset = gankit.load_dataset("mnist5k")
    result = {"benchmark": "bench_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "rounds": args.rounds, "steps": args.steps}
    for case in args.cases:
        result[case] = bench_case(case, dataset, args.rounds, args.steps, args.warmup)
        print(f"{case}: {result[case]['ms_per_G_step']}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
