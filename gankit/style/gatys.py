"""Gatys, Ecker & Bethge (2016), "Image Style Transfer Using Convolutional Neural Networks": optimise the
pixels of an image so that its features at relu4_2 match the content image's and its Gram matrices at
relu1_1 ... relu5_1 (equal weights) match the style image's (eq. 7: α·L_content + β·L_style), plus a
total-variation smoothness term, by L-BFGS (or Adam). It trains no network: it is a pipeline.

Defaults follow the reference implementation (jcjohnson/neural-style): content weight 5, style weight
100, TV weight 1e-3, 1,000 L-BFGS iterations, style layers relu1_1 to relu5_1, content layer relu4_2.
Two deliberate changes. The image starts from the content image (the reference starts from white noise:
with random features, whose deep layers barely see high frequencies, noise that survives the content
loss stays visible; `init="noise"` is there). Each layer's loss is divided by the mean square of its target (features for
content, Gram entries for style), so the same weights balance the losses in any feature network (VGG's
activations and a random network's differ by orders of magnitude; unnormalised, the reference weights
only suit caffe's VGG on 0-255 pixels).

Several style images blend with weights (normalised to sum 1: they must sum to a positive number);
`preserve_color` transfers luminance only (Gatys et al. 2017) and puts the content's chrominance back.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from ..data.base import DataSpec, Dataset
from ..errors import GankitError
from ..pipelines import Pipeline, Samples, register_pipeline, seeded
from . import ops
from .features import STYLE_LAYERS
from .images import resize_to

CONTENT_LAYER = "relu4_2"


@dataclass
class GatysOptions:
    iterations: int = 1000
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    init: str = "content"                     # content | noise (the reference starts from noise)
    optimizer: str = "lbfgs"                  # lbfgs | adam
    lr: float = 0.02                          # Adam's step size (pixels in [0, 1])
    style_scale: float = 1.0                  # style images resized to this times the content's size
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    preserve_color: bool = False
    seed: int = 0

    def check(self) -> None:
        if self.iterations < 1:
            raise GankitError(f"--iterations {self.iterations}: must be at least 1")
        if self.init not in ("noise", "content"):
            raise GankitError(f"--init {self.init!r}: choose noise or content")
        if self.optimizer not in ("lbfgs", "adam"):
            raise GankitError(f"--optimizer {self.optimizer!r}: choose lbfgs or adam")
        for name in ("content_weight", "style_weight", "tv_weight", "lr", "style_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name in ("lr", "style_scale") and value == 0):
                raise GankitError(f"{name.replace('_', '-')} {value}: must be a {'positive' if name in ('lr', 'style_scale') else 'non-negative'} number")


def normalised_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Blend weights for n styles, summing to 1 (equal if none are given)."""
    if weights is None or len(weights) == 0:
        return [1.0 / n] * n
    if len(weights) != n:
        raise GankitError(f"{len(weights)} style weights for {n} style images: give one weight per style")
    total = float(sum(weights))
    if not all(math.isfinite(w) for w in weights) or total <= 0:
        raise GankitError(f"style weights {', '.join(f'{w:g}' for w in weights)} must sum to a positive number")
    return [w / total for w in weights]


@dataclass
class Targets:
    content: Tensor
    grams: dict[str, Tensor]                   # blended Gram matrices per style layer
    content_scale: float
    style_scales: dict[str, float] = field(default_factory=dict)


def targets(features: nn.Module, content: Tensor, styles: Sequence[Tensor], weights: Sequence[float],
            opts: GatysOptions) -> Targets:
    with torch.no_grad():
        content_target = features(content, [opts.content_layer])[opts.content_layer]
        grams = {layer: 0 for layer in opts.style_layers}
        for style, weight in zip(styles, weights):
            side = max(content.shape[-2:]) * opts.style_scale
            scale = side / max(style.shape[-2:])
            size = (max(16, round(style.shape[-2] * scale)), max(16, round(style.shape[-1] * scale)))
            f = features(resize_to(style, size), opts.style_layers)
            for layer in opts.style_layers:
                grams[layer] = grams[layer] + weight * ops.gram(f[layer])
    return Targets(content_target, grams, content_target.pow(2).mean().item() + ops.EPS,
                   {k: g.pow(2).mean().item() + ops.EPS for k, g in grams.items()})


