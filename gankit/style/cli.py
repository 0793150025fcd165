"""`gankit stylize` and `gankit convert-vgg`.

    gankit stylize RUN content.jpg --style s.jpg [--style t.jpg --weights 0.7,0.3] [--alpha A]
                   [--preserve-color] [--mask m.png] [--out out.png]                      (AdaIN)
    gankit stylize --method gatys content.jpg --style s.jpg [--iterations N] [--features F]
                   [--content-weight W] [--style-weight W] [--tv-weight W] [--init noise|content]
                   [--optimizer lbfgs|adam] [--size PX] [--preserve-color] [--out out.png]  (Gatys)
    gankit convert-vgg vgg_normalised.pth --out vgg_normalised.safetensors

The output is written only when it is complete (to a temporary name, then renamed); Gatys also writes its
loss curve beside it (<out>_loss.png and <out>_loss.json).
"""

import argparse
import json
import math
from pathlib import Path

from ..argtypes import nonnegative_int, positive_int
from ..errors import GankitError


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be in [0, 1]")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a non-negative number")
    return value


def weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. 0.7,0.3") from None


def add_parsers(sub) -> None:
    s = sub.add_parser("stylize", help="neural style transfer: AdaIN with a trained run, or Gatys (no run)")
    s.add_argument("inputs", nargs="+", metavar="[RUN] CONTENT",
                   help="an adain run folder and a content image (or only the content image with --method gatys); "
                        "bundled:NAME names a bundled picture (astronaut, coffee, chelsea, rocket, motorcycle)")
    s.add_argument("--style", action="append", required=True, metavar="IMAGE",
                   help="style image (repeatable; bundled: hubble, stain, brick, waves, mosaic, strokes)")
    s.add_argument("--weights", type=weights, help="blend weights of several styles, e.g. 0.7,0.3 (must sum > 0)")
    s.add_argument("--method", choices=["adain", "gatys"], help="adain (default with a RUN) or gatys")
    s.add_argument("--out", help="output .png/.jpg (default: stylized/CONTENT_STYLE.png)")
    s.add_argument("--alpha", type=unit_interval, default=1.0, help="AdaIN content-style trade-off in [0, 1]")
    s.add_argument("--mask", help="AdaIN spatial control: white takes the first style, black the second (or stays "
                                  "content); the mask must have the content image's size")
    s.add_argument("--preserve-color", action="store_true", help="transfer luminance only; keep the content's colours")
    s.add_argument("--size", type=nonnegative_int, default=0,
                   help="resize the content so its longer side is this (Gatys default 512; 0 = as read)")
    s.add_argument("--max-side", type=positive_int, default=1024,
                   help="images larger than this are resized down first, with a note (default 1024)")
    s.add_argument("--features", default="random", help="Gatys feature net: random (default, no download), "
                                                         "vgg19:PATH or script:PATH (TorchScript)")
    s.add_argument("--iterations", type=positive_int, default=1000, help="Gatys iterations (default 1000)")
    s.add_argument("--content-weight", type=nonnegative_float, default=5.0)
    s.add_argument("--style-weight", type=nonnegative_float, default=100.0)
    s.add_argument("--tv-weight", type=nonnegative_float, default=1e-3)
    s.add_argument("--init", choices=["content", "noise"], default="content", help="Gatys start image")
    s.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    s.add_argument("--seed", type=nonnegative_int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("--no-progress", action="store_true")

    c = sub.add_parser("convert-vgg", help="convert the AdaIN authors' vgg_normalised.pth for --features vgg19:")
    c.add_argument("source", metavar="vgg_normalised.pth")
    c.add_argument("--out", required=True, help="output .safetensors file")


def default_out(content: str, style: str) -> Path:
    stem = lambda p: Path(p.replace("bundled:", "")).stem  # noqa: E731
    return Path("stylized") / f"{stem(content)}_{stem(style)}.png"


def cmd_stylize(args) -> int:
    from ..style import stylize
    from .images import write_image

    if len(args.inputs) > 2:
        raise GankitError(f"stylize takes [RUN] CONTENT; got {len(args.inputs)} positional arguments")
    run, content = (args.inputs if len(args.inputs) == 2 else (None, args.inputs[0]))
    method = args.method or ("adain" if run else None)
    out = Path(args.out) if args.out else default_out(content, args.style[0])
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise GankitError(f"--out {out}: write images as .png or .jpg")
    if method == "gatys" and run:
        raise GankitError("--method gatys needs no run: give only the content image")
    options = {}
    if method == "gatys":
        options = dict(iterations=args.iterations, content_weight=args.content_weight, style_weight=args.style_weight,
                       tv_weight=args.tv_weight, init=args.init, optimizer=args.optimizer, seed=args.seed)
    bar = _progress(args, method)
    result = stylize(content, args.style, run=run, method=method, style_weights=args.weights, alpha=args.alpha,
                     preserve_color=args.preserve_color, mask=args.mask,
                     size=args.size or (512 if method == "gatys" else 0), max_side=args.max_side,
                     features=args.features, progress=bar.update if bar else None,
                     device=None if args.device == "auto" else args.device, **options)
    if bar:
        bar.close()
    write_image(result.image, out)
    extra = _write_losses(result.history, out) if result.history else ""
    print(f"wrote {out} ({result.method}, {result.image.shape[-1]}x{result.image.shape[-2]}, "
          f"{result.seconds:.1f} s){extra}")
    return 0


class _Bar:
    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="gatys", unit="it", leave=False)

    def update(self, i: int, losses: dict) -> None:
        self.bar.update(1)
        if i % 10 == 0:
            self.bar.set_postfix(content=f"{losses['content']:.3g}", style=f"{losses['style']:.3g}")

    def close(self) -> None:
        self.bar.close()


def _progress(args, method):
    return _Bar(args.iterations) if method == "gatys" and not args.no_progress else None


def _write_losses(history: list[dict], out: Path) -> str:
    from ..train.checkpoint import atomic_write_bytes
    from ..viz import plot_curves

    base = out.with_name(out.stem + "_loss")
    rows = [{"step": i + 1, **h} for i, h in enumerate(history)]
    atomic_write_bytes(base.with_suffix(".json"), json.dumps(rows).encode())
    plot_curves(rows, base.with_suffix(".png"), {"weighted total": ["loss"], "content, style (normalised)":
                                                 ["content", "style"], "total variation": ["tv"]})
    last = history[-1]
    return f"; final losses: content {last['content']:.4g}, style {last['style']:.4g}; curve {base.with_suffix('.png')}"


def cmd_convert_vgg(args) -> int:
    from .features import convert_vgg

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise GankitError(f"--out {out}: the converted weights are a .safetensors file")
    convert_vgg(args.source, out)
    print(f"wrote {out} (use it as --features vgg19:{out} or --set features=vgg19:{out})")
    return 0
