"""`gankit demo style`: train a small AdaIN decoder on the bundled pictures, then show what it does.

Trains `adain` (preset `demo`: random features, 128-pixel windows cropped to 64, a time cap) on the
bundled photos (content) and styles, then writes `stylized.png` in the run folder: a grid whose first
row is the styles, first column the photos, and each cell the photo in that style at 128 pixels (sizes
the decoder never saw in training), plus an α sweep (0, 0.25, 0.5, 0.75, 1) of one pair, and the report.
"""

from pathlib import Path

import torch

from .. import api
from ..log import info
from ..report import write_report
from . import adain as A
from .images import PHOTOS, STYLES, write_image

SIDE = 128


def square(x: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """Centre-crop to a square and resize: [1, 3, side, side]."""
    s = min(x.shape[-2:])
    top, left = (x.shape[-2] - s) // 2, (x.shape[-1] - s) // 2
    x = x[..., top:top + s, left:left + s]
    return torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def grid(rows: list[list[torch.Tensor | None]], pad: int = 4) -> torch.Tensor:
    """Rows of [1, 3, s, s] images (None = blank, white) -> one [1, 3, H, W] picture."""
    side = next(x for row in rows for x in row if x is not None).shape[-1]
    out = torch.ones(1, 3, len(rows) * (side + pad) - pad, max(map(len, rows)) * (side + pad) - pad)
    for r, row in enumerate(rows):
        for c, x in enumerate(row):
            if x is not None:
                out[..., r * (side + pad):r * (side + pad) + side, c * (side + pad):c * (side + pad) + side] = x
    return out


def figure(pipe, photos=PHOTOS[:4], styles=STYLES) -> tuple[torch.Tensor, torch.Tensor]:
    """(content x style grid, alpha sweep) for a loaded adain pipeline, all at SIDE pixels."""
    from ..recipes.adain import reference

    encoder, decoder = pipe.nets["encoder"], pipe.nets["decoder"]
    style_images = [reference(s, SIDE) for s in styles]
    rows = [[None, *style_images]]
    for photo in photos:
        content = reference(photo, SIDE)
        rows.append([content, *[A.stylize(encoder, decoder, content, [s]).cpu() for s in style_images]])
    content, style = reference(photos[0], SIDE), style_images[3]
    sweep = [[content, *[A.stylize(encoder, decoder, content, [style], alpha=a).cpu()
                         for a in (0.0, 0.25, 0.5, 0.75, 1.0)], style]]
    return grid(rows), grid(sweep)


def run_style_demo(out: str | Path = "runs", minutes: float | None = None, progress: bool = True,
                   overrides: dict | None = None) -> int:
    from ..recipes import get_recipe

    cls = get_recipe("adain")
    overrides = {**(overrides or {}), **({} if minutes is None else {"max_minutes": minutes})}
    budget = minutes if minutes is not None else cls.presets["demo"]["max_minutes"]
    info(f"gankit demo style: training an AdaIN decoder on the bundled photos and styles for at most {budget:g} "
         f"minutes on {torch.get_num_threads()} CPU threads (random features: no download)")
    run = api.train("adain", {"content": "photos", "style": "styles"}, preset="demo", overrides=overrides, out=out,
                    progress=progress)
    pipe = run.model()
    table, sweep = figure(pipe)
    final = write_image(table, run.path / "samples" / "final.png")
    sweep_path = write_image(sweep, run.path / "samples" / "alpha_sweep.png")
    md, page = write_report(run.path, final)
    stats = run.stats()
    last = stats[-1] if stats else {}
    print(f"run folder:   {run.path}")
    print(f"stylized:     {final} (rows: photos; columns: styles)")
    print(f"alpha sweep:  {sweep_path} (content, alpha 0 .. 1, style)")
    if last:
        print(f"final losses: content {last.get('loss/content', float('nan')):.3f}, style "
              f"{last.get('loss/style', float('nan')):.3f} at step {last['step']}")
    print(f"report:       {page} (and {md.name})")
    print(f"try:          gankit stylize {run.path} bundled:coffee --style bundled:mosaic --out coffee.png")
    return 0
