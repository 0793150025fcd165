"""Progressive growing (Karras et al. 2018, ProGAN §2), shared by the `progan` and `stylegan` recipes.

Training starts at `start_resolution` and, every `phase_images` real images, alternates a fade-in of the
next level (its weight α ramping linearly 0 → 1, in G's toRGB and D's fromRGB alike, and in the real
images D sees: ProGAN's code blends each real batch with its own blurred copy the same way) with a
stabilisation phase at α = 1, until the data's resolution, where it stays. Each level may use its own
batch size (small images train on bigger batches); the optimizers' Adam state is reset at every phase
boundary, as the official code does (`reset_opt_for_new_lod`). G_ema's decay warms up again at every
phase (`ema_per_phase`): the papers' flat 0.999 suits their 600k-image phases, not the `cpu` preset's 8k.

The schedule is a pure function of the step (`growth_plan`, `stage_at`), so a resumed run, even one
stopped mid-fade, takes exactly the path of an uninterrupted one. `progressive=false` trains the same
final nets at full resolution from step 0 (the comparison of ProGAN's Fig. 4).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import param
from ..data.base import Batch
from ..errors import GankitError
from ..nets.progressive import downsample, level_count, upsample
from ..train.optim import ema_decay
from .base import SMOKE_RUN, StepContext


# What the growing recipes' presets share: tiny nets that grow every step (smoke); 32×32 data such as
# mnist5k and faces on a CPU: 64 feature maps at most, 8k-image phases, big batches at low resolution.
SMOKE = {**SMOKE_RUN, "batch_size": 8, "z_dim": 8, "G.fmaps": 64, "G.fmap_max": 8, "D.fmaps": 64,
         "D.fmap_max": 8, "phase_images": 8}
CPU = {"z_dim": 128, "G.fmaps": 1024, "G.fmap_max": 64, "D.fmaps": 1024, "D.fmap_max": 64, "phase_images": 8_000,
       "level_batch": "4:64,8:64,16:32,32:32", "batch_size": 32, "log_every": 100, "sample_every": 1000,
       "ckpt_every": 1000}
# The papers' widths and 600k-image phases; the batch shrinks with the resolution as in the official schedules
# (their exact per-resolution numbers depend on the GPUs used, so these are a single-machine choice).
PAPER = {"z_dim": 512, "G.fmaps": 8192, "G.fmap_max": 512, "D.fmaps": 8192, "D.fmap_max": 512,
         "phase_images": 600_000, "batch_size": 16, "ema_per_phase": False,
         "level_batch": "4:128,8:128,16:128,32:64,64:32,128:16,256:8,512:4,1024:4"}


@dataclass
class GrowNetConfig:
    """A progressive net's width: a level at r pixels has min(fmaps / r, fmap_max) feature maps."""

    fmaps: int = param(4096, "feature maps × resolution (paper 8192: 512 maps at 16², 256 at 32², ...)", min=4)
    fmap_max: int = param(256, "at most this many feature maps in any layer (paper 512)", min=1)


@dataclass
class GrowDConfig(GrowNetConfig):
    mbstd_group: int = param(4, "minibatch standard deviation over groups of this size (0 = off)", min=0, max=64)


@dataclass(frozen=True)
class Stage:
    level: int      # the live level: it works at 4·2^level pixels
    alpha: float    # fade-in weight of the live level (1 = stable)
    batch: int      # global batch size at this stage
    start: int      # first step of the phase this step belongs to


