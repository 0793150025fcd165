"""MuseGAN's networks (Dong et al. 2018, "MuseGAN: Multi-track Sequential Generative Adversarial Networks
for Symbolic Music Generation and Accompaniment", AAAI; §3-4, Fig. 3-5).

A phrase is [tracks, bars·steps, pitches] of values in (0, 1). Latents (each [B, z_dim]):

* composer: one shared z and one shared temporal z; one bar generator writes all tracks (channels);
* jamming: per track a private z_i and a private temporal z_i; track i has its own bar generator;
* hybrid: both: track i's bar generator reads [z, G_temp(z)_b, z_i, G_temp,i(z_i)_b] (eq. of §3.3).

The temporal generator G_temp maps a z to one latent per bar (§3.2, "generation from scratch"). With a
condition track (§3.4, track-conditional), an encoder E reads each bar of the given track and its code
joins every bar generator's input. The critic has a private stream per track (grouped convolutions over
pitch, then over steps) and a shared stream over the stacked track features (over beats, bars), as in
the paper's later multi-stream design; no BatchNorm (WGAN-GP).
"""

import math

import torch
from torch import Tensor, nn

MODES = ("jamming", "composer", "hybrid")


class TemporalGenerator(nn.Module):
    """z [B, z_dim] -> [B, bars, z_dim]: one latent per bar (G_temp)."""

    def __init__(self, z_dim: int, bars: int, width: int):
        super().__init__()
        self.bars, self.z_dim = bars, z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.BatchNorm1d(width), nn.ReLU(),
                                 nn.Linear(width, bars * z_dim), nn.BatchNorm1d(bars * z_dim), nn.ReLU())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, self.bars, self.z_dim)


class BarGenerator(nn.Module):
    """[B', d_in] -> [B', out_tracks, steps, pitches] in (0, 1): a linear layer to a coarse grid
    (steps/4 × pitches/4), two stride-2 transposed convolutions, a sigmoid."""

    def __init__(self, d_in: int, out_tracks: int, steps: int, pitches: int, width: int):
        super().__init__()
        self.t0, self.p0, self.width, self.pitches = steps // 4, math.ceil(pitches / 4), width, pitches
        self.fc = nn.Sequential(nn.Linear(d_in, width * self.t0 * self.p0),
                                nn.BatchNorm1d(width * self.t0 * self.p0), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.ConvTranspose2d(width // 2, out_tracks, 4, 2, 1))                # [B', out, steps, 4·p0]

    def forward(self, h: Tensor) -> Tensor:
        x = self.up(self.fc(h).view(-1, self.width, self.t0, self.p0))
        return torch.sigmoid(x[..., :self.pitches])


class BarEncoder(nn.Module):
    """A condition track's bar [B', steps, pitches] -> [B', d] (track-conditional generation's E)."""

    def __init__(self, steps: int, pitches: int, d: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, (1, 12), (1, 12), (0, 6)), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width, width, (4, 1), (4, 1)), nn.LeakyReLU(0.2), nn.Flatten())
        with torch.no_grad():
            size = self.net(torch.zeros(1, 1, steps, pitches)).shape[1]
        self.out = nn.Linear(size, d)

    def forward(self, bars: Tensor) -> Tensor:
        return self.out(self.net(bars.unsqueeze(1)))


class MuseGenerator(nn.Module):
    """z [B, latent_size] (and a condition track [B, T, pitches]) -> phrases [B, tracks, bars·steps, pitches]."""

    def __init__(self, mode: str, tracks: int, z_dim: int, bars: int, steps: int, pitches: int, width: int,
                 condition_track: int = -1):
        super().__init__()
        self.mode, self.tracks, self.z_dim, self.bars, self.steps = mode, tracks, z_dim, bars, steps
        self.condition_track = condition_track
        shared, private = mode in ("composer", "hybrid"), mode in ("jamming", "hybrid")
        self.shared, self.private = shared, private
        cond_dim = z_dim if condition_track >= 0 else 0
        d_in = 2 * z_dim * (shared + private) + cond_dim
        if shared:
            self.temporal = TemporalGenerator(z_dim, bars, width)
        if private:
            self.temporals = nn.ModuleList(TemporalGenerator(z_dim, bars, width) for _ in range(tracks))
        if mode == "composer":
            self.bar = BarGenerator(d_in, tracks, steps, pitches, width)
        else:
            self.bars_ = nn.ModuleList(BarGenerator(d_in, 1, steps, pitches, width) for _ in range(tracks))
        if cond_dim:
            self.encoder = BarEncoder(steps, pitches, cond_dim, width)

    @staticmethod
    def latent_size(mode: str, tracks: int, z_dim: int) -> int:
        return 2 * z_dim * ((mode in ("composer", "hybrid")) + tracks * (mode in ("jamming", "hybrid")))

    def bar_inputs(self, z: Tensor, cond: Tensor | None) -> list[Tensor]:
        """Each bar generator's input [B·bars, d_in], in track order (one for the composer)."""
        B, d = len(z), self.z_dim
        chunks = list(z.split(d, dim=1))
        pieces, shared = [], []
        if self.shared:
            static, temporal = chunks.pop(0), self.temporal(chunks.pop(0))
            shared = [static.repeat_interleave(self.bars, 0), temporal.reshape(B * self.bars, d)]
        if cond is not None:
            bars = cond.reshape(B * self.bars, self.steps, -1)                  # [B·bars, steps, P]
            shared.append(self.encoder(bars))
        if not self.private:
            return [torch.cat(shared, 1)]
        for i in range(self.tracks):
            static, temporal = chunks[2 * i], self.temporals[i](chunks[2 * i + 1])
            pieces.append(torch.cat(shared + [static.repeat_interleave(self.bars, 0),
                                              temporal.reshape(B * self.bars, d)], 1))
        return pieces

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        B = len(z)
        inputs = self.bar_inputs(z, cond)
        if self.mode == "composer":
            bars = self.bar(inputs[0])                                          # [B·bars, tracks, S, P]
        else:
            bars = torch.cat([g(h) for g, h in zip(self.bars_, inputs)], 1)
        out = bars.view(B, self.bars, self.tracks, self.steps, -1).transpose(1, 2)
        out = out.reshape(B, self.tracks, self.bars * self.steps, -1)
        if cond is not None:  # the given track is the data's, not generated: D judges the accompaniment
            out = with_track(out, self.condition_track, cond)
        return out


