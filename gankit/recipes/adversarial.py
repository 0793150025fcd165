"""The two-player step shared by the GAN family: a generator G against a discriminator/critic D.

One training step (Goodfellow et al. 2014, Algorithm 1):
  1. `D` phase, `n_critic` times: fresh real batch x and fakes G(z),
     loss = objective.d(D(x), D(G(z))) + the recipe's penalty; one optimizer
     step on D, then post-step hooks (e.g. WGAN weight clipping).
  2. `G` phase, once: loss = objective.g(D(G(z))), one optimizer step on G
     (D is frozen, so no gradient is computed for its weights). G(z) is the
     last D step's fakes, kept with their graph (`reuse_fakes`, on by default).
  3. Recipes may add phases, e.g. a lazy R1 phase every k steps.

Each concrete recipe (gan, dcgan, wgan, wgan-gp, r1) is a small file that sets
its objective, penalties, hooks, defaults and presets.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import config as C
from ..config import DNetConfig, NetConfig, OptimConfig, d_net, g_net, nested, param
from ..data.base import to_data_space
from ..nets import build_discriminator, build_generator
from ..objectives import Objective, mean_probability
from ..objectives.adversarial import SATURATED_LOGIT
from .base import Hook, Phase, Recipe, StepContext

SAMPLE_CHUNK = 512


@dataclass
class AdversarialConfig(C.TrainConfig):
    G: NetConfig = nested(g_net, "generator network")
    D: DNetConfig = nested(d_net, "discriminator network")
    G_opt: OptimConfig = nested(OptimConfig, "generator optimizer")
    D_opt: OptimConfig = nested(OptimConfig, "discriminator optimizer")
    n_critic: int = param(1, "discriminator steps per generator step", min=1, max=1000)
    reuse_fakes: bool = param(True, "the G step reuses the last D step's G(z) instead of a second G forward")


class AdversarialRecipe(Recipe):
    """G vs D with one objective; subclasses choose the objective, penalty and hooks."""

    cfg: AdversarialConfig

    # -- what subclasses customize -----------------------------------------------------------
    def objective(self) -> Objective:
        raise NotImplementedError

    def d_penalty(self, ctx: StepContext, real: Tensor, fake: Tensor) -> Tensor | None:
        """Extra term added to D's loss in the same backward (e.g. the WGAN-GP penalty)."""
        return None

    def d_hooks(self) -> tuple[Hook, ...]:
        return ()

    def n_critic(self, step: int) -> int:
        return self.cfg.n_critic

    def extra_phases(self) -> list[Phase]:
        return []

    # -- the recipe interface -------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        return {"G": build_generator(self.cfg.G, self.spec, self.cfg.z_dim),
                "D": build_discriminator(self.cfg.D, self.spec)}

    def optimizers(self) -> dict[str, OptimConfig]:
        return {"G": self.cfg.G_opt, "D": self.cfg.D_opt}

    def phases(self) -> list[Phase]:
        keep = ("G",) if self.cfg.reuse_fakes else ()
        return [Phase("D", ("D",), self.d_loss, repeat=self.n_critic, post_step=self.d_hooks(), keeps_graph=keep),
                Phase("G", ("G",), self.g_loss),
                *self.extra_phases()]

    def fakes_for_d(self, ctx: StepContext, n: int) -> Tensor:
        """G(z) for the D loss. On the last D repeat the fakes keep their graph through G and are
        stashed for the G phase: G has not changed since (only D stepped), so reusing them is exact
        and saves one G forward per step, as the PyTorch DCGAN example does."""
        z = ctx.z(n)
        if self.cfg.reuse_fakes and ctx.last_repeat and n == self.cfg.batch_size:
            fake = ctx.nets["G"](z)
            ctx.stash["fake"] = fake
            return fake.detach()
        with torch.no_grad():
            return ctx.nets["G"](z)

    def d_loss(self, ctx: StepContext) -> Tensor:
        D = ctx.nets["D"]
        real = ctx.real().x
        fake = self.fakes_for_d(ctx, len(real))
        d_real, d_fake = D(real), D(fake)
        loss = self.objective().d(d_real, d_fake)
        self.report_outputs(ctx, d_real, d_fake)
        ctx.report("loss/D", loss)
        penalty = self.d_penalty(ctx, real, fake)
        return loss if penalty is None else loss + penalty

    def g_loss(self, ctx: StepContext) -> Tensor:
        fake = ctx.stash.pop("fake", None)
        if fake is None:
            fake = ctx.nets["G"](ctx.z(self.cfg.batch_size))
        loss = self.objective().g(ctx.nets["D"](fake))
        ctx.report("loss/G", loss)
        return loss

    def report_outputs(self, ctx: StepContext, d_real: Tensor, d_fake: Tensor) -> None:
        ctx.report("D/real", d_real.detach().float().mean())
        ctx.report("D/fake", d_fake.detach().float().mean())
        if self.objective().probabilistic:  # D(x) as a probability, the course's D_REAL / D_FAKE
            ctx.report("D/p_real", mean_probability(d_real))
            ctx.report("D/p_fake", mean_probability(d_fake))
            ctx.report("D/saturated_fake", (d_fake.detach() < SATURATED_LOGIT).float().mean())

    @torch.no_grad()
    def sample(self, nets: Mapping[str, nn.Module], n: int, generator: torch.Generator | None = None,
               y: Tensor | None = None, ema: bool = True) -> Tensor:
        G = nets["G_ema"] if ema and "G_ema" in nets else nets["G"]
        device = next(G.parameters()).device
        was_training = G.training
        G.eval()  # BatchNorm uses its running statistics, so a sample does not depend on its batch
        try:
            chunks = [G(self.latent(min(SAMPLE_CHUNK, n - i), generator, device)).float()
                      for i in range(0, n, SAMPLE_CHUNK)]
        finally:
            G.train(was_training)
        return to_data_space(self.spec, torch.cat(chunks) if chunks else torch.empty(0, *self.spec.shape))
