"""MIDI files in and out, as note tables (mido; `pip install 'gankit[music]'`).

A song is a note table: an int32 array [n, 5] of (track, start, end, pitch, velocity) with times in
steps of 1/`steps_per_beat` of a quarter note (4: 16th notes, MuseGAN's and our resolution for 4/4).
Reading works in ticks and never needs the tempo, so a file's tempo map only matters for playback.

Reading is defensive, because users' folders hold anything: every reason a file cannot be used raises
`MidiSkip` with a short reason (corrupt, empty, no notes, type-2 layout, too many tracks, a time signature
other than the chosen one, an invalid tempo, a file too big, too slow to read), which the folder loader
counts and summarises in one warning. Parsing never hangs: files above `MAX_BYTES` are not opened, and the
event loop stops after `time_limit` seconds per file.

Tracks are chosen by selectors (`--set music.tracks=...`): a General MIDI family (`piano`, `bass`, ...),
a program number or range (`0-7`), `drums` (channel 10) or `name:TEXT` (track name contains TEXT); each
note goes to the first selector it matches, notes matching none are dropped. `all` takes every pitched note.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GankitError

MAX_BYTES = 8 * 2**20
MAX_TRACKS = 1024
DRUM_CHANNEL = 9
WRITE_TICKS_PER_BEAT = 96
GM_FAMILIES = {  # General MIDI program families (0-based programs)
    "piano": (0, 7), "chromatic": (8, 15), "organ": (16, 23), "guitar": (24, 31), "bass": (32, 39),
    "strings": (40, 47), "ensemble": (48, 55), "brass": (56, 63), "reed": (64, 71), "pipe": (72, 79),
    "lead": (80, 87), "pad": (88, 95), "synth": (80, 103), "choir": (52, 54),
}
NOTE_COLUMNS = ("track", "start", "end", "pitch", "velocity")


class MidiSkip(Exception):
    """A file that cannot be used, with a short reason (counted by the folder loader)."""


def require(module: str):
    """Import a music library, or a one-line error naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise GankitError(f"music data needs {module}: pip install 'gankit[music]'") from None


@dataclass(frozen=True)
class Selector:
    """Which notes one output track takes."""

    text: str

    def matches(self, channel: int, program: int, track_name: str) -> bool:
        key = self.text.strip().lower()
        if key == "drums":
            return channel == DRUM_CHANNEL
        if channel == DRUM_CHANNEL:
            return False  # drums only where asked for: their "pitches" are instruments
        if key == "all":
            return True
        if key.startswith("name:"):
            return key[5:] in track_name.lower()
        lo, hi = program_range(key)
        return lo <= program <= hi


def program_range(key: str) -> tuple[int, int]:
    if key in GM_FAMILIES:
        return GM_FAMILIES[key]
    lo, sep, hi = key.partition("-")
    try:
        a, b = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise GankitError(f"track selector {key!r}: use a General MIDI family ({', '.join(GM_FAMILIES)}), a "
                          "program (0-127) or range (0-7), drums, all, or name:TEXT") from None
    if not 0 <= a <= b <= 127:
        raise GankitError(f"track selector {key!r}: programs lie in 0..127")
    return a, b


def parse_selectors(text: str) -> list[Selector]:
    selectors = [Selector(t.strip()) for t in (text or "all").split(",") if t.strip()]
    for s in selectors:
        if s.text.lower() not in ("drums", "all") and not s.text.lower().startswith("name:"):
            program_range(s.text.lower())  # a bad selector is an error now, not a silent empty track
    return selectors


def parse_time_signature(text: str) -> tuple[int, int]:
    num, sep, den = text.partition("/")
    if not (sep and num.isdigit() and den.isdigit() and int(num) > 0 and int(den) in (1, 2, 4, 8, 16, 32)):
        raise GankitError(f"time signature {text!r}: write it as N/D, e.g. 4/4 or 3/4")
    return int(num), int(den)


# ------------------------------------------------------------------------------ reading


