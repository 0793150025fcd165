"""The README's style-transfer figure: content, style, Gatys, AdaIN for three pairs, in the random feature net.

    python benchmarks/style_figure.py --run runs/adain-photos-000 --out docs/style_transfer.jpg [--iterations 300]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gankit  # noqa: E402
from gankit.recipes.adain import reference  # noqa: E402
from gankit.style import adain as A  # noqa: E402
from gankit.style.demo import grid  # noqa: E402
from gankit.style.features import random_features  # noqa: E402
from gankit.style.gatys import GatysOptions, stylize as gatys  # noqa: E402
from gankit.style.images import write_image  # noqa: E402

PAIRS = [("chelsea", "waves"), ("coffee", "mosaic"), ("astronaut", "strokes")]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--out", default="docs/style_transfer.jpg")
    p.add_argument("--side", type=int, default=128)
    p.add_argument("--iterations", type=int, default=300)
    args = p.parse_args()
    pipe, net = gankit.load(args.run), random_features()
    rows = []
    for content_name, style_name in PAIRS:
        content, style = reference(content_name, args.side), reference(style_name, args.side)
        g, _ = gatys(net, content, [style], opts=GatysOptions(iterations=args.iterations))
        a = A.stylize(pipe.nets["encoder"], pipe.nets["decoder"], content, [style])
        kept = A.stylize(pipe.nets["encoder"], pipe.nets["decoder"], content, [style], preserve_color=True)
        rows.append([content, style, g, a, kept])
    print(write_image(grid(rows), args.out))


if __name__ == "__main__":
    main()
