"""Music data: MIDI in (selectors, drums, bad files) and out (read back by mido and music21), note tables
to pianorolls and events and back, transposition, the .npz cache. MIDI files are written by the tests."""

import sys

import mido
import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.data import kind_of, load_dataset
from gankit.data.midi import MidiSkip, parse_selectors, read_midi, write_midi, write_wav
from gankit.data.music import (SHIFTS, MusicDataConfig, Song, events_dataset, events_notes, pianoroll,
                               pianoroll_dataset, roll_notes, song_events)
from gankit.errors import GankitError

TPB = 480  # ticks per beat of the files the tests write: a 16th note is 120 ticks


def midi_file(path, tracks, time_signature=(4, 4), tempo=500000, file_type=1):
    """tracks: [(name, channel, program, [(start_tick, end_tick, pitch), ...])]."""
    mid = mido.MidiFile(type=file_type, ticks_per_beat=TPB)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo),
                           mido.MetaMessage("time_signature", numerator=time_signature[0],
                                            denominator=time_signature[1])])
    mid.tracks.append(meta)
    for name, channel, program, notes in tracks:
        events = [(a, 1, mido.Message("note_on", channel=channel, note=p, velocity=80)) for a, _, p in notes]
        events += [(b, 0, mido.Message("note_off", channel=channel, note=p)) for _, b, p in notes]
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name),
                                mido.Message("program_change", channel=channel, program=program)])
        now = 0
        for at, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=at - now))
            now = at
        mid.tracks.append(track)
    mid.save(path)
    return path


def band(path, bars=8):
    """Piano quarter notes, a bass on whole notes, a drum on every beat."""
    beats = 4 * bars
    piano = [(b * TPB, (b + 1) * TPB, 60 + b % 5) for b in range(beats)]
    bass = [(b * 4 * TPB, (b + 1) * 4 * TPB, 36) for b in range(bars)]
    drums = [(b * TPB, b * TPB + 60, 38) for b in range(beats)]
    return midi_file(path, [("Piano", 0, 0, piano), ("Bass", 1, 33, bass), ("Kit", 9, 0, drums)])


def test_tracks_by_family_with_drums_only_when_asked(tmp_path):
    path = band(tmp_path / "band.mid")
    two = read_midi(path, parse_selectors("piano,bass"))
    assert set(two[:, 0]) == {0, 1}
    piano = two[two[:, 0] == 0]
    assert piano[:3, 1].tolist() == [0, 4, 8] and (piano[:, 2] - piano[:, 1] == 4).all()  # quarter = 4 steps
    assert (two[two[:, 0] == 1][:, 2] - two[two[:, 0] == 1][:, 1] == 16).all()
    three = read_midi(path, parse_selectors("piano,bass,drums"))
    drums = three[three[:, 0] == 2]
    assert len(drums) == 32 and (drums[:, 3] == 38).all() and (drums[:, 2] - drums[:, 1] == 1).all()
    by_name = read_midi(path, parse_selectors("name:bass"))
    assert set(by_name[:, 0]) == {0} and (by_name[:, 3] == 36).all()
    with pytest.raises(GankitError, match="track selector"):
        parse_selectors("piano,kazoo")


def test_written_midi_reads_back_in_mido_and_music21(tmp_path):
    notes = np.array([[0, 0, 4, 60, 90], [0, 4, 6, 64, 90], [1, 0, 16, 48, 70]], np.int32)
    path = write_midi(tmp_path / "out.mid", notes, [{"name": "melody", "program": 0},
                                                     {"name": "bass", "program": 33}])
    back = read_midi(path, parse_selectors("name:melody,name:bass"))
    assert back[np.lexsort((back[:, 3], back[:, 1]))].tolist() == notes[np.lexsort((notes[:, 3], notes[:, 1]))].tolist()
    mid = mido.MidiFile(path)
    assert [t.name for t in mid.tracks[1:]] == ["melody", "bass"]
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse(str(path))
    got = sorted((float(n.offset), float(n.quarterLength), p.midi) for part in score.parts
                 for n in part.flatten().notes for p in n.pitches)
    assert got == [(0.0, 1.0, 60), (0.0, 4.0, 48), (1.0, 0.5, 64)]


