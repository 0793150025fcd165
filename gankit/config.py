"""Typed configs: dataclasses whose fields carry their own help text and bounds.

Every hyper-parameter is written once, as a dataclass field made with `param`.
From that one place gankit derives the CLI's `--set key=value` parsing (typed,
dotted keys into nested configs), the range checks, the JSON stored with each
run and the listing in `gankit list`.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from .errors import GankitError


def param(default, help: str = "", *, min=None, max=None, choices=None, positive=False):
    """A config field with help text and bounds (checked by `validate`)."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "positive": positive}
    return field(default=default, metadata=meta)


def nested(factory, help: str = ""):
    """A sub-config field (for example the G network's settings)."""
    return field(default_factory=factory, metadata={"help": help})


@dataclass
class OptimConfig:
    """One network's optimizer. SGD here is momentum-free unless asked (WGAN's advice)."""

    name: Literal["adam", "rmsprop", "sgd"] = param("adam", "optimizer")
    lr: float = param(2e-4, "learning rate", positive=True)
    betas: tuple[float, float] = param((0.5, 0.999), "Adam betas (beta1=0 makes Adam momentum-free)", min=0.0, max=0.9999)
    eps: float = param(1e-8, "numerical epsilon", positive=True)
    alpha: float = param(0.99, "RMSprop smoothing constant", min=0.0, max=1.0)
    momentum: float = param(0.0, "momentum for SGD/RMSprop (0 = none)", min=0.0, max=0.9999)
    weight_decay: float = param(0.0, "L2 weight decay", min=0.0)


@dataclass
class TrainConfig:
    """Settings every recipe shares: length, batch, logging, checkpoints, precision."""

    steps: int = param(5000, "training steps (generator updates)", min=1)
    batch_size: int = param(64, "real samples per discriminator step", min=1)
    seed: int = param(0, "random seed (weights, noise and data order)", min=0)
    resolution: int = param(0, "image side in pixels (0 = the dataset's own; folders default to 64)", min=0, max=1024)
    channels: int = param(0, "image channels for folders (0 = detect, 1 = grayscale, 3 = RGB)", choices=(0, 1, 3))
    stream: Literal["auto", "memory", "disk"] = param(
        "auto", "folders: decode every image into memory once, or stream batches from disk with worker "
                "processes (auto: stream when the decoded images would exceed 2 GiB)")
    data_workers: int = param(0, "worker processes decoding a streamed folder (0 = up to 4, one per core)", min=0)
    lr_decay: Literal["none", "linear", "inverse"] = param(
        "none", "learning rates: constant, linear decay to 0 at `steps`, or inverse: lr / (1 + lr_decay_rate * step) "
                "(the AdaIN code's schedule)")
    lr_decay_rate: float = param(5e-5, "rate of lr_decay=inverse", min=0.0)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = param(
        "fp32", "compute precision: bf16 autocast, fp16 autocast with loss scaling (CUDA only), or auto: "
                "time a few steps of fp32 and bf16 on the actual nets at start and keep the faster")
    compile: bool = param(False, "torch.compile the trained networks (little gain on CPU; not with penalties)")
    channels_last: bool = param(True, "channels_last memory layout for conv nets (faster on CPU, see benchmarks)")
    sync_bn: bool = param(False, "under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm)")
    log_every: int = param(100, "write stats every N steps", min=1)
    sample_every: int = param(1000, "save a fixed-noise sample grid every N steps", min=1)
    ckpt_every: int = param(5000, "save a checkpoint every N steps (and at the end)", min=1)
    keep_ckpts: int = param(3, "checkpoints to keep (the newest ones)", min=1)
    max_minutes: float = param(0.0, "stop (and checkpoint) after this many minutes (0 = no limit)", min=0.0)
    tensorboard: bool = param(True, "also write TensorBoard event files")
    diagnostics: bool = param(True, "live health checks (dominance, mode collapse, exploding losses)")
    eval_every: int = param(0, "compute metrics every N steps (0 = never; see gankit eval)", min=0)
    eval_metrics: str = param("auto", "comma-separated metrics for eval_every (auto = what fits the data)")
    eval_samples: int = param(0, "generated samples per evaluation (0 = the protocol's default)", min=0)


# ---------------------------------------------------------------------------- introspection


def field_map(cfg_type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cfg_type)}


def _hints(cfg_type) -> dict[str, Any]:
    return typing.get_type_hints(cfg_type)


def flat_keys(cfg) -> list[str]:
    """Every settable dotted key of a config, for example `D_opt.lr`."""
    keys = []
    for name, f in field_map(type(cfg)).items():
        value = getattr(cfg, name)
        if dataclasses.is_dataclass(value):
            keys += [f"{name}.{k}" for k in flat_keys(value)]
        else:
            keys.append(name)
    return keys


