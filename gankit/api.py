"""The Python API, with the same reach as the CLI.

    import gankit
    run = gankit.train("wgan-gp", "grid25", steps=2000)          # a run folder under runs/
    pipe = gankit.load(run.path)                                   # or a .safetensors checkpoint
    x = pipe.sample(16, seed=0)                                    # tensor in data space
    out = pipe(16, seed=0)                                         # Samples: .data and .meta
    gankit.resume(run.path, steps=4000)                            # continue to step 4000

Recipes with several data sources take a mapping: `gankit.train("adain", {"content": ..., "style": ...})`.
"""

import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import __version__
from . import config as C
from .data import Dataset, kind_of, load_dataset
from .errors import GankitError
from .log import warn
from .pipelines import Pipeline, RunPipeline
from .recipes.base import Recipe, config_from_dict, get_recipe, resolve_config, specs_from_header
from .train import Trainer, checkpoint, dist
from .train.run import load_info, new_run_dir, save_info
from .train.stats import StatsWriter, read_stats

DataArg = str | Dataset | Mapping[str, str | Dataset]
Model = RunPipeline  # the name earlier versions used for a loaded run


def load_data(data: str | Dataset, cfg: C.TrainConfig) -> Dataset | dict[str, Dataset]:
    """A dataset by name; a multi-domain table set (`tables:...`, `hospitals`) is a dict {domain: Dataset}."""
    if isinstance(data, Dataset) or not isinstance(data, str):
        return data
    return load_dataset(data, resolution=cfg.resolution, channels=cfg.channels, stream=cfg.stream,
                        workers=cfg.data_workers, label=getattr(cfg, "label", ""), domain=getattr(cfg, "domain", ""),
                        config=cfg, text_encoder=getattr(cfg, "text_encoder", ""))


def load_sources(args: Mapping[str, str | Dataset], cfg: C.TrainConfig) -> dict[str, Dataset]:
    """{source: dataset}; data that names its own sources (one table per domain) expands into them."""
    loaded: dict[str, Dataset] = {}
    for name, d in args.items():
        data = load_data(d, cfg)
        loaded.update(data if isinstance(data, Mapping) else {name: data})
    return loaded


def source_args(recipe_cls: type[Recipe], data: DataArg) -> dict[str, str | Dataset]:
    """{source name: dataset or its name}; a single dataset feeds the recipe's first source."""
    if not isinstance(data, Mapping):
        return {recipe_cls.sources[0]: data}
    unknown = [k for k in data if k not in recipe_cls.sources]
    if unknown:
        raise GankitError(f"{recipe_cls.name} has no data source {unknown[0]!r}; its sources: "
                          f"{', '.join(recipe_cls.sources)}")
    return dict(data)


def data_name(data: DataArg) -> str:
    args = data if isinstance(data, Mapping) else {"": data}
    return ",".join((f"{k}=" if k else "") + (v if isinstance(v, str) else v.spec.name) for k, v in args.items())


def build(recipe: str, data: DataArg, preset: str | None = None, overrides: dict | None = None,
          ) -> tuple[Recipe, Dataset | dict[str, Dataset], str]:
    """Resolve the config (defaults → preset → overrides), load the data, construct the recipe.
    Returns the recipe, the data (one Dataset, or a dict per source for several) and the preset's name."""
    recipe_cls = get_recipe(recipe)
    args = source_args(recipe_cls, data)
    primary = args[recipe_cls.sources[0]] if recipe_cls.sources[0] in args else next(iter(args.values()))
    # The preset may depend on the data kind, known before loading (the loader needs the config).
    kind = primary.spec.kind if isinstance(primary, Dataset) else kind_of(primary)
    cfg, preset_name = resolve_config(recipe_cls, kind, preset, overrides)
    datasets = load_sources(args, cfg)
    rec = recipe_cls(cfg, {name: d.spec for name, d in datasets.items()})
    return rec, (datasets if len(datasets) > 1 else next(iter(datasets.values()))), preset_name


@dataclass
class Run:
    """A run folder: config.json, stats.jsonl, samples/, checkpoints/."""

    path: Path
    result: dict | None = None  # what the last fit returned: {step, stopped, seconds, precision}

    @property
    def info(self) -> dict:
        return load_info(self.path)

    def stats(self) -> list[dict]:
        return read_stats(self.path)

    def latest_checkpoint(self) -> dict | None:
        entries = checkpoint.candidates(self.path / "checkpoints")
        return entries[0] if entries else None

    def model(self, device: str | None = None) -> RunPipeline:
        return load(self.path, device=device)


def _run_info(recipe: Recipe, data: DataArg, preset: str) -> dict:
    return {"recipe": recipe.name, "data": data_name(data) if not isinstance(data, Mapping) else
            {k: data_name(v) for k, v in data.items()}, "preset": preset,
            "config": C.to_dict(recipe.cfg), "data_spec": asdict(recipe.spec),
            "data_specs": {k: asdict(s) for k, s in recipe.specs.items()},
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "versions": {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version()}}


def with_steps_and_seed(overrides: dict | None, steps: int | None, seed: int | None) -> dict:
    """The overrides plus `steps` and `seed` where given (the CLI's --steps/--seed, the API's keywords)."""
    out = dict(overrides or {})
    out.update({k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None})
    return out


