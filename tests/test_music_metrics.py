"""Music metrics on hand-made pianorolls and note tables whose values are computed by hand."""

import math

import numpy as np
import pytest

from gankit.metrics.music import (empty_bars, musegan_metrics, polyphony, qualified_notes, repetitions,
                                  scale_consistency, tonal_distance, tonal_distances, tone_span,
                                  used_pitch_classes)

LOWEST = 60  # pitch index 0 is middle C


def roll(phrases=1, tracks=1, steps=8, pitches=24):
    return np.zeros((phrases, tracks, steps, pitches))


def test_empty_bars_counts_silent_bars_per_track():
    x = roll(phrases=2, tracks=2)                     # 2 phrases of 2 bars of 4 steps: 4 bars per track
    x[0, 0, 1, 3] = 1                                  # track 0: one bar with a note
    x[0, 1, 0, 0] = x[0, 1, 5, 0] = x[1, 1, 7, 2] = 1  # track 1: three bars with notes
    assert empty_bars(x, bar=4).tolist() == [75.0, 25.0]


def test_used_pitch_classes_average_over_non_empty_bars():
    x = roll()
    x[0, 0, 0, [0, 4, 12]] = 1   # bar 0: C4, E4, C5 -> classes {C, E}
    x[0, 0, 5, 7] = 1            # bar 1: G4 -> {G}
    assert used_pitch_classes(x, bar=4, lowest=LOWEST)[0] == pytest.approx(1.5)
    x2 = roll(steps=12)          # a third, empty bar does not count as 0
    x2[:, :, :8] = x
    assert used_pitch_classes(x2, bar=4, lowest=LOWEST)[0] == pytest.approx(1.5)
    assert used_pitch_classes(x, bar=4, lowest=LOWEST + 1)[0] == pytest.approx(1.5)  # shifting all keeps counts


def test_qualified_notes_are_runs_of_at_least_min_steps():
    x = roll()
    x[0, 0, 0, 0] = 1                 # length 1
    x[0, 0, 2:4, 0] = 1               # length 2 (a gap before it: a new note)
    x[0, 0, 3:6, 5] = 1               # length 3 on another pitch, overlapping in time
    assert qualified_notes(x, min_steps=2)[0] == pytest.approx(200 / 3)
    assert qualified_notes(x, min_steps=3)[0] == pytest.approx(100 / 3)
    assert math.isnan(qualified_notes(roll(), min_steps=2)[0])


def test_tonal_distance_zero_for_the_same_chroma_and_2_sqrt_2_for_a_tritone():
    a = np.zeros((1, 4, 24))
    a[0, :, 0] = 1                    # C for one beat
    same_class = np.zeros((1, 4, 24))
    same_class[0, :, 12] = 1          # C an octave up: the same pitch class
    tritone = np.zeros((1, 4, 24))
    tritone[0, :, 6] = 1              # F#: fifths and minor-thirds circles opposite, major thirds equal
    assert tonal_distance(a, same_class, beat=4, lowest=LOWEST) == pytest.approx(0.0, abs=1e-12)
    assert tonal_distance(a, tritone, beat=4, lowest=LOWEST) == pytest.approx(2 * math.sqrt(2))
    assert math.isnan(tonal_distance(a, np.zeros_like(a), beat=4, lowest=LOWEST))  # no beat where both play


def test_shuffled_pairs_break_the_harmony_of_matching_tracks():
    x = np.zeros((6, 2, 4, 24))
    for i in range(6):
        x[i, :, :, i] = 1             # phrase i: both tracks play pitch class i
    paired = tonal_distances(x, ["a", "b"], beat=4, lowest=LOWEST)
    shuffled = tonal_distances(x, ["a", "b"], beat=4, lowest=LOWEST, shuffle_seed=1)
    assert paired["a-b"] == pytest.approx(0.0, abs=1e-12) and shuffled["a-b"] > 0.5


def test_musegan_metrics_names_every_track_and_pair():
    x = np.zeros((2, 3, 8, 24))
    x[:, :, :, 0] = 1
    out = musegan_metrics(x, ["s", "a", "b"], bar=4, beat=4, lowest=LOWEST)
    assert {k for k in out if k.startswith("TD/")} == {"TD/s-a", "TD/s-b", "TD/a-b"}
    assert out["EB/s"] == 0.0 and out["UPC/a"] == 1.0 and out["QN/b"] == 100.0


def notes(rows):
    return np.array([(0, s, s + 1, p, 90) for s, p in rows], dtype=np.int32).reshape(-1, 5)


def test_polyphony_is_the_share_of_notes_starting_together():
    assert polyphony(notes([(0, 60), (0, 64), (4, 62), (8, 60)])) == pytest.approx(0.5)
    assert polyphony(notes([(0, 60), (1, 62)])) == 0.0


def test_scale_consistency_takes_the_best_scale():
    c_major = [60, 62, 64, 65, 67, 69, 71]
    assert scale_consistency(notes([(i, p) for i, p in enumerate(c_major)])) == 1.0
    assert scale_consistency(notes([(i, p) for i, p in enumerate(c_major + [66])])) == pytest.approx(7 / 8)


def test_repetitions_count_repeated_ngrams_per_note():
    # bigrams (60,62) twice and (62,60) once: one repeat; no repeated trigram; 4 notes
    assert repetitions(notes([(0, 60), (1, 62), (2, 60), (3, 62)])) == pytest.approx(0.25)
    assert repetitions(notes([(0, 60), (1, 61), (2, 62)])) == 0.0


def test_tone_span_is_highest_minus_lowest():
    assert tone_span(notes([(0, 60), (1, 72), (2, 64)])) == 12.0


def test_voice_crossing_and_range_violations():
    from gankit.metrics.music import range_violations, voice_crossings

    x = np.zeros((1, 2, 4, 24))
    x[0, 0, :, 12] = 1            # upper voice on C5 (72) throughout
    x[0, 1, :2, 5] = 1            # lower voice below it (F4) for two steps
    x[0, 1, 2:, 16] = 1           # then above it (E5): two crossed steps of four
    assert voice_crossings(x, lowest=LOWEST) == 50.0
    # soprano 72 is inside C4-A5; the 'alto' E5 (76) is above G3-D5 on two of its four cells
    assert range_violations(x, ["soprano", "alto"], lowest=LOWEST) == {"soprano": 0.0, "alto": 50.0}
