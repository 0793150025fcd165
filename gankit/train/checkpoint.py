"""Crash-safe checkpoints that load without executing code.

A checkpoint at step N is two files plus a pointer:
  checkpoints/step-000N.safetensors   weights of every net (G, G_ema, D, ...), prefixed
                                      by net name, with the recipe, config and data spec
                                      as JSON metadata, so a file alone can be sampled;
  checkpoints/step-000N.state.pt      training state (optimizers, step, RNG states, data
                                      order), tensors and plain containers only, read
                                      back with torch.load(weights_only=True);
  checkpoints/latest.json             names the newest complete pair; written last.
Every file is written to a temporary name, fsynced, then renamed over the final
name (and the folder fsynced), so a crash at any moment leaves the previous
checkpoint intact and `latest.json` never points at a torn file.
"""

import io
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ..errors import GankitError

FORMAT = "gankit-checkpoint-1"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def net_tensors(nets: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value.detach().cpu().contiguous()
            for name, net in nets.items() for key, value in net.state_dict().items()}


def save(folder: Path, step: int, nets: dict[str, nn.Module], state: dict, header: dict, keep: int = 3) -> Path:
    """Write the step's weights and state, then point latest.json at them; prune old ones."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{step:07d}"
    metadata = {"format": FORMAT, "step": str(step), "gankit": json.dumps(header)}
    atomic_write_bytes(folder / f"{stem}.safetensors", safetensors_bytes(net_tensors(nets), metadata))
    buffer = io.BytesIO()
    torch.save({"step": step, **state}, buffer)
    atomic_write_bytes(folder / f"{stem}.state.pt", buffer.getvalue())
    pointer = {"step": step, "weights": f"{stem}.safetensors", "state": f"{stem}.state.pt"}
    atomic_write_bytes(folder / "latest.json", json.dumps(pointer).encode())
    _prune(folder, keep, protect=stem)
    return folder / f"{stem}.safetensors"


def _prune(folder: Path, keep: int, protect: str) -> None:
    stems = sorted({p.name.split(".")[0] for p in folder.glob("step-*.safetensors")})
    for stem in stems[:-keep] if keep > 0 else []:
        if stem != protect:
            for suffix in (".safetensors", ".state.pt"):
                (folder / f"{stem}{suffix}").unlink(missing_ok=True)


def latest(folder: Path) -> dict | None:
    """The newest complete checkpoint {step, weights: Path, state: Path}, or None."""
    pointer = Path(folder) / "latest.json"
    if not pointer.exists():
        return None
    try:
        info = json.loads(pointer.read_text())
        entry = {"step": int(info["step"]), "weights": Path(folder) / info["weights"],
                 "state": Path(folder) / info["state"]}
    except (ValueError, KeyError, TypeError) as e:
        raise GankitError(f"{pointer}: unreadable checkpoint pointer ({e})") from None
    if not entry["weights"].exists() or not entry["state"].exists():
        raise GankitError(f"{pointer} names {info['weights']}, which is missing")
    return entry


def candidates(folder: Path) -> list[dict]:
    """Every complete checkpoint in `folder` (weights and state present), newest first: where the newest
    turns out unreadable, `--resume` and `sample` fall back to the next one (`keep_ckpts` keeps them)."""
    folder = Path(folder)
    out = []
    for weights in sorted(folder.glob("step-*.safetensors"), reverse=True):
        state = weights.with_name(weights.name.replace(".safetensors", ".state.pt"))
        if state.exists():
            out.append({"step": int(weights.name.split(".")[0].split("-")[1]), "weights": weights, "state": state})
    return out


def weights_files(source: str | Path) -> list[Path]:
    """The weights files a RUN_OR_CHECKPOINT names, newest first: the file itself, or a run's complete
    checkpoints (the newest may turn out unreadable; callers fall back to the next)."""
    path = Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise GankitError(f"{path}: no such run folder or checkpoint file")
    entries = candidates(path / "checkpoints")
    if not entries:
        raise GankitError(f"{path}: no checkpoint yet (nothing in {path / 'checkpoints'})")
    return [entry["weights"] for entry in entries]


def has_net(weights: Path, name: str) -> bool:
    with safe_open(str(weights), framework="pt") as f:
        return any(k.startswith(name + ".") for k in f.keys())


def step_of(weights: Path) -> int:
    with safe_open(str(weights), framework="pt") as f:
        return int((f.metadata() or {}).get("step", 0))


def read_header(path: Path) -> dict:
    """The recipe/config/data header stored in a weights file."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise GankitError(f"{path}: not a readable gankit checkpoint ({str(e).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise GankitError(f"{path}: not a gankit checkpoint (no '{FORMAT}' header)")
    return json.loads(meta["gankit"])


def load_weights(path: Path, nets: dict[str, nn.Module], strict: bool = True,
                 misfit: str = "a checkpoint of another gankit version?") -> set[str]:
    """Load the weights file into `nets` (by net-name prefix); returns the names of the nets it loaded (all
    of them when `strict`). `misfit` is the likely cause named when the shapes do not fit."""
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                name, _, param = key.partition(".")
                grouped.setdefault(name, {})[param] = f.get_tensor(key)
    except Exception as e:  # truncated or not safetensors at all
        raise GankitError(f"{path}: unreadable weights ({str(e).splitlines()[0]})") from None
    for name, net in nets.items():
        if name not in grouped:
            if strict:
                raise GankitError(f"{path}: has no weights for net {name!r}")
            continue
        try:
            net.load_state_dict(grouped[name])
        except RuntimeError as e:
            raise GankitError(f"{path}: the weights of {name} do not fit the network this config builds "
                              f"({misfit}): {str(e).splitlines()[1].strip()[:200]}") from None
    return nets.keys() & grouped.keys()


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GankitError(f"{path}: unreadable training state ({str(e).splitlines()[0]})") from None
