"""What a run writes while it trains, each at its own cadence: stats (stats.jsonl, TensorBoard, the
progress bar), health warnings (warnings.jsonl), fixed-noise previews (samples/), metrics
(metrics.jsonl) and checkpoints (checkpoints/). Rank 0 writes; every rank takes part in the collectives
(stats averaging, the RNG gather of a checkpoint)."""

import sys
import time
from pathlib import Path

import torch

from ..errors import TrainingDiverged
from ..modalities import get_modality
from . import checkpoint, dist
from .stats import StatsWriter, non_finite

PREVIEW_SEED_OFFSET = 2


class RunOutputs:
    def __init__(self, trainer, run_dir: Path | None):
        self.trainer, self.run_dir = trainer, run_dir
        self.writer: StatsWriter | None = None
        self.bar = None
        self.frozen_named = False

    # ------------------------------------------------------------------ lifetime of one fit()
    def open(self, total: int, budget_minutes: float) -> None:
        t = self.trainer
        if self.run_dir:
            self.writer = StatsWriter(self.run_dir, t.cfg.tensorboard)
        self.last_log = (time.perf_counter(), t.step)
        self.done_at = dict.fromkeys(("log", "samples", "ckpt", "eval"), t.step)
        self.bar = Progress(total, t.step, budget_minutes, t.progress)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
        if self.writer:
            self.writer.close()
            self.writer = None

    # ------------------------------------------------------------------ after every step
    def after_step(self, force: bool) -> None:
        """Stats, previews, metrics and checkpoint when their interval comes (or `force`), once per step each."""
        t, cfg = self.trainer, self.trainer.cfg
        self.bar.update(t.step)
        if self.due("log", cfg.log_every, force):
            now, (then, then_step) = time.perf_counter(), self.last_log
            self.log((now - then) / max(1, t.step - then_step))
            self.last_log = (now, t.step)
        if self.due("samples", cfg.sample_every, force) and self.run_dir:
            self.save_preview()
        if self.due("eval", cfg.eval_every, force) and t.evaluator:
            self.evaluate()
        if self.due("ckpt", cfg.ckpt_every, force):
            state = t.state_dict()  # a collective under torchrun: every rank takes part
            if self.run_dir:
                self.save_checkpoint(state)

    def due(self, kind: str, every: int, force: bool) -> bool:
        step = self.trainer.step
        if not every or self.done_at[kind] == step or not (force or step % every == 0):
            return False
        self.done_at[kind] = step
        return True

    def log(self, sec_per_step: float) -> None:
        t = self.trainer
        scalars = t.stats.summary()
        scalars["time/sec_per_step"] = sec_per_step
        if t.dist.enabled:
            scalars = dist.all_mean(scalars, t.device)
        bad = non_finite(scalars)
        if not bad and t.diagnostics:
            for w in t.diagnostics.check(t.step, scalars, t.nets):
                self.warn(w.step, w.key, w.message)
        if not self.frozen_named and t.dist.is_main:
            self.name_frozen_parameters()
        if self.writer:
            self.writer.write(t.step, scalars)
        if bad:
            where = f"; the last good checkpoint stays in {self.run_dir / 'checkpoints'}" if self.run_dir else ""
            raise TrainingDiverged(f"training diverged at step {t.step}: {', '.join(bad)} became NaN or inf "
                                   f"(lower the learning rates, or try wgan-gp or r1){where}")
        self.bar.show({k.split("/", 1)[1]: f"{v:.3g}" for k, v in scalars.items() if k.startswith("loss/")})

    def warn(self, step: int, key: str, message: str) -> None:
        self.bar.write(f"warning (step {step}): {message}")
        if self.writer:
            self.writer.write_warning(step, key, message)

    def name_frozen_parameters(self) -> None:
        """Once per run: parameters whose optimizer state overflowed to inf. Adam's step m/sqrt(v) is then 0
        for good, so they silently stop training while the run looks healthy (benchmarks/README.md §14)."""
        t = self.trainer
        frozen = frozen_parameters(t.nets, t.optimizers)
        if frozen:
            self.frozen_named = True
            more = f" and {len(frozen) - 3} more" if len(frozen) > 3 else ""
            self.warn(t.step, "frozen_parameters", f"frozen parameters: {', '.join(frozen[:3])}{more} (their "
                      "optimizer state overflowed to inf, so no step moves them; instance norm of a flat input is a "
                      "usual cause)")

    # ------------------------------------------------------------------ what is written
    def preview_samples(self) -> torch.Tensor:
        """Samples from the same noise at every call (the pictures in samples/ show progress)."""
        t = self.trainer
        generator = torch.Generator().manual_seed(t.cfg.seed + PREVIEW_SEED_OFFSET)
        return t.recipe.sample(t.nets, get_modality(t.recipe.spec.kind).preview_count, generator=generator)

    def save_preview(self) -> Path | None:
        t = self.trainer
        modality = get_modality(t.recipe.spec.kind)
        if not modality.preview_count:
            return None
        path = self.run_dir / "samples" / f"step-{t.step:07d}.png"
        if t.recipe.preview_conditions():
            return self.save_conditioned_preview(path)
        return modality.preview(self.preview_samples(), t.recipe.spec, path, modality.preview_real(t.primary_data),
                                title=f"step {t.step}")

    def save_conditioned_preview(self, path: Path) -> Path:
        """One row per condition the recipe names, from the same noise at every call: a grid and, with each
        row's condition written beside it, an HTML gallery (path with .html)."""
        from .. import viz

        t = self.trainer
        conditions = t.recipe.preview_conditions()
        per = max(1, get_modality(t.recipe.spec.kind).preview_count // len(conditions))
        rows = [(str(c), t.recipe.sample(t.nets, per, condition=c,
                                         generator=torch.Generator().manual_seed(t.cfg.seed + PREVIEW_SEED_OFFSET)))
                for c in conditions]
        viz.save_gallery(rows, path.with_suffix(".html"), title=f"{t.recipe.name}, step {t.step}")
        return viz.save_image_grid(torch.cat([r for _, r in rows]), path, nrow=per)

    def evaluate(self) -> dict[str, float]:
        """The configured metrics now, logged as metric/* stats and to metrics.jsonl."""
        t = self.trainer
        scores = t.evaluator(t.recipe, t.nets)
        if self.writer:
            self.writer.write(t.step, {f"metric/{k}": float(v) for k, v in scores.items()})
            self.writer.write_metrics({"step": t.step, "ema": True, "n": t.evaluator.n, **scores})
        return scores

    def save_checkpoint(self, state: dict | None = None) -> Path:
        t = self.trainer
        bad = [name for name, net in t.nets.items() if not all(torch.isfinite(p).all() for p in net.parameters())]
        if bad:
            raise TrainingDiverged(f"not saving step {t.step}: weights of {', '.join(bad)} are NaN or inf")
        return checkpoint.save(self.run_dir / "checkpoints", t.step, t.nets, state or t.state_dict(), t.header,
                               t.cfg.keep_ckpts)


def frozen_parameters(nets: dict, optimizers: dict) -> list[str]:
    """Names (net.parameter) of the parameters with a non-finite optimizer state."""
    def overflowed(state: dict) -> bool:
        return any(torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all() for v in state.values())

    frozen = [p for opt in optimizers.values() for p, state in opt.state.items() if overflowed(state)]
    if not frozen:   # the usual case, checked at every logging step: no name table to build
        return []
    names = {id(p): f"{net_name}.{name}" for net_name, net in nets.items() for name, p in net.named_parameters()}
    return [names.get(id(p), "?") for p in frozen]


class Progress:
    """The progress bar: steps out of the total, or, under a time budget, seconds out of the budget
    (with the step reached), so it never promises steps the budget cannot reach."""

    def __init__(self, total: int, initial: int, budget_minutes: float, enabled: bool):
        from tqdm import tqdm

        self.budget, self.start, self.total = 60 * budget_minutes, time.perf_counter(), total
        # In a terminal the bar redraws twice a second; in a log file (not a TTY) every 30 s.
        interval = 0.5 if sys.stderr.isatty() else 30.0
        common = dict(disable=not enabled, dynamic_ncols=True, file=sys.stderr, leave=True, mininterval=interval)
        if self.budget:
            self.bar = tqdm(total=round(self.budget), unit="s", desc="budget",
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s{postfix}", **common)
        else:
            self.bar = tqdm(total=total, initial=initial, unit="step", **common)
        self.losses: dict = {}

    def update(self, step: int) -> None:
        if self.budget:
            self.bar.n = min(self.bar.total, time.perf_counter() - self.start)
            self.bar.set_postfix({"step": f"{step}/{self.total}", **self.losses}, refresh=False)
            self.bar.update(0)
        else:
            self.bar.update(step - self.bar.n)

    def show(self, losses: dict) -> None:
        self.losses = losses
        self.bar.set_postfix(losses, refresh=False)

    def write(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
