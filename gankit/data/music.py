"""Music data: Bach chorales from music21's corpus and users' MIDI folders, as multi-track pianorolls
(MuseGAN) or note-event sequences (C-RNN-GAN).

    --data chorales               4-part chorales (soprano, alto, tenor, bass), 4-bar pianoroll phrases
    --data chorale-melodies       the chorales' soprano lines as note events (C-RNN-GAN)
    --data midi:FOLDER            your MIDI files as pianoroll phrases (--set music.tracks=piano,bass,drums)
    --data midi-events:FOLDER     your MIDI files as note events

Songs are first read into note tables (data/midi.py: track, start, end, pitch, velocity in 16th-note
steps) and cached as .npz in gankit's cache (data/...; re-parsing the corpus costs ~0.07 s a file), keyed
by the source and the reading options; phrases and events are cut from the notes at every load (fast).

* **Pianorolls** (Dong et al. 2018, §4.1): [tracks, bars·steps_per_bar, pitches] of 0/1, bars of
  `steps_per_bar` 16th notes, phrases of `music.bars` bars every `music.hop_bars` bars (all-silent ones
  dropped). The pitch axis spans the data's lowest to highest note, widened by the transposition margin;
  with `music.transpose` every phrase also appears in the 11 other keys (shifts −5..+6 semitones),
  computed per batch, so 12× the phrases cost no memory.
* **Events** (Mogren 2016, §3): one vector per onset: time since the previous onset (beats), then for each of
  `music.tones` tones (the polyphonic variant: several tones start together) its pitch, duration (beats)
  and velocity; a missing tone has duration and velocity 0. Sequences of `music.seq_len` events, every
  seq_len/2 events. Features are standardized per column (spec.meta shift/scale), as for tables.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import param
from ..errors import GankitError
from ..log import info, warn
from ..paths import cache_dir
from .base import DataSpec, Dataset, standardization
from .midi import MidiSkip, parse_selectors, parse_time_signature, read_midi, require

STEPS_PER_BEAT = 4                        # 16th notes (the quarter note is the beat)
SHIFTS = tuple(range(-5, 7))              # transposition to all 12 keys
CHORALE_VOICES = ("soprano", "alto", "tenor", "bass")
CHOIR_PROGRAM = 52                        # GM "Choir Aahs" for the chorales' voices
DEFAULT_VELOCITY = 90                     # scores have no dynamics
CACHE_VERSION = 1
MIDI_SUFFIXES = (".mid", ".midi", ".kar")


@dataclass
class MusicDataConfig:
    """How music data is read and cut (`music.*`): used by the loaders of chorales and MIDI folders."""

    tracks: str = param("", "tracks: chorales: voices (soprano,alto,tenor,bass); MIDI: GM families, programs "
                            "(0-7), drums, all or name:TEXT, comma-separated (empty: the data's default)")
    time_signature: str = param("4/4", "keep songs in this time signature only (others are skipped, counted)")
    bars: int = param(4, "bars per pianoroll phrase", min=1, max=64)
    hop_bars: int = param(1, "a phrase starts every this many bars", min=1, max=64)
    transpose: bool = param(True, "augment pianorolls by transposing to all 12 keys (-5..+6 semitones)")
    seq_len: int = param(32, "note events per sequence (C-RNN-GAN)", min=2, max=4096)
    tones: int = param(1, "tones per event: 1 = monophonic, up to 4 (the paper's polyphonic variant: 3)",
                       min=1, max=4)
    time_limit: float = param(5.0, "seconds allowed to read one MIDI file (then it is skipped)", positive=True)
    limit: int = param(0, "read at most this many songs (0 = all; quick trials)", min=0)


@dataclass
class Song:
    name: str
    notes: np.ndarray          # [n, 5] int32: track, start, end, pitch, velocity (16th-note steps)


def music_options(config) -> MusicDataConfig:
    """The music options of a recipe config (its `music` field), or the options themselves, or defaults."""
    if isinstance(config, MusicDataConfig):
        return config
    return getattr(config, "music", None) or MusicDataConfig()


def bar_steps(time_signature: str) -> int:
    num, den = parse_time_signature(time_signature)
    steps = num * 4 * STEPS_PER_BEAT / den
    if steps != int(steps):
        raise GankitError(f"time signature {time_signature}: a bar is not a whole number of 16th notes")
    return int(steps)


# ------------------------------------------------------------------------------ the note-table cache


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_songs(path: Path, songs: list[Song], meta: dict) -> None:
    """Songs as one .npz (notes concatenated, offsets, names; no pickles), written atomically."""
    notes = np.concatenate([s.notes for s in songs]) if songs else np.zeros((0, 5), np.int32)
    offsets = np.cumsum([0] + [len(s.notes) for s in songs]).astype(np.int64)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    np.savez(tmp, notes=notes, offsets=offsets, names=np.array([s.name for s in songs], dtype=str),
             meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def load_songs(path: Path) -> tuple[list[Song], dict] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            notes, offsets, names, meta = z["notes"], z["offsets"], z["names"], json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # missing or torn: parse again
    return [Song(str(n), notes[a:b]) for n, a, b in zip(names, offsets[:-1], offsets[1:])], meta


def cached(key: str, what: str, parse) -> tuple[list[Song], dict]:
    """The songs of `key` from the cache, or parsed by `parse()` (timed, reported) and cached."""
    path = cache_dir("datasets", "music") / f"{key}.npz"
    hit = load_songs(path)
    if hit is not None:
        return hit
    start = time.perf_counter()
    songs, meta = parse()
    meta["parse_seconds"] = round(time.perf_counter() - start, 2)
    info(f"{what}: parsed {len(songs)} songs in {meta['parse_seconds']:.1f} s (cached in {path})")
    save_songs(path, songs, meta)
    return songs, meta


# ------------------------------------------------------------------------------ sources of songs


def chorale_voices(opts: MusicDataConfig, default: tuple[str, ...]) -> tuple[str, ...]:
    if not opts.tracks:
        return default
    voices = tuple(v.strip().lower() for v in opts.tracks.split(",") if v.strip())
    if voices == ("all",):
        return CHORALE_VOICES
    bad = [v for v in voices if v not in CHORALE_VOICES]
    if bad:
        raise GankitError(f"chorales have no voice {bad[0]!r}; choose from {', '.join(CHORALE_VOICES)}")
    return voices


def chorale_songs(opts: MusicDataConfig) -> tuple[list[Song], dict]:
    """Every 4-part chorale of music21's corpus in the chosen time signature, voices as tracks 0-3."""
    music21 = require("music21")
    key = cache_key("chorales", CACHE_VERSION, music21.__version__, opts.time_signature, opts.limit)
    return cached(key, "chorales", lambda: parse_chorales(opts))


