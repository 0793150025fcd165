"""Music: multi-track pianorolls [tracks, T, pitches] of 0/1 (MuseGAN) and note-event sequences
[events, features] in data space (C-RNN-GAN), both from gankit/data/music.py.

`gankit sample RUN --n 8 --out songs/` writes, per sample, a `.mid` file (one MIDI track per data track,
with its program), a pianoroll `.png` (tracks in colours) and a `.wav` rendering (pretty_midi's sine
synthesis, no soundfont); `--out x.npy` writes the raw array. Training previews are pianoroll pictures.
`gankit eval` computes MuseGAN's EB/UPC/QN/TD (pianorolls) and C-RNN-GAN's statistics (both kinds), for
the samples and for as many real samples (`data/...` keys): the data's own values are the reference.
"""

from pathlib import Path

import numpy as np
import torch

from ..errors import GankitError
from ..metrics.music import musegan_metrics, sequence_statistics, tonal_distances
from ..metrics.registry import Metric, register_metric
from .base import Modality, register

TRACK_COLOURS = np.array([[0.85, 0.15, 0.15], [0.15, 0.55, 0.15], [0.15, 0.35, 0.85], [0.85, 0.6, 0.05],
                          [0.6, 0.2, 0.7], [0.1, 0.65, 0.7], [0.5, 0.5, 0.5], [0.9, 0.4, 0.6]])
PREVIEW_SAMPLES = 8
MUSEGAN_SAMPLES = 1250  # phrases per evaluation: 5,000 bars of 4-bar phrases (the benchmark uses 20,000 bars)
TEMPO_BPM = 100.0
REPORT_SAMPLES = 4


def time_signature(spec) -> tuple[int, int]:
    num, den = spec.meta.get("time_signature", "4/4").split("/")
    return int(num), int(den)


def roll_picture(roll: np.ndarray) -> np.ndarray:
    """[tracks, T, P] -> an RGB picture [P, T, 3] (pitch upwards), each track in its colour, overlaps mixed."""
    tracks = roll.shape[0]
    on = (roll > 0.5).astype(float)                                   # [tracks, T, P]
    colours = TRACK_COLOURS[np.arange(tracks) % len(TRACK_COLOURS)]
    weight = on.sum(0, keepdims=True)
    mixed = np.einsum("ktp,kc->ptc", on, colours) / np.maximum(weight[0].T[..., None], 1)
    picture = np.where(weight[0].T[..., None] > 0, mixed, 1.0)
    return picture[::-1]


