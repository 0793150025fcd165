"""Fully connected generator and discriminator (Goodfellow et al. 2014 used MLPs).

They work on any sample shape: the generator reshapes its output to `out_shape` and the discriminator
flattens its input. Dropout in D is the regularizer the course names for the discriminator. With
`num_classes` the generator takes labels (an embedding concatenated to z); the discriminator's head
options and conditioning are described in heads.py.
"""

import math

from torch import Tensor, nn

from .heads import Discriminator, Head, concat_label, label_dim
from .layers import activation, norm1d


def _hidden_stack(in_features: int, width: int, depth: int, act: str, norm: str, dropout: float) -> list[nn.Module]:
    layers, features = [], in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), norm1d(norm, width), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        features = width
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple[int, ...], width: int = 256, depth: int = 3,
                 activation: str = "relu", norm: str = "batch", dropout: float = 0.0,
                 out_activation: str | None = None, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        self.label = nn.Embedding(num_classes, label_dim(num_classes)) if num_classes else None
        in_features = z_dim + (label_dim(num_classes) if num_classes else 0)
        layers = _hidden_stack(in_features, width, depth, activation, norm, dropout)
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(concat_label(z, self.label, y)).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, in_shape: tuple[int, ...], width: int = 256, depth: int = 3,
                 activation: str = "leaky_relu", norm: str = "none", dropout: float = 0.0,
                 mbstd_group: int = 0, mbd_kernels: int = 0, mbd_dim: int = 5, num_classes: int = 0,
                 condition: str = "none"):
        super().__init__()
        self.in_shape = tuple(in_shape)
        cgan = condition == "cgan"
        self.label = nn.Embedding(num_classes, label_dim(num_classes)) if cgan else None
        in_features = math.prod(self.in_shape) + (label_dim(num_classes) if cgan else 0)
        self.trunk = nn.Sequential(*_hidden_stack(in_features, width, depth, activation, norm, dropout))
        self.head = Head((width,), mbstd_group, mbd_kernels, mbd_dim, num_classes, condition)

    def condition_input(self, x: Tensor, y: Tensor | None) -> Tensor:
        return concat_label(x.flatten(1), self.label, y)
