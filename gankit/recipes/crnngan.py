"""`crnngan`: note-event sequences, Mogren 2016, "C-RNN-GAN: Continuous recurrent neural networks with
adversarial training" (NIPS Constructive Machine Learning workshop).

Data: events of (time since the previous onset, then per tone: pitch, duration, velocity), standardized
(data/music.py; `music.tones` > 1 is the paper's polyphonic variant). Nets (gankit/nets/sequence.py): an
LSTM generator (2 × 350 units) reading noise and its previous output, a bidirectional LSTM discriminator
(2 × 350) with a logit per step. The game is the BCE GAN (§3):

    L_D = −mean_t [log D(x)_t + log(1 − D(G(z))_t)]
    L_G = −mean_t log D(G(z))_t,   or with `feature_matching` (the paper's choice for G, §3):
    L_G = ‖E[φ(x)] − E[φ(G(z))]‖²,  φ = D's last LSTM layer's outputs.

`pretrain_steps` > 0 is the paper's pretraining: G first learns to predict the next event of real
sequences (squared error, the real previous event as input), D idle; then the adversarial game.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import config as C
from ..config import nested, param
from ..data.base import to_data_space
from ..data.music import MusicDataConfig
from ..nets.sequence import RecurrentDiscriminator, RecurrentGenerator
from ..objectives import d_minimax, g_nonsaturating
from ..objectives.remedies import feature_matching
from .base import SMOKE_RUN, Phase, Recipe, register


@dataclass
class CRNNGANConfig(C.TrainConfig):
    steps: int = param(5000, "training steps", min=1)
    z_dim: int = param(32, "noise features per time step", min=1)
    G_hidden: int = param(350, "LSTM units per generator layer", min=1)
    G_layers: int = param(2, "generator LSTM layers", min=1, max=8)
    D_hidden: int = param(350, "LSTM units per discriminator layer (each direction)", min=1)
    D_layers: int = param(2, "discriminator LSTM layers", min=1, max=8)
    feature_matching: bool = param(True, "G matches the mean of D's features on real data (the paper's G loss)")
    pretrain_steps: int = param(0, "steps of next-event squared-error pretraining of G first (0 = none)", min=0)
    G_opt: C.OptimConfig = nested(lambda: C.OptimConfig(lr=1e-4, betas=(0.5, 0.999)), "generator optimizer")
    D_opt: C.OptimConfig = nested(lambda: C.OptimConfig(lr=1e-4, betas=(0.5, 0.999)), "discriminator optimizer")
    music: MusicDataConfig = nested(MusicDataConfig, "music data: tracks, sequence length, tones per event")


@register
class CRNNGAN(Recipe):
    name = "crnngan"
    Config = CRNNGANConfig
    description = "Mogren 2016: LSTM generator vs bidirectional LSTM discriminator over note events"
    presets = {
        "smoke": {**SMOKE_RUN, "batch_size": 8, "z_dim": 4, "G_hidden": 8, "D_hidden": 8, "G_layers": 1,
                  "D_layers": 1},
        "paper": {},
        # a CPU budget (benchmarks/bench_music.py)
        "fast": {"steps": 400, "batch_size": 32, "G_hidden": 64, "D_hidden": 64, "log_every": 25,
                 "sample_every": 200, "ckpt_every": 200, "max_minutes": 3.0},
    }
    data_kinds = ("events",)
    losses = ("loss/D", "loss/G")
    cfg: CRNNGANConfig

    def build_nets(self) -> dict[str, nn.Module]:
        features, cfg = self.spec.shape[1], self.cfg
        return {"G": RecurrentGenerator(features, cfg.z_dim, cfg.G_hidden, cfg.G_layers),
                "D": RecurrentDiscriminator(features, cfg.D_hidden, cfg.D_layers)}

    def optimizers(self) -> dict[str, C.OptimConfig]:
        return {"G": self.cfg.G_opt, "D": self.cfg.D_opt}

    def adversarial(self, step: int) -> int:
        return int(step >= self.cfg.pretrain_steps)

    def phases(self) -> list[Phase]:
        phases = [Phase("D", ("D",), self.d_loss, repeat=self.adversarial),
                  Phase("G", ("G",), self.g_loss, repeat=self.adversarial)]
        if self.cfg.pretrain_steps:
            phases.insert(0, Phase("G_pretrain", ("G",), self.pretrain_loss,
                                   repeat=lambda step: 1 - self.adversarial(step)))
        return phases

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """Uniform noise per time step, [n, L, z_dim] (the paper draws z uniformly)."""
        return torch.rand(n, self.spec.shape[0], self.cfg.z_dim, generator=generator).to(device)

    # -- the step ---------------------------------------------------------------------------
    def d_loss(self, ctx) -> Tensor:
        D, real = ctx.nets["D"], ctx.real().x
        with torch.no_grad():
            fake = ctx.nets["G"](ctx.z(len(real)))
        d_real, d_fake = D(real), D(fake)
        loss = d_minimax(d_real, d_fake)
        ctx.report("loss/D", loss)
        ctx.report("D/p_real", torch.sigmoid(d_real.detach()).mean())
        ctx.report("D/p_fake", torch.sigmoid(d_fake.detach()).mean())
        return loss

    def g_loss(self, ctx) -> Tensor:
        D = ctx.nets["D"]
        fake = ctx.nets["G"](ctx.z(ctx.batch_size))
        d_fake, fake_features = D(fake, with_features=True)
        if self.cfg.feature_matching:
            _, real_features = D(ctx.real().x, with_features=True)
            loss = feature_matching(real_features, fake_features)
            ctx.report("loss/G_adversarial", g_nonsaturating(d_fake.detach()))
        else:
            loss = g_nonsaturating(d_fake)
        ctx.report("loss/G", loss)
        return loss

    def pretrain_loss(self, ctx) -> Tensor:
        real = ctx.real().x
        predicted = ctx.nets["G"](ctx.z(len(real)), teacher=real)
        loss = F.mse_loss(predicted, real)
        ctx.report("loss/G_pretrain", loss)
        return loss

    @torch.no_grad()
    def sample(self, nets, n: int, generator: torch.Generator | None = None, condition=None, ema: bool = True) -> Tensor:
        """n event sequences [n, L, features] in data space (beats, MIDI pitch, velocity); `ema` changes
        nothing (no EMA copy)."""
        G = nets["G"]
        z = self.latent(n, generator, next(G.parameters()).device)
        x = G(z).float().cpu() if n else torch.zeros(0, *self.spec.shape)
        return to_data_space(self.spec, x)
