"""What every discriminator shares after its trunk, and how labels enter the networks.

`Head` turns trunk features into a logit: optional minibatch standard deviation (ProGAN), flattening,
optional minibatch discrimination (Salimans et al. 2016), a linear output, and the conditioning that acts
on features: projection (Miyato & Koyama 2018: D(x, y) = ψ(φ(x)) + embed(y)ᵀφ(x)) or ACGAN's auxiliary
classifier (Odena et al. 2017). Label *inputs* (cGAN, Mirza & Osindero 2014) are embeddings concatenated
to z in G and to x in D (as extra channels for images).
"""

import math

import torch
from torch import Tensor, nn

from .layers import MinibatchDiscrimination, MinibatchStd

CONDITIONS = ("none", "cgan", "projection", "acgan")


def label_dim(num_classes: int) -> int:
    """Width of a label embedding: one per class up to 50."""
    return min(50, num_classes)


class Head(nn.Module):
    def __init__(self, shape: tuple[int, ...], mbstd_group: int = 0, mbd_kernels: int = 0, mbd_dim: int = 5,
                 num_classes: int = 0, condition: str = "none"):
        super().__init__()
        self.mbstd = MinibatchStd(mbstd_group) if mbstd_group else None
        features = (shape[0] + (1 if mbstd_group else 0)) * math.prod(shape[1:])
        self.mbd = MinibatchDiscrimination(features, mbd_kernels, mbd_dim) if mbd_kernels else None
        features += mbd_kernels
        self.num_features = features
        self.out = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if condition == "projection" else None
        self.classifier = nn.Linear(features, num_classes) if condition == "acgan" else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def vector(self, h: Tensor) -> Tensor:
        """Trunk output -> the feature vector the logit is read from: [B, num_features]."""
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = h.flatten(1)
        return self.mbd(h) if self.mbd is not None else h

    def logit(self, v: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.out(v).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * v).sum(1)
        return out


class Discriminator(nn.Module):
    """Base of gankit's discriminators: `trunk` (input -> features) and `head` (features -> logit).

    forward(x, y) -> [B] logits. forward(x, y, with_features=True) -> (logits, features v, class logits
    or None): everything from one pass, so feature matching and ACGAN also go through `forward` (which
    DistributedDataParallel needs to synchronize gradients).
    """

    trunk: nn.Module
    head: Head

    def condition_input(self, x: Tensor, y: Tensor | None) -> Tensor:
        return x

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head.vector(self.trunk(self.condition_input(x, y)))

    def forward(self, x: Tensor, y: Tensor | None = None, with_features: bool = False):
        v = self.features(x, y)
        logits = self.head.logit(v, y)
        if not with_features:
            return logits
        classes = self.head.classifier(v) if self.head.classifier is not None else None
        return logits, v, classes


def concat_label(x: Tensor, embedding: nn.Embedding | None, y: Tensor | None) -> Tensor:
    """[x, embed(y)] along dim 1; image inputs get the embedding as constant extra channels."""
    if embedding is None:
        return x
    if y is None:
        raise ValueError("this network is class-conditional: pass labels y")
    e = embedding(y).to(x.dtype)
    if x.dim() == 4:
        e = e[:, :, None, None].expand(-1, -1, *x.shape[2:])
        if x.is_contiguous(memory_format=torch.channels_last):
            return torch.cat([x, e], 1).contiguous(memory_format=torch.channels_last)
    return torch.cat([x, e], 1)
