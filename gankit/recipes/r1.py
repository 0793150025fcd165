"""`r1`: non-saturating GAN with the R1 penalty, Mescheder, Geiger, Nowozin 2018 (eq. 9).

R1 = γ/2 E_{p_data}‖∇_x D(x)‖², a zero-centred penalty on real data that makes
GAN training locally convergent (Theorem 4.1). With `lazy_interval` k > 1 it is
computed in its own phase every k steps and multiplied by k (StyleGAN2, §3.1),
and D's Adam lr and betas are corrected by k/(k+1); k = 1 adds it to every D
loss. Defaults: γ = 10 (StyleGAN; with the ½), Adam lr 2e-4, betas (0, 0.99).
"""

import dataclasses
from dataclasses import dataclass

from torch import Tensor

from ..config import OptimConfig, nested, param
from ..objectives import OBJECTIVES, Objective, lazy_adam, r1_penalty
from .adversarial import AdversarialConfig, AdversarialRecipe
from .base import Phase, StepContext, register
from .gan import SMOKE, TOY


@dataclass
class R1Config(AdversarialConfig):
    G_opt: OptimConfig = nested(lambda: OptimConfig(lr=2e-4, betas=(0.0, 0.99)), "generator optimizer")
    D_opt: OptimConfig = nested(lambda: OptimConfig(lr=2e-4, betas=(0.0, 0.99)), "discriminator optimizer")
    gamma: float = param(10.0, "γ, R1 weight (applied as γ/2 E‖∇D(x)‖²)", min=0.0)
    lazy_interval: int = param(16, "compute R1 every k steps, scaled by k (1 = every D step)", min=1, max=1000)


@register
class R1GAN(AdversarialRecipe):
    name = "r1"
    Config = R1Config
    description = "Mescheder et al. 2018: non-saturating GAN + R1 penalty γ/2‖∇D(x)‖², lazy every k steps"
    presets = {
        "smoke": {**SMOKE, "lazy_interval": 2},
        "toy": {**TOY, "gamma": 0.1, "lazy_interval": 4},
        "eager": {"lazy_interval": 1},
    }
    cfg: R1Config

    def needs_double_backward(self) -> bool:
        return self.cfg.gamma > 0 or super().needs_double_backward()

    def base_objective(self) -> Objective:
        return OBJECTIVES["nonsaturating"]

    @property
    def lazy(self) -> bool:
        return self.cfg.lazy_interval > 1

    def optimizers(self) -> dict[str, OptimConfig]:
        opts = super().optimizers()
        d_opt = self.cfg.D_opt
        if self.lazy and d_opt.name == "adam":
            lr, betas = lazy_adam(d_opt.lr, d_opt.betas, self.cfg.lazy_interval)
            opts["D"] = dataclasses.replace(d_opt, lr=lr, betas=betas)
        return opts

    def r1(self, ctx: StepContext, real: Tensor, y: Tensor | None) -> Tensor:
        penalty = r1_penalty(ctx.nets["D"], real, self.cfg.gamma, y)
        ctx.report("loss/R1", penalty)
        return penalty

    def d_penalty(self, ctx: StepContext, real: Tensor, fake: Tensor, y: Tensor | None) -> Tensor | None:
        return None if self.lazy or self.cfg.gamma == 0 else self.r1(ctx, real, y)

    def lazy_r1(self, ctx: StepContext) -> Tensor:
        batch = self.real_batch(ctx)
        return self.cfg.lazy_interval * self.r1(ctx, self.d_input(batch.x), batch.y if self.conditional else None)

    def extra_phases(self) -> list[Phase]:
        if not self.lazy or self.cfg.gamma == 0:
            return []
        return [Phase("D_reg", ("D",), self.lazy_r1, interval=self.cfg.lazy_interval)]
