"""`adain`: Huang & Belongie 2017, arbitrary style transfer by a decoder trained on AdaIN targets.

No discriminator: one phase trains the decoder g to minimise L = L_c + λ·L_s (eq. 11) with
L_c = ‖f(g(t)) − t‖² at relu4_1 against t = AdaIN(f(c), f(s)) (eq. 12) and L_s the μ/σ distance at
relu1_1..relu4_1 (eq. 13); the encoder f (a feature net to relu4_1: `features=random` or
`vgg19:PATH`) is frozen and saved with the decoder, so a run folder stylizes on its own. Two named
data sources: `--data content=folder:A --data style=folder:B` (bundled: `photos` and `styles`),
each batch randomly cropped and flipped. Settings of the official code: Adam 1e-4 with inverse lr
decay 5e-5, batch 8, λ = 10 (as the paper and the PyTorch port; the Lua code weights 1e-2 on a
summed loss), 160k iterations at 256² crops of 512² images; presets scale that for CPUs.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from .. import config as C
from ..config import nested, param
from ..errors import GankitError
from ..style import adain as A
from ..style.features import load_features, vgg19_layout, vgg19_net
from ..style.images import PHOTOS, STYLES, bundled
from .base import SMOKE_RUN, Phase, Recipe, register


@dataclass
class AdaINConfig(C.TrainConfig):
    steps: int = param(160_000, "training steps (decoder updates)", min=1)
    batch_size: int = param(8, "content/style pairs per step", min=1)
    resolution: int = param(0, "side the images are loaded at before cropping (0: folders 64, bundled 128)", min=0,
                            max=1024)
    channels: int = param(3, "image channels (style transfer works on RGB; grey images are repeated)", choices=(0, 1, 3))
    features: str = param("random", "encoder: random (fixed random filters, no download) or vgg19:PATH")
    layer: str = param("relu4_1", "encoder's last layer, where AdaIN acts (the paper: relu4_1; relu3_1 trains "
                                  "faster and keeps more detail, transfers coarser style less)", choices=A.LAYERS)
    crop: int = param(0, "random crop side in pixels, a multiple of 8 (0: the loaded size)", min=0)
    content_weight: float = param(1.0, "weight of the content loss at relu4_1", min=0.0)
    style_weight: float = param(10.0, "weight λ of the mean/std style loss", min=0.0)
    lr_decay: Literal["none", "linear", "inverse"] = param(
        "inverse", "learning rates: inverse decay lr / (1 + lr_decay_rate * step), as the AdaIN code")
    encoder_layout: str = param("", "set from the vgg19 file at the start (torchvision or vgg_normalised), so a "
                                    "run restores its encoder from its checkpoint alone")
    decoder_opt: C.OptimConfig = nested(lambda: C.OptimConfig(lr=1e-4, betas=(0.9, 0.999)), "decoder optimizer")


@register
class AdaIN(Recipe):
    name = "adain"
    Config = AdaINConfig
    description = "Huang & Belongie 2017: a decoder for AdaIN-renormalised features (arbitrary style transfer)"
    presets = {
        "smoke": {**SMOKE_RUN, "batch_size": 2, "precision": "fp32"},
        # a few CPU minutes on the bundled pictures: 128-pixel windows cropped to 64, and AdaIN at relu3_1,
        # whose decoder learns recognisable images in ~1,000 steps where relu4_1's is still blurred (README)
        "demo": {"steps": 1500, "batch_size": 8, "crop": 64, "layer": "relu3_1", "decoder_opt.lr": 5e-4,
                 "log_every": 50, "sample_every": 500, "ckpt_every": 250, "max_minutes": 5.0},
        "paper": {"resolution": 512, "crop": 256},
    }
    serve_form = "stylize"  # the page takes a content and a style upload
    data_kinds = ("image",)
    sources = ("content", "style")
    losses = ("loss/content", "loss/style")

    def check(self) -> None:
        cfg = self.cfg
        m = A.multiple(cfg.layer)
        if cfg.crop % m:
            raise GankitError(f"crop={cfg.crop}: must be a multiple of {m} (the encoder pools to {cfg.layer})")
        for source, spec in self.specs.items():
            side = min(spec.shape[1:])
            if side < m or (cfg.crop and cfg.crop > side):
                raise GankitError(f"{source} images are {side} pixels; crop={cfg.crop} needs at least "
                                  f"{max(cfg.crop, m)}")
        kind, _, path = cfg.features.partition(":")
        if kind not in ("random", "vgg19") or (kind == "vgg19") != bool(path):
            raise GankitError(f"features={cfg.features!r}: adain trains with random or vgg19:PATH features "
                              "(a TorchScript net cannot be stored with the decoder)")
        if kind == "vgg19" and not cfg.encoder_layout:  # a new run: the file must be there
            cfg.encoder_layout = vgg19_layout(path)

    # -- nets -------------------------------------------------------------------------------
    def build_nets(self):
        path = self.cfg.features.partition(":")[2]
        if self.cfg.features == "random" or Path(path).expanduser().is_file():
            encoder = load_features(self.cfg.features)
        else:  # a run restored without the weights file: its checkpoint carries the encoder's weights
            encoder = vgg19_net(self.cfg.encoder_layout)
        encoder = encoder.truncated(self.cfg.layer)
        return {"encoder": encoder, "decoder": A.Decoder(encoder.width, self.cfg.layer)}

    def optimizers(self):
        return {"decoder": self.cfg.decoder_opt}

    def phases(self):
        return [Phase("decoder", ("decoder",), self.decoder_loss)]

    # -- step -------------------------------------------------------------------------------
    def crops(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> random crop-and-flip [0, 1] RGB, one crop offset per image."""
        x = (x + 1) / 2
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        m = A.multiple(self.cfg.layer)
        side = self.cfg.crop or (min(x.shape[-2:]) // m * m)
        h, w = x.shape[-2:]
        tops = torch.randint(0, h - side + 1, (len(x),)).tolist()
        lefts = torch.randint(0, w - side + 1, (len(x),)).tolist()
        flips = (torch.rand(len(x)) < 0.5).tolist()
        out = [x[i, :, t:t + side, l:l + side] for i, (t, l) in enumerate(zip(tops, lefts))]
        return torch.stack([o.flip(-1) if f else o for o, f in zip(out, flips)])

    def decoder_loss(self, ctx):
        content, style = self.crops(ctx.real("content").x), self.crops(ctx.real("style").x)
        parts = A.training_losses(ctx.nets["encoder"], ctx.nets["decoder"], content, style)
        ctx.report("loss/content", parts["content"])
        ctx.report("loss/style", parts["style"])
        return self.cfg.content_weight * parts["content"] + self.cfg.style_weight * parts["style"]

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, nets, n, generator=None, condition=None, alpha: float = 1.0, **options):
        """Without a condition: bundled photos in bundled styles, a random pair and a random window of
        the photo per sample (drawn from `generator`), at the data's size, in [-1, 1]. With
        `condition={"content": [B,3,H,W] in [0,1], "styles": [...], "style_weights", "mask",
        "preserve_color"}`: `style.adain.stylize` of it, in [0, 1]."""
        encoder, decoder = nets["encoder"], nets["decoder"]
        device = next(decoder.parameters()).device
        if condition is not None:
            return A.stylize(encoder, decoder, condition["content"].to(device),
                             [s.to(device) for s in condition["styles"]], condition.get("style_weights"), alpha,
                             condition.get("mask"), condition.get("preserve_color", False))
        m = A.multiple(self.cfg.layer)
        side = max(m, self.spec.shape[-1] // m * m)
        picks = torch.randint(0, len(PHOTOS) * len(STYLES), (n,), generator=generator).tolist()
        corners = torch.rand(n, 2, generator=generator).tolist()
        contents, styles = [], []
        for pick, (fy, fx) in zip(picks, corners):
            photo = reference(PHOTOS[pick // len(STYLES)], 2 * side)  # a random side x side window of it
            top, left = round(fy * side), round(fx * side)
            contents.append(photo[..., top:top + side, left:left + side])
            styles.append(reference(STYLES[pick % len(STYLES)], side))
        out = A.stylize(encoder, decoder, torch.cat(contents).to(device), [torch.cat(styles).to(device)], alpha=alpha)
        images = torch.nn.functional.interpolate(out, size=self.spec.shape[1:], mode="bilinear",
                                                 align_corners=False) * 2 - 1
        return images.mean(1, keepdim=True) if self.spec.shape[0] == 1 else images


_REFERENCE: dict[tuple[str, int], torch.Tensor] = {}


def reference(name: str, side: int) -> torch.Tensor:
    """A bundled picture, centre-cropped square and resized to `side` (cached): [1, 3, side, side] in [0, 1]."""
    key = (name, side)
    if key not in _REFERENCE:
        a = torch.from_numpy(bundled(name)).permute(2, 0, 1)[None].contiguous()
        s = min(a.shape[-2:])
        top, left = (a.shape[-2] - s) // 2, (a.shape[-1] - s) // 2
        a = a[..., top:top + s, left:left + s]
        _REFERENCE[key] = torch.nn.functional.interpolate(a, size=(max(side, 8),) * 2, mode="bilinear",
                                                          align_corners=False, antialias=True)
    return _REFERENCE[key]
