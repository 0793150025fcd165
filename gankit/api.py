"""The Python API, with the same reach as the CLI.

    import gankit
    run = gankit.train("wgan-gp", "grid25", steps=2000)          # a run folder under runs/
    model = gankit.load(run.path)                                  # or a .safetensors checkpoint
    x = model.sample(16, seed=0)                                   # tensor in data space
    gankit.resume(run.path, steps=4000)                            # continue to step 4000
"""

import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from . import __version__
from . import config as C
from .data import DataSpec, Dataset, kind_of, load_dataset
from .errors import GankitError
from .recipes.base import Recipe, config_from_dict, get_recipe, resolve_config
from .train import Trainer, checkpoint, dist
from .train.loop import pick_device
from .train.optim import ema_copy
from .train.run import load_info, new_run_dir, save_info
from .train.stats import StatsWriter, read_stats


def load_data(data: str | Dataset, cfg: C.TrainConfig) -> Dataset:
    if isinstance(data, Dataset):
        return data
    return load_dataset(data, resolution=cfg.resolution, channels=cfg.channels)


def build(recipe: str, data: str | Dataset, preset: str | None = None, overrides: dict | None = None
          ) -> tuple[Recipe, Dataset, str]:
    """Resolve the config (defaults → preset → overrides), load the data, construct the recipe."""
    recipe_cls = get_recipe(recipe)
    # The preset may depend on the data kind; image/point kinds are known before loading for named sets.
    kind = data.spec.kind if isinstance(data, Dataset) else kind_of(data)
    cfg, preset_name = resolve_config(recipe_cls, kind, preset, overrides)
    dataset = load_data(data, cfg)
    if dataset.spec.kind != kind:  # a user-given folder/tensor turned out differently: redo the preset choice
        cfg, preset_name = resolve_config(recipe_cls, dataset.spec.kind, preset, overrides)
    return recipe_cls(cfg, dataset.spec), dataset, preset_name


@dataclass
class Run:
    """A run folder: config.json, stats.jsonl, samples/, checkpoints/."""

    path: Path
    result: dict | None = None  # what the last fit returned: {step, stopped, seconds}

    @property
    def info(self) -> dict:
        return load_info(self.path)

    def stats(self) -> list[dict]:
        return read_stats(self.path)

    def latest_checkpoint(self) -> dict | None:
        return checkpoint.latest(self.path / "checkpoints")

    def model(self, device: str | None = None) -> "Model":
        return load(self.path, device=device)


def _run_info(recipe: Recipe, data: str | Dataset, preset: str) -> dict:
    return {"recipe": recipe.name, "data": data if isinstance(data, str) else data.spec.name, "preset": preset,
            "config": C.to_dict(recipe.cfg), "data_spec": asdict(recipe.spec),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "versions": {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version()}}


def train(recipe: str, data: str | Dataset, *, preset: str | None = None, overrides: dict | None = None,
          steps: int | None = None, seed: int | None = None, out: str | Path = "runs",
          device: str | None = None, progress: bool = True) -> Run:
    """Train `recipe` on `data` in a new run folder under `out`; returns the Run."""
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["steps"] = steps
    if seed is not None:
        overrides["seed"] = seed
    ranks, dev = dist.init(device)  # under torchrun: join the process group
    rec, dataset, preset_name = build(recipe, data, preset, overrides)
    info = _run_info(rec, data, preset_name)
    run_dir = None
    if ranks.is_main:
        run_dir = new_run_dir(Path(out), rec.name, rec.spec.name)
        save_info(run_dir, info)
    if ranks.enabled:
        run_dir = dist.broadcast(str(run_dir) if run_dir else None)
    trainer = Trainer(rec, dataset, run_dir, device=dev, progress=progress,
                      header={"data": info["data"], "preset": preset_name}, dist=ranks)
    return Run(Path(run_dir), trainer.fit())


def resume(run: str | Path | Run, steps: int | None = None, device: str | None = None,
           progress: bool = True) -> Run:
    """Continue a run from its latest checkpoint up to `steps` total (default: its configured steps)."""
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
    entry = run.latest_checkpoint()
    if entry is None:
        raise GankitError(f"{run.path}: no checkpoint to resume from")
    dataset = load_data(info["data"], cfg)
    rec = recipe_cls(cfg, dataset.spec)
    trainer = Trainer(rec, dataset, run.path, device=dev, progress=progress,
                      header={"data": info["data"], "preset": info.get("preset")}, dist=ranks)
    trainer.restore(entry)
    if trainer.step >= cfg.steps:
        raise GankitError(f"{run.path} already reached step {trainer.step}; pass --steps N with N > {trainer.step}")
    return Run(run.path, trainer.fit())


class Model:
    """Networks loaded from a checkpoint, ready to sample (no dataset needed)."""

    def __init__(self, recipe: Recipe, nets: dict[str, nn.Module], step: int, path: Path):
        self.recipe, self.nets, self.step, self.path = recipe, nets, step, path

    @property
    def spec(self) -> DataSpec:
        return self.recipe.spec

    def sample(self, n: int, seed: int | None = None, ema: bool = True, y: Tensor | None = None) -> Tensor:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.recipe.sample(self.nets, n, generator=generator, y=y, ema=ema)


def resolve_checkpoint(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        entry = checkpoint.latest(path / "checkpoints")
        if entry is None:
            raise GankitError(f"{path}: no checkpoint yet (checkpoints/latest.json is missing)")
        return entry["weights"]
    if not path.exists():
        raise GankitError(f"{path}: no such run folder or checkpoint file")
    return path


def load(path: str | Path, device: str | None = None) -> Model:
    """Load a run folder (its latest checkpoint) or a .safetensors checkpoint for sampling."""
    weights = resolve_checkpoint(path)
    header = checkpoint.read_header(weights)
    recipe_cls = get_recipe(header["recipe"])
    recipe = recipe_cls(config_from_dict(recipe_cls, header["config"]), DataSpec.from_json(header["data_spec"]))
    nets = recipe.build_nets()
    for name in recipe.ema_nets:
        if _has_net(weights, f"{name}_ema"):
            nets[f"{name}_ema"] = ema_copy(nets[name])
    checkpoint.load_weights(weights, nets)
    dev = pick_device(device)
    for net in nets.values():
        net.to(dev).eval()
    return Model(recipe, nets, _step_of(weights), weights)


def _has_net(weights: Path, name: str) -> bool:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return any(k.startswith(name + ".") for k in f.keys())


def _step_of(weights: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return int((f.metadata() or {}).get("step", 0))


def evaluate(run: str | Path, metrics="auto", n: int = 0, features: str | Path | None = None, ema: bool = True,
             seed: int = 0, device: str | None = None) -> dict:
    """Metrics of a run's latest checkpoint against its data; appended to RUN/metrics.jsonl."""
    from .evaluate import Evaluator

    run = Run(Path(run))
    info = run.info
    model = run.model(device=device)
    dataset = load_data(info["data"], model.recipe.cfg)
    evaluator = Evaluator(dataset, metrics, n, features, seed)
    scores = evaluator(model.recipe, model.nets, ema=ema)
    record = {"step": model.step, "ema": ema, "n": evaluator.n, "seed": seed,
              "features": evaluator.extractor.name if evaluator.extractor else None, **scores}
    StatsWriter(run.path, tensorboard=False).write_metrics(record)
    return {"step": model.step, "n": evaluator.n, "metrics": scores}
