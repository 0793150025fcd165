"""Neural style transfer: Gatys' optimisation (a pipeline; no training) and AdaIN (a trained decoder, the
`adain` recipe), behind one call and one command:

    import gankit
    out = gankit.stylize("photo.jpg", "bundled:waves", method="gatys", iterations=300)      # [1, 3, H, W] in [0, 1]
    out = gankit.stylize("photo.jpg", ["a.png", "b.png"], run="runs/adain-...", style_weights=[0.7, 0.3], alpha=0.8)

    gankit stylize --method gatys photo.jpg --style bundled:waves --out out.png
    gankit stylize runs/adain-... photo.jpg --style a.png --alpha 0.8 --preserve-color
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import GankitError
from . import gatys as _gatys_module  # noqa: F401  (registers the gatys pipeline)
from .images import DEFAULT_MAX_SIDE, read_image, resize_to

METHODS = ("adain", "gatys")


@dataclass
class Result:
    image: Tensor                                # [1, 3, H, W] in [0, 1]
    method: str
    history: list[dict] = field(default_factory=list)   # Gatys: the losses after each iteration
    seconds: float = 0.0


def _as_list(style) -> list:
    return list(style) if isinstance(style, (list, tuple)) else [style]


def _image(x, max_side: int, what: str) -> Tensor:
    return x if torch.is_tensor(x) else read_image(x, max_side, what)


def stylize(content, style, run: str | Path | None = None, method: str | None = None, *,
            style_weights: Sequence[float] | None = None, alpha: float = 1.0, preserve_color: bool = False,
            mask=None, size: int = 0, max_side: int = DEFAULT_MAX_SIDE, features: str = "random",
            progress: Callable[[int, dict], None] | None = None, device: str | None = None, **gatys_options) -> Result:
    """Stylize one content image (a path, `bundled:NAME` or a [1, 3, H, W] tensor in [0, 1]) with one or
    several style images. AdaIN needs `run` (an `adain` run folder); Gatys (`method="gatys"`) needs none and
    takes the `GatysOptions` fields as keyword arguments (iterations, content_weight, ...)."""
    import time

    method = method or ("adain" if run is not None else None)
    if method not in METHODS:
        raise GankitError("give an adain RUN to stylize with, or --method gatys (which needs no run)"
                          if method is None else f"--method {method!r}: choose adain or gatys")
    content = _image(content, max_side, "content image")
    if size:
        scale = size / max(content.shape[-2:])
        content = resize_to(content, (max(8, round(content.shape[-2] * scale)), max(8, round(content.shape[-1] * scale))))
    styles = [_image(s, max_side, "style image") for s in _as_list(style)]
    if mask is not None and not torch.is_tensor(mask):
        from .adain import read_mask

        mask = read_mask(str(mask), tuple(content.shape[-2:]))
    start = time.perf_counter()
    if method == "gatys":
        out, history = _gatys(content, styles, style_weights, preserve_color, mask, features, progress,
                              gatys_options)
        return Result(out, method, history, time.perf_counter() - start)
    if gatys_options:
        raise GankitError(f"{', '.join(sorted(gatys_options))}: Gatys options; AdaIN takes alpha, style weights, "
                          "mask and preserve_color")
    if run is None:
        raise GankitError("AdaIN stylizes with a trained decoder: give an adain RUN (gankit train adain ...)")
    out = _adain(run, content, styles, style_weights, alpha, mask, preserve_color, device)
    return Result(out, method, [], time.perf_counter() - start)


def _gatys(content, styles, style_weights, preserve_color, mask, features, progress, options):
    from .features import load_features
    from .gatys import GatysOptions, stylize as gatys

    if mask is not None:
        raise GankitError("--mask is an AdaIN option (spatial control); Gatys takes a single blend of styles")
    known = set(GatysOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise GankitError(f"unknown Gatys option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = GatysOptions(preserve_color=preserve_color, **options)
    return gatys(load_features(features), content, styles, style_weights, opts, progress)


def _adain(run, content, styles, style_weights, alpha, mask, preserve_color, device):
    from ..pipelines import RunPipeline

    pipe = RunPipeline.load(run, device)
    if pipe.recipe.name != "adain":
        raise GankitError(f"{run} is a {pipe.recipe.name} run; stylize needs an adain run (or --method gatys)")
    condition = {"content": content, "styles": styles, "style_weights": style_weights, "mask": mask,
                 "preserve_color": preserve_color}
    out = pipe(1, condition=condition, alpha=alpha, seed=0).data.cpu()
    return resize_to(out, tuple(content.shape[-2:]))