def test_wav_rendering_is_a_16_bit_sine_synthesis(tmp_path):
    import wave

    path = write_midi(tmp_path / "a.mid", np.array([[0, 0, 8, 69, 90]], np.int32), [{"name": "a"}])
    wav = write_wav(path, tmp_path / "a.wav", sample_rate=8000)
    with wave.open(str(wav)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        assert w.getsampwidth() == 2 and w.getframerate() == 8000
    # 2 beats at 100 bpm = 1.2 s of an A (440 Hz): the strongest frequency
    spectrum = np.abs(np.fft.rfft(frames[:8000].astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / 8000 - 440) < 5


def test_pianoroll_and_events_round_trip_the_notes():
    notes = np.array([[0, 0, 4, 60, 90], [0, 4, 5, 62, 90], [1, 0, 8, 48, 90], [0, 8, 12, 67, 90]], np.int32)
    roll = pianoroll(notes, 2, 16, 40, 40)
    assert roll.sum() == 4 + 1 + 8 + 4
    back = roll_notes(roll, 40)
    assert sorted(map(tuple, back.tolist())) == sorted(map(tuple, notes.tolist()))
    melody = notes[notes[:, 0] == 0]
    events = song_events(melody, tones=1)
    assert events[:, 0].tolist() == [0.0, 1.0, 1.0]            # beats since the previous onset
    assert events_notes(events, tones=1).tolist() == melody.tolist()
    chords = song_events(np.where(np.arange(5) == 0, 0, notes), tones=2)
    assert chords[0, 1:].tolist() == [60, 1.0, 90, 48, 2.0, 90] and chords[1, 4:].tolist() == [62, 0.0, 0.0]


def test_transposition_shifts_each_copy_by_its_semitones(tiny_songs):
    data = pianoroll_dataset("t", tiny_songs, [{"name": "a"}, {"name": "b"}], MusicDataConfig(bars=2))
    assert len(data) == 12 * len(data.x)
    base = data.batch(torch.tensor([SHIFTS.index(0)])).x[0]
    for k, s in enumerate(SHIFTS):
        shifted = data.batch(torch.tensor([k])).x[0]
        assert shifted.sum() == base.sum() and torch.equal(torch.roll(base, s, dims=-1), shifted)
    plain = pianoroll_dataset("t", tiny_songs, [{"name": "a"}, {"name": "b"}], MusicDataConfig(bars=2, transpose=False))
    assert len(plain) == len(plain.x) and plain.spec.shape[2] == data.spec.shape[2] - 11


def test_events_are_standardized_and_map_back(tiny_songs):
    data = events_dataset("e", tiny_songs, {"name": "all"}, MusicDataConfig(seq_len=8, tones=2))
    x = data.all().x
    assert data.spec.shape == (8, 7) and x.reshape(-1, 7).mean(0).abs().max() < 1e-4
    from gankit.data.base import to_data_space

    back = to_data_space(data.spec, x)
    assert torch.allclose(back, data.x, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_songs():
    from conftest import make_tiny_songs

    return make_tiny_songs()


# ------------------------------------------------------------------------------ bad input


def bad_files(folder):
    """One file of each kind the loader must skip, with the reason it must give."""
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage" + bytes(range(40)))
    (folder / "empty.mid").write_bytes(b"")
    midi_file(folder / "silent.mid", [("Piano", 0, 0, [])])
    midi_file(folder / "zero_tempo.mid", [("Piano", 0, 0, [(0, TPB, 60)])], tempo=0)
    midi_file(folder / "waltz.mid", [("Piano", 0, 0, [(0, TPB, 60)])], time_signature=(3, 4))
    type2 = mido.MidiFile(type=2, ticks_per_beat=TPB)
    type2.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=80),
                                        mido.Message("note_off", note=60, time=TPB)]))
    type2.save(folder / "type2.mid")
    huge = mido.MidiFile(type=1, ticks_per_beat=TPB)
    huge.tracks.extend(mido.MidiTrack() for _ in range(10_000))
    huge.save(folder / "huge.mid")
    return {"not a readable MIDI file": 1, "empty file": 1, "no notes on the chosen tracks": 1,
            "tempo 0": 1, "time signature 3/4": 1, "type-2 MIDI": 1, "10000 tracks": 1}