def train(recipe: str, data: DataArg, *, preset: str | None = None, overrides: dict | None = None,
          steps: int | None = None, seed: int | None = None, out: str | Path = "runs",
          device: str | None = None, progress: bool = True, init: str | Path | None = None) -> Run:
    """Train `recipe` on `data` in a new run folder under `out`; returns the Run. `init` (a run folder or a
    checkpoint of the same recipe and nets) starts the nets from its weights instead of at random."""
    ranks, dev = dist.init(device)  # under torchrun: join the process group
    rec, datasets, preset_name = build(recipe, data, preset, with_steps_and_seed(overrides, steps, seed))
    info = _run_info(rec, data, preset_name)
    init_weights = checkpoint.weights_files(init)[0] if init is not None else None
    if init_weights is not None:
        info["init"] = {"weights": str(init_weights.resolve()), "step": checkpoint.step_of(init_weights)}
    run_dir = None
    if ranks.is_main:
        run_dir = new_run_dir(Path(out), rec.name, rec.spec.name)
        save_info(run_dir, info)
    if ranks.enabled:
        run_dir = dist.broadcast(str(run_dir) if run_dir else None)
    trainer = Trainer(rec, datasets, run_dir, device=dev, progress=progress,
                      header={"data": info["data"], "preset": preset_name}, dist=ranks)
    if init_weights is not None:
        trainer.warm_start(init_weights)
    return Run(Path(run_dir), trainer.fit())


def resume(run: str | Path | Run, steps: int | None = None, device: str | None = None,
           progress: bool = True) -> Run:
    """Continue a run from its newest readable checkpoint up to `steps` total (default: its configured steps)."""
    run = run if isinstance(run, Run) else Run(Path(run))
    ranks, dev = dist.init(device)
    info = run.info
    recipe_cls = get_recipe(info["recipe"])
    cfg = config_from_dict(recipe_cls, info["config"])
    if steps is not None:
        cfg.steps = steps
        C.validate(cfg)
        info["config"] = C.to_dict(cfg)
        if ranks.is_main:
            save_info(run.path, info)
    entries = checkpoint.candidates(run.path / "checkpoints")
    if not entries:
        raise GankitError(f"{run.path}: no checkpoint to resume from")
    data = info["data"]
    datasets = load_sources(data if isinstance(data, Mapping) else {recipe_cls.sources[0]: data}, cfg)
    rec = recipe_cls(cfg, specs_from_header(info) if len(datasets) > 1 else next(iter(datasets.values())).spec)
    datasets = datasets if len(datasets) > 1 else next(iter(datasets.values()))
    trainer = Trainer(rec, datasets, run.path, device=dev, progress=progress,
                      header={"data": info["data"], "preset": info.get("preset")}, dist=ranks)
    restore_newest_readable(trainer, entries)
    if trainer.step >= cfg.steps:
        raise GankitError(f"{run.path} already reached step {trainer.step}; pass --steps N with N > {trainer.step}")
    return Run(run.path, trainer.fit())


def restore_newest_readable(trainer: Trainer, entries: list[dict]) -> None:
    """Restore the newest checkpoint that reads; a damaged one is named and skipped, never fatal while an
    older one is left."""
    for i, entry in enumerate(entries):
        try:
            trainer.restore(entry)
            return
        except GankitError as e:
            if i + 1 == len(entries):
                raise
            warn(f"{e}; resuming from the previous checkpoint (step {entries[i + 1]['step']}) instead")


def load(path: str | Path, device: str | None = None) -> RunPipeline:
    """A run folder (its newest readable checkpoint) or a .safetensors checkpoint, ready to sample."""
    return Pipeline.from_run(path, device)


def evaluate(run: str | Path, metrics="auto", n: int = 0, features: str | Path | None = None, ema: bool = True,
             seed: int = 0, device: str | None = None) -> dict:
    """Metrics of a run's latest checkpoint against its data; appended to RUN/metrics.jsonl."""
    from .evaluate import Evaluator

    run = Run(Path(run))
    info = run.info
    pipe = run.model(device=device)
    data = info["data"]
    own = pipe.recipe.evaluate(pipe.nets, load_sources(data if isinstance(data, Mapping) else
                                                       {pipe.recipe.sources[0]: data}, pipe.recipe.cfg), seed) \
        if type(pipe.recipe).evaluate is not Recipe.evaluate else None
    if own is not None:
        StatsWriter(run.path, tensorboard=False).write_metrics({"step": pipe.step, "seed": seed, **own})
        return {"step": pipe.step, "n": 0, "metrics": own}
    primary = data[pipe.recipe.sources[0]] if isinstance(data, Mapping) else data
    evaluator = Evaluator(load_data(primary, pipe.recipe.cfg), metrics, n, features, seed)
    scores = evaluator(pipe.recipe, pipe.nets, ema=ema)
    record = {"step": pipe.step, "ema": ema, "n": evaluator.n, "seed": seed,
              "features": evaluator.extractor.name if evaluator.extractor else None, **scores}
    StatsWriter(run.path, tensorboard=False).write_metrics(record)
    return {"step": pipe.step, "n": evaluator.n, "metrics": scores}
