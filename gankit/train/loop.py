"""The generic trainer: it runs a recipe's phases and knows no training method.

One step = for each phase active at this step (`interval`), `repeat` times:
freeze the nets outside the phase, compute the phase's loss (under bf16 autocast
if asked), one backward, step the phase's optimizers, run its post-step hooks.
After the phases, EMA copies are updated. Around the steps: stats every
`log_every` steps (stats.jsonl, TensorBoard, progress bar), a fixed-noise sample
picture every `sample_every`, a checkpoint every `ckpt_every` and at the end.

Everything that influences the weights is either seeded from `cfg.seed` or
saved in the checkpoint (optimizer states, RNG states, latent-noise generator,
data order), so a resumed run on the CPU reaches bit-identical weights to an
uninterrupted one. Ctrl-C and the `max_minutes` budget stop at a step boundary
and checkpoint. Under torchrun (dist.py) the trainable nets are wrapped in DDP,
each rank takes its shard of every global batch, and rank 0 writes the outputs.
"""

import contextlib
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import config as C
from .. import viz
from ..data.base import Batch, BatchSampler, Dataset, to_data_space
from ..errors import GankitError, TrainingDiverged
from ..log import info
from ..recipes.base import Phase, Recipe
from . import checkpoint, dist
from .dist import DistInfo
from .optim import build_optimizer, ema_copy, ema_decay, ema_update
from .diagnostics import PROBE_SAMPLES, Diagnostics, class_probe
from .stats import Stats, StatsWriter, non_finite, truncate_after

SAMPLE_SEED_OFFSET, DATA_SEED_OFFSET, NOISE_SEED_OFFSET = 2, 1, 3
POINT_SAMPLES, IMAGE_SAMPLES = 2500, 64


