"""Style transfer: Gatys vs AdaIN speed and quality, side by side, on this CPU. Prints JSON.

    python benchmarks/bench_style.py --run runs/adain-photos-000 [--pairs 3] [--quality-side 128]

* speed: Gatys seconds per L-BFGS iteration at 256² and 512² (timed over `--timed-iterations`, and the
  implied seconds per image for 300 and 1,000 iterations), in the random feature net and in a VGG-19-sized
  net (random values in VGG's shape: the cost of real VGG weights); AdaIN images/s at 256² and 512² in fp32
  and bf16; the Gatys/AdaIN time ratio per image.
* quality, on the same content/style pairs in the same (random) feature network: Gatys after
  `--iterations` vs AdaIN (the run's decoder): content loss (relu4_2, normalised as Gatys' objective), Gram
  style loss (Gatys' objective) and mean/std style loss (AdaIN's), and the AdaIN α sweep.
* colour preservation: distance of the output's chrominance (I, Q) histogram to the content's, with and
  without --preserve-color, and the luminance's Gram style loss against the style's luminance.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gankit  # noqa: E402
from gankit.style import adain as A  # noqa: E402
from gankit.style import ops  # noqa: E402
from gankit.style.features import STYLE_LAYERS, FeatureNet, random_features  # noqa: E402
from gankit.style.gatys import GatysOptions, stylize as gatys, targets  # noqa: E402
from gankit.train.precision import cpu_info  # noqa: E402

PAIRS = [("chelsea", "waves"), ("coffee", "mosaic"), ("astronaut", "strokes"), ("rocket", "stain")]


def square(name: str, side: int) -> torch.Tensor:
    from gankit.recipes.adain import reference

    return reference(name, side)


def gatys_seconds_per_iteration(net, side: int, iterations: int) -> float:
    content, style = square("chelsea", side), square("waves", side)
    gatys(net, content, [style], opts=GatysOptions(iterations=2))  # warm-up
    start = time.perf_counter()
    gatys(net, content, [style], opts=GatysOptions(iterations=iterations))
    return (time.perf_counter() - start) / iterations


def adain_images_per_second(pipe, side: int, precision: str, repeats: int = 5) -> float:
    content, style = square("coffee", side), square("mosaic", side)
    enc, dec = pipe.nets["encoder"], pipe.nets["decoder"]
    dtype = torch.bfloat16 if precision == "bf16" else None
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        A.stylize(enc, dec, content, [style])
        start = time.perf_counter()
        for _ in range(repeats):
            A.stylize(enc, dec, content, [style])
    return repeats / (time.perf_counter() - start)


def measures(net, image, content, style) -> dict:
    """Losses of an output image in one feature net, on Gatys' normalised scale and AdaIN's."""
    opts = GatysOptions()
    t = targets(net, content, [style], [1.0], opts)
    with torch.no_grad():
        f = net(image, ("relu4_2", *STYLE_LAYERS))
        fs = net(style, STYLE_LAYERS)
        content_loss = (ops.content_loss(f["relu4_2"], t.content) / t.content_scale).item()
        gram = sum((ops.gram_loss(f[k], t.grams[k]) / t.style_scales[k]).item() for k in STYLE_LAYERS)
        stats = sum(ops.stats_loss(f[k], fs[k]).item() for k in A.stats_layers("relu4_1"))
    return {"content": content_loss, "style_gram": gram, "style_meanstd": stats}


def chroma_distance(a: torch.Tensor, b: torch.Tensor, bins: int = 32) -> float:
    """Total variation distance between the 2-D (I, Q) histograms of two images (0 = identical)."""
    def hist(x):
        iq = ops.rgb_to_yiq(x)[0, 1:].flatten(1)
        h = torch.histogramdd(iq.T.contiguous(), bins=[bins, bins], range=[-0.6, 0.6, -0.55, 0.55]).hist
        return h / h.sum()
    return 0.5 * (hist(a) - hist(b)).abs().sum().item()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True, help="an adain run folder (e.g. from gankit demo style)")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--quality-side", type=int, default=128)
    p.add_argument("--iterations", type=int, default=1000, help="Gatys iterations for the quality comparison")
    p.add_argument("--timed-iterations", type=int, default=10)
    p.add_argument("--bf16-sides", default="256", help="sides at which to time bf16 AdaIN (slow without bf16 "
                                                       "instructions: ~200x slower than fp32 on an AVX2-only EPYC)")
    args = p.parse_args()
    torch.manual_seed(0)
    pipe = gankit.load(args.run)
    net = random_features()
    vgg_sized = FeatureNet(64)  # VGG-19's shape with default-initialised values: its cost, not its quality
    out = {"cpu": cpu_info(), "machine": platform.machine(), "threads": torch.get_num_threads(), "run": args.run,
           "speed": {}, "quality": [], "alpha_sweep": [], "colour": []}
    for side in (256, 512):
        s = {}
        for name, features in (("random", net), ("vgg19_sized", vgg_sized)):
            per_it = gatys_seconds_per_iteration(features, side, args.timed_iterations)
            s[f"gatys_{name}_s_per_iteration"] = per_it
            s[f"gatys_{name}_s_per_image_300"] = 300 * per_it
            s[f"gatys_{name}_s_per_image_1000"] = 1000 * per_it
        s["adain_images_per_s_fp32"] = adain_images_per_second(pipe, side, "fp32")
        if str(side) in args.bf16_sides.split(","):
            s["adain_images_per_s_bf16"] = adain_images_per_second(pipe, side, "bf16", repeats=2)
        s["gatys_1000_over_adain_fp32"] = s["gatys_random_s_per_image_1000"] * s["adain_images_per_s_fp32"]
        out["speed"][str(side)] = s
        print(json.dumps({side: s}), file=sys.stderr)
    side = args.quality_side
    for content_name, style_name in PAIRS[:args.pairs]:
        content, style = square(content_name, side), square(style_name, side)
        start = time.perf_counter()
        g, history = gatys(net, content, [style], opts=GatysOptions(iterations=args.iterations))
        g_seconds = time.perf_counter() - start
        start = time.perf_counter()
        a = A.stylize(pipe.nets["encoder"], pipe.nets["decoder"], content, [style])
        a_seconds = time.perf_counter() - start
        row = {"content": content_name, "style": style_name, "side": side, "gatys_seconds": g_seconds,
               "adain_seconds": a_seconds, "gatys": measures(net, g, content, style),
               "adain": measures(net, a, content, style), "content_image": measures(net, content, content, style)}
        out["quality"].append(row)
        print(json.dumps(row), file=sys.stderr)
        sweep = []
        for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
            x = A.stylize(pipe.nets["encoder"], pipe.nets["decoder"], content, [style], alpha=alpha)
            sweep.append({"alpha": alpha, **measures(net, x, content, style)})
        out["alpha_sweep"].append({"content": content_name, "style": style_name, "rows": sweep,
                                   "style_falls": all(b["style_meanstd"] <= a_["style_meanstd"]
                                                      for a_, b in zip(sweep, sweep[1:])),
                                   "content_rises": all(b["content"] >= a_["content"]
                                                        for a_, b in zip(sweep, sweep[1:]))})
        kept = A.stylize(pipe.nets["encoder"], pipe.nets["decoder"], content, [style], preserve_color=True)
        lum = lambda x: ops.luminance(x)  # noqa: E731
        out["colour"].append({
            "content": content_name, "style": style_name,
            "chroma_tv_to_content_plain": chroma_distance(a, content),
            "chroma_tv_to_content_preserved": chroma_distance(kept, content),
            "luminance_gram_loss_preserved": measures(net, lum(kept), lum(content), ops.match_luminance(style, content))["style_gram"],
            "luminance_gram_loss_of_content": measures(net, lum(content), lum(content), ops.match_luminance(style, content))["style_gram"],
        })
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