def describe(cfg) -> list[tuple[str, Any, str]]:
    """(key, value, help) rows for every leaf field (`gankit train RECIPE --explain`)."""
    rows = []
    for name, f in field_map(type(cfg)).items():
        value = getattr(cfg, name)
        if dataclasses.is_dataclass(value):
            rows += [(f"{name}.{k}", v, h) for k, v, h in describe(value)]
        else:
            rows.append((name, value, f.metadata.get("help", "")))
    return rows


def to_dict(cfg) -> dict:
    def convert(v):
        if dataclasses.is_dataclass(v):
            return {k: convert(getattr(v, k)) for k in field_map(type(v))}
        if isinstance(v, tuple):
            return list(v)
        return v

    return convert(cfg)


# ---------------------------------------------------------------------------- parsing values

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(value, tp, key: str):
    """Turn `value` (a string from the CLI, or a JSON/Python value) into type `tp`, or raise."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise GankitError(f"{key}={value!r} is not one of {', '.join(map(str, args))}")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            if option is type(None):
                if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
                    return None
                continue
            try:
                return _coerce(value, option, key)
            except GankitError as e:
                errors.append(str(e))
        raise GankitError(errors[0] if errors else f"{key}: cannot parse {value!r}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        if args and args[-1] is not Ellipsis and len(items) != len(args):
            raise GankitError(f"{key} needs {len(args)} comma-separated values, got {value!r}")
        item_types = [args[0]] * len(items) if (not args or args[-1] is Ellipsis) else list(args)
        return tuple(_coerce(v.strip() if isinstance(v, str) else v, t, key) for v, t in zip(items, item_types))
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise GankitError(f"{key}={value!r} is not a boolean (use true/false)")
    if tp is int:
        if isinstance(value, bool):
            raise GankitError(f"{key}={value!r} is not an integer")
        try:
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        except (TypeError, ValueError):
            raise GankitError(f"{key}={value!r} is not an integer") from None
    if tp is float:
        if isinstance(value, bool):
            raise GankitError(f"{key}={value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GankitError(f"{key}={value!r} is not a number") from None
    if tp is str:
        return str(value)
    raise GankitError(f"{key}: unsupported config type {tp}")


def set_value(cfg, key: str, value, prefix: str = "") -> None:
    """Set the dotted `key` on `cfg` after converting `value` to the field's type (`prefix`: where `cfg`
    sits in the top-level config, for error messages)."""
    head, _, rest = key.partition(".")
    fields = field_map(type(cfg))
    renamed = getattr(type(cfg), "renamed", {})
    if head not in fields and head in renamed:  # a key's earlier name (old commands, stored run configs)
        set_value(cfg, renamed[head] + (f".{rest}" if rest else ""), value, prefix)
        return
    full = prefix + key
    if head not in fields or (rest and not dataclasses.is_dataclass(getattr(cfg, head))):
        valid = ", ".join(prefix + k for k in flat_keys(cfg))
        raise GankitError(f"unknown config key {full!r}; valid keys: {valid}")
    current = getattr(cfg, head)
    if not dataclasses.is_dataclass(current):
        setattr(cfg, head, _coerce(value, _hints(type(cfg))[head], full))
    elif rest:
        set_value(current, rest, value, f"{prefix}{head}.")
    elif isinstance(value, dict):
        for k, v in value.items():
            set_value(current, k, v, f"{prefix}{head}.")
    else:
        raise GankitError(f"{full} is a group; set one of its keys, e.g. {full}.{flat_keys(current)[0]}")


def apply(cfg, overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        set_value(cfg, key, value)


def from_dict(cfg_type, data: dict):
    """Rebuild a config from `to_dict` output (unknown keys are an error)."""
    cfg = cfg_type()
    apply(cfg, data)
    return cfg


def parse_set_args(items: list[str]) -> dict[str, str]:
    """`["a=1", "b.c=x"]` -> `{"a": "1", "b.c": "x"}`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GankitError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


# ---------------------------------------------------------------------------- validation


def validate(cfg, prefix: str = "") -> None:
    """Check every field against its declared bounds; raise a one-line error naming the key."""
    hints = _hints(type(cfg))
    for name, f in field_map(type(cfg)).items():
        value, key = getattr(cfg, name), prefix + name
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
            continue
        _coerce(value, hints[name], key)  # type check (also catches bad values set in code)
        meta = f.metadata
        for v in value if isinstance(value, tuple) else (value,):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            if meta.get("positive") and not v > 0:
                raise GankitError(f"{key}={value} must be positive")
            if meta.get("min") is not None and v < meta["min"]:
                raise GankitError(f"{key}={value} is below its minimum {meta['min']}")
            if meta.get("max") is not None and v > meta["max"]:
                raise GankitError(f"{key}={value} is above its maximum {meta['max']}")
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise GankitError(f"{key}={value!r} is not one of {', '.join(map(str, meta['choices']))}")