def pick_device(name: str | None = None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def grad_norm(net: nn.Module) -> Tensor | None:
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def has_conv(net: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in net.modules())


class Trainer:
    """Trains `recipe` on `dataset` (its phases see `self.ctx`, a StepContext)."""

    def __init__(self, recipe: Recipe, dataset: Dataset, run_dir: Path | None = None, *,
                 device: str | torch.device | None = None, progress: bool = True, header: dict | None = None,
                 dist: DistInfo | None = None):
        self.recipe, self.cfg = recipe, recipe.cfg
        self.dist = dist or DistInfo()
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        self.run_dir = Path(run_dir) if run_dir and self.dist.is_main else None
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.progress = progress and self.dist.is_main
        self.header = {"recipe": recipe.name, "config": C.to_dict(self.cfg), "data_spec": asdict(recipe.spec),
                       **(header or {})}
        self._check_batch()
        torch.manual_seed(self.cfg.seed)  # the same initial weights on every rank
        self.nets = self._build_nets()
        self.optimizers = {name: build_optimizer(ocfg, self.nets[name].parameters(), self.device)
                           for name, ocfg in recipe.optimizers().items()}
        self.scaler = self._grad_scaler()
        self.ctx = StepContextImpl(self, self._compiled(self._wrap_for_ddp()))
        self.phases: list[Phase] = recipe.phases()
        self.data = Dataset(dataset.spec, dataset.x.to(self.device),
                            None if dataset.y is None else dataset.y.to(self.device))
        self.sampler = BatchSampler(len(dataset), self.cfg.batch_size, self.cfg.seed + DATA_SEED_OFFSET)
        self.noise = torch.Generator().manual_seed(self.cfg.seed + NOISE_SEED_OFFSET)
        if self.dist.enabled:  # per-rank randomness (dropout, penalty interpolation) differs across ranks
            torch.manual_seed(self.cfg.seed + 7919 * (self.dist.rank + 1))
        self.step = 0
        self.repeat_index, self.last_repeat, self.stash = 0, True, {}
        self.diagnostics = self._make_diagnostics(dataset) if self.cfg.diagnostics and self.dist.is_main else None
        self.evaluator = None
        if self.cfg.eval_every and self.dist.is_main:
            from ..evaluate import Evaluator

            self.evaluator = Evaluator(dataset, self.cfg.eval_metrics.split(","), self.cfg.eval_samples, seed=self.cfg.seed)
        self.stats = Stats()
        self._log_grads = False
        self._stop_reason: str | None = None
        self._writer: StatsWriter | None = None

    @property
    def batch_size(self) -> int:
        """Samples per rank in each step (the global batch divided among the ranks)."""
        return self.cfg.batch_size // self.dist.world_size

    def _check_batch(self) -> None:
        unit = self.dist.world_size * getattr(self.cfg, "pack", 1)
        if self.cfg.batch_size % unit:
            raise GankitError(f"batch_size={self.cfg.batch_size} must be divisible by {unit} "
                              f"({self.dist.world_size} ranks × pack {getattr(self.cfg, 'pack', 1)})")

    def _grad_scaler(self):
        """fp16 needs loss scaling against underflow; it exists for CUDA only (fp16 is unusably slow on CPUs)."""
        if self.cfg.precision != "fp16":
            return None
        if self.device.type != "cuda":
            raise GankitError("precision=fp16 needs a CUDA device; on the CPU use precision=bf16")
        return torch.amp.GradScaler("cuda")

    def _compiled(self, nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """torch.compile of the trained nets, if asked (the raw nets stay in self.nets for checkpoints)."""
        if not self.cfg.compile:
            return nets
        if self.recipe.needs_double_backward():
            raise GankitError(f"compile=true cannot be used with {self.recipe.name}'s penalty: torch.compile "
                              "does not support the double backward it needs")
        return {name: torch.compile(net) if name in self.optimizers else net for name, net in nets.items()}

    def _wrap_for_ddp(self) -> dict[str, nn.Module]:
        if not self.dist.enabled:
            return self.nets
        wrapped = dict(self.nets)
        for name in self.optimizers:
            wrapped[name] = dist.wrap(self.nets[name], self.dist, self.device, self.cfg.sync_bn)
        return wrapped

    def _make_diagnostics(self, dataset: Dataset) -> Diagnostics:
        pick = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:PROBE_SAMPLES]
        real = to_data_space(dataset.spec, dataset.batch(pick).x)
        return Diagnostics(self.recipe, real, dataset.y, class_probe(dataset.spec))

    def _build_nets(self) -> dict[str, nn.Module]:
        nets = self.recipe.build_nets()
        if self.cfg.ema > 0:
            for name in self.recipe.ema_nets:
                nets[f"{name}_ema"] = ema_copy(nets[name])
        for name, net in nets.items():
            net.to(self.device)
            if self.cfg.channels_last and has_conv(net):
                net.to(memory_format=torch.channels_last)
        return nets

    # ---------------------------------------------------------------- what phases draw
    def real(self) -> Batch:
        """This rank's shard of the next global batch (every rank draws the same global indices)."""
        idx = self.sampler.next()[self.dist.rank::self.dist.world_size]
        batch = self.data.batch(idx.to(self.device))
        if self.cfg.channels_last and batch.x.dim() == 4:
            batch.x = batch.x.contiguous(memory_format=torch.channels_last)
        return batch

    def z(self, n: int) -> Tensor:
        """This rank's shard of n × world_size latent codes from the common noise generator."""
        w = self.dist.world_size
        return self.recipe.latent(n * w, self.noise, self.device)[self.dist.rank::w]

    def report(self, name: str, value) -> None:
        self.stats.report(name, value)

    # ---------------------------------------------------------------- one step
    def autocast(self):
        dtype = torch.float16 if self.cfg.precision == "fp16" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.cfg.precision != "fp32")

    def run_phase(self, phase: Phase) -> None:
        for name in self.optimizers:
            active = name in phase.nets or name in phase.keeps_graph
            self.nets[name].requires_grad_(active)
            if self.dist.enabled:  # DDP reduces only what this phase trains (or a later phase's graph)
                self.ctx.nets[name].require_backward_grad_sync = active
        with self.autocast():
            loss = phase.loss(self.ctx)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        for name in phase.nets:
            if self.scaler:
                self.scaler.unscale_(self.optimizers[name])
            if self._log_grads and (norm := grad_norm(self.nets[name])) is not None:
                self.report(f"grad_norm/{name}", norm)
            (self.scaler.step if self.scaler else lambda opt: opt.step())(self.optimizers[name])
        if self.scaler:
            self.scaler.update()
        for opt in self.optimizers.values():  # also drops gradients a phase left on nets it does not train
            opt.zero_grad(set_to_none=True)
        for hook in phase.post_step:
            hook(self.nets)

    def set_learning_rates(self) -> None:
        """Linear decay to 0 at cfg.steps (WGAN-GP's CIFAR schedule), computed from the step alone, so a
        resumed run follows the same schedule without scheduler state."""
        if self.cfg.lr_decay == "none":
            return
        factor = max(0.0, 1.0 - self.step / self.cfg.steps)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * factor

    def train_step(self) -> None:
        self.set_learning_rates()
        self._log_grads = (self.step + 1) % self.cfg.log_every == 0
        for phase in self.phases:
            repeats = phase.runs_at(self.step)
            for i in range(repeats):
                self.repeat_index, self.last_repeat = i, i == repeats - 1
                self.run_phase(phase)
        self.stash.clear()  # nothing (no graph) outlives its step
        for name in self.recipe.ema_nets:
            if f"{name}_ema" in self.nets:
                ema_update(self.nets[f"{name}_ema"], self.nets[name], ema_decay(self.cfg.ema, self.step))
        self.step += 1

    # ---------------------------------------------------------------- the loop
    def fit(self, steps: int | None = None) -> dict:
        """Train until `steps` (default cfg.steps) total steps; returns {step, stopped, seconds}."""
        total = self.cfg.steps if steps is None else steps
        if self.run_dir:
            self._writer = StatsWriter(self.run_dir, self.cfg.tensorboard)
        start = time.perf_counter()
        self._last_log = (start, self.step)
        self._done_at = {"log": self.step, "samples": self.step, "ckpt": self.step, "eval": self.step}
        bar = _progress_bar(total, self.step, self.progress)
        try:
            with self._catch_interrupt():
                while self.step < total and not self._stop_reason:
                    self.train_step()
                    bar.update(1)
                    if self.cfg.max_minutes and time.perf_counter() - start > 60 * self.cfg.max_minutes:
                        self._stop_reason = f"time budget of {self.cfg.max_minutes:g} min reached"
                    self._agree_on_stop()
                    self._outputs(bar, force=self.step == total or self._stop_reason is not None)
                # A Ctrl-C that lands during the outputs above still gets its final checkpoint.
                self._outputs(bar, force=True)
        finally:
            bar.close()
            if self._writer:
                self._writer.close()
        if self._stop_reason:
            info(f"stopped at step {self.step}/{total}: {self._stop_reason}"
                 + (f"; continue with: gankit train --resume {self.run_dir}" if self.run_dir else ""))
        return {"step": self.step, "stopped": self._stop_reason, "seconds": time.perf_counter() - start}

    def _agree_on_stop(self) -> None:
        """Under torchrun every rank stops at the same step as soon as one wants to."""
        if self.dist.enabled and dist.any_rank(self._stop_reason is not None, self.device):
            self._stop_reason = self._stop_reason or "stopped by another rank"

    def _outputs(self, bar, force: bool) -> None:
        """Stats, samples and checkpoint when their interval comes (or `force`), once per step each."""
        def due(kind: str, every: int) -> bool:
            if not every or self._done_at[kind] == self.step or not (force or self.step % every == 0):
                return False
            self._done_at[kind] = self.step
            return True

        if due("log", self.cfg.log_every):
            now, (then, then_step) = time.perf_counter(), self._last_log
            self._log(bar, (now - then) / max(1, self.step - then_step))
            self._last_log = (now, self.step)
        if due("samples", self.cfg.sample_every) and self.run_dir:
            self.save_samples()
        if due("eval", self.cfg.eval_every) and self.evaluator:
            self.evaluate()
        if due("ckpt", self.cfg.ckpt_every):
            state = self.state_dict()  # a collective under torchrun: every rank takes part
            if self.run_dir:
                self.save_checkpoint(state)

    def _log(self, bar, sec_per_step: float) -> None:
        scalars = self.stats.summary()
        scalars["time/sec_per_step"] = sec_per_step
        if self.dist.enabled:
            scalars = dist.all_mean(scalars, self.device)
        bad = non_finite(scalars)
        if not bad and self.diagnostics:
            for w in self.diagnostics.check(self.step, scalars, self._probe()):
                bar.write(f"warning (step {w.step}): {w.message}", file=sys.stderr)
                if self._writer:
                    self._writer.write_warning(w.step, w.key, w.message)
        if self._writer:
            self._writer.write(self.step, scalars)
        if bad:
            where = f"; the last good checkpoint stays in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise TrainingDiverged(f"training diverged at step {self.step}: {', '.join(bad)} became NaN or inf "
                                   f"(lower the learning rates, or try wgan-gp or r1){where}")
        losses = {k.split("/", 1)[1]: f"{v:.3g}" for k, v in scalars.items() if k.startswith("loss/")}
        bar.set_postfix(losses, refresh=False)

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

    # ---------------------------------------------------------------- outputs
    def _probe(self) -> Tensor:
        """Fixed-noise samples of G itself (not G_ema: collapse shows in G first) for the diagnostics."""
        generator = torch.Generator().manual_seed(self.cfg.seed + SAMPLE_SEED_OFFSET + 1)
        return self.recipe.sample(self.nets, PROBE_SAMPLES, generator=generator, ema=False)

    def sample_fixed(self) -> Tensor:
        """Samples from the same noise at every call (the grids in samples/ show progress)."""
        n = IMAGE_SAMPLES if self.recipe.spec.kind == "image" else POINT_SAMPLES
        generator = torch.Generator().manual_seed(self.cfg.seed + SAMPLE_SEED_OFFSET)
        return self.recipe.sample(self.nets, n, generator=generator)

    def evaluate(self) -> dict[str, float]:
        """The configured metrics on G_ema now, logged as metric/* stats and to metrics.jsonl."""
        scores = self.evaluator(self.recipe, self.nets)
        if self._writer:
            self._writer.write(self.step, {f"metric/{k}": float(v) for k, v in scores.items()})
            self._writer.write_metrics({"step": self.step, "ema": True, "n": self.evaluator.n, **scores})
        return scores

    def save_samples(self) -> Path | None:
        samples = self.sample_fixed()
        real = self.data.x[:POINT_SAMPLES].cpu() if self.recipe.spec.kind == "points" else None
        path = self.run_dir / "samples" / f"step-{self.step:07d}.png"
        return viz.save_samples(samples, self.recipe.spec, path, real, title=f"step {self.step}")

    def rng_state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def state_dict(self) -> dict:
        """Training state; under torchrun every rank's RNG state is gathered (a collective)."""
        state = {"optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                 "rng": self.rng_state(), "sampler": self.sampler.state_dict(), "noise": self.noise.get_state(),
                 "world_size": self.dist.world_size}
        if self.dist.enabled:
            state["rng_ranks"] = dist.gather(self.rng_state())
        return state

    def save_checkpoint(self, state: dict | None = None) -> Path:
        bad = [name for name, net in self.nets.items()
               if not all(torch.isfinite(p).all() for p in net.parameters())]
        if bad:
            raise TrainingDiverged(f"not saving step {self.step}: weights of {', '.join(bad)} are NaN or inf")
        return checkpoint.save(self.run_dir / "checkpoints", self.step, self.nets, state or self.state_dict(),
                               self.header, self.cfg.keep_ckpts)

    def restore(self, entry: dict) -> None:
        """Continue from a checkpoint entry (see checkpoint.latest)."""
        checkpoint.load_weights(entry["weights"], self.nets)
        state = checkpoint.load_state(entry["state"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        rng = state["rng"]
        if state.get("world_size", 1) == self.dist.world_size and "rng_ranks" in state:
            rng = state["rng_ranks"][self.dist.rank]
        if state.get("world_size", 1) == self.dist.world_size:  # else keep this rank's fresh seed
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.sampler.load_state_dict(state["sampler"])
        if "noise" in state:
            self.noise.set_state(state["noise"])
        self.step = int(state["step"])
        if self.run_dir:
            truncate_after(self.run_dir, self.step)


class StepContextImpl:
    """What a phase's loss sees: the nets (DDP-wrapped where training is distributed) and the trainer's
    batch, noise, stash and stats."""

    def __init__(self, trainer: "Trainer", nets: dict[str, nn.Module]):
        self.trainer, self.nets = trainer, nets

    step = property(lambda self: self.trainer.step)
    device = property(lambda self: self.trainer.device)
    batch_size = property(lambda self: self.trainer.batch_size)
    repeat_index = property(lambda self: self.trainer.repeat_index)
    last_repeat = property(lambda self: self.trainer.last_repeat)
    stash = property(lambda self: self.trainer.stash)

    def real(self) -> Batch:
        return self.trainer.real()

    def z(self, n: int) -> Tensor:
        return self.trainer.z(n)

    def report(self, name: str, value) -> None:
        self.trainer.stats.report(name, value)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    # In a terminal the bar redraws twice a second; in a log file (not a TTY) every 30 s.
    interval = 0.5 if sys.stderr.isatty() else 30.0
    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True,
                file=sys.stderr, leave=True, mininterval=interval)