def parse_chorales(opts: MusicDataConfig) -> tuple[list[Song], dict]:
    from music21 import corpus

    names = list(corpus.chorales.Iterator(returnType="filename"))
    songs, skipped = [], {}
    for name in names:
        if opts.limit and len(songs) >= opts.limit:
            break
        try:
            score = corpus.parse(name, forceSource=True)  # never music21's pickle cache
            songs.append(Song(name, score_notes(score, opts.time_signature)))
        except MidiSkip as e:
            skipped[str(e)] = skipped.get(str(e), 0) + 1
    return songs, {"files": len(names), "skipped": skipped}


def score_notes(score, time_signature: str) -> np.ndarray:
    """A music21 score's notes, one track per part, with bar lines on multiples of the bar (pickups padded)."""
    parts = list(score.parts)
    if len(parts) != 4:
        raise MidiSkip(f"{len(parts)} parts, not 4")
    signatures = {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")}
    if signatures != {time_signature}:
        raise MidiSkip(f"time signature {', '.join(sorted(signatures)) or 'none'}")
    bar = bar_steps(time_signature)
    measures = list(parts[0].getElementsByClass("Measure"))
    first_full = next((m for m in measures if m.number >= 1), None)
    pad = (-round(float(first_full.offset) * STEPS_PER_BEAT)) % bar if first_full is not None else 0
    rows = []
    for track, part in enumerate(parts):
        for n in part.stripTies().flatten().notes:
            start = round(float(n.offset) * STEPS_PER_BEAT) + pad
            end = round(float(n.offset + n.quarterLength) * STEPS_PER_BEAT) + pad
            if end > start:  # grace notes have no length
                rows += [(track, start, end, p.midi, DEFAULT_VELOCITY) for p in n.pitches]
    if not rows:
        raise MidiSkip("no notes")
    return np.asarray(sorted(rows, key=lambda r: (r[1], r[0])), dtype=np.int32)


def midi_files(folder: str) -> list[Path]:
    root = Path(folder).expanduser()
    if not folder or not root.is_dir():
        raise GankitError(f"midi: {folder or '(no path)'}: no such folder (use --data midi:FOLDER)")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def midi_songs(folder: str, opts: MusicDataConfig, default_tracks: str = "all") -> tuple[list[Song], dict]:
    """The usable files of a MIDI folder; unusable ones are counted by reason in one warning, and a folder
    with none is an error."""
    require("mido")
    files = midi_files(folder)
    if not files:
        raise GankitError(f"midi:{folder}: no .mid or .midi file in the folder")
    selectors = parse_selectors(opts.tracks or default_tracks)
    parse_time_signature(opts.time_signature)
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = cache_key("midi", CACHE_VERSION, stamp, [s.text for s in selectors], opts.time_signature, opts.limit)
    songs, meta = cached(key, f"midi:{folder}", lambda: parse_midi_files(files, selectors, opts))
    if meta["skipped"]:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(meta["skipped"].items(), key=lambda kv: -kv[1]))
        warn(f"midi:{folder}: skipped {sum(meta['skipped'].values())} of {meta['files']} files ({reasons})")
    if not songs:
        raise GankitError(f"midi:{folder}: no usable MIDI file ({meta['files']} skipped; see the warning above)")
    meta["tracks"] = [s.text for s in selectors]
    return songs, meta


