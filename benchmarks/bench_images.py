"""Image recipes at a fixed CPU budget, scored with gankit's metrics (digit-classifier features).

Each variant (a recipe with optional overrides, `dcgan+pack=2`) trains on the dataset until this process
has used `--minutes` of CPU time (process time, so other jobs on the machine do not change the budget;
checked every 25 steps), then G_ema is scored:
  mnist5k        FID, KID, precision/recall, density/coverage, class coverage (`gankit eval` metrics);
                 conditional variants also: accuracy = fraction of samples the classifier assigns to the
                 requested class (1,000 per class), and class-wise FID (mean over the 10 classes)
  stacked-mnist  modes out of 1,000 and KL to uniform over 26,000 samples (VEEGAN/PacGAN protocol);
                 `--real-floor` first scores 26,000 real stacked images the same way: the best a perfect G
                 could show through this classifier and sample size

    python benchmarks/bench_images.py --data mnist5k --minutes 4 --variants gan dcgan wgan wgan-gp r1
    python benchmarks/bench_images.py --data stacked-mnist --minutes 6 --variants dcgan dcgan+pack=2
    python benchmarks/bench_images.py --data stacked-mnist --real-floor --variants   # the real data alone
    python benchmarks/bench_images.py --data mnist5k --minutes 4 --variants dcgan+condition=acgan
"""

import argparse
import json
import sys
import time

import torch
from bench_modes import split_variant  # same `recipe+key=value` variants

import gankit
from gankit.evaluate import Evaluator
from gankit.metrics.features import digit_features
from gankit.metrics.image import fid_from_features
from gankit.train import Trainer

IMAGE_NETS = {"G.arch": "dcgan", "D.arch": "dcgan", "precision": "bf16", "tensorboard": False, "diagnostics": False,
              "log_every": 10**9}


def train(variant: str, data, minutes: float, seed: int):
    recipe, sets = split_variant(variant)
    overrides = {**IMAGE_NETS, "seed": seed, "steps": 10**7, **sets}
    rec, ds, _ = gankit.build(recipe, data, overrides=overrides)
    trainer = Trainer(rec, ds, None, progress=False)
    cpu, wall = time.process_time(), time.perf_counter()
    while time.process_time() - cpu < 60 * minutes:
        trainer.fit(trainer.step + 25)
    return rec, trainer, {"steps": trainer.step, "wall_seconds": round(time.perf_counter() - wall, 1),
                          "cpu_seconds": round(time.process_time() - cpu, 1)}


@torch.no_grad()
def conditional_scores(rec, nets, data, per_class: int = 1000) -> dict:
    """Requested-class accuracy and class-wise FID of a class-conditional generator."""
    extractor = digit_features()
    y = torch.arange(10).repeat_interleave(per_class)
    fake = rec.sample(nets, len(y), generator=torch.Generator().manual_seed(3), y=y)
    f_fake, logits = extractor.extract(fake, logits=True)
    f_real, _ = extractor.extract(data.all().x)
    fids = [fid_from_features(f_real[data.y == c], f_fake[y == c]) for c in range(10)]
    return {"class_accuracy": round(float((logits.argmax(1) == y).float().mean()), 4),
            "classwise_fid": round(sum(fids) / len(fids), 3)}


def stacked_real_floor(evaluator: Evaluator, seed: int) -> dict:
    """The evaluator's scores of real stacked images, drawn with replacement like a generator's samples."""
    x = evaluator.dataset.all().x
    pick = torch.randint(len(x), (evaluator.n,), generator=torch.Generator().manual_seed(seed))
    return {"variant": "real data", "data": "stacked-mnist", "seed": seed, **evaluator.score(x[pick])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--variants", nargs="*", default=["gan", "dcgan", "wgan", "wgan-gp", "r1"])
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--real-floor", action="store_true", help="stacked-mnist: also score real stacked images")
    args = p.parse_args(argv)
    if args.real_floor and args.data != "stacked-mnist":
        p.error("--real-floor is for --data stacked-mnist")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = gankit.load_dataset(args.data)
    evaluator = Evaluator(data, "auto")
    rows = []

    def add(row: dict) -> None:
        row = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)

    for seed in args.seeds if args.real_floor else ():
        add(stacked_real_floor(evaluator, seed))
    for variant in args.variants:
        for seed in args.seeds:
            rec, trainer, cost = train(variant, data, args.minutes, seed)
            scores = evaluator(rec, trainer.nets)
            if rec.cfg.condition != "none":
                scores.update(conditional_scores(rec, trainer.nets, data))
            add({"variant": variant, "data": args.data, "seed": seed, **cost, **scores})
    print(json.dumps({"benchmark": "bench_images", "cpu_minutes": args.minutes, "threads": torch.get_num_threads(),
                      "data": args.data, "runs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
