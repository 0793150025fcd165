"""`gan`: the original GAN (Goodfellow et al. 2014) with the course's switches.

- `saturating=true` trains G on log(1 - D(G(z))), the minimax game exactly as
  written (eq. 1). When D wins, sigmoid(D) saturates near 0 on fakes and this
  loss's gradient vanishes: the discriminator-dominance problem of the course.
  The default is the non-saturating -log D(G(z)) (paper §3).
- Dropout in D (on by default, 0.2) is the regularizer the course names for D.
- `loss` also offers hinge and least squares; `label_smoothing` (shared by the
  family, adversarial.py) gives one-sided label smoothing (Salimans et al. 2016).
Nets: MLPs, or DCGAN convnets for square images (`G.arch`, `D.arch`).
"""

from dataclasses import dataclass
from typing import Literal

from ..config import nested, param
from ..nets.config import DNetConfig, d_net
from ..errors import GankitError
from ..objectives import OBJECTIVES, Objective
from .adversarial import AdversarialConfig, AdversarialRecipe
from .base import SMOKE_RUN, register

SMOKE = {**SMOKE_RUN, "batch_size": 8, "z_dim": 8, "G.width": 8, "D.width": 8, "G.depth": 1, "D.depth": 1}
# The 2-D mixtures' setting shared by the family's `toy` presets: 3-layer MLPs of 256 units, batch 256,
# lr 1e-3 for both nets, 6,000 steps (each recipe adds its own values).
TOY = {"z_dim": 2, "G.arch": "mlp", "D.arch": "mlp", "G.width": 256, "D.width": 256,
       "G.depth": 3, "D.depth": 3, "G.norm": "none", "batch_size": 256,
       "log_every": 100, "sample_every": 1000, "ckpt_every": 5000,
       "steps": 6000, "G_opt.lr": 1e-3, "D_opt.lr": 1e-3}


@dataclass
class GANConfig(AdversarialConfig):
    loss: Literal["minimax", "hinge", "least_squares"] = param("minimax", "adversarial objective")
    saturating: bool = param(False, "minimax only: train G on log(1 - D(G(z))) instead of -log D(G(z))")
    # LayerNorm in D: without any normalization the DCGAN critic lets G collapse onto one digit on
    # mnist5k within 400 steps; BatchNorm is DCGAN's choice (the `dcgan` recipe)
    D: DNetConfig = nested(lambda: d_net(dropout=0.2, norm="layer"), "discriminator network")


@register
class GAN(AdversarialRecipe):
    name = "gan"
    Config = GANConfig
    description = "Goodfellow et al. 2014: BCE game, saturating/non-saturating G loss, dropout in D"
    presets = {
        "smoke": SMOKE,
        # 2-D mixtures: no dropout and lr 1e-3 (ring8: 8/8 modes, 97% high quality in 6,000 steps)
        "toy": {**TOY, "D.dropout": 0.0, "D.norm": "none"},
        "saturating": {"saturating": True},
        "mlp": {"G.arch": "mlp", "D.arch": "mlp", "G.width": 512, "D.width": 512, "G.depth": 3, "D.depth": 3},
    }
    cfg: GANConfig

    def check(self) -> None:
        super().check()
        if self.cfg.saturating and self.cfg.loss != "minimax":
            raise GankitError(f"saturating=true needs loss=minimax (got loss={self.cfg.loss})")

    def base_objective(self) -> Objective:
        if self.cfg.loss == "minimax":
            return OBJECTIVES["minimax" if self.cfg.saturating else "nonsaturating"]
        return OBJECTIVES[self.cfg.loss]
