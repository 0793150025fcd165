"""The two-player step shared by the GAN family: a generator G against a discriminator/critic D.

One training step (Goodfellow et al. 2014, Algorithm 1):
  1. `D` phase, `n_critic` times: fresh real batch x and fakes G(z),
     loss = objective.d(D(x), D(G(z))) + the recipe's penalty; one optimizer
     step on D, then post-step hooks (e.g. WGAN weight clipping).
  2. `G` phase, once: loss = objective.g(D(G(z))), one optimizer step on G
     (D is frozen, so no gradient is computed for its weights). G(z) is the
     last D step's fakes, kept with their graph (`reuse_fakes`, on by default).
  3. Recipes may add phases, e.g. a lazy R1 phase every k steps.

Switches shared by every recipe of the family (Salimans et al. 2016; issue: mode
collapse), grouped under `remedy.`: class conditioning of G and D (`remedy.condition`:
cgan concatenation, projection, ACGAN), PacGAN packing (`remedy.pack`), feature
matching as G's loss, historical averaging, unrolled D for G's loss; and, on D's
network, minibatch discrimination and minibatch standard deviation
(`D.minibatch_kernels`, `D.mbstd_group`). The family also owns what generic recipes
do not have: `z_dim`, the EMA copy G_ema, the health checks and a traceable sampler.

Each concrete recipe (gan, dcgan, wgan, wgan-gp, r1) is a small file that sets
its objective, penalties, hooks, defaults and presets.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .. import config as C
from ..config import OptimConfig, nested, param
from ..nets.config import DNetConfig, NetConfig, d_net, g_net
from ..data.base import Batch, DataSpec, to_data_space
from ..errors import GankitError
from ..modalities import get_modality
from ..nets import build_discriminator, build_generator
from ..nets.layers import need_double_backward, pack
from ..objectives import Objective, d_minimax, mean_probability
from ..objectives.adversarial import SATURATED_LOGIT
from ..objectives.remedies import RunningMean, feature_matching, unrolled_parameters
from .base import Hook, Phase, Recipe, StepContext

SAMPLE_CHUNK = 512


@dataclass
class RemedyConfig:
    """Switches against mode collapse and for class conditioning, shared by the family (`remedy.*`)."""

    condition: Literal["none", "cgan", "projection", "acgan"] = param(
        "none", "class conditioning: cgan (labels concatenated to G's z and D's input), projection, acgan")
    acgan_weight: float = param(1.0, "weight of ACGAN's auxiliary classification losses", min=0.0)
    acgan_fake_labels: bool = param(True, "ACGAN: D's classifier also learns fakes' requested labels (paper eq. 3); "
                                          "false: real digits only, so G cannot satisfy it with a private code")
    label_smoothing: float = param(0.0, "one-sided label smoothing: D's real target = 1 - this (BCE losses)",
                                   min=0.0, max=0.5)
    pack: int = param(1, "PacGAN: D judges this many samples at once (1 = off; paper 2-4)", min=1, max=16)
    g_objective: Literal["adversarial", "feature_matching"] = param(
        "adversarial", "G's loss: the objective's, or feature matching on D's features (Salimans 2016)")
    historical_averaging: float = param(0.0, "weight of ‖θ - mean of past θ‖² for both nets (0 = off)", min=0.0)
    unroll_steps: int = param(0, "unrolled GAN: G's loss against D after k more SGD steps (0 = off)", min=0, max=20)
    unroll_lr: float = param(0.0, "step size of the unrolled D steps (0 = D's learning rate)", min=0.0)


@dataclass
class AdversarialConfig(C.TrainConfig):
    z_dim: int = param(100, "latent dimension", min=1)
    ema: float = param(0.999, "EMA decay of G_ema per step (0 = no EMA copy)", min=0.0, max=0.99999)
    G: NetConfig = nested(g_net, "generator network")
    D: DNetConfig = nested(d_net, "discriminator network")
    G_opt: OptimConfig = nested(OptimConfig, "generator optimizer")
    D_opt: OptimConfig = nested(OptimConfig, "discriminator optimizer")
    n_critic: int = param(1, "discriminator steps per generator step", min=1, max=1000)
    reuse_fakes: bool = param(True, "the G step reuses the last D step's G(z) instead of a second G forward")
    remedy: RemedyConfig = nested(RemedyConfig, "mode-collapse remedies and class conditioning")
    # the remedies' flat names of gankit 0.1 (old commands and run folders keep working)
    renamed: ClassVar[dict[str, str]] = {k: f"remedy.{k}" for k in (
        "condition", "acgan_weight", "acgan_fake_labels", "label_smoothing", "pack", "g_objective",
        "historical_averaging", "unroll_steps", "unroll_lr")}


class AdversarialRecipe(Recipe):
    """G vs D with one objective; subclasses choose the objective, penalty and hooks."""

    cfg: AdversarialConfig
    auto_preset = {"points": "toy", "table": "toy"}
    losses = ("loss/D", "loss/G")
    # remedy.* switches (RemedyConfig field names) this recipe's nets cannot honour; switching one on is an error
    unsupported_remedies: ClassVar[dict[str, str]] = {}

    # -- what subclasses customize -----------------------------------------------------------
    def base_objective(self) -> Objective:
        raise NotImplementedError

    def d_penalty(self, ctx: StepContext, real: Tensor, fake: Tensor, y: Tensor | None) -> Tensor | None:
        """Extra term added to D's loss in the same backward (e.g. the WGAN-GP penalty).
        `real` and `fake` are D's inputs (packed if packing is on), `y` their labels."""
        return None

    def d_real_penalty(self, ctx: StepContext, d_real: Tensor) -> Tensor | None:
        """Extra term of D's loss computed from D's outputs on real data (e.g. ProGAN's drift ε·D(x)²)."""
        return None

    def real_batch(self, ctx: StepContext) -> Batch:
        """The next real batch as D sees it (a growing recipe brings it to the live resolution)."""
        return ctx.real()

    def d_hooks(self) -> tuple[Hook, ...]:
        return ()

    def n_critic(self, step: int) -> int:
        return self.cfg.n_critic

    def extra_phases(self) -> list[Phase]:
        return []

    # -- settings ---------------------------------------------------------------------------
    @functools.cached_property
    def _objective(self) -> Objective:
        base = self.base_objective()
        if not self.cfg.remedy.label_smoothing:
            return base
        real_label = 1.0 - self.cfg.remedy.label_smoothing
        return Objective(base.name, functools.partial(d_minimax, real_label=real_label), base.g, base.probabilistic)

    def objective(self) -> Objective:
        """The recipe's objective, with one-sided label smoothing of the real target if asked."""
        return self._objective

    @property
    def conditional(self) -> bool:
        return self.cfg.remedy.condition != "none"

    def check(self) -> None:
        cfg = self.cfg
        defaults = RemedyConfig()
        for key, why in self.unsupported_remedies.items():
            if getattr(cfg.remedy, key) != getattr(defaults, key):
                raise GankitError(f"{self.name} does not support remedy.{key} ({why})")
        if self.conditional and self.spec.num_classes < 2:
            raise GankitError(f"remedy.condition={cfg.remedy.condition} needs labelled data; "
                              f"{self.spec.name} has no classes")
        if cfg.remedy.pack > 1 and (self.conditional or cfg.batch_size % cfg.remedy.pack):
            raise GankitError(f"remedy.pack={cfg.remedy.pack} needs an unconditional recipe and batch_size "
                              "divisible by it")
        if cfg.remedy.label_smoothing and not self.base_objective().probabilistic:
            raise GankitError(f"remedy.label_smoothing needs a probabilistic (BCE) loss; {self.name} uses "
                              f"{self.base_objective().name}")
        if cfg.remedy.unroll_steps and getattr(cfg.D, "norm", "none") == "batch":
            raise GankitError("remedy.unroll_steps needs a discriminator without BatchNorm (set D.norm=layer or none)")

    def needs_double_backward(self) -> bool:
        return self.cfg.remedy.unroll_steps > 0

    def ema_nets(self) -> dict[str, float]:
        return {"G": self.cfg.ema} if self.cfg.ema > 0 else {}

    def batch_multiple(self) -> int:
        return self.cfg.remedy.pack  # PacGAN packs consecutive samples of each batch

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """Latent noise z ~ N(0, I) of shape [n, z_dim] (drawn on the CPU, so seeds agree across devices)."""
        return torch.randn(n, self.cfg.z_dim, generator=generator).to(device)

    def health_checks(self, data):
        from ..train.diagnostics import Diagnostics

        return Diagnostics(self, data, get_modality(self.spec.kind).class_probe(data.spec))

    # -- the recipe interface -------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        classes = self.spec.num_classes if self.conditional else 0
        nets = {"G": build_generator(self.cfg.G, self.spec, self.cfg.z_dim, classes),
                "D": build_discriminator(self.cfg.D, self.spec, self.cfg.remedy.condition, self.cfg.remedy.pack)}
        if self.needs_double_backward():
            need_double_backward(nets["D"])
        if self.cfg.remedy.historical_averaging:
            nets.update(G_hist=RunningMean(nets["G"]), D_hist=RunningMean(nets["D"]))
        return nets

    def optimizers(self) -> dict[str, OptimConfig]:
        return {"G": self.cfg.G_opt, "D": self.cfg.D_opt}

    def phases(self) -> list[Phase]:
        keep = ("G",) if self.cfg.reuse_fakes else ()
        d_hooks, g_hooks = self.d_hooks(), ()
        if self.cfg.remedy.historical_averaging:
            d_hooks += (lambda nets: nets["D_hist"].update(nets["D"]),)
            g_hooks = (lambda nets: nets["G_hist"].update(nets["G"]),)
        return [Phase("D", ("D",), self.d_loss, repeat=self.n_critic, post_step=d_hooks, keeps_graph=keep),
                Phase("G", ("G",), self.g_loss, post_step=g_hooks),
                *self.extra_phases()]

    # -- the step ----------------------------------------------------------------------------
    def labels(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor | None:
        """Labels for fakes when none are given: uniform over the classes (None if unconditional)."""
        if not self.conditional:
            return None
        return torch.randint(self.spec.num_classes, (n,), generator=generator).to(device)

    def fakes_for_d(self, ctx: StepContext, n: int, y: Tensor | None) -> Tensor:
        """G(z, y) for the D loss. On the last D repeat the fakes keep their graph through G and are
        stashed for the G phase: G has not changed since (only D stepped), so reusing them is exact
        and saves one G forward per step, as the PyTorch DCGAN example does."""
        z = ctx.z(n)
        if self.cfg.reuse_fakes and ctx.last_repeat and n == ctx.batch_size:
            fake = ctx.nets["G"](z, y)
            ctx.stash["fake"] = (fake, y)
            return fake.detach()
        with torch.no_grad():
            return ctx.nets["G"](z, y)

    def d_input(self, x: Tensor) -> Tensor:
        return pack(x, self.cfg.remedy.pack)

    def discriminate(self, D: nn.Module, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """(logits, features, class logits) of D on x in one pass (features feed feature matching,
        class logits ACGAN)."""
        return D(self.d_input(x), y, with_features=True)

    def d_loss(self, ctx: StepContext) -> Tensor:
        D = ctx.nets["D"]
        batch = self.real_batch(ctx)
        y = batch.y if self.conditional else None
        fake = self.fakes_for_d(ctx, len(batch.x), y)
        (d_real, _, c_real), (d_fake, _, c_fake) = self.discriminate(D, batch.x, y), self.discriminate(D, fake, y)
        loss = self.objective().d(d_real, d_fake)
        self.report_outputs(ctx, d_real, d_fake)
        ctx.report("loss/D", loss)
        if self.cfg.remedy.unroll_steps:
            ctx.stash["real"] = batch
        extras = [self.d_penalty(ctx, self.d_input(batch.x), self.d_input(fake), y),
                  self.acgan_loss(ctx, c_real, y, "D_real") if self.cfg.remedy.condition == "acgan" else None,
                  self.acgan_loss(ctx, c_fake, y, "D_fake") if self.cfg.remedy.condition == "acgan"
                  and self.cfg.remedy.acgan_fake_labels else None,
                  self.history_penalty(ctx, "D"), self.d_real_penalty(ctx, d_real)]
        return loss + sum(e for e in extras if e is not None)

    def g_loss(self, ctx: StepContext) -> Tensor:
        fake, y = ctx.stash.pop("fake", (None, None))
        if fake is None:
            y = self.labels(ctx.batch_size, device=ctx.device)
            fake = ctx.nets["G"](ctx.z(ctx.batch_size), y)
        D = ctx.nets["D"]
        d_fake, v_fake, c_fake = self.discriminate(D, fake, y)
        if self.cfg.remedy.unroll_steps:
            d_fake = self.unrolled_logits(ctx, fake, y)
        if self.cfg.remedy.g_objective == "feature_matching":
            real = self.real_batch(ctx)
            loss = feature_matching(self.discriminate(D, real.x, real.y if self.conditional else None)[1], v_fake)
        else:
            loss = self.objective().g(d_fake)
        ctx.report("loss/G", loss)
        extras = [self.acgan_loss(ctx, c_fake, y, "G") if self.cfg.remedy.condition == "acgan" else None,
                  self.history_penalty(ctx, "G")]
        return loss + sum(e for e in extras if e is not None)

    def acgan_loss(self, ctx: StepContext, class_logits: Tensor, y: Tensor, who: str) -> Tensor:
        """ACGAN (Odena et al. 2017, eq. 2-3): both players minimize the class cross-entropy."""
        ce = F.cross_entropy(class_logits.float(), y)
        ctx.report(f"loss/class_{who}", ce)
        return self.cfg.remedy.acgan_weight * ce

    def history_penalty(self, ctx: StepContext, net: str) -> Tensor | None:
        if not self.cfg.remedy.historical_averaging:
            return None
        penalty = ctx.nets[f"{net}_hist"].penalty(ctx.nets[net])
        ctx.report(f"loss/hist_{net}", penalty)
        return self.cfg.remedy.historical_averaging * penalty

    def unrolled_logits(self, ctx: StepContext, fake: Tensor, y: Tensor | None) -> Tensor:
        """D's logits on `fake` after `unroll_steps` differentiable D steps on this step's batch."""
        D, batch = getattr(ctx.nets["D"], "module", ctx.nets["D"]), ctx.stash.pop("real")  # the net inside DDP
        D.requires_grad_(True)  # the unrolled steps differentiate through D's parameters
        real_in, fake_in = self.d_input(batch.x), self.d_input(fake)

        def d_loss(params):
            return self.objective().d(functional_call(D, params, (real_in, y)), functional_call(D, params, (fake_in, y)))

        lr = self.cfg.remedy.unroll_lr or self.cfg.D_opt.lr
        params = unrolled_parameters(D, d_loss, self.cfg.remedy.unroll_steps, lr)
        D.requires_grad_(False)
        return functional_call(D, params, (fake_in, y))

    def report_outputs(self, ctx: StepContext, d_real: Tensor, d_fake: Tensor) -> None:
        ctx.report("D/real", d_real.detach().float().mean())
        ctx.report("D/fake", d_fake.detach().float().mean())
        if self.objective().probabilistic:  # D(x) as a probability, the course's D_REAL / D_FAKE
            ctx.report("D/p_real", mean_probability(d_real))
            ctx.report("D/p_fake", mean_probability(d_fake))
            ctx.report("D/saturated_fake", (d_fake.detach() < SATURATED_LOGIT).float().mean())

    def generator_net(self, nets: Mapping[str, nn.Module], ema: bool = True) -> nn.Module:
        return nets["G_ema"] if ema and "G_ema" in nets else nets["G"]

    def sample_labels(self, n: int, condition, generator: torch.Generator | None) -> Tensor | None:
        """The class labels of n samples: `condition` (an int or [n] class indices), or uniform random
        classes for conditional runs when it is None."""
        if condition is None:
            return self.labels(n, generator)
        if not self.conditional:
            raise GankitError(f"this {self.name} run is unconditional: it cannot sample given classes")
        y = torch.as_tensor(condition, dtype=torch.long).flatten()
        if len(y) not in (1, n):
            raise GankitError(f"{len(y)} class labels given for {n} samples")
        if ((y < 0) | (y >= self.spec.num_classes)).any():
            raise GankitError(f"class labels must lie in 0..{self.spec.num_classes - 1}")
        return y.expand(n) if len(y) == 1 else y

    @torch.no_grad()
    def sample(self, nets: Mapping[str, nn.Module], n: int, generator: torch.Generator | None = None,
               condition=None, ema: bool = True) -> Tensor:
        """n samples in data space from G_ema (or G); for conditional recipes `condition` ([n] class
        indices, or one class for all) picks the classes (uniform random classes when None)."""
        G = self.generator_net(nets, ema)
        device = next(G.parameters()).device
        y = self.sample_labels(n, condition, generator)
        z = [self.latent(len(idx), generator, device) for idx in torch.arange(n).split(SAMPLE_CHUNK)]
        return self.generate(G, torch.cat(z) if z else torch.empty(0, self.cfg.z_dim, device=device), y)

    @torch.no_grad()
    def sample_many(self, nets, requests):
        """Concurrent requests through one G call: each draws its labels and codes from its own generator in
        `sample`'s order, so its samples equal `sample`'s (up to float rounding of the batch size)."""
        if any(r.n > SAMPLE_CHUNK or r.options != requests[0].options for r in requests):
            return super().sample_many(nets, requests)
        G = self.generator_net(nets, **requests[0].options)
        device = next(G.parameters()).device
        ys, zs = [], []
        for r in requests:
            ys.append(self.sample_labels(r.n, r.condition, r.generator))
            zs.append(self.latent(r.n, r.generator, device))
        y = None if ys[0] is None else torch.cat(ys)
        return list(self.generate(G, torch.cat(zs), y).split([r.n for r in requests]))

    def generate(self, G: nn.Module, z: Tensor, y: Tensor | None) -> Tensor:
        """G(z, y) in eval mode (BatchNorm's running statistics: a sample does not depend on its batch), in
        chunks, mapped to data space."""
        was_training = G.training
        G.eval()
        try:
            chunks = [G(z[idx], None if y is None else y[idx].to(z.device)).float()
                      for idx in torch.arange(len(z)).split(SAMPLE_CHUNK)]
        finally:
            G.train(was_training)
        return to_data_space(self.spec, torch.cat(chunks) if chunks else torch.empty(0, *self.spec.shape))

    def export_module(self, nets: Mapping[str, nn.Module], ema: bool = True):
        G = self.generator_net(nets, ema)
        z = torch.randn(2, self.cfg.z_dim)
        if self.conditional:
            y = torch.arange(2) % self.spec.num_classes
            return SamplingModule(G, self.spec, True), (z, y), ["z", "y"]
        return SamplingModule(G, self.spec, False), (z,), ["z"]


class SamplingModule(nn.Module):
    """G (in eval mode) followed by the map back to data space: what `sample` computes, traceable."""

    def __init__(self, G: nn.Module, spec: DataSpec, conditional: bool):
        super().__init__()
        self.G, self.spec, self.conditional = G, spec, conditional

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return to_data_space(self.spec, self.G(z, y if self.conditional else None).float())
