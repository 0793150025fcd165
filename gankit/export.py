"""Export a pipeline's sampling network: `gankit export RUN --format onnx|torchscript [--out F]`.

What is exported is `pipe.module()`: the recipe's traceable module from its sampling inputs (latent codes
z [B, z_dim], and class labels y [B] for conditional runs) to samples in data space, with a dynamic batch
axis. ONNX uses PyTorch's TorchScript-based exporter (opset 17; the weights inside the one file: about
0.1 s here, where the dynamo exporter takes seconds and writes a sidecar weights file), TorchScript uses
`torch.jit.trace`. Either file is written under a temporary name and renamed, then run against PyTorch
at batch sizes 1 and 5 (onnxruntime for ONNX): the largest difference is returned and must be ≤ 1e-4.
onnx/onnxruntime come with `pip install gankit[export]`.
"""

import copy
import io
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import GankitError
from .train.checkpoint import atomic_write_bytes

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 17
TOLERANCE = 1e-4
CHECK_BATCHES = (1, 5)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _resized(inputs: tuple[Tensor, ...], n: int, seed: int = 0) -> tuple[Tensor, ...]:
    """Inputs like `inputs` with batch n: normal floats, and integers within the examples' range."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for x in inputs:
        if x.is_floating_point():
            out.append(torch.randn(n, *x.shape[1:], generator=g, dtype=x.dtype))
        else:
            high = max(1, int(x.max()) + 1)
            out.append(torch.randint(high, (n, *x.shape[1:]), generator=g, dtype=x.dtype))
    return tuple(out)


def export_module(module: nn.Module, inputs: tuple[Tensor, ...], out: Path, fmt: str,
                  input_names: list[str]) -> Path:
    """Write `module` (in eval mode, on the CPU) as ONNX or TorchScript with a dynamic batch axis."""
    if fmt not in FORMATS:
        raise GankitError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values; the check below decides
            if fmt == "onnx":
                axes = {name: {0: "batch"} for name in [*input_names, "samples"]}
                torch.onnx.export(module, inputs, buffer, input_names=input_names, output_names=["samples"],
                                  dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            else:
                torch.jit.save(torch.jit.trace(module, inputs, check_trace=False), buffer)
    except Exception as e:  # noqa: BLE001 - the exporters raise many types for untraceable code
        raise GankitError(f"cannot export this network as {fmt}: {_first_line(e)}") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def run_exported(path: Path, fmt: str, inputs: tuple[Tensor, ...], input_names: list[str]) -> Tensor:
    """The exported file's output for `inputs` (onnxruntime for ONNX, torch.jit for TorchScript)."""
    if fmt == "torchscript":
        with torch.no_grad():
            return torch.jit.load(str(path), map_location="cpu")(*inputs)
    try:
        import onnxruntime as ort
    except ImportError:
        raise GankitError("checking an ONNX file needs onnxruntime: pip install 'gankit[export]' "
                          "(or pass --no-check)") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: x.numpy() for name, x in zip(input_names, inputs)}
    return torch.from_numpy(session.run(None, feeds)[0])


def max_difference(path: Path, fmt: str, module: nn.Module, inputs: tuple[Tensor, ...],
                   input_names: list[str]) -> float:
    """The largest |exported - PyTorch| over batches of CHECK_BATCHES sizes."""
    worst = 0.0
    for n in CHECK_BATCHES:
        batch = _resized(inputs, n, seed=n)
        with torch.no_grad():
            expected = module(*batch)
        got = run_exported(path, fmt, batch, input_names)
        if got.shape != expected.shape:
            raise GankitError(f"{path}: the exported network gives shape {tuple(got.shape)} for a batch of {n}, "
                              f"PyTorch {tuple(expected.shape)}")
        worst = max(worst, float((got - expected).abs().max()))
    return worst


def export_pipeline(pipe, fmt: str = "onnx", out: str | Path | None = None, check: bool = True,
                    **options) -> tuple[Path, float | None]:
    """Export `pipe.module(**options)`; returns (file, max difference to PyTorch, or None unchecked)."""
    traced = pipe.module(**options)
    if traced is None:
        raise GankitError(f"{getattr(pipe, 'name', '') or pipe.recipe.name} has no traceable sampling network "
                          "to export")
    module, inputs, names = traced
    module = copy.deepcopy(module).cpu().eval()  # the pipeline's own nets stay where they are
    if fmt not in FORMATS:
        raise GankitError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if out is None:  # beside the run's checkpoints: RUN/export/generator.onnx
        weights = Path(pipe.path) if getattr(pipe, "path", None) else Path("generator")
        base = weights.parent.parent if weights.parent.name == "checkpoints" else weights.parent
        out = base / "export" / f"generator{FORMATS[fmt]}"
    path = export_module(module, inputs, Path(out), fmt, names)
    if not check:
        return path, None
    diff = max_difference(path, fmt, module, inputs, names)
    if diff > TOLERANCE:
        raise GankitError(f"{path}: the exported network differs from PyTorch by {diff:.3g} (> {TOLERANCE:g})")
    return path, diff
