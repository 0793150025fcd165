"""Adding an optimisation-only pipeline: texture synthesis by matching random-feature statistics.

Gatys-style methods train no network: they optimise the *image* until its features match a target. Here
the features are a fixed random convolution (Ustyuzhaninov et al. 2017 show random filters already carry
texture statistics) and the target is the mean Gram matrix of a reference image set: n images start as
noise and Adam moves their pixels. The pipeline has no run folder and no checkpoint; it is called like
every pipeline, `pipe(n, generator=...) -> Samples`, and writes through the image modality.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit.data.base import Dataset
from gankit.pipelines import Pipeline, Samples, register_pipeline, seeded


def gram(features: Tensor) -> Tensor:
    """[B, C, H, W] -> [B, C, C], normalised by the number of positions."""
    f = features.flatten(2)
    return f @ f.transpose(1, 2) / f.shape[2]


@dataclass
class TextureOptions:
    steps: int = 100       # optimiser steps
    lr: float = 0.05       # Adam step size on the pixels
    channels: int = 32     # random filters


@register_pipeline
class TexturePipeline(Pipeline):
    name = "texture"

    def __init__(self, reference: Dataset, options: TextureOptions | None = None, seed: int = 0):
        self.spec, self.options = reference.spec, options or TextureOptions()
        torch.manual_seed(seed)  # the fixed random features
        self.features = nn.Sequential(nn.Conv2d(self.spec.shape[0], self.options.channels, 3, padding=1), nn.ReLU())
        self.features.requires_grad_(False)
        with torch.no_grad():
            self.target = gram(self.features(reference.all().x[:256])).mean(0)

    @classmethod
    def smoke(cls, reference: Dataset) -> "TexturePipeline":
        return cls(reference, TextureOptions(steps=3, channels=4))

    def __call__(self, n: int, condition=None, generator=None, seed=None, **options) -> Samples:
        generator, seed = seeded(generator, seed)
        x = (0.1 * torch.randn(n, *self.spec.shape, generator=generator)).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.options.lr)
        losses = []
        for _ in range(self.options.steps):
            loss = (gram(self.features(x.tanh())) - self.target).pow(2).sum((1, 2)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return Samples(x.detach().tanh(), {"pipeline": self.name, "n": n, "seed": seed, "losses": losses})
