"""Music metrics: pure functions of pianorolls and note tables (numpy), no model inside.

MuseGAN (Dong et al. 2018, §5.1; reference code v1/musegan/eval/metrics.py), on pianorolls
[N, tracks, T, pitches] of 0/1 with bars of `bar` steps:

* **EB**, empty bars: % of a track's bars with no active step.
* **UPC**, used pitch classes per bar: distinct pitch classes (0-12) in a track's bar, averaged over its
  non-empty bars (an empty bar is counted by EB, not as 0 pitch classes).
* **QN**, qualified notes: % of a track's notes (runs of active steps of one pitch) at least `min_steps`
  long. The paper counts notes of ≥ 3 of its 96 steps per bar (a 32nd note) as qualified; at our 16th-note
  resolution no note is shorter than a 32nd, so the default threshold is 2 steps (an 8th note): QN then
  measures how much a track is fragmented into 16th-note blips.
* **TD**, tonal distance (Harte et al. 2006): per beat, each track's chroma (pitch-class activity summed
  over the beat) L1-normalised and projected onto the 6-D tonal centroid (fifths, minor thirds, major
  thirds with radii 1, 1, 0.5); the Euclidean distance between two tracks' centroids, averaged over the
  beats where both play. Small = harmonically close.

C-RNN-GAN (Mogren 2016, §4; olofmogren/c-rnn-gan midi_statistics.py), on one note table each:

* **polyphony**: fraction of notes that start together with another note;
* **scale consistency**: the largest fraction of notes in one scale, over 12 tonics × {major, natural
  minor, harmonic minor};
* **repetitions**: n-grams (n = 2..9) of the pitch sequence that occur again later, counted per note;
* **tone span**: highest minus lowest pitch (semitones).
"""

import numpy as np

TONAL_RADII = (1.0, 1.0, 0.5)
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "harmonic minor": (0, 2, 3, 5, 7, 8, 11)}


