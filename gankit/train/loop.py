"""The generic trainer: it runs a recipe's phases and knows no training method.

One step = the recipe's `begin_step` (schedules: grow nets, reset optimizers, change the batch), then for
each phase active at this step (`interval`), `repeat` times: freeze the nets outside the phase, compute the
phase's loss (under bf16 autocast if asked) over `accumulate` micro-batches, one backward each, step the
phase's optimizers, run its post-step hooks. After the phases, EMA copies are updated. Around the steps,
outputs.py writes stats, previews, metrics and checkpoints; build.py builds nets, optimizers and wrappers.

Everything that influences the weights is either seeded from `cfg.seed` or saved in the checkpoint
(optimizer states, RNG states, latent-noise generator, each data source's order), so a resumed run on
the CPU reaches bit-identical weights to an uninterrupted one, also across a step where a recipe grows its
nets (`begin_step` runs for the checkpoint's step before its weights load). Ctrl-C and the `max_minutes`
budget stop at a step boundary and checkpoint. Under torchrun (dist.py) the trainable nets are wrapped in
DDP, each rank takes its shard of every global batch, and rank 0 writes the outputs.
"""

import contextlib
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import config as C
from ..data.base import Batch, Dataset
from ..data.sources import make_sources
from ..errors import GankitError
from ..log import info
from ..recipes.base import Phase, Recipe
from . import build, checkpoint, dist
from .build import pick_device
from .dist import DistInfo
from .optim import build_optimizer, ema_decay, ema_update
from .outputs import RunOutputs
from .precision import autocast, choose_precision
from .stats import Stats, truncate_after

NOISE_SEED_OFFSET = 3

__all__ = ["Trainer", "pick_device"]


