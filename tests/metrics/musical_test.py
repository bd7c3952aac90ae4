"""Musical metrics against answers worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from multinn.data import PianorollSpec, TrackSpec
from multinn.errors import SpecError
from multinn.metrics import musical
from multinn.metrics.musical import (
    METRIC_INFO,
    default_min_length,
    drum_pattern_rate,
    empty_bar_rate,
    frame_precision_recall_f1,
    in_scale_rate,
    musical_metrics,
    polyphonic_rate,
    qualified_note_rate,
    tonal_distance,
    used_pitch_classes,
    used_pitches,
)

pytestmark = pytest.mark.filterwarnings("error")  # a metric must never warn (NaN results included)

C4, E4, G4 = 60, 64, 67
LOW = 48  # most rolls here: 36 pitches, MIDI 48 (C3) .. 83; pitch index = MIDI - LOW


def roll(steps: int, notes: list[tuple[int, int, int]], pitches: int = 36) -> np.ndarray:
    """A one-track `[time, pitch]` roll with notes `(midi pitch, first step, length)`."""
    array = np.zeros((steps, pitches), dtype=bool)
    for pitch, start, length in notes:
        array[start : start + length, pitch - LOW] = True
    return array


def hits(steps: int, positions) -> np.ndarray:
    """A one-pitch drum roll `[time, 1]` with 1-step hits at `positions`."""
    array = np.zeros((steps, 1), dtype=bool)
    array[list(positions), 0] = True
    return array


# ---------------------------------------------------------------------------------------- a C-major triad
TRIAD = roll(32, [(C4, 0, 32), (E4, 0, 32), (G4, 0, 32)])  # held two bars of 16 steps


def test_c_major_triad_held_two_bars():
    # Both bars hold exactly {C4, E4, G4}: 3 pitches, 3 pitch classes (C, E, G), no empty bar.
    assert used_pitches(TRIAD, 16) == 3.0
    assert used_pitch_classes(TRIAD, 16, lowest_pitch=LOW) == 3.0
    assert empty_bar_rate(TRIAD, 16) == 0.0
    # 3 notes of 32 steps each: all qualify at 3 steps; none at 33; all at exactly 32.
    assert qualified_note_rate(TRIAD) == 1.0
    assert qualified_note_rate(TRIAD, min_length=33) == 0.0
    assert qualified_note_rate(TRIAD, min_length=32) == 1.0
    # 3 pitches sound in every step: 3 > 2.
    assert polyphonic_rate(TRIAD, threshold=2) == 1.0
    assert polyphonic_rate(TRIAD, threshold=3) == 0.0
    # C, E, G are all in C major (tonic 0) and in the best scale.
    assert in_scale_rate(TRIAD, lowest_pitch=LOW, tonic=0) == 1.0
    assert in_scale_rate(TRIAD, lowest_pitch=LOW) == 1.0
    assert isinstance(used_pitches(TRIAD, 16), float)


def test_octave_doubling_adds_a_pitch_not_a_pitch_class():
    doubled = roll(16, [(C4, 0, 16), (C4 + 12, 0, 16), (G4, 0, 16)])
    assert used_pitches(doubled, 16) == 3.0
    assert used_pitch_classes(doubled, 16, lowest_pitch=LOW) == 2.0


def test_pitch_classes_follow_lowest_pitch():
    # Index 0 and index 1 are one semitone apart: 2 classes whatever the offset; indices 0 and 12 are one class.
    two = np.zeros((16, 24), bool)
    two[:, [0, 12]] = True
    for lowest in (0, 5, 11, 48):
        assert used_pitch_classes(two, 16, lowest_pitch=lowest) == 1.0


# ---------------------------------------------------------------------------------------- empty bars
def test_a_bar_of_silence_is_one_empty_bar():
    silence = roll(16, [])
    assert empty_bar_rate(silence, 16) == 1.0
    # Nothing to average: NaN, not a crash or a warning.
    assert math.isnan(used_pitches(silence, 16))
    assert math.isnan(used_pitch_classes(silence, 16))
    assert math.isnan(qualified_note_rate(silence))
    assert math.isnan(in_scale_rate(silence))
    assert polyphonic_rate(silence) == 0.0  # 16 steps, none polyphonic


def test_one_silent_bar_of_four():
    # Bars 0, 1, 3 hold a note; bar 2 (steps 32..47) is silent: 1/4.
    piece = roll(64, [(C4, 0, 32), (E4, 48, 16)])
    assert empty_bar_rate(piece, 16) == 0.25
    # UP over the 3 non-empty bars: (1 + 1 + 1) / 3.
    assert used_pitches(piece, 16) == 1.0


def test_trailing_partial_bar_is_ignored_by_bar_metrics():
    # 20 steps = one complete (silent) bar + 4 steps; the note is in the partial bar.
    piece = roll(20, [(C4, 16, 4)])
    assert empty_bar_rate(piece, 16) == 1.0
    assert math.isnan(used_pitches(piece, 16))
    # Metrics that are not per bar still see every step: 1 note of 4 steps, 4 of 20 steps mono.
    assert qualified_note_rate(piece) == 1.0
    assert polyphonic_rate(piece, threshold=0) == 4 / 20
    # Shorter than a bar: no bar at all.
    assert math.isnan(empty_bar_rate(roll(15, [(C4, 0, 15)]), 16))


# ---------------------------------------------------------------------------------------- qualified notes
def test_a_one_step_note_is_not_qualified_at_two():
    assert qualified_note_rate(roll(8, [(C4, 3, 1)]), min_length=2) == 0.0
    assert qualified_note_rate(roll(8, [(C4, 3, 1)]), min_length=1) == 1.0


def test_notes_of_lengths_1_2_3_4_half_qualify_at_3():
    # On one pitch with rests between: 4 notes, those of 3 and 4 steps qualify: 2 / 4.
    one_pitch = roll(20, [(C4, 0, 1), (C4, 2, 2), (C4, 5, 3), (C4, 9, 4)])
    assert qualified_note_rate(one_pitch, min_length=3) == 0.5
    # The same lengths on four pitches at once.
    four_pitches = roll(8, [(C4, 0, 1), (E4, 0, 2), (G4, 0, 3), (G4 + 5, 0, 4)])
    assert qualified_note_rate(four_pitches, min_length=3) == 0.5
    # At 2 steps: 3 of 4; at 4: 1 of 4; at 5: none.
    assert qualified_note_rate(one_pitch, min_length=2) == 0.75
    assert qualified_note_rate(one_pitch, min_length=4) == 0.25
    assert qualified_note_rate(one_pitch, min_length=5) == 0.0


def test_a_restruck_note_is_two_notes_and_a_held_note_one():
    restruck = roll(4, [(C4, 0, 2), (C4, 3, 1)])  # on, on, off, on
    assert qualified_note_rate(restruck, min_length=2) == 0.5  # notes of 2 and 1 steps
    held = roll(4, [(C4, 0, 4)])
    assert qualified_note_rate(held, min_length=4) == 1.0  # one note of 4 steps


def test_notes_are_not_cut_at_bar_lines():
    # Steps 14..17 cross the bar line at 16: one note of 4 steps (MuseGAN's per-bar code: two of 2).
    assert qualified_note_rate(roll(32, [(C4, 14, 4)]), min_length=3) == 1.0


def test_notes_do_not_run_from_one_piece_into_the_next():
    # Piece 0 ends with a note, piece 1 starts with the same pitch: two notes of 2 steps, not one of 4.
    batch = np.stack([roll(4, [(C4, 2, 2)]), roll(4, [(C4, 0, 2)])])
    assert qualified_note_rate(batch, min_length=3) == 0.0
    assert qualified_note_rate(batch, min_length=2) == 1.0


def test_pieces_shorter_than_min_length():
    # 2-step piece, min_length 3: its note cannot qualify; pooled with a qualified one: 1 / 2.
    pieces = [roll(2, [(C4, 0, 2)]), roll(5, [(C4, 0, 5)])]
    assert qualified_note_rate(pieces, min_length=3) == 0.5


# ---------------------------------------------------------------------------------------- polyphony
def test_polyphonic_rate_counts_more_than_threshold():
    # Steps sound 1, 2, 3 and 0 pitches.
    piece = roll(4, [(C4, 0, 3), (E4, 1, 2), (G4, 2, 1)])
    assert polyphonic_rate(piece) == 0.25  # only the 3-pitch step has more than 2
    assert polyphonic_rate(piece, threshold=1) == 0.5
    assert polyphonic_rate(piece, threshold=0) == 0.75


# ---------------------------------------------------------------------------------------- drum pattern
def test_drum_pattern_48_steps_per_bar():
    # 48 steps per 4/4 bar: the 16th grid is every 3 steps, so steps 1 and 2 of each 3 weigh 0.1.
    assert drum_pattern_rate(hits(48, range(0, 48, 3)), 48) == 1.0  # every 16th
    assert drum_pattern_rate(hits(48, range(0, 48, 6)), 48) == 1.0  # every 8th
    # 8th-note triplets, every 4 steps: 0, 12, 24, 36 on the grid; 4, 8, 16, 20, ... next to it.
    # (4 * 1 + 8 * 0.1) / 12 = 0.4
    assert drum_pattern_rate(hits(48, range(0, 48, 4)), 48) == pytest.approx(0.4, abs=1e-15)
    assert drum_pattern_rate(hits(48, range(0, 48, 4)), 48, tolerance=0.0) == pytest.approx(1 / 3, abs=1e-15)
    assert drum_pattern_rate(hits(48, [1]), 48) == pytest.approx(0.1, abs=1e-15)
    assert drum_pattern_rate(hits(48, [2]), 48) == pytest.approx(0.1, abs=1e-15)


def test_drum_pattern_96_steps_per_bar_matches_musegan_mask():
    # Grid every 6 steps; mask [1, .1, 0, 0, 0, .1] as MuseGAN's.
    weights = [drum_pattern_rate(hits(96, [step]), 96) for step in range(7)]
    assert weights == pytest.approx([1.0, 0.1, 0.0, 0.0, 0.0, 0.1, 1.0], abs=1e-15)


def test_drum_pattern_16_and_32_steps_per_bar():
    # 16 steps per bar: every step is a 16th, so everything is on the grid.
    assert drum_pattern_rate(hits(16, range(1, 16, 2)), 16) == 1.0
    # 32 steps per bar: the grid is every 2 steps; the 32nd between weighs 0 (grid spacing is not > 2).
    assert drum_pattern_rate(hits(32, range(0, 32, 2)), 32) == 1.0
    assert drum_pattern_rate(hits(32, range(1, 32, 2)), 32) == 0.0
    assert drum_pattern_rate(hits(32, range(0, 32, 4)), 32) == 1.0  # 8ths
    assert drum_pattern_rate(hits(32, [0, 3, 6, 9]), 32) == 0.5  # 2 on, 2 off
    assert drum_pattern_rate(hits(32, [0, 1]), 32) == 1.0  # steps 0-1 are one hit, struck on the grid
    # 24 steps per bar is no multiple of 16: the 8th grid, every 3 steps.
    assert drum_pattern_rate(hits(24, [3, 7]), 24) == pytest.approx(0.55, abs=1e-15)  # (1 + 0.1) / 2


def test_drum_pattern_counts_onsets_not_cells():
    # A hit held 3 steps from step 0 is one onset on the grid: 1.0 (counting cells: (1 + .1 + .1) / 3).
    assert drum_pattern_rate(hits(48, [0, 1, 2]), 48) == 1.0
    # Two pitches struck together on the grid and one off it: 2 onsets of weight 1, one of 0.1.
    kit = np.zeros((48, 2), bool)
    kit[0, :] = kit[1 + 6, 1] = True
    assert drum_pattern_rate(kit, 48) == pytest.approx(2.1 / 3, abs=1e-15)


def test_drum_pattern_ignores_the_trailing_partial_bar_and_other_meters():
    # Bar 0: a hit on the grid; the off-grid hit at step 49 lies in a partial bar.
    assert drum_pattern_rate(hits(50, [0, 49]), 48) == 1.0
    assert math.isnan(drum_pattern_rate(hits(47, [0]), 48))  # no complete bar
    assert math.isnan(drum_pattern_rate(hits(48, []), 48))  # no onset
    # A 3/4 bar of 36 steps: 16ths every 3 steps.
    assert drum_pattern_rate(hits(36, [3, 7]), 36, beats_per_bar=3) == pytest.approx(0.55, abs=1e-15)
    with pytest.raises(SpecError, match="multiple of 8"):
        drum_pattern_rate(hits(36, [0]), 36)
    with pytest.raises(SpecError, match="multiple of 8"):
        drum_pattern_rate(hits(12, [0]), 12)
    with pytest.raises(SpecError, match="tolerance"):
        drum_pattern_rate(hits(48, [0]), 48, tolerance=1.5)


# ---------------------------------------------------------------------------------------- tonal distance
def two_tracks(first: list[tuple[int, int, int]], second: list[tuple[int, int, int]], steps: int = 16):
    return np.stack([roll(steps, first), roll(steps, second)], axis=-1)[None]  # [1, time, pitch, 2]


# Pitch class k sits at (sin 7k pi/6, cos 7k pi/6, sin 3k pi/2, cos 3k pi/2, .5 sin 2k pi/3, .5 cos 2k pi/3).
# C (k=0): (0, 1, 0, 1, 0, .5). G (k=7): (1/2, sqrt3/2, 1, 0, sqrt3/4, -1/4).
# |C - G|^2 = 1/4 + (sqrt3/2 - 1)^2 + 1 + 1 + 3/16 + 9/16 = 19/4 - sqrt3.
C_TO_G = math.sqrt(19 / 4 - math.sqrt(3))  # 1.73722...
# F# (k=6): (0, -1, 0, -1, 0, .5): |C - F#|^2 = 4 + 4.
C_TO_F_SHARP = 2 * math.sqrt(2)


def test_tonal_distance_of_single_pitch_classes():
    td = tonal_distance(two_tracks([(C4, 0, 16)], [(G4, 0, 16)]), 16, lowest_pitch=LOW)
    assert td[0, 1] == pytest.approx(C_TO_G, rel=1e-12)
    assert td[1, 0] == td[0, 1]
    assert td[0, 0] == td[1, 1] == 0.0
    td = tonal_distance(two_tracks([(C4, 0, 16)], [(C4 + 6, 0, 16)]), 16, lowest_pitch=LOW)
    assert td[0, 1] == pytest.approx(C_TO_F_SHARP, rel=1e-12)
    # Octaves are one pitch class; transposing both tracks together changes nothing.
    assert tonal_distance(two_tracks([(C4, 0, 16)], [(C4 + 12, 0, 16)]), 16)[0, 1] == 0.0
    td = tonal_distance(two_tracks([(C4 + 2, 0, 16)], [(G4 + 2, 0, 16)]), 16, lowest_pitch=LOW)
    assert td[0, 1] == pytest.approx(C_TO_G, rel=1e-12)


def test_tonal_distance_weights_pitch_classes_by_duration():
    # Track 1: C for 8 steps and G for 4 steps -> chroma (2/3 C, 1/3 G); its centroid is 1/3 of the
    # way from C to G, so its distance to a pure C is C_TO_G / 3.
    td = tonal_distance(two_tracks([(C4, 0, 16)], [(C4, 0, 8), (G4, 8, 4)]), 16, lowest_pitch=LOW)
    assert td[0, 1] == pytest.approx(C_TO_G / 3, rel=1e-12)


def test_tonal_distance_averages_over_bars_where_both_tracks_play():
    # Bar 0: C vs G; bar 1: C vs C (0); bar 2: C vs silence (skipped). Mean of (C_TO_G, 0).
    piece = two_tracks([(C4, 0, 48)], [(G4, 0, 16), (C4 + 12, 16, 16)], steps=48)
    td = tonal_distance(piece, 16, lowest_pitch=LOW)
    assert td[0, 1] == pytest.approx(C_TO_G / 2, rel=1e-12)
    # A track that never plays: NaN against everything, itself included.
    silent = two_tracks([(C4, 0, 16)], [])
    assert np.isnan(tonal_distance(silent, 16)[0, 1]) and np.isnan(tonal_distance(silent, 16)[1, 1])
    assert tonal_distance(silent, 16)[0, 0] == 0.0


def test_identical_tracks_are_exactly_zero_apart():
    rng = np.random.default_rng(0)
    track = rng.random((6, 64, 30)) < 0.2
    batch = np.stack([track, track, rng.random((6, 64, 30)) < 0.2, track], axis=-1)
    td = tonal_distance(batch, 16, lowest_pitch=40)
    assert td[0, 1] == td[0, 3] == td[1, 3] == 0.0
    assert td[0, 2] > 0 and np.array_equal(td, td.T)
    assert np.array_equal(np.diag(td), np.zeros(4))


def test_tonal_distance_needs_tracks():
    with pytest.raises(SpecError, match="compares tracks"):
        tonal_distance(TRIAD, 16)
    with pytest.raises(SpecError, match="compares tracks"):
        tonal_distance(TRIAD[None], 16)


# ---------------------------------------------------------------------------------------- in scale
SCALE_PLUS_F_SHARP = roll(10, [(p, i, 1) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])] + [(66, 7, 3)])


def test_in_scale_rate_fixed_and_best_tonic():
    # 7 cells on C D E F G A B, 3 cells on F#: C major holds 7 / 10.
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW, tonic=0) == 0.7
    # G major (G A B C D E F#) leaves out only F, 1 cell: 9 / 10, the best of the 12.
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW, tonic=7) == 0.9
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW) == 0.9
    # Natural minor: A minor is C major's notes, E minor is G major's.
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW, tonic=9, mode="minor") == 0.7
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW, tonic=4, mode="minor") == 0.9
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW, mode="minor") == 0.9
    # One semitone higher lowest_pitch: every pitch class moves up, C# major now holds the 7.
    assert in_scale_rate(SCALE_PLUS_F_SHARP, lowest_pitch=LOW + 1, tonic=1) == 0.7


def test_in_scale_rate_picks_the_best_tonic_per_piece():
    # Piece 0: 10 cells, 9 in G major; piece 1: an F# major triad (F# A# C#) of 3 x 2 cells, all in F# major.
    f_sharp = roll(2, [(66, 0, 2), (70, 0, 2), (73, 0, 2)])
    assert in_scale_rate([SCALE_PLUS_F_SHARP, f_sharp], lowest_pitch=LOW) == 15 / 16
    # A single tonic for both: C major holds 7 + 0 of 16 (F#, A#, C# are all outside).
    assert in_scale_rate([SCALE_PLUS_F_SHARP, f_sharp], lowest_pitch=LOW, tonic=0) == 7 / 16


# ---------------------------------------------------------------------------------------- inputs and pooling
def test_list_of_pieces_pools_counts():
    # Piece a: 2 bars, bar 1 empty; piece b: 3 bars (+ 4 steps), none empty; pooled: 1 empty of 5.
    a = roll(32, [(C4, 0, 16)])
    b = roll(52, [(C4, 0, 48), (E4, 0, 16)])
    assert empty_bar_rate([a, b], 16) == 0.2
    # UP: bars with 1, 2, 1, 1 pitches -> 5 / 4.
    assert used_pitches([a, b], 16) == 1.25
    # PP at threshold 1: 16 of 32 + 52 = 84 steps.
    assert polyphonic_rate((a, b), threshold=1) == 16 / 84


def test_batch_equals_list_of_its_pieces_and_tracks_equal_running_alone():
    rng = np.random.default_rng(1)
    batch = rng.random((3, 40, 24, 3)) < 0.15  # 2 bars of 16 + 8 steps each
    batch[1, :, :, 2] = False  # one silent track in one piece
    calls = {
        "EB": lambda r: empty_bar_rate(r, 16),
        "UP": lambda r: used_pitches(r, 16),
        "UPC": lambda r: used_pitch_classes(r, 16, lowest_pitch=LOW),
        "QN": lambda r: qualified_note_rate(r, min_length=2),
        "PP": lambda r: polyphonic_rate(r, threshold=3),
        "IS": lambda r: in_scale_rate(r, lowest_pitch=LOW),
        "IS C": lambda r: in_scale_rate(r, lowest_pitch=LOW, tonic=0),
        "DP": lambda r: drum_pattern_rate(r, 16),
    }
    for name, call in calls.items():
        result = call(batch)
        assert result.shape == (3,) and result.dtype == np.float64, name
        np.testing.assert_array_equal(call(list(batch)), result, err_msg=name)
        for track in range(3):
            assert call(batch[..., track]) == result[track], name
            assert call([piece[..., track] for piece in batch]) == result[track], name
    td = tonal_distance(batch, 16)
    np.testing.assert_array_equal(tonal_distance(list(batch), 16), td)


def test_large_batches_are_processed_in_chunks_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(2)
    batch = rng.random((7, 32, 12, 2)) < 0.3
    whole = (qualified_note_rate(batch), polyphonic_rate(batch, 1), tonal_distance(batch, 16))
    monkeypatch.setattr(musical, "_CHUNK_CELLS", 32 * 12 * 2 * 2)  # 2 pieces per chunk
    chunked = (qualified_note_rate(batch), polyphonic_rate(batch, 1), tonal_distance(batch, 16))
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_float_and_integer_rolls():
    probabilities = np.zeros((16, 36))
    probabilities[:, C4 - LOW] = 0.51
    probabilities[:, E4 - LOW] = 0.5  # not above 0.5: off
    assert used_pitches(probabilities, 16) == 1.0
    assert used_pitches(probabilities.astype(np.float32), 16) == 1.0
    assert used_pitches(TRIAD.astype(np.int8) * 3, 16) == 3.0


def test_bad_inputs_raise_spec_error():
    bad = {
        "1-D": (np.zeros(5),),
        "5-D": (np.zeros((1, 2, 16, 3, 1)),),
        "empty list": ([],),
        "list of 4-D": ([np.zeros((1, 16, 3, 1))],),
        "list of rows": (TRIAD.tolist(),),
        "mixed ranks": ([np.zeros((16, 3, 2)), np.zeros((16, 3))],),
        "pitch mismatch": ([np.zeros((16, 3)), np.zeros((16, 4))],),
        "track mismatch": ([np.zeros((16, 3, 2)), np.zeros((8, 3, 1))],),
        "dtype": (np.array([["a"] * 3] * 16),),
    }
    for name, (arg,) in bad.items():
        with pytest.raises(SpecError):
            empty_bar_rate(arg, 16)
            pytest.fail(f"{name} was accepted")
    with pytest.raises(SpecError, match="steps_per_bar"):
        used_pitches(TRIAD, 0)
    with pytest.raises(SpecError, match="min_length"):
        qualified_note_rate(TRIAD, min_length=0)
    with pytest.raises(SpecError, match="threshold"):
        polyphonic_rate(TRIAD, threshold=-1)
    with pytest.raises(SpecError, match="mode"):
        in_scale_rate(TRIAD, mode="dorian")
    with pytest.raises(SpecError, match="tonic"):
        in_scale_rate(TRIAD, tonic=12)
    with pytest.raises(SpecError, match="lowest_pitch"):
        used_pitch_classes(TRIAD, 16, lowest_pitch=-1)


def test_empty_batch_gives_nan_per_track():
    empty = np.zeros((0, 32, 12, 2), bool)
    assert np.isnan(empty_bar_rate(empty, 16)).all() and empty_bar_rate(empty, 16).shape == (2,)
    assert np.isnan(tonal_distance(empty, 16)).all()


# ---------------------------------------------------------------------------------------- frame P / R / F1
def test_frame_precision_differs_from_recall():
    target = np.zeros((1, 2, 3, 1), bool)
    predicted = np.zeros((1, 2, 3, 1), bool)
    target[0, 0, :, 0] = True  # 3 cells
    target[0, 1, 0, 0] = True  # 4th cell
    predicted[0, 0, :2, 0] = True  # 2 true positives
    predicted[0, 1, 2, 0] = True  # 1 false positive
    # TP 2, FP 1, FN 2: P = 2/3, R = 2/4, F1 = 2 P R / (P + R) = 4/7.
    precision, recall, f1 = frame_precision_recall_f1(predicted, target)
    assert (precision, recall) == (2 / 3, 0.5)
    assert f1 == pytest.approx(4 / 7, rel=1e-15)
    # Masking out step 1 leaves TP 2, FP 0, FN 1: P = 1, R = 2/3, F1 = 4/5.
    mask = np.array([[1, 0]])
    precision, recall, f1 = frame_precision_recall_f1(predicted, target, mask=mask)
    assert (precision, recall) == (1.0, 2 / 3)
    assert f1 == pytest.approx(0.8, rel=1e-15)
    # Probabilities: > 0.5 is on.
    probabilities = np.where(predicted, 0.9, 0.5)
    assert frame_precision_recall_f1(probabilities, target)[:2] == (2 / 3, 0.5)


def test_frame_metrics_conventions_for_empty_rolls():
    silent, some = np.zeros((2, 4, 3)), np.zeros((2, 4, 3))
    some[0, 0, 0] = 1
    assert frame_precision_recall_f1(silent, silent) == (1.0, 1.0, 1.0)
    assert frame_precision_recall_f1(silent, some) == (0.0, 0.0, 0.0)  # nothing predicted, 1 missed
    assert frame_precision_recall_f1(some, silent) == (0.0, 0.0, 0.0)  # 1 false alarm
    assert frame_precision_recall_f1(some, some, mask=np.zeros((2, 4))) == (1.0, 1.0, 1.0)
    with pytest.raises(SpecError, match="shape"):
        frame_precision_recall_f1(silent, silent[:1])
    with pytest.raises(SpecError, match="mask"):
        frame_precision_recall_f1(silent, silent, mask=np.ones((2, 3)))


@pytest.mark.filterwarnings("default")
def test_frame_metrics_agree_with_the_keras_metric():
    from multinn.metrics import FrameMetrics  # loads Keras on first use (a module __getattr__)

    rng = np.random.default_rng(3)
    target = rng.random((4, 10, 8, 2)) < 0.3
    probabilities = np.round(rng.random((4, 10, 8, 2)), 2)
    probabilities[probabilities == 0.5] = 0.51  # the two differ only at exactly 0.5
    mask = np.arange(10)[None, :] < np.array([10, 7, 3, 9])[:, None]
    keras_metric = FrameMetrics()
    keras_metric.update_state(target, probabilities, mask=mask)
    expected = {k: float(v) for k, v in keras_metric.result().items()}
    precision, recall, f1 = frame_precision_recall_f1(probabilities, target, mask=mask)
    assert precision == pytest.approx(expected["frame_precision"], rel=1e-6)
    assert recall == pytest.approx(expected["frame_recall"], rel=1e-6)
    assert f1 == pytest.approx(expected["frame_f1"], rel=1e-6)
    assert precision != recall


# ---------------------------------------------------------------------------------------- musical_metrics
BAND = PianorollSpec(
    steps_per_beat=8,
    lowest_pitch=LOW,
    highest_pitch=LOW + 35,
    tracks=[TrackSpec("Drums", is_drum=True), TrackSpec("Piano"), TrackSpec("Bass", 33)],
)


def test_musical_metrics_matches_the_single_functions():
    rng = np.random.default_rng(4)
    batch = rng.random((3, 72, 36, 3)) < 0.1  # 2 bars of 32 steps + 8
    metrics = musical_metrics(batch, BAND)
    assert list(metrics) == list(METRIC_INFO)
    assert np.isnan(metrics["used_pitches"][0]) and np.isnan(metrics["drum_pattern_rate"][1:]).all()
    for key in ("used_pitches", "used_pitch_classes", "qualified_note_rate", "polyphonic_rate", "in_scale_rate"):
        assert np.isnan(metrics[key][0]) and not np.isnan(metrics[key][1:]).any(), key
    np.testing.assert_array_equal(metrics["empty_bar_rate"], empty_bar_rate(batch, 32))
    np.testing.assert_array_equal(metrics["used_pitches"][1:], used_pitches(batch, 32)[1:])
    np.testing.assert_array_equal(metrics["used_pitch_classes"][1:], used_pitch_classes(batch, 32, LOW)[1:])
    np.testing.assert_array_equal(metrics["qualified_note_rate"][1:], qualified_note_rate(batch, 1)[1:])
    np.testing.assert_array_equal(metrics["polyphonic_rate"][1:], polyphonic_rate(batch, 2)[1:])
    np.testing.assert_array_equal(metrics["in_scale_rate"][1:], in_scale_rate(batch, LOW)[1:])
    assert metrics["drum_pattern_rate"][0] == drum_pattern_rate(batch, 32)[0]
    td = tonal_distance(batch, 32, LOW)
    assert np.isnan(metrics["tonal_distance"][0]).all() and np.isnan(metrics["tonal_distance"][:, 0]).all()
    np.testing.assert_array_equal(metrics["tonal_distance"][1:, 1:], td[1:, 1:])
    # A list of pieces gives the same; drum_tracks overrides the spec.
    from_list = musical_metrics(list(batch), BAND, drum_tracks=["bass"])
    assert np.isnan(from_list["used_pitches"][2]) and not np.isnan(from_list["used_pitches"][0])
    assert from_list["drum_pattern_rate"][2] == drum_pattern_rate(batch, 32)[2]
    assert np.array_equal(
        musical_metrics(batch, BAND, drum_tracks=[2])["drum_pattern_rate"],
        from_list["drum_pattern_rate"],
        equal_nan=True,
    )


def test_musical_metrics_checks_the_spec():
    with pytest.raises(SpecError, match="36 pitches and 3 tracks"):
        musical_metrics(np.zeros((1, 16, 35, 3)), BAND)
    with pytest.raises(SpecError, match="no track axis"):
        musical_metrics(np.zeros((1, 16, 36)), BAND)
    with pytest.raises(SpecError, match="no track named"):
        musical_metrics(np.zeros((1, 16, 36, 3)), BAND, drum_tracks=["Cowbell"])
    # 3 steps per beat (12 per bar) has no 8th-note grid: DP is NaN, the rest is computed.
    triplets = BAND.replace(steps_per_beat=3)
    metrics = musical_metrics(np.ones((1, 12, 36, 3)), triplets)
    assert np.isnan(metrics["drum_pattern_rate"]).all() and metrics["empty_bar_rate"][0] == 0.0


def test_default_min_length_is_a_32nd_note():
    # MuseGAN: 3 steps at 24 per beat. 12 per beat: 1.5 steps -> 2. 4 per beat (16ths): 1.
    assert [default_min_length(s) for s in (24, 12, 8, 4, 1, 96)] == [3, 2, 1, 1, 1, 12]


def test_metric_info_labels():
    assert {key: label for key, (label, _) in METRIC_INFO.items()} == {
        "empty_bar_rate": "EB",
        "used_pitches": "UP",
        "used_pitch_classes": "UPC",
        "qualified_note_rate": "QN",
        "polyphonic_rate": "PP",
        "in_scale_rate": "IS",
        "drum_pattern_rate": "DP",
        "tonal_distance": "TD",
    }


def test_metrics_import_without_tensorflow():
    code = (
        "import sys, multinn.metrics, multinn.metrics.musical; "
        "from multinn.metrics import compare_metrics, musical_metrics; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(m for m in sys.modules if 'keras' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ---------------------------------------------------------------------------------------- real data
def test_bach_satb_test_split(bach_satb_path):
    from multinn import datasets

    test = datasets.load("bach-satb", split="test", path=bach_satb_path)
    metrics = musical_metrics(test, test.spec)
    assert metrics["empty_bar_rate"][test.spec.track_index("Soprano")] < 0.05
    assert ((metrics["used_pitch_classes"] >= 1) & (metrics["used_pitch_classes"] <= 12)).all()
    assert (metrics["used_pitch_classes"] <= metrics["used_pitches"]).all()
    assert (metrics["polyphonic_rate"] == 0).all()  # each voice sings one note at a time
    assert (metrics["in_scale_rate"] > 0.8).all()
    assert (metrics["qualified_note_rate"] == 1).all()  # min_length 1 at 16th-note frames
    assert np.isnan(metrics["drum_pattern_rate"]).all()
    td = metrics["tonal_distance"]
    assert np.isfinite(td).all() and np.array_equal(td, td.T) and (td[~np.eye(4, dtype=bool)] > 0).all()
