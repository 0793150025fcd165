"""Run folders: `runs/<recipe>-<data>-<NNN>/` with config.json, stats.jsonl, samples/, checkpoints/."""

import json
import re
from pathlib import Path

from ..errors import GankitError

RUN_INFO = "config.json"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def new_run_dir(root: Path, recipe: str, data: str) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    prefix = f"{slug(recipe)}-{slug(data)}-"
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", p.name))]
    n = max(numbers, default=-1) + 1
    while True:
        path = root / f"{prefix}{n:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def save_info(run_dir: Path, info: dict) -> None:
    from .checkpoint import atomic_write_bytes

    atomic_write_bytes(Path(run_dir) / RUN_INFO, json.dumps(info, indent=2).encode())


def load_info(run_dir: Path) -> dict:
    path = Path(run_dir) / RUN_INFO
    if not Path(run_dir).is_dir():
        raise GankitError(f"{run_dir}: no such run folder")
    if not path.exists():
        raise GankitError(f"{run_dir}: not a gankit run (no {RUN_INFO})")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise GankitError(f"{path}: unreadable ({e})") from None
