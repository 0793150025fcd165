"""`gankit demo` (and `make demo`): the main job on bundled data.

Trains the recipe that declares a demo (`Recipe.demo`: its data set, preset and what it shows; the demo
preset is time-capped and chooses its precision by timing), then writes a 10x10 grid from G_ema, scores
2,000 samples (`gankit eval`: FID, precision/recall, class coverage in the shipped classifier's
features), writes the run report (report.html, report.md) and prints where they are.
"""

from pathlib import Path

import torch

from . import api
from .evaluate import Evaluator
from .log import info
from .recipes import load_all
from .report import write_report

EVAL_SAMPLES = 2000


def demo_recipe(which: str = "images"):
    """The registered recipe that declares this demo (data, preset, what it shows)."""
    return next(cls for cls in load_all().values() if cls.demo and cls.demo.get("name", "images") == which)


def run_demo(which: str = "images", out: str | Path = "runs", minutes: float | None = None, progress: bool = True,
             overrides: dict | None = None) -> int:
    if which == "style":
        from .style.demo import run_style_demo

        return run_style_demo(out, minutes, progress, overrides)
    if which == "tables":
        from .translate import run_tables_demo

        return run_tables_demo(out, minutes, progress, overrides)
    cls = demo_recipe()
    overrides = {**(overrides or {}), **({} if minutes is None else {"max_minutes": minutes})}
    budget = minutes if minutes is not None else cls.presets[cls.demo["preset"]]["max_minutes"]
    info(f"gankit demo: training {cls.name} on {cls.demo['data']} ({cls.demo['about']}) for at most {budget:g} "
         f"minutes on {torch.get_num_threads()} CPU threads")
    run = api.train(cls.name, cls.demo["data"], preset=cls.demo["preset"], overrides=overrides, out=out,
                    progress=progress)
    pipe = run.model()
    grid = pipe(100, seed=0)
    final = pipe.write(grid, run.path / "samples" / "final.png", rows=10)[0]
    info("scoring the samples with the shipped classifier ...")
    scores = api.evaluate(run.path, n=EVAL_SAMPLES)["metrics"]
    in_grid = Evaluator(api.load_data(cls.demo["data"], pipe.recipe.cfg), ["classes"]).score(grid.data)
    md, page = write_report(run.path, final)
    print(f"run folder:  {run.path}")
    print(f"final grid:  {final} ({in_grid['classes_present']} of {pipe.spec.num_classes} classes among its 100 "
          f"samples, {in_grid['confident']:.0%} classified with confidence >= 0.9)")
    print(f"metrics:     FID {scores['fid']:.1f} (classifier features), precision {scores['precision']:.2f}, "
          f"recall {scores['recall']:.2f}, class KL {scores['class_kl']:.3f} over {EVAL_SAMPLES} samples")
    print(f"report:      {page} (and {md.name})")
    return 0
