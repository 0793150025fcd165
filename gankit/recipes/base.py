"""Recipes, phases and the recipe registry.

A recipe is one training method: a typed config (a `TrainConfig` subclass),
named presets (always including `smoke`), the networks it builds, the phases of
one training step and a `sample` function. The trainer knows no method: it runs
phases. A phase names the networks it trains, a loss function of a
`StepContext`, how many times it repeats per step (n_critic), how often it runs
(lazy regularization), in how many micro-batches it accumulates gradients, and
post-step hooks (weight clipping). One backward per phase run (per micro-batch).

A recipe also declares what the generic code around it needs to know: the data
kinds it trains on (`data_kinds`), its named data sources (`sources`: one
`train` source by default; a style-transfer recipe has `content` and `style`),
the losses it reports (`losses`, read by the contract suite), which nets get an
EMA copy (`ema_nets()`, none by default) and a schedule hook (`begin_step`)
that may change the step itself: grow nets, reset optimizers, change the batch.
The adversarial layer (adversarial.py) adds what is GAN-specific.
"""

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from .. import config as C
from ..data.base import Batch, DataSpec
from ..errors import GankitError


class StepContext(Protocol):
    """What a phase's loss function (and `Recipe.begin_step`) can use; the trainer provides it."""

    nets: Mapping[str, nn.Module]
    step: int            # index of the current training step (0-based)
    device: torch.device
    batch_size: int      # samples this process draws per real() call (global batch / ranks / micro-batches)
    repeat_index: int    # which of a phase's repeats at this step is running (0-based)
    last_repeat: bool    # True on the last of a phase's repeats at this step
    stash: dict          # values one phase hands to a later phase of the same step (cleared after it)

    def real(self, source: str | None = None, n: int | None = None) -> Batch: ...  # next batch of a source
                                                                  # (default: the first), on device
    def z(self, n: int) -> Tensor: ...                            # latent noise for n samples
    def report(self, name: str, value: Tensor | float) -> None: ...  # a scalar for the logs
    def set_net(self, name: str, net: nn.Module) -> None: ...     # replace a net (e.g. grown by a level)
    def reset_optimizer(self, name: str) -> None: ...             # a fresh optimizer over the net's parameters
    def set_batch_size(self, batch_size: int) -> None: ...        # a new global batch from this step on


Hook = Callable[[Mapping[str, nn.Module]], None]

# What every `smoke` preset shares: two steps that log, preview and checkpoint each step (the contract suite)
SMOKE_RUN = {"steps": 2, "log_every": 1, "sample_every": 1, "ckpt_every": 1, "tensorboard": False}


@dataclass
class SampleRequest:
    """One ask for samples, as `Recipe.sample_many` takes several: n samples drawn from `generator`."""
    n: int
    generator: torch.Generator
    condition: object = None
    options: dict = field(default_factory=dict)