def save_pianorolls(rolls: np.ndarray, path: Path, names: list[str], bar: int, title: str = "",
                    columns: int = 2) -> Path:
    """Pianorolls [n, tracks, T, P] side by side, bar lines dotted, a legend naming the tracks."""
    from .. import viz

    plt = viz.pyplot()
    from matplotlib.patches import Patch

    n = len(rolls)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, min(columns, n), figsize=(5 * min(columns, n), 2.2 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(roll_picture(rolls[i]), aspect="auto", interpolation="nearest")
        for x in range(bar, rolls.shape[2], bar):
            ax.axvline(x - 0.5, color="0.6", lw=0.5, ls=":")
    handles = [Patch(color=TRACK_COLOURS[k % len(TRACK_COLOURS)], label=name) for k, name in enumerate(names)]
    fig.legend(handles=handles, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def sample_paths(out: Path, n: int) -> list[Path]:
    """`songs/` -> songs/sample-000 ... ; `songs/x.mid` -> songs/x-000 ... (suffix added by the writer)."""
    folder, stem = (out, "sample") if not out.suffix else (out.parent, out.stem)
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"{stem}-{i:03d}" for i in range(n)]


def check_music_out(out: Path, spec) -> Path:
    out = Path(out)
    if out.suffix.lower() not in ("", ".mid", ".midi", ".npy"):
        raise GankitError(f"--out {out}: {spec.kind} samples are written to a folder (.mid, .png and .wav per "
                          f"sample), FILE.mid (FILE-000.mid, ...) or .npy (got {out.suffix})")
    return out


class MusicModality(Modality):
    """What pianorolls and events share: files per sample; subclasses turn a sample into notes."""

    extensions = ("", ".mid", ".npy")
    preview_count = PREVIEW_SAMPLES
    serve_max_n = 8  # each song is rendered to MIDI, a pianoroll and a WAV for the page

    def notes(self, sample: np.ndarray, spec) -> np.ndarray:
        raise NotImplementedError

    def rolls(self, samples: np.ndarray, spec) -> np.ndarray:
        raise NotImplementedError

    def check_out(self, out: Path, spec) -> Path:
        return check_music_out(out, spec)

    def write(self, samples, spec, out, rows=None, title=""):
        out = check_music_out(Path(out), spec)
        if out.suffix.lower() == ".npy":
            out.parent.mkdir(parents=True, exist_ok=True)
            return super().write(samples, spec, out)
        from ..data.midi import write_midi, write_wav

        data = samples.detach().float().cpu().numpy()
        rolls, written = self.rolls(data, spec), []
        names = [t["name"] for t in spec.meta["tracks"]]
        for stem, sample, roll in zip(sample_paths(out, len(data)), data, rolls):
            midi = write_midi(stem.with_suffix(".mid"), self.notes(sample, spec), spec.meta["tracks"],
                              spec.meta["steps_per_beat"], time_signature(spec), TEMPO_BPM)
            written += [midi, save_pianorolls(roll[None], stem.with_suffix(".png"), names, self.bar(spec),
                                              f"{title} {stem.name}".strip(), columns=1),
                        write_wav(midi, stem.with_suffix(".wav"))]
        return written

    def report_media(self, pipe, folder):
        """Four samples (seed 0) as .mid, .png and .wav in the report's folder; the report embeds the audio."""
        samples = pipe(REPORT_SAMPLES, seed=0)
        written = self.write(samples.data, pipe.spec, Path(folder) / "audio", title=f"step {pipe.step}")
        return [p for p in written if p.suffix == ".wav"]

    def preview(self, samples, spec, path, real=None, title=""):
        data = samples.detach().float().cpu().numpy()
        return save_pianorolls(self.rolls(data, spec), path, [t["name"] for t in spec.meta["tracks"]],
                               self.bar(spec), title)

    def bar(self, spec) -> int:
        num, den = time_signature(spec)
        return num * 4 * spec.meta["steps_per_beat"] // den


@register
class PianorollModality(MusicModality):
    kind = "pianoroll"

    def rolls(self, samples, spec):
        return samples

    def notes(self, sample, spec):
        from ..data.music import roll_notes

        return roll_notes(sample, spec.meta["lowest_pitch"])

    def default_metrics(self, spec, extractor):
        return ["musegan", "sequence"]


@register
class EventsModality(MusicModality):
    kind = "events"

    def notes(self, sample, spec):
        from ..data.music import events_notes

        return events_notes(sample, spec.meta["tones"])

    def rolls(self, samples, spec):
        """Events drawn as one-track pianorolls over the notes' pitch range (whole bars)."""
        from ..data.music import pianoroll

        tables = [self.notes(s, spec) for s in samples]
        notes = [t for t in tables if len(t)]
        lowest = min((int(t[:, 3].min()) for t in notes), default=60)
        highest = max((int(t[:, 3].max()) for t in notes), default=72)
        bar = self.bar(spec)
        length = max((int(t[:, 2].max()) for t in notes), default=bar)
        length = -(-length // bar) * bar
        return np.stack([pianoroll(t, 1, length, lowest, highest - lowest + 1) for t in tables])

    def default_metrics(self, spec, extractor):
        return ["sequence"]


# ------------------------------------------------------------------------------ metrics


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _musegan(ev, fake, names):
    spec = ev.spec
    tracks = [t["name"] for t in spec.meta["tracks"]]
    bar, beat, lowest = PianorollModality().bar(spec), spec.meta["steps_per_beat"], spec.meta["lowest_pitch"]
    real = _numpy(ev.real_images())
    out = musegan_metrics(_numpy(fake), tracks, bar, beat, lowest)
    out.update({f"data/{k}": v for k, v in musegan_metrics(real, tracks, bar, beat, lowest).items()})
    out.update({f"data_shuffled/TD/{k}": v for k, v in
                tonal_distances(real, tracks, beat, lowest, shuffle_seed=ev.seed).items()})
    return out


def _sequence(ev, fake, names):
    from ..data.base import to_data_space

    modality = MODALITY_OF[ev.spec.kind]
    real = _numpy(to_data_space(ev.spec, ev.real_images()))  # events are stored standardized
    out = sequence_statistics([modality.notes(s, ev.spec) for s in _numpy(fake)])
    out.update({f"data/{k}": v for k, v in
                sequence_statistics([modality.notes(s, ev.spec) for s in real]).items()})
    return out


MODALITY_OF = {"pianoroll": PianorollModality(), "events": EventsModality()}

register_metric(Metric("musegan", ("pianoroll",), "MuseGAN: empty bars, used pitch classes, qualified notes per "
                       "track, tonal distance per track pair (and the data's values)", _musegan,
                       samples=MUSEGAN_SAMPLES))
register_metric(Metric("sequence", ("pianoroll", "events"), "C-RNN-GAN: polyphony, scale consistency, "
                       "repetitions, tone span (and the data's values)", _sequence, samples=500))