def read_midi(path: Path, selectors: list[Selector], steps_per_beat: int = 4, time_signature=(4, 4),
              time_limit: float = 5.0) -> np.ndarray:
    """The notes of one MIDI file on the chosen tracks ([n, 5] int32), or MidiSkip with the reason."""
    mido = require("mido")
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise MidiSkip("empty file")
    if size > MAX_BYTES:
        raise MidiSkip(f"larger than {MAX_BYTES // 2**20} MB")
    try:
        mid = mido.MidiFile(path, clip=True)
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError... on damaged files
        raise MidiSkip(f"not a readable MIDI file ({type(e).__name__})") from None
    if mid.type == 2:
        raise MidiSkip("type-2 MIDI (independent sequences) is not supported")
    if len(mid.tracks) > MAX_TRACKS:
        raise MidiSkip(f"{len(mid.tracks)} tracks (more than {MAX_TRACKS})")
    if mid.ticks_per_beat <= 0:
        raise MidiSkip("SMPTE time division (no ticks per beat)")
    deadline = time.perf_counter() + time_limit
    notes: list[tuple[int, int, int, int, int]] = []
    for track in mid.tracks:
        notes += track_notes(track, mid.ticks_per_beat, steps_per_beat, selectors, time_signature, deadline)
    if not notes:
        raise MidiSkip("no notes on the chosen tracks")
    return np.asarray(sorted(notes, key=lambda n: (n[1], n[0], -n[3])), dtype=np.int32)


def track_notes(track, ticks_per_beat: int, steps_per_beat: int, selectors: list[Selector], time_signature,
                deadline: float) -> list[tuple[int, int, int, int, int]]:
    """(output track, start, end, pitch, velocity) of one MIDI track's notes that a selector takes."""
    name, programs, tick, out = "", [0] * 16, 0, []
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start tick, velocity)

    def step(t: int) -> int:
        return round(t * steps_per_beat / ticks_per_beat)

    for i, msg in enumerate(track):
        if i % 1000 == 0 and time.perf_counter() > deadline:
            raise MidiSkip("too slow to read (time limit)")
        tick += msg.time
        if msg.type == "track_name":
            name = msg.name
        elif msg.type == "time_signature" and (msg.numerator, msg.denominator) != tuple(time_signature):
            raise MidiSkip(f"time signature {msg.numerator}/{msg.denominator}")
        elif msg.type == "set_tempo" and msg.tempo <= 0:
            raise MidiSkip("tempo 0 (invalid)")
        elif msg.type == "program_change":
            programs[msg.channel] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault((msg.channel, msg.note), (tick, msg.velocity))
        elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
            start, velocity = sounding.pop((msg.channel, msg.note))
            which = next((k for k, s in enumerate(selectors)
                          if s.matches(msg.channel, programs[msg.channel], name)), None)
            if which is not None:
                a = step(start)
                out.append((which, a, max(a + 1, step(tick)), msg.note, velocity))
    return out


# ------------------------------------------------------------------------------ writing


def write_midi(path: Path, notes: np.ndarray, tracks: list[dict], steps_per_beat: int = 4,
               time_signature=(4, 4), tempo_bpm: float = 100.0) -> Path:
    """A type-1 MIDI file: a conductor track (tempo, time signature), then one track per entry of `tracks`
    ({name, program, drums}); drums on channel 10. Written to a temporary name and renamed."""
    mido = require("mido")
    from ..train.checkpoint import atomic_write_bytes
    import io

    mid = mido.MidiFile(type=1, ticks_per_beat=WRITE_TICKS_PER_BEAT)
    ticks = WRITE_TICKS_PER_BEAT // steps_per_beat
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm)),
                                mido.MetaMessage("time_signature", numerator=time_signature[0],
                                                 denominator=time_signature[1])])
    mid.tracks.append(conductor)
    melodic = 0
    for k, info in enumerate(tracks):
        channel = DRUM_CHANNEL if info.get("drums") else [c for c in range(16) if c != DRUM_CHANNEL][melodic % 15]
        melodic += not info.get("drums")
        events = []
        for _, start, end, pitch, velocity in notes[notes[:, 0] == k]:
            events.append((int(start) * ticks, 1, mido.Message("note_on", channel=channel, note=int(pitch),
                                                                 velocity=int(np.clip(velocity, 1, 127)))))
            events.append((int(end) * ticks, 0, mido.Message("note_off", channel=channel, note=int(pitch))))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=info.get("name", f"track {k}")),
                                mido.Message("program_change", channel=channel, program=int(info.get("program", 0)))])
        now = 0
        for at, _, msg in sorted(events, key=lambda e: (e[0], e[1])):  # note-offs before note-ons at a tick
            track.append(msg.copy(time=at - now))
            now = at
        mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_wav(midi_path: Path, out: Path, sample_rate: int = 16000) -> Path:
    """A sine-wave rendering of a MIDI file (pretty_midi's `synthesize`: no soundfont needed), 16-bit mono."""
    import io
    import wave

    pretty_midi = require("pretty_midi")
    from ..train.checkpoint import atomic_write_bytes

    audio = pretty_midi.PrettyMIDI(str(midi_path)).synthesize(fs=sample_rate)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    pcm = (audio / peak * 0.8 * 32767).astype(np.int16) if peak > 0 else audio.astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    atomic_write_bytes(Path(out), buffer.getvalue())
    return Path(out)