def losses(features: nn.Module, image: Tensor, t: Targets, opts: GatysOptions) -> dict[str, Tensor]:
    f = features(image, (opts.content_layer, *opts.style_layers))
    content = ops.content_loss(f[opts.content_layer], t.content) / t.content_scale
    style = sum(ops.gram_loss(f[layer], t.grams[layer]) / t.style_scales[layer] for layer in opts.style_layers)
    tv = ops.total_variation(image)
    total = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
    return {"loss": total, "content": content, "style": style, "tv": tv}


def stylize(features: nn.Module, content: Tensor, styles: Sequence[Tensor], style_weights=None,
            opts: GatysOptions | None = None, progress: Callable[[int, dict], None] | None = None
            ) -> tuple[Tensor, list[dict]]:
    """Optimise an image: returns ([1, 3, H, W] in [0, 1], the losses after each iteration)."""
    opts = opts or GatysOptions()
    opts.check()
    if not styles:
        raise GankitError("Gatys style transfer needs at least one style image (--style FILE)")
    weights = normalised_weights(style_weights, len(styles))
    original = content
    if opts.preserve_color:  # transfer luminance only, the style's matched to the content's
        styles = [ops.match_luminance(s, content) for s in styles]
        content = ops.luminance(content)
    t = targets(features, content, styles, weights, opts)
    image = start(content, opts).requires_grad_(True)
    history: list[dict] = []

    def closure():
        optimizer.zero_grad(set_to_none=True)
        parts = losses(features, image, t, opts)
        parts["loss"].backward()
        if len(history) < opts.iterations:
            history.append({k: v.item() for k, v in parts.items()})
            if progress:
                progress(len(history), history[-1])
        return parts["loss"]

    if opts.optimizer == "lbfgs":
        # as the reference: one run of up to `iterations` evaluations, no tolerances that stop it early
        optimizer = torch.optim.LBFGS([image], lr=1, max_iter=opts.iterations, max_eval=opts.iterations,
                                      history_size=100, tolerance_grad=-1, tolerance_change=-1)
        optimizer.step(closure)
    else:
        optimizer = torch.optim.Adam([image], lr=opts.lr)
        for _ in range(opts.iterations):
            optimizer.step(closure)
    out = image.detach().clamp(0, 1)
    if opts.preserve_color:
        out = ops.with_content_colour(out, original)
    return out, history


def start(content: Tensor, opts: GatysOptions) -> Tensor:
    if opts.init == "content":
        return content.clone(memory_format=torch.contiguous_format)
    generator = torch.Generator().manual_seed(opts.seed)
    return (0.5 + 0.1 * torch.randn(content.shape, generator=generator)).to(content)


@register_pipeline
class GatysPipeline(Pipeline):
    """Gatys as a pipeline (it trains nothing): `pipe(1, condition={"content": [B, 3, H, W] in [0, 1],
    "styles": [...], "style_weights": [...]})` -> Samples of the stylized images in [-1, 1] (RGB), the
    losses in `meta`. Without a condition it styles the first n images of its reference dataset with the
    next one (the pipeline contract's case)."""

    name = "gatys"

    def __init__(self, reference: Dataset | None = None, features="random", options: GatysOptions | None = None):
        from .features import load_features

        self.reference = reference
        self.features = load_features(features) if isinstance(features, str) else features
        self.options = options or GatysOptions()
        self.spec = reference.spec if reference is not None else \
            DataSpec("stylized", "image", (3, 0, 0), value_range=(-1.0, 1.0))

    @classmethod
    def smoke(cls, reference: Dataset) -> "GatysPipeline":
        return cls(reference, options=GatysOptions(iterations=2))

    def __call__(self, n: int = 1, condition=None, generator=None, seed=None, **options) -> Samples:
        generator, seed = seeded(generator, seed)
        opts = replace(self.options, seed=int(torch.randint(0, 2**31, (1,), generator=generator)), **options)
        if condition is None:
            if self.reference is None:
                raise GankitError("the gatys pipeline needs condition={'content': ..., 'styles': [...]}")
            images = (self.reference.all().x[:n + 1].float() / 255).expand(-1, 3, -1, -1).contiguous() \
                if self.reference.spec.shape[0] == 1 else self.reference.all().x[:n + 1].float() / 255
            condition = {"content": images[:n], "styles": [images[n:n + 1]]}
        out, history = stylize(self.features, condition["content"], condition["styles"],
                               condition.get("style_weights"), opts)
        data = out * 2 - 1
        if self.spec.shape[0] == 1:
            data = data.mean(1, keepdim=True)
        return Samples(data, {"pipeline": self.name, "n": len(data), "seed": seed, "losses": history,
                              "options": options})