def with_track(phrases: Tensor, index: int, track: Tensor) -> Tensor:
    """`phrases` [B, tracks, T, P] with track `index` replaced by `track` [B, T, P] (a given melody)."""
    return torch.cat([phrases[:, :index], track.unsqueeze(1), phrases[:, index + 1:]], 1)


class Refiner(nn.Module):
    """BinaryMuseGAN's refiner R (Dong & Yang 2018, §3.2): per track, residual units over (steps, pitches)
    that refine G's probabilities [B, tracks, T, P] into ones the binary neurons after it turn into
    pianorolls. It learns a correction of G's logits, not a new mapping (hence residual units); its last
    layer starts at zero, so a fresh R returns G's probabilities unchanged.

    `dilate=True` doubles the time dilation at every convolution of the units (1, 2, 4, ...): the same
    weights and cost, but two units see 33 steps (two 16-step bars) instead of 11, enough to tell a bar
    with no note in it, which a correction of single steps cannot."""

    def __init__(self, tracks: int, units: int, width: int, dilate: bool = False):
        super().__init__()
        channels = tracks * width  # grouped convolutions: each track its own private network

        def conv(c_in: int, c_out: int, kernel=(3, 13), dilation: int = 1) -> nn.Conv2d:  # ±6 semitones
            padding = (dilation * (kernel[0] // 2), kernel[1] // 2)
            return nn.Conv2d(c_in, c_out, kernel, padding=padding, dilation=(dilation, 1), groups=tracks)

        def dilation(i: int) -> int:
            return 2 ** i if dilate else 1

        self.stem = conv(tracks, channels)
        self.units = nn.ModuleList(nn.Sequential(nn.ReLU(), conv(channels, channels, dilation=dilation(2 * u)),
                                                 nn.ReLU(), conv(channels, channels, dilation=dilation(2 * u + 1)))
                                   for u in range(units))
        self.head = conv(channels, tracks, (1, 1))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, probs: Tensor) -> Tensor:
        h = self.stem(2 * probs - 1)
        for unit in self.units:
            h = h + unit(h)
        return torch.sigmoid(torch.logit(probs, eps=1e-6) + self.head(torch.relu(h)))


class MuseCritic(nn.Module):
    """Phrases [B, tracks, T, pitches] -> scores [B] (and features [B, F]).

    `chroma=True` adds the chroma stream of the later MuseGAN critic (Dong & Yang 2018, BinaryMuseGAN §3):
    each track's pitch-class profile per beat, judged jointly across tracks, so the critic sees at once
    which pitch classes the voices sound together (what the tonal distance measures); the private stream,
    a few features per octave and beat, cannot resolve them."""

    def __init__(self, tracks: int, bars: int, steps: int, pitches: int, width: int, chroma: bool = False):
        super().__init__()
        c, beat = width, steps // 4
        self.beat_steps = beat
        self.private = nn.Sequential(  # per track: octave-wide pitch filters, then beats
            nn.Conv2d(tracks, tracks * c, (1, 12), (1, 12), (0, 6), groups=tracks), nn.LeakyReLU(0.2),
            nn.Conv2d(tracks * c, tracks * c, (4, 1), (4, 1), groups=tracks), nn.LeakyReLU(0.2))
        self.shared = nn.Sequential(   # across tracks: beats to bars, then the bars together
            nn.Conv2d(tracks * c, 2 * c, (beat, 1), (beat, 1)), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, (1, 3), (1, 2), (0, 1)), nn.LeakyReLU(0.2), nn.Flatten())
        self.chroma = nn.Sequential(   # [B, tracks, beats, 12]: all tracks' pitch classes per beat, then bars
            nn.Conv2d(tracks, 4 * c, (1, 12)), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 4 * c, (4, 1), (4, 1)), nn.LeakyReLU(0.2), nn.Flatten()) if chroma else None
        with torch.no_grad():
            size = self.features(torch.zeros(1, tracks, bars * steps, pitches)).shape[1]
        self.out = nn.Linear(size, 1)

    def chroma_profile(self, x: Tensor) -> Tensor:
        """[B, tracks, T, pitches] -> [B, tracks, beats, 12]: the mean activity of each pitch class over a beat's
        steps, summed over octaves (classes counted from the lowest pitch: a fixed rotation, which a learned
        net does not mind)."""
        B, tracks, T, P = x.shape
        x = nn.functional.pad(x, (0, -P % 12)).view(B, tracks, T, -1, 12).sum(3)
        return x.view(B, tracks, T // self.beat_steps, self.beat_steps, 12).mean(3)

    def features(self, x: Tensor) -> Tensor:
        features = self.shared(self.private(x))
        if self.chroma is None:
            return features
        return torch.cat([features, self.chroma(self.chroma_profile(x))], 1)

    def forward(self, x: Tensor, with_features: bool = False):
        features = self.features(x)
        score = self.out(features).squeeze(1)
        return (score, features) if with_features else score
