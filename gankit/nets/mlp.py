"""Fully connected generator and discriminator (Goodfellow et al. 2014 used MLPs).

They work on any sample shape: the generator reshapes its output to `out_shape`
and the discriminator flattens its input. Dropout in D is the regularizer the
course names for the discriminator.
"""

import math

from torch import Tensor, nn

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
                 out_activation: str | None = None):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        out_features = math.prod(self.out_shape)
        layers = _hidden_stack(z_dim, width, depth, activation, norm, dropout)
        layers.append(nn.Linear(width, out_features))
        if out_activation == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], width: int = 256, depth: int = 3,
                 activation: str = "leaky_relu", norm: str = "none", dropout: float = 0.0):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.features = nn.Sequential(
            nn.Flatten(), *_hidden_stack(math.prod(self.in_shape), width, depth, activation, norm, dropout))
        self.head = nn.Linear(width, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.features(x)).squeeze(1)  # [B] logits / critic values
