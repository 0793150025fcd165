"""Named scalars reported during training, averaged per logging interval, written to
`stats.jsonl` (one JSON object per line) and TensorBoard."""

import json
import math
from collections import defaultdict
from pathlib import Path

import torch


class Stats:
    """Collects scalars as detached tensors (no sync per step) and averages them on demand."""

    def __init__(self):
        self.values: dict[str, list] = defaultdict(list)

    def report(self, name: str, value) -> None:
        self.values[name].append(value.detach().float() if torch.is_tensor(value) else float(value))

    def summary(self) -> dict[str, float]:
        out = {}
        for name, vals in self.values.items():
            tensors = [v if torch.is_tensor(v) else torch.tensor(v) for v in vals]
            out[name] = float(torch.stack([t.reshape(()) for t in tensors]).mean())
        self.values.clear()
        return out


def non_finite(scalars: dict[str, float]) -> list[str]:
    return [k for k, v in scalars.items() if not math.isfinite(v)]


class StatsWriter:
    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.path = Path(run_dir) / "stats.jsonl"
        self.tensorboard, self._tb = tensorboard, None
        self.run_dir = Path(run_dir)

    def write(self, step: int, scalars: dict[str, float]) -> None:
        self._append("stats.jsonl", {"step": step, **scalars})
        if self.tensorboard:
            if self._tb is None:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            for name, value in scalars.items():
                self._tb.add_scalar(name, value, step)

    def _append(self, name: str, record: dict) -> None:
        with open(self.run_dir / name, "a") as f:
            f.write(json.dumps(record) + "\n")

    def write_warning(self, step: int, key: str, message: str) -> None:
        self._append("warnings.jsonl", {"step": step, "key": key, "message": message})

    def write_metrics(self, record: dict) -> None:
        self._append("metrics.jsonl", record)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (a line torn by a crash is skipped); [] if it is missing."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def read_stats(run_dir: Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / "stats.jsonl")


def truncate_after(run_dir: Path, step: int) -> None:
    """On resume, drop stats logged after the checkpoint we restart from (they will be redone)."""
    path = Path(run_dir) / "stats.jsonl"
    if path.exists():
        keep = [r for r in read_stats(run_dir) if r.get("step", 0) <= step]
        path.write_text("".join(json.dumps(r) + "\n" for r in keep))