def parse_midi_files(files: list[Path], selectors, opts: MusicDataConfig) -> tuple[list[Song], dict]:
    songs, skipped = [], {}
    signature = parse_time_signature(opts.time_signature)
    for path in files:
        if opts.limit and len(songs) >= opts.limit:
            break
        try:
            songs.append(Song(path.name, read_midi(path, selectors, STEPS_PER_BEAT, signature, opts.time_limit)))
        except MidiSkip as e:
            reason = str(e).split(" (")[0]
            skipped[reason] = skipped.get(reason, 0) + 1
    return songs, {"files": len(files), "skipped": skipped}


# ------------------------------------------------------------------------------ pianorolls


def pianoroll(notes: np.ndarray, tracks: int, length: int, lowest: int, pitches: int) -> np.ndarray:
    """Notes -> [tracks, length, pitches] bool; notes outside the window are cut off."""
    roll = np.zeros((tracks, length, pitches), dtype=bool)
    for track, start, end, pitch, _ in notes:
        if 0 <= pitch - lowest < pitches and track < tracks:
            roll[track, max(start, 0):min(end, length), pitch - lowest] = True
    return roll


def roll_notes(roll: np.ndarray, lowest: int, velocity: int = DEFAULT_VELOCITY) -> np.ndarray:
    """[tracks, T, pitches] 0/1 -> notes: each run of active steps of a pitch is one note."""
    rows = []
    tracks, length, _ = roll.shape
    on = np.concatenate([np.zeros((tracks, 1, roll.shape[2]), bool), roll > 0.5,
                         np.zeros((tracks, 1, roll.shape[2]), bool)], 1)
    change = np.diff(on.astype(np.int8), axis=1)
    for track, step, pitch in zip(*np.nonzero(change == 1)):
        end = step + np.argmax(change[track, step:, pitch] == -1)
        rows.append((track, step, end, pitch + lowest, velocity))
    return np.asarray(sorted(rows, key=lambda r: (r[1], r[0])), dtype=np.int32).reshape(-1, 5)


def phrases(songs: list[Song], tracks: int, bar: int, opts: MusicDataConfig, lowest: int, pitches: int) -> np.ndarray:
    """4-bar (music.bars) windows every hop_bars bars of every song; all-silent windows dropped."""
    length, hop, out = opts.bars * bar, opts.hop_bars * bar, []
    for song in songs:
        end = int(song.notes[:, 2].max())
        roll = pianoroll(song.notes, tracks, end, lowest, pitches)
        for start in range(0, max(end - length, 0) + 1, hop):
            window = roll[:, start:start + length]
            if window.shape[1] == length and window.any():
                out.append(window)
    return np.stack(out) if out else np.zeros((0, tracks, length, pitches), bool)