def grad_norm(net: nn.Module) -> Tensor | None:
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """Trains `recipe` on `data` (one Dataset, or one per named source); phases see `self.ctx`."""

    def __init__(self, recipe: Recipe, data: Dataset | Mapping[str, Dataset], run_dir: Path | None = None, *,
                 device: str | torch.device | None = None, progress: bool = True, header: dict | None = None,
                 dist: DistInfo | None = None):
        self.recipe, self.cfg = recipe, recipe.cfg
        self.dist = dist or DistInfo()
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        self.run_dir = Path(run_dir) if run_dir and self.dist.is_main else None
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.progress = progress and self.dist.is_main
        datasets = dict(data) if isinstance(data, Mapping) else {recipe.sources[0]: data}
        self.primary_data = datasets[recipe.sources[0]]
        self.header = {"recipe": recipe.name, "config": C.to_dict(self.cfg), "data_spec": asdict(recipe.spec),
                       "data_specs": {k: asdict(s) for k, s in recipe.specs.items()}, **(header or {})}
        self.global_batch = self.cfg.batch_size
        self.phases: list[Phase] = recipe.phases()
        self.check_batch(self.global_batch)
        torch.manual_seed(self.cfg.seed)  # the same initial weights on every rank
        self.nets = build.build_nets(recipe, self.device, self.cfg.channels_last)
        self.optimizers = build.build_optimizers(recipe, self.nets, self.device)
        self.precision = self.cfg.precision
        self.scaler = build.grad_scaler(self.precision, self.device)
        self.ctx = StepContextImpl(self, {name: build.wrap(name, net, recipe, self.dist, self.device)
                                          if name in self.optimizers else net for name, net in self.nets.items()})
        self.sources = make_sources(recipe.sources, datasets, self.cfg.batch_size, self.cfg.seed, self.device,
                                    self.dist.rank, self.dist.world_size, self.cfg.channels_last)
        self.noise = torch.Generator().manual_seed(self.cfg.seed + NOISE_SEED_OFFSET)
        if self.dist.enabled:  # per-rank randomness (dropout, penalty interpolation) differs across ranks
            torch.manual_seed(self.cfg.seed + 7919 * (self.dist.rank + 1))
        self.step = 0
        self.micro_batches, self.repeat_index, self.last_repeat, self.stash = 1, 0, True, {}
        self.diagnostics = recipe.health_checks(self.primary_data) if self.cfg.diagnostics and self.dist.is_main \
            else None
        self.evaluator = self._evaluator() if self.cfg.eval_every and self.dist.is_main else None
        self.stats = Stats()
        self.outputs = RunOutputs(self, self.run_dir)
        self._log_grads = False
        self._stop_reason: str | None = None

    def _evaluator(self):
        from ..evaluate import Evaluator

        return Evaluator(self.primary_data, self.cfg.eval_metrics.split(","), self.cfg.eval_samples, seed=self.cfg.seed)

    @property
    def batch_size(self) -> int:
        """Samples per rank in each real() call (the global batch divided among ranks and micro-batches)."""
        return self.global_batch // self.dist.world_size // self.micro_batches

    def check_batch(self, batch: int) -> None:
        accumulate = max([p.accumulate for p in self.phases], default=1)
        unit = self.dist.world_size * self.recipe.batch_multiple() * accumulate
        if batch % unit:
            raise GankitError(f"batch_size={batch} must be divisible by {unit} ({self.dist.world_size} ranks × "
                              f"{self.recipe.batch_multiple()} (the recipe's multiple) × {accumulate} micro-batches)")

    # ---------------------------------------------------------------- what phases draw and change
    def real(self, source: str | None = None, n: int | None = None) -> Batch:
        source = source or self.recipe.sources[0]
        if source not in self.sources:
            raise KeyError(f"{self.recipe.name} has no data source {source!r} (it declares {self.recipe.sources})")
        return self.sources[source].next(n or self.batch_size)

    def z(self, n: int) -> Tensor:
        """This rank's shard of n × world_size latent codes from the common noise generator."""
        w = self.dist.world_size
        return self.recipe.latent(n * w, self.noise, self.device)[self.dist.rank::w]

    def set_net(self, name: str, net: nn.Module) -> None:
        """Replace a net (a recipe growing it): placed like the others, re-wrapped for DDP/compile."""
        self.nets[name] = build.place(net, self.device, self.cfg.channels_last)
        trainable = name in self.optimizers
        self.ctx.nets[name] = build.wrap(name, net, self.recipe, self.dist, self.device) if trainable else net

    def reset_optimizer(self, name: str) -> None:
        self.optimizers[name] = build_optimizer(self.recipe.optimizers()[name], self.nets[name].parameters(),
                                                self.device)

    def set_batch_size(self, batch: int) -> None:
        self.check_batch(batch)
        self.global_batch = batch

    # ---------------------------------------------------------------- one step
    def run_phase(self, phase: Phase) -> None:
        for name in self.optimizers:
            active = name in phase.nets or name in phase.keeps_graph
            self.nets[name].requires_grad_(active)
            if self.dist.enabled:  # DDP reduces only what this phase trains (or a later phase's graph)
                self.ctx.nets[name].require_backward_grad_sync = active
        self.micro_batches = phase.accumulate
        try:
            for i in range(phase.accumulate):
                with self._no_sync(phase, last=i == phase.accumulate - 1), autocast(self.precision, self.device):
                    loss = phase.loss(self.ctx) / phase.accumulate
                (self.scaler.scale(loss) if self.scaler else loss).backward()
        finally:
            self.micro_batches = 1
        self._step_optimizers(phase)

    def _no_sync(self, phase: Phase, last: bool):
        """Under DDP, gradients of all but the last micro-batch stay local (one all-reduce per step)."""
        if not self.dist.enabled or last:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        for name in phase.nets:
            stack.enter_context(self.ctx.nets[name].no_sync())
        return stack

    def _step_optimizers(self, phase: Phase) -> None:
        for name in phase.nets:
            if self.scaler:
                self.scaler.unscale_(self.optimizers[name])
            if self._log_grads and (norm := grad_norm(self.nets[name])) is not None:
                self.stats.report(f"grad_norm/{name}", norm)
            (self.scaler.step if self.scaler else lambda opt: opt.step())(self.optimizers[name])
        if self.scaler:
            self.scaler.update()
        for opt in self.optimizers.values():  # also drops gradients a phase left on nets it does not train
            opt.zero_grad(set_to_none=True)
        for hook in phase.post_step:
            hook(self.nets)

    def set_learning_rates(self) -> None:
        """Linear decay to 0 at cfg.steps (WGAN-GP's CIFAR schedule) or inverse decay (AdaIN's), computed
        from the step alone, so a resumed run follows the same schedule without scheduler state."""
        if self.cfg.lr_decay == "none":
            return
        if self.cfg.lr_decay == "inverse":
            factor = 1.0 / (1.0 + self.cfg.lr_decay_rate * self.step)
        else:
            factor = max(0.0, 1.0 - self.step / self.cfg.steps)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * factor

    def train_step(self) -> None:
        self.recipe.begin_step(self.ctx)
        self.set_learning_rates()
        self._log_grads = (self.step + 1) % self.cfg.log_every == 0
        for phase in self.phases:
            repeats = phase.runs_at(self.step)
            for i in range(repeats):
                self.repeat_index, self.last_repeat = i, i == repeats - 1
                self.run_phase(phase)
        self.stash.clear()  # nothing (no graph) outlives its step
        for name, decay in self.recipe.ema_nets().items():
            ema_update(self.nets[f"{name}_ema"], self.nets[name], ema_decay(decay, self.step))
        self.step += 1

    # ---------------------------------------------------------------- the loop
    def fit(self, steps: int | None = None) -> dict:
        """Train until `steps` (default cfg.steps) total steps; returns {step, stopped, seconds, precision}."""
        total = self.cfg.steps if steps is None else steps
        start = time.perf_counter()
        if self.precision == "auto":
            self.precision = choose_precision(self)
        self.outputs.open(total, self.cfg.max_minutes)
        try:
            with self._catch_interrupt():
                while self.step < total and not self._stop_reason:
                    self.train_step()
                    if self.cfg.max_minutes and time.perf_counter() - start > 60 * self.cfg.max_minutes:
                        self._stop_reason = f"time budget of {self.cfg.max_minutes:g} min reached"
                    self._agree_on_stop()
                    self.outputs.after_step(force=self.step == total or self._stop_reason is not None)
                # A Ctrl-C that lands during the outputs above still gets its final checkpoint.
                self.outputs.after_step(force=True)
        finally:
            self.outputs.close()
            for source in self.sources.values():
                source.close()  # a streamed folder's worker processes (started again if fit is called again)
        if self._stop_reason:
            info(f"stopped at step {self.step}/{total}: {self._stop_reason}"
                 + (f"; continue with: gankit train --resume {self.run_dir}" if self.run_dir else ""))
        return {"step": self.step, "stopped": self._stop_reason, "seconds": time.perf_counter() - start,
                "precision": self.precision}

    def _agree_on_stop(self) -> None:
        """Under torchrun every rank stops at the same step as soon as one wants to."""
        if self.dist.enabled and dist.any_rank(self._stop_reason is not None, self.device):
            self._stop_reason = self._stop_reason or "stopped by another rank"

    @contextlib.contextmanager
    def _catch_interrupt(self):
        """First Ctrl-C: finish the current step, checkpoint, stop. Second: stop at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self._stop_reason = "interrupted"
            signal.signal(signal.SIGINT, previous)
            info("\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to abort)")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, state: dict | None = None) -> Path:
        return self.outputs.save_checkpoint(state)

    def rng_state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def state_dict(self) -> dict:
        """Training state; under torchrun every rank's RNG state is gathered (a collective)."""
        state = {"optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                 "rng": self.rng_state(), "sources": {n: s.sampler.state_dict() for n, s in self.sources.items()},
                 "noise": self.noise.get_state(), "world_size": self.dist.world_size}
        if self.dist.enabled:
            state["rng_ranks"] = dist.gather(self.rng_state())
        return state

    def restore(self, entry: dict) -> None:
        """Continue from a checkpoint entry (see checkpoint.latest)."""
        state = checkpoint.load_state(entry["state"])
        self.step = int(state["step"])
        self.recipe.begin_step(self.ctx)  # nets and optimizers as they were at that step (grown, reset)
        checkpoint.load_weights(entry["weights"], self.nets)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self._restore_rng(state)
        sources = state.get("sources") or {self.recipe.sources[0]: state["sampler"]}  # older checkpoints
        for name, sampler_state in sources.items():
            self.sources[name].sampler.load_state_dict(sampler_state)
        if "noise" in state:
            self.noise.set_state(state["noise"])
        if self.run_dir:
            truncate_after(self.run_dir, self.step)

    def warm_start(self, weights: Path) -> None:
        """Start from another run's weights (fine-tuning, or a second training stage with changed settings):
        the nets load them; step, optimizers, data order and noise start fresh. An EMA copy the checkpoint
        lacks starts as its net; a net it lacks (one this config adds, e.g. a refiner) as built."""
        trained = checkpoint.read_header(weights)["recipe"]
        if trained != self.recipe.name:
            raise GankitError(f"--init {weights}: a checkpoint of {trained}, not of {self.recipe.name}")
        loaded = checkpoint.load_weights(weights, self.nets, strict=False,
                                         misfit="--init needs the same nets: change only settings that keep "
                                                "their shapes")
        missing = [name for name in self.nets if name not in loaded]
        for name in missing:
            if name.endswith("_ema") and name.removesuffix("_ema") not in missing:
                self.nets[name].load_state_dict(self.nets[name.removesuffix("_ema")].state_dict())
            else:
                info(f"--init: {weights.name} has no {name}; it starts as built")

    def _restore_rng(self, state: dict) -> None:
        if state.get("world_size", 1) != self.dist.world_size:
            return  # another number of ranks: keep this rank's fresh seed
        rng = state["rng_ranks"][self.dist.rank] if "rng_ranks" in state else state["rng"]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)


class StepContextImpl:
    """What a phase's loss sees: the nets (DDP-wrapped where training is distributed) and the trainer's
    data sources, noise, stash, stats and schedule controls."""

    def __init__(self, trainer: "Trainer", nets: dict[str, nn.Module]):
        self.trainer, self.nets = trainer, nets

    step = property(lambda self: self.trainer.step)
    device = property(lambda self: self.trainer.device)
    batch_size = property(lambda self: self.trainer.batch_size)
    repeat_index = property(lambda self: self.trainer.repeat_index)
    last_repeat = property(lambda self: self.trainer.last_repeat)
    stash = property(lambda self: self.trainer.stash)

    def real(self, source: str | None = None, n: int | None = None) -> Batch:
        return self.trainer.real(source, n)

    def z(self, n: int) -> Tensor:
        return self.trainer.z(n)

    def report(self, name: str, value) -> None:
        self.trainer.stats.report(name, value)

    def set_net(self, name: str, net: nn.Module) -> None:
        self.trainer.set_net(name, net)

    def reset_optimizer(self, name: str) -> None:
        self.trainer.reset_optimizer(name)

    def set_batch_size(self, batch_size: int) -> None:
        self.trainer.set_batch_size(batch_size)
