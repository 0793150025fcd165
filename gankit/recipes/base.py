"""Recipes, phases and the recipe registry.

A recipe is one training method: a typed config (a `TrainConfig` subclass),
named presets (always including `smoke`), the networks it builds, the phases of
one training step and a `sample` function. The trainer knows no method: it runs
phases. A phase names the networks it trains, a loss function of a
`StepContext`, how many times it repeats per step (n_critic), how often it runs
(lazy regularization) and post-step hooks (weight clipping). One backward per
phase run.
"""

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from .. import config as C
from ..data.base import Batch, DataSpec
from ..errors import GankitError


class StepContext(Protocol):
    """What a phase's loss function can use; the trainer provides it."""

    nets: Mapping[str, nn.Module]
    step: int            # index of the current training step (0-based)
    device: torch.device
    batch_size: int      # samples per step on this process (the global batch over the ranks)
    repeat_index: int    # which of a phase's repeats at this step is running (0-based)
    last_repeat: bool    # True on the last of a phase's repeats at this step
    stash: dict          # values one phase hands to a later phase of the same step (cleared after it)

    def real(self) -> Batch: ...                                  # the next real batch, on device
    def z(self, n: int) -> Tensor: ...                            # latent noise for n samples
    def report(self, name: str, value: Tensor | float) -> None: ...  # a scalar for the logs


Hook = Callable[[Mapping[str, nn.Module]], None]


@dataclass
class Phase:
    name: str                                   # e.g. "D", "G", "D_reg"
    nets: tuple[str, ...]                       # networks whose optimizers step in this phase
    loss: Callable[[StepContext], Tensor]       # scalar to minimize (penalties included)
    repeat: int | Callable[[int], int] = 1      # runs per step; a function of the step for schedules
    interval: int = 1                           # run only on steps divisible by this (lazy regularization)
    post_step: tuple[Hook, ...] = ()            # after each optimizer step, e.g. weight clipping
    keeps_graph: tuple[str, ...] = ()           # nets not stepped here whose graph a later phase reuses

    def runs_at(self, step: int) -> int:
        if step % self.interval:
            return 0
        return self.repeat(step) if callable(self.repeat) else self.repeat


class Recipe:
    """Base class; subclasses set the class attributes and implement the methods below."""

    name: ClassVar[str]
    Config: ClassVar[type[C.TrainConfig]]
    description: ClassVar[str] = ""
    presets: ClassVar[dict[str, dict]] = {}
    auto_preset: ClassVar[dict[str, str]] = {}  # data kind -> preset used when the user names none
    ema_nets: ClassVar[tuple[str, ...]] = ("G",)  # nets that get an EMA copy named <net>_ema

    def __init__(self, cfg: C.TrainConfig, spec: DataSpec):
        self.cfg, self.spec = cfg, spec
        C.validate(cfg)
        self.check()

    # -- to implement ---------------------------------------------------------------------
    def check(self) -> None:
        """Cross-field validation; raise GankitError with a one-line reason."""

    def build_nets(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, C.OptimConfig]:
        """The optimizer settings of every trainable net, by net name."""
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def sample(self, nets: Mapping[str, nn.Module], n: int, generator: torch.Generator | None = None,
               y: Tensor | None = None, ema: bool = True) -> Tensor:
        """n samples in data space; `generator` makes them reproducible, `ema` uses G_ema."""
        raise NotImplementedError

    def needs_double_backward(self) -> bool:
        """True if a loss differentiates a gradient (penalties, unrolling): torch.compile cannot."""
        return False

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """Latent noise z ~ N(0, I) of shape [n, z_dim] (drawn on the CPU, so seeds agree across devices)."""
        return torch.randn(n, self.cfg.z_dim, generator=generator).to(device)


# ------------------------------------------------------------------------------ registry

RECIPES: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    if "smoke" not in cls.presets:
        raise TypeError(f"recipe {cls.name} must define a 'smoke' preset")
    RECIPES[cls.name] = cls
    return cls


def load_all() -> dict[str, type[Recipe]]:
    """Import every module of this package, so each recipe registers itself."""
    from . import __path__ as package_path

    for info in pkgutil.iter_modules(package_path):
        if info.name != "base":
            importlib.import_module(f"{__package__}.{info.name}")
    return RECIPES


def get_recipe(name: str) -> type[Recipe]:
    load_all()
    if name not in RECIPES:
        raise GankitError(f"unknown recipe {name!r}; choose one of {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def resolve_config(recipe_cls: type[Recipe], kind: str, preset: str | None = None,
                   overrides: Mapping | None = None) -> tuple[C.TrainConfig, str]:
    """Defaults, then the preset (named, or the recipe's choice for this data kind), then overrides."""
    if preset is None:
        preset = recipe_cls.auto_preset.get(kind, "default")
    if preset != "default" and preset not in recipe_cls.presets:
        choices = ", ".join(["default", *recipe_cls.presets])
        raise GankitError(f"recipe {recipe_cls.name} has no preset {preset!r}; choose one of {choices}")
    cfg = recipe_cls.Config()
    C.apply(cfg, recipe_cls.presets.get(preset, {}))
    C.apply(cfg, dict(overrides or {}))
    C.validate(cfg)
    return cfg, preset


def config_from_dict(recipe_cls: type[Recipe], data: dict) -> C.TrainConfig:
    cfg = C.from_dict(recipe_cls.Config, data)
    C.validate(cfg)
    return cfg