class PianorollDataset(Dataset):
    """Phrases [N, tracks, T, P] (bool, in memory) and their transpositions: sample i is phrase i // 12
    shifted by SHIFTS[i % 12] semitones (computed per batch), or phrase i without transposition."""

    def __init__(self, spec: DataSpec, x: torch.Tensor, shifts: tuple[int, ...] = (0,)):
        super().__init__(spec, x)
        self.shifts = tuple(shifts)

    def to(self, device) -> "PianorollDataset":
        return PianorollDataset(self.spec, self.x.to(device), self.shifts)

    def __len__(self) -> int:
        return len(self.x) * len(self.shifts)

    def batch(self, idx: torch.Tensor):
        from .base import Batch

        idx = torch.as_tensor(idx)
        rolls = self.x[idx // len(self.shifts)].float()
        shift = torch.tensor(self.shifts, device=rolls.device)[idx % len(self.shifts)]
        for s in shift.unique().tolist():
            if s:  # the pitch axis has an empty margin of 5 below and 6 above: nothing wraps around
                rolls[shift == s] = torch.roll(rolls[shift == s], s, dims=-1)
        return Batch(rolls, None)


def pianoroll_dataset(name: str, songs: list[Song], track_info: list[dict], opts: MusicDataConfig,
                      **meta) -> PianorollDataset:
    """Songs -> the pianoroll dataset: pitch range from the data (plus the transposition margin)."""
    if not songs:
        raise GankitError(f"{name}: no songs")
    bar = bar_steps(opts.time_signature)
    all_notes = np.concatenate([s.notes for s in songs])
    lo, hi = int(all_notes[:, 3].min()), int(all_notes[:, 3].max())
    shifts = SHIFTS if opts.transpose else (0,)
    lowest, highest = max(0, lo - max(0, -min(shifts))), min(127, hi + max(shifts))
    pitches = highest - lowest + 1
    x = phrases(songs, len(track_info), bar, opts, lowest, pitches)
    if not len(x):
        raise GankitError(f"{name}: no phrase of {opts.bars} bars with notes (songs too short?)")
    spec = DataSpec(name, "pianoroll", tuple(x.shape[1:]), 0, (0.0, 1.0), (),
                    {"tracks": track_info, "lowest_pitch": lowest, "steps_per_bar": bar,
                     "steps_per_beat": STEPS_PER_BEAT, "time_signature": opts.time_signature,
                     "bars": opts.bars, "songs": len(songs), "phrases": len(x), **meta})
    return PianorollDataset(spec, torch.from_numpy(x), shifts)


# ------------------------------------------------------------------------------ note events


def event_features(tones: int) -> list[str]:
    return ["dt"] + [f"{k}{i}" for i in range(tones) for k in ("pitch", "duration", "velocity")]


def song_events(notes: np.ndarray, tones: int) -> np.ndarray:
    """Notes -> [events, 1 + 3·tones] in beats: time since the previous onset, then the `tones` highest
    notes starting at this onset (pitch, duration, velocity); a missing tone repeats the first pitch with
    duration and velocity 0."""
    starts = np.unique(notes[:, 1])
    out = np.zeros((len(starts), 1 + 3 * tones), np.float32)
    previous = starts[0]
    for e, start in enumerate(starts):
        here = notes[notes[:, 1] == start]
        here = here[np.argsort(-here[:, 3])][:tones]
        out[e, 0] = (start - previous) / STEPS_PER_BEAT
        previous = start
        for i in range(tones):
            if i < len(here):
                _, a, b, pitch, velocity = here[i]
                out[e, 1 + 3 * i:4 + 3 * i] = (pitch, (b - a) / STEPS_PER_BEAT, velocity)
            else:
                out[e, 1 + 3 * i] = here[0][3]
    return out


def events_notes(events: np.ndarray, tones: int, min_velocity: float = 10.0) -> np.ndarray:
    """Events (data space) -> notes in one track: the inverse of `song_events` (silent tones dropped)."""
    rows, t = [], 0.0
    for event in events:
        t += max(0.0, float(event[0]))
        for i in range(tones):
            pitch, duration, velocity = event[1 + 3 * i:4 + 3 * i]
            start, steps = round(t * STEPS_PER_BEAT), round(float(duration) * STEPS_PER_BEAT)
            if velocity >= min_velocity and steps >= 1:
                rows.append((0, start, start + steps, int(np.clip(round(float(pitch)), 0, 127)),
                             int(np.clip(round(float(velocity)), 1, 127))))
    return np.asarray(rows, dtype=np.int32).reshape(-1, 5)


def events_dataset(name: str, songs: list[Song], track_info: dict, opts: MusicDataConfig, **meta) -> Dataset:
    """Songs -> sequences of `seq_len` events every seq_len/2 events, standardized per feature."""
    windows = []
    for song in songs:
        events = song_events(song.notes, opts.tones)
        for start in range(0, len(events) - opts.seq_len + 1, max(1, opts.seq_len // 2)):
            window = events[start:start + opts.seq_len].copy()
            window[0, 0] = 0.0  # a sequence starts at its first onset
            windows.append(window)
    if not windows:
        raise GankitError(f"{name}: no song has {opts.seq_len} note events (lower music.seq_len)")
    x = torch.from_numpy(np.stack(windows))
    features = event_features(opts.tones)
    spec = DataSpec(name, "events", tuple(x.shape[1:]), 0, None, (),
                    {"features": features, "tones": opts.tones, "steps_per_beat": STEPS_PER_BEAT,
                     "time_signature": opts.time_signature, "tracks": [track_info], "songs": len(songs),
                     **standardization("table", x.reshape(-1, len(features))), **meta})
    return Dataset(spec, x)


# ------------------------------------------------------------------------------ the named datasets


def select_voices(songs: list[Song], voices: tuple[str, ...]) -> list[Song]:
    """Keep the chosen chorale voices, renumbered 0..len(voices)-1 in the order given."""
    out = []
    for song in songs:
        parts = [song.notes[song.notes[:, 0] == CHORALE_VOICES.index(v)].copy() for v in voices]
        for k, part in enumerate(parts):
            part[:, 0] = k
        notes = np.concatenate(parts)
        out.append(Song(song.name, notes[np.lexsort((notes[:, 0], notes[:, 1]))]))
    return out


def chorales(config=None) -> PianorollDataset:
    opts = music_options(config)
    songs, meta = chorale_songs(opts)
    voices = chorale_voices(opts, CHORALE_VOICES)
    tracks = [{"name": v, "program": CHOIR_PROGRAM, "drums": False} for v in voices]
    return pianoroll_dataset("chorales", select_voices(songs, voices), tracks, opts,
                             parse_seconds=meta.get("parse_seconds"))


def chorale_melodies(config=None) -> Dataset:
    opts = music_options(config)
    songs, _ = chorale_songs(opts)
    voices = chorale_voices(opts, ("soprano",))
    merged = [Song(s.name, np.where(np.arange(5) == 0, 0, s.notes)) for s in select_voices(songs, voices)]
    return events_dataset("chorale-melodies", merged, {"name": "+".join(voices), "program": CHOIR_PROGRAM}, opts)


def midi_pianorolls(folder: str, config=None) -> PianorollDataset:
    opts = music_options(config)
    songs, meta = midi_songs(folder, opts)
    tracks = [track_entry(t) for t in meta["tracks"]]
    return pianoroll_dataset(f"midi:{folder}", songs, tracks, opts, skipped=meta["skipped"])


def midi_events(folder: str, config=None) -> Dataset:
    opts = music_options(config)
    songs, meta = midi_songs(folder, opts)
    merged = [Song(s.name, np.where(np.arange(5) == 0, 0, s.notes)) for s in songs]
    return events_dataset(f"midi-events:{folder}", merged, track_entry(",".join(meta["tracks"])), opts)


def track_entry(selector: str) -> dict:
    """How a track chosen by `selector` is written back to MIDI: its name and a program of its family."""
    from .midi import GM_FAMILIES

    key = selector.lower()
    if key == "drums":
        return {"name": "drums", "program": 0, "drums": True}
    program = GM_FAMILIES[key][0] if key in GM_FAMILIES else int(key.split("-")[0]) if key[:1].isdigit() else 0
    return {"name": selector, "program": program, "drums": False}


def melody_roll(path: str | Path, spec: DataSpec, tracks: str = "all") -> torch.Tensor:
    """A melody from a MIDI file as a track-conditional musegan run takes it: [T, pitches] on the run's
    pitch axis, its first phrase (`sample(condition=melody_roll(path, pipe.spec))`)."""
    from .midi import read_midi

    if spec.kind != "pianoroll":
        raise GankitError(f"{path}: the run draws {spec.kind} data, not pianorolls: a melody is given to "
                          "a track-conditional musegan run")
    tracks_, length, pitches = spec.shape
    lowest = spec.meta["lowest_pitch"]
    try:
        notes = read_midi(Path(path), parse_selectors(tracks), STEPS_PER_BEAT,
                          parse_time_signature(spec.meta["time_signature"]))
    except MidiSkip as e:
        raise GankitError(f"{path}: {e}") from None
    outside = notes[(notes[:, 3] < lowest) | (notes[:, 3] >= lowest + pitches)]
    if len(outside):
        raise GankitError(f"{path}: pitch {int(outside[0, 3])} lies outside the run's range "
                          f"{lowest}..{lowest + pitches - 1}")
    notes[:, 0] = 0
    return torch.from_numpy(pianoroll(notes, 1, length, lowest, pitches)[0]).float()
