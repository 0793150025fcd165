"""Mode coverage on the 2-D mixtures (PacGAN protocol), several seeds, mean ± standard error.

Each (recipe, dataset, seed) trains from the recipe's `toy` preset (plus --set overrides), then draws
2,500 samples from G_ema and scores them with gankit.metrics.mode_stats: modes covered, fraction of
high-quality samples (within 3 std of a mean), reverse KL of the mode histogram to uniform. CPU seconds
per run are reported too.

    python benchmarks/bench_modes.py --recipes wgan-gp --data grid25 --seeds 0 1 2 --steps 10000
    python benchmarks/bench_modes.py --data ring8 grid25 --seeds 0 1 2     # all recipes (saturating gan too)
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch

import gankit
from gankit import config as C
from gankit.metrics import mode_stats
from gankit.metrics.modes import PROTOCOL_SAMPLES
from gankit.train import Trainer


def mean_se(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))


def split_variant(spec: str) -> tuple[str, dict]:
    """`gan+saturating=true` -> ("gan", {"saturating": "true"}): a recipe with its own overrides."""
    name, *sets = spec.split("+")
    return name, C.parse_set_args(sets)


def run_one(spec: str, data: str, seed: int, steps: int | None, overrides: dict) -> dict:
    recipe, variant = split_variant(spec)
    ds = gankit.load_dataset(data)
    extra = {"seed": seed, "tensorboard": False, "diagnostics": False, **overrides, **variant}
    if steps:
        extra["steps"] = steps
    rec, ds, preset = gankit.build(recipe, ds, overrides=extra)
    trainer = Trainer(rec, ds, None, progress=False)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    trainer.fit()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    samples = rec.sample(trainer.nets, PROTOCOL_SAMPLES, generator=torch.Generator().manual_seed(10_000 + seed))
    stats = mode_stats(samples, ds.spec.meta["means"], ds.spec.meta["std"])
    return {"recipe": spec, "data": data, "seed": seed, "preset": preset, "steps": rec.cfg.steps,
            "modes": stats["modes"], "high_quality": stats["high_quality"], "reverse_kl": stats["reverse_kl"],
            "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1)}


def summarize(rows: list[dict]) -> dict:
    out = {}
    for key in ("modes", "high_quality", "reverse_kl", "cpu_seconds"):
        vals = [r[key] for r in rows if not (isinstance(r[key], float) and math.isnan(r[key]))]
        m, se = mean_se(vals) if vals else (float("nan"), float("nan"))
        out[key] = {"mean": round(m, 4), "se": round(se, 4)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--recipes", nargs="+", default=["gan+saturating=true", "gan", "wgan", "wgan-gp", "r1"],
                   help="recipe names, optionally with overrides: gan+saturating=true")
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="override the toy preset's steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    overrides = C.parse_set_args(args.overrides)
    result = {"benchmark": "bench_modes", "protocol": "PacGAN 2-D (2,500 samples, HQ = within 3 std)",
              "overrides": overrides, "runs": [], "summary": {}}
    for data in args.data:
        for recipe in args.recipes:
            rows = []
            for seed in args.seeds:
                row = run_one(recipe, data, seed, args.steps, overrides)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
            result["runs"] += rows
            result["summary"][f"{recipe}/{data}"] = summarize(rows)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