def parse_level_batch(text: str, resolution: int) -> dict[int, int]:
    """'4:64,8:64,16:32' -> {level: batch}; resolutions must be powers of two up to the data's."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        res, _, batch = item.partition(":")
        if not (res.isdigit() and batch.isdigit()) or int(batch) < 1:
            raise GankitError(f"level_batch: {item!r} is not RESOLUTION:BATCH (e.g. 8:64)")
        r = int(res)
        if r < 4 or r > resolution or r & (r - 1):
            raise GankitError(f"level_batch: {r} is not a power-of-two resolution in 4..{resolution}")
        out[int(math.log2(r)) - 2] = int(batch)
    return out


def growth_plan(levels: int, first_level: int, phase_images: int, batch_of) -> list[tuple[int, int, bool, int]]:
    """The phases as (first step, level, fading, steps): stabilise the first level, then fade in and
    stabilise each next one; the last phase has no end (its step count is the last entry's, unused)."""
    plan, step = [], 0
    for level in range(first_level, levels):
        for fading in ((False,) if level == first_level else (True, False)):
            steps = max(1, math.ceil(phase_images / batch_of(level)))
            plan.append((step, level, fading, steps))
            step += steps
    return plan


def stage_at(step: int, plan: list[tuple[int, int, bool, int]], batch_of) -> Stage:
    start, level, fading, steps = next(p for p in reversed(plan) if p[0] <= step)
    alpha = min(1.0, (step - start) / steps) if fading else 1.0
    return Stage(level, alpha, batch_of(level), start)


def inner(net: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        unwrapped = getattr(net, "module", None) or getattr(net, "_orig_mod", None)
        if unwrapped is None:
            return net
        net = unwrapped


class Progressive:
    """Mixin for a recipe whose nets have `set_stage(level, alpha)`; its config has the fields below.

    Config fields read: resolution of the data (spec), `progressive`, `start_resolution`, `phase_images`,
    `level_batch`, `reset_optimizers`, `ema_per_phase`, `batch_size`."""

    _stage: Stage | None = None
    _phase_step = 0  # steps since the live phase began
    former_defaults = {"ema_per_phase": False}  # runs saved before it existed warmed G_ema up once, from step 0
    # the growing nets are unconditional, judge one image at a time and change shape as they grow
    unsupported_remedies = {
        "condition": "its nets are unconditional",
        "pack": "its discriminator grows and judges one image at a time; minibatch stddev plays that role",
        "unroll_steps": "unrolled copies of a growing discriminator are not supported",
        "historical_averaging": "the parameter set changes as the nets grow",
    }

    @property
    def levels(self) -> int:
        return level_count(self.spec.shape[-1])

    def check_growth(self) -> None:
        spec, cfg = self.spec, self.cfg
        if spec.kind != "image" or spec.shape[1] != spec.shape[2]:
            raise GankitError(f"{self.name} needs square images; {spec.name} is {spec.kind} data of shape "
                              f"{tuple(spec.shape)}")
        self.levels  # noqa: B018 (raises for a resolution that is not a power of two)
        start = cfg.start_resolution
        if start < 4 or start > spec.shape[-1] or start & (start - 1):
            raise GankitError(f"start_resolution={start}: a power of two in 4..{spec.shape[-1]}")
        parse_level_batch(cfg.level_batch, spec.shape[-1])

    def batch_of(self, level: int) -> int:
        return parse_level_batch(self.cfg.level_batch, self.spec.shape[-1]).get(level, self.cfg.batch_size)

    def plan(self) -> list[tuple[int, int, bool, int]]:
        if not self.cfg.progressive:
            return [(0, self.levels - 1, False, 1)]
        first = int(math.log2(self.cfg.start_resolution)) - 2
        return growth_plan(self.levels, first, self.cfg.phase_images, self.batch_of)

    def stage(self, step: int) -> Stage:
        return stage_at(step, self.plan(), self.batch_of)

    def begin_step(self, ctx: StepContext) -> None:
        stage = self._stage = self.stage(ctx.step)
        self._phase_step = ctx.step - stage.start
        for net in ctx.nets.values():
            if hasattr(inner(net), "set_stage"):
                inner(net).set_stage(stage.level, stage.alpha)
        ctx.set_batch_size(stage.batch)
        if self.cfg.reset_optimizers and stage.start == ctx.step > 0:
            for name in self.optimizers():
                ctx.reset_optimizer(name)
        ctx.report("grow/resolution", 4 * 2 ** stage.level)
        ctx.report("grow/alpha", stage.alpha)

    def ema_nets(self) -> dict[str, float]:
        """G_ema's decay, warmed up again from the start of every phase (`ema_per_phase`) with the trainer's
        ramp min(decay, (1 + t)/(10 + t)). A fade-in adds layers that start from their initial weights and
        change fast; an average over hundreds of steps of them is not a working net. With the `cpu` preset's
        125-250-step phases, a flat warm-up from step 0 let G_ema's classifier-FID reach 16,185 mid-fade
        into 32² where G's own was 1,909 (benchmarks/README.md §14)."""
        decays = super().ema_nets()
        if not self.cfg.ema_per_phase or self._stage is None:
            return decays
        return {name: ema_decay(decay, self._phase_step) for name, decay in decays.items()}

    def real_batch(self, ctx: StepContext) -> Batch:
        """The real batch at the live resolution, faded like G's output during a fade-in."""
        batch = ctx.real()
        return Batch(self.at_stage(batch.x), batch.y)

    def at_stage(self, x: Tensor) -> Tensor:
        stage = self._stage or Stage(self.levels - 1, 1.0, self.cfg.batch_size, 0)
        x = downsample(x, x.shape[-1] // (4 * 2 ** stage.level))
        if stage.alpha < 1.0 and stage.level > 0:
            x = torch.lerp(upsample(downsample(x)), x, stage.alpha)
        return x

    def full_size(self, images: Tensor) -> Tensor:
        """G's images (at its live resolution, linear outputs) upsampled to the data's size and clipped to the
        data's range [-1, 1], as every sample is delivered."""
        return upsample(images, self.spec.shape[-1] // images.shape[-1]).clamp(-1.0, 1.0)


@dataclass
class GrowthConfig:
    """The growth schedule's settings (mixed into a progressive recipe's config)."""

    progressive: bool = param(True, "grow from start_resolution to the data's (false: full resolution from step 0)")
    start_resolution: int = param(4, "resolution of the first level trained", min=4)
    phase_images: int = param(600_000, "real images per fade-in and per stabilisation phase (paper 600k)", min=1)
    level_batch: str = param("", "batch size per resolution, e.g. '4:64,8:64,16:32' (others: batch_size)")
    reset_optimizers: bool = param(True, "fresh Adam state at each phase boundary (the official code's choice)")
    ema_per_phase: bool = param(True, "warm G_ema's decay up again at each phase (false: once, from step 0, as "
                                      "the papers, whose phases are 600k images long)")


class GrownSampler(nn.Module):
    """A traceable sampler: `sample(z)` (G at its live resolution, eval mode) upsampled to the data's size."""

    def __init__(self, sample, resolution: int):
        super().__init__()
        self.sample, self.resolution = sample, resolution

    def forward(self, z: Tensor) -> Tensor:
        images = self.sample(z).float()
        return upsample(images, self.resolution // images.shape[-1]).clamp(-1.0, 1.0)
