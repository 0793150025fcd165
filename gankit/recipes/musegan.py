"""`musegan`: multi-track pianoroll phrases, Dong et al. 2018 (AAAI), "MuseGAN: Multi-track Sequential
Generative Adversarial Networks for Symbolic Music Generation and Accompaniment".

Nets (gankit/nets/musegan.py): a temporal generator for 4-bar phrases and bar generators fed by shared
and/or private latents, `mode` = jamming (private: one generator per track), composer (shared: one
generator writes every track) or hybrid (both; the default). Training is WGAN-GP as in the paper (§4.2):

    L_D = E[D(G(z))] − E[D(x)] + λ E[(‖∇D(x̂)‖ − 1)²],   L_G = −E[D(G(z))],
    λ = 10, 5 critic steps per G step, Adam 2e-4 (0.5, 0.9), batch 64.

G ends in a sigmoid; samples are binarised at sampling time (§5.2 compares the two): `binarize=threshold`
(at 0.5, the default) or `bernoulli` (each step on with its probability; drawn from the sampling
generator, so a seed still fixes the result), or `none` (the raw probabilities).

`binary_neurons` (Dong & Yang 2018, "Convolutional Generative Adversarial Networks with Binary Neurons
for Polyphonic Music Generation", ISMIR, §3) makes the critic judge G's phrases binarised, as they will be
sampled: deterministic (at 0.5) or stochastic (Bernoulli) binary neurons, with the sigmoid-adjusted
straight-through estimator carrying G's gradient:

    forward: b = 1[p > 0.5] (or 1[u < p], u ~ U(0, 1)),   backward: ∂b/∂p := 1.

`refiner=N` puts that paper's refiner R (N residual units per track) between G and the binary neurons, and
`train_G=false` keeps G fixed: the paper's two-stage training is a first run on probabilities, then
`gankit train musegan --init RUN --set refiner=2 --set train_G=false --set binary_neurons=deterministic`
(the "proposed" model of its Table 2; `train_G=true` is its "joint" variant).

Track-conditional generation (§3.4): `condition_track=soprano` feeds the real soprano of each phrase to
an encoder whose code joins every bar generator's input, and puts that soprano into the phrase D judges:
G learns to harmonise a given melody. `sample(condition=melodies)` takes [n, T, pitches] melodies on the
run's pitch axis (data/music.py `melody_roll` reads one from a MIDI file); without one, melodies are drawn
from a bank of real ones kept with the weights.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .. import config as C
from ..config import nested, param
from ..data.music import MusicDataConfig
from ..errors import GankitError
from ..nets.musegan import MODES, MuseCritic, MuseGenerator, Refiner, with_track
from ..objectives import d_wasserstein, g_wasserstein, gradient_penalty
from .base import SMOKE_RUN, Phase, Recipe, register

MELODY_BANK = 256


def adam(lr: float, betas: tuple[float, float]) -> C.OptimConfig:
    return C.OptimConfig(name="adam", lr=lr, betas=betas)


@dataclass
class MuseGANConfig(C.TrainConfig):
    steps: int = param(20_000, "generator steps", min=1)
    mode: Literal["jamming", "composer", "hybrid"] = param("hybrid", "latents: private (jamming), shared "
                                                                     "(composer) or both (hybrid)")
    z_dim: int = param(32, "size of each latent (shared/private, static/temporal)", min=1)
    G_width: int = param(64, "channels of the bar generators (and the temporal nets' width)", min=2)
    D_width: int = param(32, "channels per track of the critic's private stream", min=1)
    D_chroma: bool = param(True, "the critic's chroma stream (BinaryMuseGAN): every track's pitch classes per "
                                 "beat, judged together (false: the AAAI paper's critic)")
    n_critic: int = param(5, "critic steps per generator step", min=1, max=100)
    gp_weight: float = param(10.0, "λ, weight of the gradient penalty", min=0.0)
    binarize: Literal["threshold", "bernoulli", "none"] = param(
        "threshold", "samples: on where G's probability > 0.5, Bernoulli draws, or the raw probabilities")
    binary_neurons: Literal["none", "deterministic", "stochastic"] = param(
        "none", "what the critic sees of G in training: probabilities (none: the AAAI paper) or 0/1 phrases with "
                "straight-through gradients (BinaryMuseGAN: threshold 0.5 or Bernoulli draws)")
    refiner: int = param(0, "BinaryMuseGAN's refiner: residual units per track between G and the binary "
                            "neurons (0: none)", min=0, max=16)
    refiner_width: int = param(4, "channels per track of the refiner's units (full-resolution convolutions: "
                                  "two units of width 4 make a fast-preset CPU step ~3× slower, benchmarks §15)", min=1)
    refiner_dilate: bool = param(False, "dilate the refiner's units in time (1, 2, 4, ... per convolution): two "
                                        "units then see two bars (33 steps), not 11 steps; same weights and cost")
    train_G: bool = param(True, "train G (false: G stays as loaded by --init and only the refiner and the "
                                "critic train, BinaryMuseGAN's second stage)")
    condition_track: str = param("", "track-conditional: the track (by name, e.g. soprano) G harmonises")
    G_opt: C.OptimConfig = nested(lambda: adam(2e-4, (0.5, 0.9)), "generator optimizer")
    D_opt: C.OptimConfig = nested(lambda: adam(2e-4, (0.5, 0.9)), "critic optimizer")
    music: MusicDataConfig = nested(MusicDataConfig, "music data: tracks, phrases, transposition")


class MelodyBank(nn.Module):
    """Up to MELODY_BANK real condition-track phrases, kept with the weights so that a track-conditional run
    can sample without a melody given."""

    def __init__(self, steps: int, pitches: int):
        super().__init__()
        self.register_buffer("melodies", torch.zeros(MELODY_BANK, steps, pitches))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def add(self, melodies: Tensor) -> None:
        free = MELODY_BANK - int(self.count)
        if free > 0:
            take = melodies[:free]
            self.melodies[int(self.count):int(self.count) + len(take)] = take
            self.count += len(take)

    def draw(self, n: int, generator: torch.Generator | None) -> Tensor:
        if int(self.count) == 0:
            raise GankitError("this run has no melodies yet: pass condition=[n, T, pitches] melodies")
        pick = torch.randint(int(self.count), (n,), generator=generator)
        return self.melodies[pick.to(self.melodies.device)]


@register
class MuseGAN(Recipe):
    name = "musegan"
    Config = MuseGANConfig
    description = "Dong et al. 2018: multi-track pianoroll phrases, jamming/composer/hybrid latents, WGAN-GP"
    presets = {
        "smoke": {**SMOKE_RUN, "batch_size": 8, "z_dim": 4, "G_width": 4, "D_width": 2, "n_critic": 2},
        "paper": {"D_chroma": False},
        # a CPU budget, the benchmark's runs (benchmarks/bench_music.py): ~0.4 CPU-s per step on 1 thread
        # (channels_last is slower for these small grouped convolutions)
        "fast": {"steps": 600, "batch_size": 16, "z_dim": 16, "G_width": 16, "D_width": 8, "n_critic": 5,
                 "channels_last": False, "log_every": 50, "sample_every": 200, "ckpt_every": 300,
                 "max_minutes": 5.0},
    }
    data_kinds = ("pianoroll",)
    losses = ("loss/D", "loss/G")
    former_defaults = {"D_chroma": False}  # runs saved before the chroma stream existed were trained without it
    cfg: MuseGANConfig

    # -- sizes from the data ----------------------------------------------------------------
    @property
    def track_names(self) -> list[str]:
        return [t["name"] for t in self.spec.meta["tracks"]]

    @property
    def bars(self) -> int:
        return self.spec.meta["bars"]

    @property
    def steps_per_bar(self) -> int:
        return self.spec.meta["steps_per_bar"]

    @property
    def condition_index(self) -> int:
        return self.track_names.index(self.cfg.condition_track) if self.cfg.condition_track else -1

    def check(self) -> None:
        if self.cfg.mode not in MODES:
            raise GankitError(f"mode must be one of {', '.join(MODES)}")
        if self.steps_per_bar % 4:
            raise GankitError(f"musegan needs bars of a multiple of 4 steps (beats of 16th notes); "
                              f"{self.spec.name} has {self.steps_per_bar}")
        if self.cfg.condition_track and self.cfg.condition_track not in self.track_names:
            raise GankitError(f"condition_track={self.cfg.condition_track}: {self.spec.name} has the tracks "
                              f"{', '.join(self.track_names)}")
        if self.cfg.condition_track and len(self.track_names) < 2:
            raise GankitError("condition_track needs data of at least two tracks")
        if not self.cfg.train_G and not self.cfg.refiner:
            raise GankitError("train_G=false leaves the generator side nothing to train: add a refiner "
                              "(--set refiner=2)")

    def needs_double_backward(self) -> bool:
        return self.cfg.gp_weight > 0

    # -- nets -------------------------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        tracks, length, pitches = self.spec.shape
        cfg = self.cfg
        nets = {"G": MuseGenerator(cfg.mode, tracks, cfg.z_dim, self.bars, self.steps_per_bar, pitches,
                                   cfg.G_width, self.condition_index),
                "D": MuseCritic(tracks, self.bars, self.steps_per_bar, pitches, cfg.D_width, cfg.D_chroma)}
        if self.cfg.condition_track:
            nets["melodies"] = MelodyBank(length, pitches)
        if self.cfg.refiner:
            nets["R"] = Refiner(tracks, self.cfg.refiner, self.cfg.refiner_width, self.cfg.refiner_dilate)
        return nets

    @property
    def generator_nets(self) -> tuple[str, ...]:
        """What the G phase trains: G and/or the refiner R (with the G optimizer's settings)."""
        return ("G",) * self.cfg.train_G + ("R",) * bool(self.cfg.refiner)

    def optimizers(self) -> dict[str, C.OptimConfig]:
        return {**{name: self.cfg.G_opt for name in self.generator_nets}, "D": self.cfg.D_opt}

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.d_loss, repeat=self.cfg.n_critic),
                Phase("G", self.generator_nets, self.g_loss)]

    def latent(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        size = MuseGenerator.latent_size(self.cfg.mode, self.spec.shape[0], self.cfg.z_dim)
        return torch.randn(n, size, generator=generator).to(device)

    # -- the step (WGAN-GP) -------------------------------------------------------------------
    def melody(self, real: Tensor) -> Tensor | None:
        return real[:, self.condition_index] if self.cfg.condition_track else None

    def fake(self, ctx, n: int, melody: Tensor | None) -> Tensor:
        """G's phrases as the critic judges them: refined (if there is a refiner), then binary neurons or
        probabilities."""
        G = ctx.nets["G"]
        if not self.cfg.train_G:
            G.eval()  # the fixed G of the second stage gives what sampling sees (BatchNorm's running statistics)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.cfg.train_G):
            probs = G(ctx.z(n), melody)
        return binary_neurons(self.refine(ctx.nets, probs, melody), self.cfg.binary_neurons)

    def refine(self, nets, probs: Tensor, melody: Tensor | None) -> Tensor:
        """The refiner's probabilities (G's where there is none); a given melody stays as given."""
        if "R" not in nets:
            return probs
        refined = nets["R"](probs)
        return with_track(refined, self.condition_index, melody) if melody is not None else refined

    def d_loss(self, ctx) -> Tensor:
        D, real = ctx.nets["D"], ctx.real().x
        with torch.no_grad():
            fake = self.fake(ctx, len(real), self.melody(real))
        d_real, d_fake = D(real), D(fake)
        loss = d_wasserstein(d_real, d_fake)
        ctx.report("loss/D", loss)
        ctx.report("D/real", d_real.detach().mean())
        ctx.report("D/fake", d_fake.detach().mean())
        if self.cfg.gp_weight:
            gp = gradient_penalty(D, real, fake)
            ctx.report("loss/GP", gp)
            loss = loss + self.cfg.gp_weight * gp
        return loss

    def g_loss(self, ctx) -> Tensor:
        melody = None
        if self.cfg.condition_track:
            melody = self.melody(ctx.real().x)
            ctx.nets["melodies"].add(melody)
        loss = g_wasserstein(ctx.nets["D"](self.fake(ctx, ctx.batch_size, melody)))
        ctx.report("loss/G", loss)
        return loss

    # -- sampling ---------------------------------------------------------------------------
    def melodies(self, nets, n: int, condition, generator, device) -> Tensor | None:
        if not self.cfg.condition_track:
            if condition is not None:
                raise GankitError("this musegan run has no condition track: it cannot harmonise a melody "
                                  "(train with --set condition_track=NAME)")
            return None
        if condition is None:
            return nets["melodies"].draw(n, generator).to(device)
        melody = torch.as_tensor(condition, dtype=torch.float32)
        expected = tuple(self.spec.shape[1:])
        if tuple(melody.shape[-2:]) != expected or melody.dim() not in (2, 3):
            raise GankitError(f"a melody must be [T, pitches] = {list(expected)} on the run's pitch axis "
                              f"(got {list(melody.shape)})")
        return melody.reshape(-1, *expected).expand(n, *expected).to(device) if melody.dim() == 2 or \
            len(melody) == 1 else melody[:n].to(device)

    @torch.no_grad()
    def sample(self, nets, n: int, generator: torch.Generator | None = None, condition=None,
               binarize: str | None = None, ema: bool = True) -> Tensor:
        """n phrases [n, tracks, T, pitches]: binarised (the config's `binarize`, or this call's). `ema` is
        accepted like other recipes' and changes nothing: musegan keeps no EMA copy."""
        G = nets["G"]
        device = next(G.parameters()).device
        z = self.latent(n, generator, device)
        melody = self.melodies(nets, n, condition, generator, device)
        was_training = G.training
        G.eval()  # BatchNorm's running statistics: a sample does not depend on its batch
        try:
            probs = self.refine(nets, G(z, melody), melody) if n else torch.zeros(0, *self.spec.shape)
        finally:
            G.train(was_training)
        return binarise(probs.float().cpu(), binarize or self.cfg.binarize, generator)


NEURON_RULES = {"deterministic": "threshold", "stochastic": "bernoulli"}  # binary neuron -> its binarise rule


def binary_neurons(probs: Tensor, how: str) -> Tensor:
    """BinaryMuseGAN's binary neurons on G's probabilities: 0/1 forward (the sampling rule of the same name),
    the identity's gradient backward (the straight-through estimator; "sigmoid-adjusted" since p is a
    sigmoid's output). `none`: unchanged."""
    if how == "none":
        return probs
    hard = binarise(probs.detach(), NEURON_RULES[how])
    return probs + (hard.to(probs.dtype) - probs).detach()


def binarise(probs: Tensor, how: str, generator: torch.Generator | None = None) -> Tensor:
    """0/1 pianorolls from G's probabilities: a 0.5 threshold, Bernoulli draws, or unchanged (`none`)."""
    if how == "threshold":
        return (probs > 0.5).float()
    if how == "bernoulli":
        return (torch.rand(probs.shape, generator=generator, device=probs.device) < probs).float()
    if how == "none":
        return probs
    raise GankitError(f"binarize={how!r}: choose threshold, bernoulli or none")
