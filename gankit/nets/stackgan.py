"""StackGAN networks (Zhang et al. 2017, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked
Generative Adversarial Networks", §3), after the official PyTorch code (hanzhanggit/StackGAN-Pytorch,
`code/model.py`) scaled down for CPUs by `width`.

- `ConditioningAugmentation` (§3.1): a linear map of the sentence embedding φ_t to μ and log σ², and
  ĉ = μ + σ ⊙ ε, ε ~ N(0, I); with `augment=False` ĉ = μ (the ablation "without CA").
- `StageOneGenerator` (§3.2): [ĉ, z] → 4×4 by a linear layer, then nearest-upsample + 3×3 conv blocks
  (BatchNorm, ReLU) to the Stage-I side, tanh.
- `StageTwoGenerator` (§3.3): the Stage-I image is encoded down to a quarter of its side, the text is
  conditioned *again* by its own CA (ĉ spatially replicated and concatenated), a joint 3×3 conv, residual
  blocks, then upsampling blocks to twice the Stage-I side.
- `TextDiscriminator`: stride-2 convs down to 4×4 (no norm on the first, as DCGAN), then the text, compressed
  by a linear layer to `text_width`, replicated over 4×4 and concatenated, a 3×3 conv and a 4×4 conv to one
  logit (the official `D_GET_LOGITS`). The image features are computed once and judged with several texts
  (right and mismatched) by `logits`. Unlike the official code, which hands D the generator's μ, D
  compresses φ_t itself, so D's and G's parameters stay apart.
  `join="projection"` judges the pair instead as a projection discriminator does (Miyato & Koyama 2018,
  "cGANs with Projection Discriminator", eq. 3): logit = w·h + ⟨V φ_t, h⟩, with h the whole 4×4 feature map
  flattened rather than summed over space, so that the text can ask for a place ("in the top left") as well
  as a colour. On `shapes` it taught G the colours and positions the concatenation never did
  (benchmarks/README.md §16; summed over space, positions stayed at chance).
"""

import math

import torch
from torch import Tensor, nn

from .layers import dcgan_init


def up_block(cin: int, cout: int) -> nn.Sequential:
    """Double the side: nearest upsampling then a 3×3 conv (the official `upBlock`, fewer artefacts than
    transposed convolutions)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(True))


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


class ConditioningAugmentation(nn.Module):
    def __init__(self, text_dim: int, c_dim: int, augment: bool = True):
        super().__init__()
        self.c_dim, self.augment = c_dim, augment
        self.fc = nn.Linear(text_dim, 2 * c_dim)

    def forward(self, text: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """text [B, E], eps [B, c_dim] (drawn here if None) -> (ĉ, μ, log σ²), each [B, c_dim]."""
        mu, logvar = torch.relu(self.fc(text)).chunk(2, dim=1)  # ReLU as the official CA_NET
        if not self.augment:
            return mu, mu, logvar
        eps = torch.randn_like(mu) if eps is None else eps.to(mu)
        return mu + (0.5 * logvar).exp() * eps, mu, logvar


def _ups(from_side: int, to_side: int) -> int:
    n = int(math.log2(to_side // from_side))
    if from_side * 2 ** n != to_side:
        raise ValueError(f"cannot upsample {from_side} to {to_side} by doublings")
    return n


class StageOneGenerator(nn.Module):
    def __init__(self, text_dim: int, z_dim: int = 100, c_dim: int = 128, resolution: int = 32, width: int = 32,
                 augment: bool = True, channels: int = 3):
        super().__init__()
        self.z_dim, self.c_dim, self.resolution = z_dim, c_dim, resolution
        self.ca = ConditioningAugmentation(text_dim, c_dim, augment)
        ups = _ups(4, resolution)
        ch = width * 2 ** ups                                                  # channels at 4×4
        self.fc = nn.Sequential(nn.Linear(z_dim + c_dim, ch * 16, bias=False), nn.BatchNorm1d(ch * 16), nn.ReLU(True))
        blocks = []
        for _ in range(ups):
            blocks.append(up_block(ch, ch // 2))
            ch //= 2
        self.body = nn.Sequential(*blocks, nn.Conv2d(ch, channels, 3, 1, 1), nn.Tanh())
        dcgan_init(self)

    def forward(self, z: Tensor, text: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """z [B, z_dim], text [B, E] -> (image [B, C, R, R] in [-1, 1], μ, log σ²)."""
        c, mu, logvar = self.ca(text, eps)
        h = self.fc(torch.cat([c, z], 1))
        return self.body(h.view(len(z), -1, 4, 4)), mu, logvar


class StageTwoGenerator(nn.Module):
    def __init__(self, text_dim: int, c_dim: int = 128, resolution: int = 64, width: int = 32, residual: int = 2,
                 augment: bool = True, channels: int = 3):
        super().__init__()
        self.resolution = resolution
        self.ca = ConditioningAugmentation(text_dim, c_dim, augment)
        ch = width * 4
        # the Stage-I image (half this side) down to a quarter of this side
        self.encode = nn.Sequential(nn.Conv2d(channels, width * 2, 3, 1, 1), nn.ReLU(True),
                                    nn.Conv2d(width * 2, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True))
        self.joint = nn.Sequential(nn.Conv2d(ch + c_dim, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True))
        self.residual = nn.Sequential(*[ResidualBlock(ch) for _ in range(residual)])
        self.up = nn.Sequential(up_block(ch, ch // 2), up_block(ch // 2, ch // 4),
                                nn.Conv2d(ch // 4, channels, 3, 1, 1), nn.Tanh())
        dcgan_init(self)

    def forward(self, coarse: Tensor, text: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Stage-I image [B, C, R/2, R/2], text [B, E] -> (image [B, C, R, R], μ, log σ²)."""
        c, mu, logvar = self.ca(text, eps)
        h = self.encode(coarse)                                                # [B, 4w, R/4, R/4]
        h = self.joint(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1))
        return self.up(self.residual(h)), mu, logvar


class TextDiscriminator(nn.Module):
    def __init__(self, text_dim: int, resolution: int = 32, width: int = 32, text_width: int = 128, channels: int = 3,
                 join: str = "concat"):
        super().__init__()
        if join not in ("concat", "projection"):
            raise ValueError(f"join must be concat or projection, not {join!r}")
        self.join = join
        downs = _ups(4, resolution)
        layers, ch = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width
        for _ in range(downs - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.trunk = nn.Sequential(*layers)                                    # [B, ch, 4, 4]
        if join == "projection":
            self.unconditional, self.text = nn.Linear(ch * 16, 1), nn.Linear(text_dim, ch * 16, bias=False)
        else:
            self.text = nn.Sequential(nn.Linear(text_dim, text_width), nn.LeakyReLU(0.2, True))
            self.judge = nn.Sequential(nn.Conv2d(ch + text_width, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch),
                                       nn.LeakyReLU(0.2, True), nn.Conv2d(ch, 1, 4, 4))
        dcgan_init(self)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def logits(self, features: Tensor, text: Tensor) -> Tensor:
        """Image features [B, ch, 4, 4] with texts [B, E] -> logits [B]."""
        if self.join == "projection":
            h = features.flatten(1)
            return self.unconditional(h).flatten() + (self.text(text) * h).sum(1)
        t = self.text(text)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.judge(torch.cat([features, t], 1)).flatten()

    def forward(self, x: Tensor, text: Tensor) -> Tensor:
        return self.logits(self.features(x), text)