def bars_of(rolls: np.ndarray, bar: int) -> np.ndarray:
    """[N, tracks, T, P] -> [N·T/bar, tracks, bar, P]: every bar of every phrase."""
    n, tracks, length, pitches = rolls.shape
    if length % bar:
        raise ValueError(f"{length} steps are not whole bars of {bar}")
    return rolls.reshape(n, tracks, length // bar, bar, pitches).transpose(0, 2, 1, 3, 4).reshape(-1, tracks, bar, pitches)


def empty_bars(rolls: np.ndarray, bar: int) -> np.ndarray:
    """EB per track, in %."""
    active = bars_of(rolls > 0.5, bar).any(axis=(2, 3))            # [bars, tracks]
    return 100.0 * (1.0 - active.mean(0))


def pitch_classes(bars: np.ndarray, lowest: int) -> np.ndarray:
    """[bars, tracks, bar, P] -> [bars, tracks, 12]: which pitch classes sound in each bar."""
    used = bars.any(axis=2)                                          # [bars, tracks, P]
    classes = (np.arange(used.shape[-1]) + lowest) % 12
    out = np.zeros(used.shape[:2] + (12,), dtype=bool)
    for c in range(12):
        out[..., c] = used[..., classes == c].any(-1)
    return out


def used_pitch_classes(rolls: np.ndarray, bar: int, lowest: int) -> np.ndarray:
    """UPC per track: mean distinct pitch classes over the track's non-empty bars (NaN if all are empty)."""
    counts = pitch_classes(bars_of(rolls > 0.5, bar), lowest).sum(-1).astype(float)  # [bars, tracks]
    counts[counts == 0] = np.nan
    with np.errstate(invalid="ignore"):
        return np.nanmean(counts, 0) if np.isfinite(counts).any() else np.full(counts.shape[1], np.nan)


def note_lengths(rolls: np.ndarray) -> list[np.ndarray]:
    """Per track, the lengths (steps) of all notes: runs of consecutive active steps of one pitch."""
    on = rolls > 0.5                                                 # [N, tracks, T, P]
    padded = np.pad(on, ((0, 0), (0, 0), (1, 1), (0, 0))).astype(np.int8)
    change = np.diff(padded, axis=2)
    out = []
    for k in range(on.shape[1]):
        starts = np.argwhere(change[:, k] == 1)                      # (n, t, p), sorted by n, t, p
        ends = np.argwhere(change[:, k] == -1)
        # runs of one (phrase, pitch) alternate start/end: sort both by (phrase, pitch, time) to pair them
        s = starts[np.lexsort((starts[:, 1], starts[:, 2], starts[:, 0]))]
        e = ends[np.lexsort((ends[:, 1], ends[:, 2], ends[:, 0]))]
        out.append(e[:, 1] - s[:, 1])
    return out


def qualified_notes(rolls: np.ndarray, min_steps: int = 2) -> np.ndarray:
    """QN per track, in % (NaN for a track without notes)."""
    return np.array([100.0 * (lengths >= min_steps).mean() if len(lengths) else np.nan
                     for lengths in note_lengths(rolls)])


def tonal_matrix() -> np.ndarray:
    """Harte's 6×12 projection of a chroma vector onto the tonal centroid."""
    l = np.arange(12)
    r1, r2, r3 = TONAL_RADII
    return np.stack([r1 * np.sin(l * 7 * np.pi / 6), r1 * np.cos(l * 7 * np.pi / 6),
                     r2 * np.sin(l * 3 * np.pi / 2), r2 * np.cos(l * 3 * np.pi / 2),
                     r3 * np.sin(l * 2 * np.pi / 3), r3 * np.cos(l * 2 * np.pi / 3)])


def beat_chroma(track_rolls: np.ndarray, beat: int, lowest: int) -> np.ndarray:
    """[N, T, P] -> [N, T/beat, 12]: pitch-class activity summed over each beat."""
    n, length, pitches = track_rolls.shape
    per_beat = (track_rolls > 0.5).reshape(n, length // beat, beat, pitches).sum(2).astype(float)
    chroma = np.zeros((n, length // beat, 12))
    for p in range(pitches):
        chroma[..., (p + lowest) % 12] += per_beat[..., p]
    return chroma


def tonal_distance(a: np.ndarray, b: np.ndarray, beat: int, lowest: int) -> float:
    """TD between two tracks' pianorolls [N, T, P]: mean over beats where both sound (NaN if none)."""
    ca, cb = beat_chroma(a, beat, lowest), beat_chroma(b, beat, lowest)
    both = (ca.sum(-1) > 0) & (cb.sum(-1) > 0)
    if not both.any():
        return float("nan")
    m = tonal_matrix()
    ta = ca[both] / ca[both].sum(-1, keepdims=True) @ m.T
    tb = cb[both] / cb[both].sum(-1, keepdims=True) @ m.T
    return float(np.linalg.norm(ta - tb, axis=-1).mean())


def tonal_distances(rolls: np.ndarray, names: list[str], beat: int, lowest: int,
                    shuffle_seed: int | None = None) -> dict[str, float]:
    """TD for every pair of tracks; with `shuffle_seed` the second track comes from a random other phrase
    (the paper's shuffled-data reference: what TD is for unrelated tracks)."""
    out = {}
    order = np.arange(len(rolls))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(rolls))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            out[f"{names[i]}-{names[j]}"] = tonal_distance(rolls[:, i], rolls[order, j], beat, lowest)
    return out


def musegan_metrics(rolls: np.ndarray, names: list[str], bar: int, beat: int, lowest: int,
                    min_steps: int = 2) -> dict[str, float]:
    """EB, UPC, QN per track and TD per pair: {"EB/soprano": ..., "TD/soprano-alto": ...}."""
    out = {}
    for metric, values in (("EB", empty_bars(rolls, bar)), ("UPC", used_pitch_classes(rolls, bar, lowest)),
                           ("QN", qualified_notes(rolls, min_steps))):
        out.update({f"{metric}/{name}": float(v) for name, v in zip(names, values)})
    out.update({f"TD/{k}": v for k, v in tonal_distances(rolls, names, beat, lowest).items()})
    return out


# ------------------------------------------------------------------------------ C-RNN-GAN statistics


def polyphony(notes: np.ndarray) -> float:
    """Fraction of notes whose start step is shared with another note ([n, 5] note table)."""
    if len(notes) == 0:
        return float("nan")
    _, inverse, counts = np.unique(notes[:, 1], return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).mean())


def scale_consistency(notes: np.ndarray) -> float:
    """Largest fraction of notes inside one scale (12 tonics × major, natural and harmonic minor)."""
    if len(notes) == 0:
        return float("nan")
    classes = notes[:, 3] % 12
    best = 0.0
    for steps in SCALES.values():
        for tonic in range(12):
            best = max(best, float(np.isin(classes, [(tonic + s) % 12 for s in steps]).mean()))
    return best


def repetitions(notes: np.ndarray, lengths=range(2, 10)) -> float:
    """Repeated n-grams of the pitch sequence (by onset, then pitch), n in `lengths`: occurrences after the
    first of every n-gram, summed over n, per note."""
    if len(notes) == 0:
        return float("nan")
    pitches = notes[np.lexsort((notes[:, 3], notes[:, 1]))][:, 3].tolist()
    repeated = 0
    for n in lengths:
        seen: dict[tuple, int] = {}
        for i in range(len(pitches) - n + 1):
            gram = tuple(pitches[i:i + n])
            seen[gram] = seen.get(gram, 0) + 1
        repeated += sum(c - 1 for c in seen.values())
    return repeated / len(pitches)


def tone_span(notes: np.ndarray) -> float:
    """Highest minus lowest pitch, in semitones."""
    return float(notes[:, 3].max() - notes[:, 3].min()) if len(notes) else float("nan")


def sequence_statistics(songs: list[np.ndarray]) -> dict[str, float]:
    """The four C-RNN-GAN statistics averaged over note tables (NaN ones, from empty tables, left out)."""
    stats = {"polyphony": polyphony, "scale_consistency": scale_consistency, "repetitions": repetitions,
             "tone_span": tone_span}
    out = {}
    for name, f in stats.items():
        values = np.array([f(n) for n in songs], dtype=float)
        out[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    out["empty"] = float(np.mean([len(n) == 0 for n in songs])) if songs else float("nan")
    return out


# ------------------------------------------------------------------------------ chorale voice leading

SATB_RANGES = {"soprano": (60, 81), "alto": (55, 74), "tenor": (48, 69), "bass": (40, 62)}  # C4-A5, G3-D5, C3-A4, E2-D4


def voice_crossings(rolls: np.ndarray, lowest: int) -> float:
    """% of (step, adjacent voice pair) where both sound and the lower voice's top note is above the upper
    voice's bottom note; tracks ordered from the highest voice down ([N, voices, T, P])."""
    on = rolls > 0.5
    pitches = np.arange(on.shape[-1]) + lowest
    top = np.where(on, pitches, -1).max(-1)                          # [N, voices, T]
    bottom = np.where(on, pitches, 999).min(-1)
    both = (top[:, 1:] >= 0) & (bottom[:, :-1] < 999)
    crossed = both & (top[:, 1:] > bottom[:, :-1])
    return float(100.0 * crossed.sum() / max(both.sum(), 1))


def range_violations(rolls: np.ndarray, names: list[str], lowest: int, ranges=SATB_RANGES) -> dict[str, float]:
    """Per voice with a known range: % of its active (step, pitch) cells outside it."""
    pitches = np.arange(rolls.shape[-1]) + lowest
    out = {}
    for k, name in enumerate(names):
        if name in ranges:
            on = rolls[:, k] > 0.5
            lo, hi = ranges[name]
            outside = on & ((pitches < lo) | (pitches > hi))
            out[name] = float(100.0 * outside.sum() / max(on.sum(), 1))
    return out
