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

Also: the machine's matmul peak (2048² fp32/bf16) and each runner's share of it; the WGAN-GP overhead
over WGAN with the same nets, eager and lazy (`gp_overhead`); G's sampling throughput at batch 256.
"""

import argparse
import json
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
from gankit.train.precision import cpu_info

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
    med = interleaved_medians(runners, rounds, steps, warmup)
    flops = {k: flops_per_step(fn) for k, fn in runners.items()}
    plain = med["plain_fp32"]
    return {
        "ms_per_G_step": {k: round(1000 * v, 2) for k, v in med.items()},
        "ratio_gankit_fp32_vs_plain_fp32": round(med["gankit_fp32"] / plain, 3),
        "ratio_gankit_fp32_nchw_vs_plain_fp32": round(med["gankit_fp32_nchw"] / plain, 3),
        "speedup_gankit_bf16_cl_vs_plain_fp32": round(plain / med["gankit_bf16_channels_last"], 3),
        "gflop_per_step": {k: v and round(v / 1e9, 2) for k, v in flops.items()},
        "achieved_gflops": {k: flops[k] and round(flops[k] / med[k] / 1e9, 1) for k in runners},
        "samples_per_runner": rounds * steps,
    }


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of an n×n matrix product: the machine's practical peak for dense math."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(time_steps(lambda: a @ b, repeats))
    return 2 * n ** 3 / best / 1e9


def bench_gp_overhead(dataset, rounds: int, steps: int, warmup: int) -> dict:
    """(WGAN-GP step) / (WGAN step) with the same nets (DCGAN, no norm in the critic, 5 critic steps),
    the penalty on every critic step (eager) and on every 16th (lazy, weighted 16 λ)."""
    nets = {**NETS, "D.norm": "none", "G.arch": "dcgan", "D.arch": "dcgan", "n_critic": 5,
            "G_opt.name": "adam", "D_opt.name": "adam", "G_opt.lr": 1e-4, "D_opt.lr": 1e-4}
    runners = {}
    for name, recipe, extra in (("wgan", "wgan", {"critic_boost": False}), ("wgan_gp_eager", "wgan-gp", {}),
                                ("wgan_gp_lazy16", "wgan-gp", {"gp_interval": 16})):
        rec, _, _ = gankit.build(recipe, dataset, overrides={**nets, **extra})
        runners[name] = Trainer(rec, dataset, None, progress=False).train_step
    med = interleaved_medians(runners, rounds, steps, warmup)
    return {"ms_per_G_step": {k: round(1000 * v, 1) for k, v in med.items()},
            "ratio_eager": round(med["wgan_gp_eager"] / med["wgan"], 3),
            "ratio_lazy16": round(med["wgan_gp_lazy16"] / med["wgan"], 3)}


def bench_sampling(dataset, batch: int = 256, repeats: int = 10) -> dict:
    """Images per second from G (eval mode, no graph), fp32 and bf16 autocast."""
    out = {}
    for precision in ("fp32", "bf16"):
        rec, _, _ = gankit.build("dcgan", dataset, overrides={**NETS, "precision": precision})
        nets = Trainer(rec, dataset, None, progress=False).nets
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            fn = lambda: rec.sample(nets, batch, ema=False)  # noqa: E731
            time_steps(fn, 2)
            best = statistics.median(time_steps(fn, repeats))
        out[f"images_per_second_{precision}"] = round(batch / best, 1)
    return out


def interleaved_medians(runners: dict, rounds: int, steps: int, warmup: int) -> dict[str, float]:
    for fn in runners.values():
        time_steps(fn, warmup)
    times = {k: [] for k in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            times[name] += time_steps(fn, steps)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="timed steps per runner per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cases", nargs="+", default=[*CASES, "gp_overhead", "sampling"],
                   choices=[*CASES, "gp_overhead", "sampling"])
    args = p.parse_args(argv)
    dataset = gankit.load_dataset("mnist5k")
    result = {"benchmark": "bench_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": cpu_info()["model"], "cpu_flags": cpu_info()["flags"], "rounds": args.rounds, "steps": args.steps,
              "peak_gflops": {"fp32": round(matmul_peak(torch.float32), 1), "bf16": round(matmul_peak(torch.bfloat16), 1)}}
    for case in args.cases:
        if case == "gp_overhead":
            result[case] = bench_gp_overhead(dataset, args.rounds, max(2, args.steps // 2), args.warmup)
        elif case == "sampling":
            result[case] = bench_sampling(dataset)
        else:
            result[case] = bench_case(case, dataset, args.rounds, args.steps, args.warmup)
            share = {k: v and round(v / result["peak_gflops"]["bf16" if "bf16" in k else "fp32"], 3)
                     for k, v in result[case]["achieved_gflops"].items()}
            result[case]["share_of_peak"] = share
        print(f"{case}: {json.dumps(result[case])[:300]}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
