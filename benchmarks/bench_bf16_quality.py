"""Does bf16 autocast still train? DCGAN on mnist5k for the same steps and seed in fp32 and in bf16,
scored with the shipped digit classifier.

For each precision: 2,000 G_ema samples are classified; we report the fraction classified with
confidence ≥ 0.9, the KL of the predicted-class histogram against uniform (mnist5k is balanced), the
number of classes present, and the Fréchet distance between classifier features of the samples and of
the 1,000 held-out real digits (a digit-domain FID; real-vs-real between the two halves of the
training split is printed as the floor). Wall time per precision is printed too.

    python benchmarks/bench_bf16_quality.py --steps 1500
"""

import argparse
import json
import sys
import time

import torch

import gankit
from gankit.metrics.classifier import load_digit_classifier, split_mnist5k
from gankit.metrics.image import fid_from_features
from gankit.metrics import histogram_kl
from gankit.train import Trainer


@torch.no_grad()
def score(images: torch.Tensor, real_features: torch.Tensor) -> dict:
    clf = load_digit_classifier()
    feats = torch.cat([clf.features(c) for c in images.split(500)])
    probs = torch.cat([clf.head(f).softmax(1) for f in feats.split(500)])
    conf, pred = probs.max(1)
    counts = torch.bincount(pred, minlength=10)
    return {"confident_fraction": round(float((conf >= 0.9).float().mean()), 4),
            "class_kl_to_uniform": round(histogram_kl(counts), 4),
            "classes_present": int((counts > 0).sum()),
            "feature_frechet_distance": round(fid_from_features(feats, real_features), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = gankit.load_dataset("mnist5k")
    train_idx, held_idx = split_mnist5k(data.y)
    clf = load_digit_classifier()
    with torch.no_grad():
        real_feats = clf.features(data.batch(held_idx).x)
        # random halves: the split's indices are grouped by class, so halving them in order would
        # compare digits 0-4 with 5-9
        shuffled = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(0))]
        half = len(shuffled) // 2
        floor = fid_from_features(clf.features(data.batch(shuffled[:half]).x), clf.features(data.batch(shuffled[half:]).x))
    result = {"benchmark": "bf16_quality", "steps": args.steps, "seed": args.seed,
              "real_vs_real_frechet": round(floor, 3)}
    for precision in ("fp32", "bf16"):
        rec, ds, _ = gankit.build("dcgan", data, overrides={"precision": precision, "steps": args.steps,
                                                             "seed": args.seed, "tensorboard": False})
        trainer = Trainer(rec, ds, None, progress=False)
        start = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - start
        samples = rec.sample(trainer.nets, args.samples, generator=torch.Generator().manual_seed(1))
        result[precision] = {**score(samples, real_feats), "train_seconds": round(seconds, 1)}
        print(f"{precision}: {result[precision]}", file=sys.stderr)
    result["bf16_speedup"] = round(result["fp32"]["train_seconds"] / result["bf16"]["train_seconds"], 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