@dataclass
class Phase:
    name: str                                   # e.g. "D", "G", "D_reg"
    nets: tuple[str, ...]                       # networks whose optimizers step in this phase
    loss: Callable[[StepContext], Tensor]       # scalar to minimize (penalties included)
    repeat: int | Callable[[int], int] = 1      # runs per step; a function of the step for schedules
    interval: int = 1                           # run only on steps divisible by this (lazy regularization)
    post_step: tuple[Hook, ...] = ()            # after each optimizer step, e.g. weight clipping
    keeps_graph: tuple[str, ...] = ()           # nets not stepped here whose graph a later phase reuses
    accumulate: int = 1                         # micro-batches whose gradients add up to one optimizer step

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
    auto_preset: ClassVar[dict[str, str]] = {}        # data kind -> preset used when the user names none
    data_kinds: ClassVar[tuple[str, ...]] = ("image", "points", "table")  # kinds of data it trains on
    serve_form: ClassVar[str] = "sample"   # `gankit serve`'s page: "sample" (seeds, classes) or "stylize" (uploads)
    condition_kind: ClassVar[str] = "class"  # what sample(condition=) takes: "class" (when `conditional`) or
                                             # "text" (sentences: `gankit sample --text`, a serve prompt box)
    sources: ClassVar[tuple[str, ...]] = ("train",)    # named data sources; the first is the primary one
    sources_from_data: ClassVar[bool] = False          # True: the data names the sources (one per table domain)
    losses: ClassVar[tuple[str, ...]] = ()             # stats names of the losses it reports
    demo: ClassVar[dict | None] = None                 # `gankit demo`: {data, preset, about} (one recipe)
    # settings added with a default that changed what a run trains: the value a config saved before the
    # setting existed meant, so an older run still loads as it was trained
    former_defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, cfg: C.TrainConfig, spec: DataSpec | Mapping[str, DataSpec]):
        specs = dict(spec) if isinstance(spec, Mapping) else {self.sources[0]: spec}
        missing = [s for s in self.sources if s not in specs]
        if missing:
            raise GankitError(f"{self.name} needs the data sources {', '.join(self.sources)}; "
                              f"missing: {', '.join(missing)} (pass --data NAME=DATA for each)")
        self.cfg, self.specs, self.spec = cfg, specs, specs[self.sources[0]]
        C.validate(cfg)
        for source, s in specs.items():
            if s.kind not in self.data_kinds:
                raise GankitError(f"{self.name} trains on {' or '.join(self.data_kinds)} data; "
                                  f"{s.name} ({source}) is {s.kind} data")
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
               condition=None, **options) -> Tensor:
        """n samples in data space; `generator` makes them reproducible; `condition` and the options are
        the recipe's own (a class, a sentence, a style image; `ema`, `truncation`, ...)."""
        raise NotImplementedError

    # -- optional ---------------------------------------------------------------------------
    def sample_many(self, nets: Mapping[str, nn.Module], requests: "list[SampleRequest]") -> list[Tensor]:
        """The samples of several requests with the same options, each what `sample` gives it alone (the web
        server batches concurrent requests through this). Default: one `sample` call each."""
        return [self.sample(nets, r.n, generator=r.generator, condition=r.condition, **r.options) for r in requests]

    @property
    def conditional(self) -> bool:
        """True if samples can be asked for by class (`sample(..., condition=class)`)."""
        return False

    def ema_nets(self) -> dict[str, float]:
        """Nets that get an exponential-moving-average copy named <net>_ema, with their decay."""
        return {}

    def preview_conditions(self) -> list:
        """Conditions the training previews show one row each of, labelled, beside the grid in an HTML
        gallery (a text recipe: a few of its data's captions); none by default (one unconditional grid)."""
        return []

    def begin_step(self, ctx: StepContext) -> None:
        """Called before every step, and on resume before the checkpoint is loaded: bring the nets,
        optimizers and batch to what step `ctx.step` needs. Must be idempotent for a given step (a
        recipe that grows nets grows them only when their size differs from the step's level)."""

    def batch_multiple(self) -> int:
        """The global batch must be a multiple of this (times the ranks and micro-batches)."""
        return 1

    def needs_double_backward(self) -> bool:
        """True if a loss differentiates a gradient (penalties, unrolling): torch.compile cannot."""
        return False

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        raise GankitError(f"{self.name} draws no latent noise")

    def health_checks(self, data):
        """A checker whose `check(step, scalars, nets)` returns warnings at each logging step, or None."""
        return None

    def evaluate(self, nets: Mapping[str, nn.Module], data: Mapping, seed: int = 0) -> dict | None:
        """The recipe's own `gankit eval` scores given every source's data, or None for the modality's
        metrics (FID, mode coverage, ...)."""
        return None

    def style_space(self, nets: Mapping[str, nn.Module], ema: bool = True):
        """The generator's intermediate latent space W (mapping, synthesis, w̄) for style mixing, truncation
        and projection (`gankit mix`, ...), or None where the recipe has none."""
        return None

    def export_module(self, nets: Mapping[str, nn.Module], **options):
        """(module, example inputs, input names): a traceable nn.Module mapping sampling inputs to
        samples in data space, for ONNX/TorchScript export; None if sampling cannot be traced."""
        return None


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
    cfg = C.from_dict(recipe_cls.Config, {**recipe_cls.former_defaults, **data})
    C.validate(cfg)
    return cfg


def specs_from_header(header: dict) -> dict[str, DataSpec]:
    """The data specs stored with a run or checkpoint (older ones stored the primary spec only)."""
    if "data_specs" in header:
        return {k: DataSpec.from_json(v) for k, v in header["data_specs"].items()}
    return {"train": DataSpec.from_json(header["data_spec"])}


def recipe_from_header(header: dict) -> Recipe:
    """Rebuild the recipe object a run or checkpoint header describes (no data needed)."""
    cls = get_recipe(header["recipe"])
    return cls(config_from_dict(cls, header["config"]), specs_from_header(header))