def test_each_bad_file_is_a_counted_skip_in_one_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    folder.mkdir()
    expected = bad_files(folder)
    band(folder / "good.mid")
    data = load_dataset(f"midi:{folder}")
    assert data.spec.kind == kind_of(f"midi:{folder}") == "pianoroll" and data.spec.meta["songs"] == 1
    assert data.spec.meta["skipped"] == expected
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "skipped 7 of 8 files" in err


def test_a_folder_without_a_usable_file_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "bad"
    folder.mkdir()
    bad_files(folder)
    code = main(["train", "musegan", "--data", f"midi:{folder}", "--preset", "smoke", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "no usable MIDI file" in err[-1]
    (tmp_path / "none").mkdir()
    assert main(["train", "musegan", "--data", f"midi:{tmp_path / 'none'}", "--out", str(tmp_path / "r")]) == 2
    assert "no .mid or .midi file" in capsys.readouterr().err


def test_reading_stops_at_the_time_limit(tmp_path):
    with pytest.raises(MidiSkip, match="time limit"):
        read_midi(band(tmp_path / "a.mid"), parse_selectors("all"), time_limit=1e-9)


def test_the_parse_is_cached_and_the_cache_holds_no_pickles(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    folder.mkdir()
    band(folder / "a.mid")
    first = load_dataset(f"midi:{folder}")
    [cache] = (tmp_path / "cache" / "datasets" / "music").glob("*.npz")
    np.load(cache, allow_pickle=False)["notes"]  # plain arrays only
    import gankit.data.music as music

    monkeypatch.setattr(music, "parse_midi_files", lambda *a: pytest.fail("parsed again"))
    assert torch.equal(load_dataset(f"midi:{folder}").x, first.x)
    cache.write_bytes(b"torn")  # a damaged cache is parsed again, not an error
    monkeypatch.undo()
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    assert torch.equal(load_dataset(f"midi:{folder}").x, first.x)


def test_missing_music_libraries_name_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mido", None)  # import mido raises ImportError
    (tmp_path / "a.mid").write_bytes(b"x")
    with pytest.raises(GankitError, match=r"pip install 'gankit\[music\]'"):
        load_dataset(f"midi:{tmp_path}")


def test_a_handful_of_chorales_parse_into_four_voices_in_4_4(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    from gankit.data.music import chorale_songs

    songs, meta = chorale_songs(MusicDataConfig(limit=2))
    assert len(songs) == 2 and meta["parse_seconds"] > 0
    for song in songs:
        assert set(song.notes[:, 0]) == {0, 1, 2, 3}
        soprano, bass = song.notes[song.notes[:, 0] == 0], song.notes[song.notes[:, 0] == 3]
        assert soprano[:, 3].mean() > bass[:, 3].mean() + 12  # the voices are in S, A, T, B order


def test_loaders_take_the_options_or_a_recipe_config(tiny_songs, tmp_path, monkeypatch):
    from gankit.data.music import music_options
    from gankit.recipes.musegan import MuseGANConfig

    opts = MusicDataConfig(transpose=False)
    cfg = MuseGANConfig()
    cfg.music.bars = 2
    assert music_options(opts) is opts and music_options(cfg).bars == 2 and music_options(None).bars == 4
