"""Pipelines: inference, composed from loaded parts, with one call (diffusers' idea beside the trainer).

    pipe = gankit.load("runs/RUN")                          # = Pipeline.from_run(...)
    out = pipe(16, seed=0)                                  # Samples: out.data [16, *shape], out.meta
    out = pipe(10, condition=7, ema=False)                  # a class (conditional runs); recipe options
    pipe.write(out, "digits.png")                           # the modality's file formats
    module, inputs, names = pipe.module()                   # a traceable nn.Module for ONNX/TorchScript

`RunPipeline` samples a trained run through its recipe's `sample`; `gankit sample`, `gankit export`,
`gankit.load` and the web server use it alone. A pipeline that trains nothing (an optimisation such as
Gatys' style transfer) subclasses `Pipeline` and registers itself in `PIPELINES`. Conditions are the
recipe's: a class index, a sentence, a style image, a source-domain row.
"""

import inspect
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from .data.base import DataSpec
from .errors import GankitError
from .log import warn
from .modalities import get_modality
from .recipes.base import Recipe, SampleRequest, recipe_from_header
from .train import checkpoint
from .train.build import build_nets, pick_device


@dataclass
class Samples:
    data: Tensor                                 # samples in data space, [n, *spec.shape]
    meta: dict = field(default_factory=dict)     # what produced them: seed, condition, options, step, ...


class Pipeline:
    """Base of every pipeline: `pipe(n, condition=None, generator=None, seed=None, **options) -> Samples`."""

    spec: DataSpec
    name: ClassVar[str] = ""

    def __call__(self, n: int, condition=None, generator: torch.Generator | None = None, seed: int | None = None,
                 **options) -> Samples:
        raise NotImplementedError

    def module(self, **options) -> tuple[nn.Module, tuple[Tensor, ...], list[str]] | None:
        """(traceable module, example inputs, input names) for export, or None if not traceable."""
        return None

    def write(self, samples: Samples, out: str | Path, rows: int | None = None, title: str = "") -> list[Path]:
        """Write samples in the format `out`'s extension names (the modality's formats)."""
        return get_modality(self.spec.kind).write(samples.data.cpu(), self.spec, Path(out), rows, title)

    @staticmethod
    def from_run(path: str | Path, device: str | None = None) -> "RunPipeline":
        return RunPipeline.load(path, device)


PIPELINES: dict[str, type[Pipeline]] = {}


def register_pipeline(cls: type[Pipeline]) -> type[Pipeline]:
    PIPELINES[cls.name] = cls
    return cls


def seeded(generator: torch.Generator | None, seed: int | None) -> tuple[torch.Generator, int | None]:
    """The generator to draw from and the seed to record (a fresh random seed when neither is given)."""
    if generator is not None:
        return generator, seed
    seed = random.randrange(2**31) if seed is None else seed
    return torch.Generator().manual_seed(seed), seed


class RunPipeline(Pipeline):
    """Samples of a trained run (its newest readable checkpoint) through its recipe."""

    def __init__(self, recipe: Recipe, nets: dict[str, nn.Module], step: int = 0, path: Path | None = None):
        self.recipe, self.nets, self.step, self.path = recipe, nets, step, path
        self.spec = recipe.spec

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "RunPipeline":
        """A run folder (its newest checkpoint that reads; older ones if the newest is damaged) or a
        .safetensors checkpoint file."""
        files = checkpoint.weights_files(path)
        for i, weights in enumerate(files):
            try:
                pipe = cls.from_weights(weights, device)
            except GankitError as e:
                if i + 1 == len(files):
                    raise
                warn(f"{e}; falling back to the previous checkpoint")
                continue
            return pipe
        raise AssertionError("unreachable")

    @classmethod
    def from_weights(cls, weights: Path, device: str | None = None) -> "RunPipeline":
        recipe = recipe_from_header(checkpoint.read_header(weights))
        nets = build_nets(recipe, pick_device(device), channels_last=False)
        for name in [n for n in nets if n.endswith("_ema") and not checkpoint.has_net(weights, n)]:
            del nets[name]  # a run trained without EMA
        checkpoint.load_weights(weights, nets)
        for net in nets.values():
            net.eval()
        return cls(recipe, nets, checkpoint.step_of(weights), weights)

    def __call__(self, n: int, condition=None, generator: torch.Generator | None = None, seed: int | None = None,
                 **options) -> Samples:
        self.check_options(n, condition, options)
        generator, seed = seeded(generator, seed)
        data = self.recipe.sample(self.nets, n, generator=generator, condition=condition, **options)
        return Samples(data, self.meta(n, seed, condition, options))

    def many(self, asks: list[tuple[int, int, object]], **options) -> list[Samples]:
        """Several (n, seed, condition) asks with the same options, batched by the recipe where it can
        (`Recipe.sample_many`): each equals `pipe(n, condition, seed=seed, **options)`."""
        for n, _, condition in asks:
            self.check_options(n, condition, options)
        requests = [SampleRequest(n, torch.Generator().manual_seed(seed), condition, options) for n, seed, condition in asks]
        datas = self.recipe.sample_many(self.nets, requests)
        return [Samples(d, self.meta(n, seed, c, options)) for d, (n, seed, c) in zip(datas, asks)]

    def check_options(self, n: int, condition, options: dict) -> None:
        try:
            inspect.signature(self.recipe.sample).bind(self.nets, n, condition=condition, **options)
        except TypeError as e:
            raise GankitError(f"{self.recipe.name} cannot sample with these options: {e}") from None

    def meta(self, n: int, seed: int | None, condition, options: dict) -> dict:
        return {"recipe": self.recipe.name, "step": self.step, "n": n, "seed": seed,
                "condition": condition.tolist() if torch.is_tensor(condition) else condition, "options": options}

    def sample(self, n: int, seed: int | None = None, ema: bool = True, y: Tensor | None = None) -> Tensor:
        """Just the samples (the API's shorthand): `pipe(n, condition=y, seed=seed, ema=ema).data`."""
        return self(n, condition=y, seed=seed, ema=ema).data

    def module(self, **options):
        return self.recipe.export_module(self.nets, **options)
