"""Part assignment of `read_midi` on the shapes real multi-part files come in: string quartets, unnamed madrigal
parts, four voices on one track, fewer or more parts than voices, drums; read into the bach-satb voices and LPD-5."""

import itertools
import json
import random
import re
import struct

import mido
import numpy as np
import pytest

from multinn.data import NoNotesKeptError, PartReport, PianorollSpec, TrackSpec, parse_mapping, read_midi, write_midi
from multinn.data.midi import _choose_voices, _merge_adjacent
from multinn.datasets import BACH_SATB_SPEC, LPD5_SPEC
from multinn.errors import MidiError, SpecError

SATB = BACH_SATB_SPEC  # Soprano/Alto/Tenor/Bass, all program 52, 36..84, 4 steps per beat: voices, inferred
BEAT = 480  # ticks per beat of the files made here

# Four voices of eight beats, one note a beat, that never cross (MIDI pitches).
SOPRANO = [72, 74, 76, 77, 76, 74, 72, 71]
ALTO = [67, 67, 69, 69, 67, 65, 64, 62]
TENOR = [60, 62, 64, 62, 60, 59, 57, 55]
BASS = [48, 47, 45, 43, 48, 50, 52, 43]
VOICES = [SOPRANO, ALTO, TENOR, BASS]


def line(pitches, rests=()):
    """One note a beat, `(pitch, start tick, stop tick)`, but none on the beats in `rests`."""
    return [(p, i * BEAT, (i + 1) * BEAT) for i, p in enumerate(pitches) if i not in rests]


def make(path, parts, tempo=None, time_signature=None, tracks=None):
    """A type-1 file: a conductor track (with `tempo` bpm and `time_signature` if given), then one MIDI track per
    part `(name or None, channel, program or None, notes)`; `tracks` groups the parts into tracks instead."""
    midi = mido.MidiFile(type=1, ticks_per_beat=BEAT)
    conductor = mido.MidiTrack()
    if tempo is not None:
        conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
    if time_signature is not None:
        conductor.append(mido.MetaMessage("time_signature", numerator=time_signature[0], denominator=time_signature[1]))
    midi.tracks.append(conductor)
    for group in tracks or [[i] for i in range(len(parts))]:
        track, events = mido.MidiTrack(), []
        for name, channel, program, notes in (parts[i] for i in group):
            if name is not None:
                track.append(mido.MetaMessage("track_name", name=name))
            if program is not None:
                track.append(mido.Message("program_change", channel=channel, program=program))
            for pitch, start, stop in notes:
                events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=80)))
                events.append((stop, 0, mido.Message("note_off", channel=channel, note=pitch)))
        last = 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    midi.save(path)
    return path


def voices_roll(voices=VOICES, spec=SATB, tracks=None, rests=()):
    """The roll of `voices` (one note a beat each), voice k on spec track `tracks[k]` (default k)."""
    roll = np.zeros((len(voices[0]) * spec.steps_per_beat, spec.num_pitches, spec.num_tracks), dtype=bool)
    spb = spec.steps_per_beat
    for k, voice in enumerate(voices):
        for i, pitch in enumerate(voice):
            if (k, i) not in rests:
                roll[i * spb : (i + 1) * spb, pitch - spec.lowest_pitch, k if tracks is None else tracks[k]] = True
    return roll


def placed(report):
    """`[(part name or channel, target tracks, rule)]` of a report."""
    return [(p.name or f"ch{p.channel}", p.tracks, p.rule) for p in report.parts]


def assert_round_trip(tmp_path, roll, spec, **kwargs):
    """write_midi then read_midi gives the roll back exactly (the written tracks carry the spec's names)."""
    write_midi(roll, tmp_path / "back.mid", spec)
    np.testing.assert_array_equal(read_midi(tmp_path / "back.mid", spec, **kwargs), roll)


QUARTET_NAMES = ["Violin I", "Violin II", "Viola", "Cello"]


@pytest.mark.parametrize("programs", [(40, 40, 41, 42), (48, 48, 48, 48)], ids=["programs-40-42", "all-on-48"])
def test_string_quartet_fills_the_four_voices_by_pitch_order(tmp_path, programs):
    parts = [
        (name, k, program, line(VOICES[k]))
        for k, (name, program) in enumerate(zip(QUARTET_NAMES, programs, strict=True))
    ]
    path = make(tmp_path / "quartet.mid", parts)
    roll, report = read_midi(path, SATB, return_report=True)
    # 40-42 (Strings) is no family of the spec; 48 (Ensemble) is the family of all four voices (program 52), which
    # used to send every part to the Soprano: either way the pitch order decides.
    assert placed(report) == [(n, (t,), "pitch order") for n, t in zip(QUARTET_NAMES, SATB.track_names, strict=True)]
    np.testing.assert_array_equal(roll, voices_roll())
    assert report.voices and report.dropped == 0 and report.num_notes == 32
    assert report.track_notes == {"Soprano": 8, "Alto": 8, "Tenor": 8, "Bass": 8}
    assert_round_trip(tmp_path, roll, SATB)

    lpd5, report = read_midi(path, LPD5_SPEC, fallback="Strings", return_report=True)  # LPD-5's rule
    rule = "family" if programs[0] == 48 else "fallback"
    assert placed(report) == [(n, ("Strings",), rule) for n in QUARTET_NAMES] and not report.voices
    assert lpd5[..., LPD5_SPEC.track_index("Strings")].sum() == 32 * 12
    assert_round_trip(tmp_path, lpd5, LPD5_SPEC)
    if programs[0] == 40:  # without a fallback, the pitch order spreads them over LPD-5's pitched tracks
        _, report = read_midi(path, LPD5_SPEC, return_report=True)
        assert placed(report) == [
            (n, (t,), "pitch order") for n, t in zip(QUARTET_NAMES, LPD5_SPEC.track_names[1:], strict=True)
        ]


def test_unnamed_program_0_parts_go_by_pitch_order_and_five_merge_the_closest_pair(tmp_path):
    four = make(tmp_path / "four.mid", [(None, k, None, line(VOICES[k])) for k in (2, 0, 3, 1)])  # in any order
    roll, report = read_midi(four, SATB, return_report=True)
    assert [(p.channel, p.tracks, p.rule) for p in report.parts] == [
        (3, ("Tenor",), "pitch order"),
        (1, ("Soprano",), "pitch order"),
        (4, ("Bass",), "pitch order"),
        (2, ("Alto",), "pitch order"),
    ]
    np.testing.assert_array_equal(roll, voices_roll())
    assert_round_trip(tmp_path, roll, SATB)

    # A fifth part, a minor third above the bass: the bass and it are the closest pair in mean pitch, so they merge.
    fifth = [p + 3 for p in BASS]
    parts = [(None, k, 0, line(v)) for k, v in enumerate(VOICES + [fifth])]
    roll, report = read_midi(make(tmp_path / "five.mid", parts), SATB, return_report=True)
    assert [(p.channel, p.tracks, p.rule) for p in report.parts] == [
        (1, ("Soprano",), "pitch order"),
        (2, ("Alto",), "pitch order"),
        (3, ("Tenor",), "pitch order"),
        (4, ("Bass",), "pitch order (merged)"),
        (5, ("Bass",), "pitch order (merged)"),
    ]
    np.testing.assert_array_equal(roll, voices_roll([SOPRANO, ALTO, TENOR, BASS, fifth], tracks=[0, 1, 2, 3, 3]))
    assert report.num_notes == 40 and all(roll[..., k].any() for k in range(4))
    assert_round_trip(tmp_path, roll, SATB)

    _, report = read_midi(four, LPD5_SPEC, return_report=True)  # program 0: the piano's family
    assert {(p.tracks, p.rule) for p in report.parts} == {(("Piano",), "family")}


def test_more_parts_than_voices_merge_neighbours_until_they_fit(tmp_path):
    # Six parts, mean pitches 80, 79, 70, 60, 50 and 40: the two gaps of 1 and then of 10 merge (the first on ties).
    parts = [(None, k, 0, line([base] * 4)) for k, base in enumerate([80, 79, 70, 60, 50, 40])]
    roll, report = read_midi(make(tmp_path / "six.mid", parts), SATB, return_report=True)
    assert [p.tracks for p in report.parts] == [
        ("Soprano",),
        ("Soprano",),
        ("Soprano",),
        ("Alto",),
        ("Tenor",),
        ("Bass",),
    ]
    assert [p.rule for p in report.parts] == ["pitch order (merged)"] * 3 + ["pitch order"] * 3
    assert report.num_notes == 24 and all(roll[..., k].any() for k in range(4))
    assert_round_trip(tmp_path, roll, SATB)


def test_four_voices_on_one_track_and_channel_split_into_the_voices(tmp_path):
    chords = [note for voice in VOICES for note in line(voice)]
    path = make(tmp_path / "one.mid", [("Choir", 0, 52, chords)])
    roll, report = read_midi(path, SATB, return_report=True)
    assert placed(report) == [("Choir", SATB.track_names, "voice split")]
    np.testing.assert_array_equal(roll, voices_roll())  # pitch rank = voice: each voice exactly
    assert report.parts[0].kept == 32 and report.track_notes == dict.fromkeys(SATB.track_names, 8)
    assert_round_trip(tmp_path, roll, SATB)
    # A voice that rests leaves the others in place: on beats 2 and 3 the alto is silent, and stays so.
    rests = {(1, 2), (1, 3)}
    chords = [note for k, voice in enumerate(VOICES) for note in line(voice, {i for j, i in rests if j == k})]
    roll = read_midi(make(tmp_path / "rests.mid", [(None, 0, 0, chords)]), SATB)
    np.testing.assert_array_equal(roll, voices_roll(rests=rests))

    # Not voices (voices=False, or LPD-5): the part stays whole, on one track.
    roll, report = read_midi(path, SATB, voices=False, return_report=True)
    assert placed(report) == [("Choir", ("Soprano",), "pitch order")] and roll[..., 0].sum() == 32 * 4
    _, report = read_midi(path, LPD5_SPEC, return_report=True)
    assert placed(report) == [("Choir", ("Strings",), "family")]


def test_a_chord_of_more_notes_than_voices_keeps_the_outer_voices_and_counts_the_extras(tmp_path):
    chords = [note for voice in VOICES for note in line(voice)] + [(65, 0, BEAT), (52, 0, BEAT)]  # 6 notes on beat 0
    roll, report = read_midi(make(tmp_path / "six.mid", [(None, 0, 0, chords)]), SATB, return_report=True)
    expected = voices_roll()
    expected[:4] = False  # beat 0: 72 67 65 60 52 48 -> the highest three and the lowest; 60 and 52 dropped
    for k, pitch in enumerate([72, 67, 65, 48]):
        expected[:4, pitch - 36, k] = True
    np.testing.assert_array_equal(roll, expected)
    assert report.extra_voices == 2 and report.dropped == 2 and report.num_notes == 32
    part = report.parts[0]
    assert (part.notes, part.kept, part.dropped, part.rule) == (34, 32, 2, "voice split")
    assert report.track_notes == dict.fromkeys(SATB.track_names, 8)


def test_fewer_parts_than_voices_spread_or_split_by_polyphony(tmp_path):
    # Three monophonic parts into four voices: part i of 3 to track round(i * 3 / 2): Soprano, Tenor, Bass.
    three = make(tmp_path / "three.mid", [(None, k, 0, line(VOICES[k])) for k in (0, 2, 3)])
    roll, report = read_midi(three, SATB, return_report=True)
    assert [p.tracks for p in report.parts] == [("Soprano",), ("Tenor",), ("Bass",)]
    assert {p.rule for p in report.parts} == {"pitch order"} and not roll[..., 1].any()
    assert_round_trip(tmp_path, roll, SATB)

    # A three-voice keyboard part over a bass line: the spare tracks go to the polyphonic part, split into voices.
    keyboard = [note for voice in VOICES[:3] for note in line(voice)]
    path = make(tmp_path / "keys.mid", [("Organ", 0, 19, keyboard), ("Pedal", 1, 19, line(BASS))])
    roll, report = read_midi(path, SATB, return_report=True)
    assert placed(report) == [
        ("Organ", ("Soprano", "Alto", "Tenor"), "voice split"),
        ("Pedal", ("Bass",), "pitch order"),
    ]
    np.testing.assert_array_equal(roll, voices_roll())
    assert_round_trip(tmp_path, roll, SATB)
    # LPD-5 has no track of the organ's family, and its tracks are no voices: without a fallback the two parts
    # spread over the four pitched tracks, part i of 2 to track round(i * 3): the first and the last.
    _, report = read_midi(path, LPD5_SPEC, return_report=True)
    assert placed(report) == [("Organ", ("Piano",), "pitch order"), ("Pedal", ("Strings",), "pitch order")]


def test_a_drum_part_goes_to_the_drum_track_or_is_counted_unmapped(tmp_path):
    parts = [(n, k, 40, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)]
    path = make(tmp_path / "drums.mid", parts + [("Kit", 9, None, line([36, 38] * 4))])
    roll, report = read_midi(path, SATB, return_report=True)
    assert placed(report)[-1] == ("Kit", (), "unmapped")
    assert report.unmapped == 8 and report.unmapped_instruments == ["'Kit', drums, channel 10: 8 notes"]
    np.testing.assert_array_equal(roll, voices_roll())
    roll, report = read_midi(path, LPD5_SPEC, fallback="Strings", return_report=True)
    assert placed(report)[-1] == ("Kit", ("Drums",), "drums") and report.parts[-1].is_drum
    assert roll[..., 0].sum() == 8 * 12 and report.dropped == 0
    assert_round_trip(tmp_path, roll, LPD5_SPEC)


def test_a_part_named_like_a_track_takes_it_and_the_unnamed_parts_share_the_others(tmp_path):
    parts = [(None, 0, 0, line(SOPRANO)), (None, 1, 0, line(ALTO)), ("bass ", 2, 0, line(BASS))]
    parts.append((None, 3, 0, line(TENOR)))
    roll, report = read_midi(make(tmp_path / "named.mid", parts), SATB, return_report=True)
    assert [(p.tracks, p.rule) for p in report.parts] == [
        (("Soprano",), "pitch order"),
        (("Alto",), "pitch order"),
        (("Bass",), "name"),
        (("Tenor",), "pitch order"),
    ]
    np.testing.assert_array_equal(roll, voices_roll())
    # A part named like a track but placed too high for it keeps its track: the name decides first.
    parts[2] = ("Soprano", 2, 0, line(BASS))
    _, report = read_midi(make(tmp_path / "high.mid", parts), SATB, return_report=True)
    assert [p.tracks[0] for p in report.parts] == ["Alto", "Tenor", "Soprano", "Bass"]
    _, report = read_midi(make(tmp_path / "lpd5.mid", parts), LPD5_SPEC, return_report=True)
    assert {p.tracks for p in report.parts} == {("Piano",)}


def test_mapping_claims_first_and_auto_false_keeps_it_exclusive(tmp_path):
    parts = [(n, k, p, line(VOICES[k])) for k, (n, p) in enumerate(zip(QUARTET_NAMES, (40, 40, 41, 42), strict=True))]
    path = make(tmp_path / "quartet.mid", parts)
    # The mapping sends the cello to the soprano; the parts it leaves fill the free tracks by pitch order.
    roll, report = read_midi(path, SATB, {"Soprano": "cello"}, return_report=True)
    assert placed(report) == [
        ("Violin I", ("Alto",), "pitch order"),
        ("Violin II", ("Tenor",), "pitch order"),
        ("Viola", ("Bass",), "pitch order"),
        ("Cello", ("Soprano",), "mapping"),
    ]
    np.testing.assert_array_equal(roll, voices_roll(tracks=[1, 2, 3, 0]))
    # auto=False: the mapping is exclusive, as before `auto`: the rest is dropped, or goes to the fallback.
    roll, report = read_midi(path, SATB, {"Soprano": "Violin I"}, auto=False, return_report=True)
    assert [p.rule for p in report.parts] == ["mapping"] + ["unmapped"] * 3 and report.unmapped == 24
    np.testing.assert_array_equal(roll, voices_roll(tracks=[0, 1, 2, 3]) & (np.arange(4) == 0))
    _, report = read_midi(path, SATB, {"Soprano": "Violin I"}, auto=False, fallback="Bass", return_report=True)
    assert placed(report)[1:] == [(n, ("Bass",), "fallback") for n in QUARTET_NAMES[1:]]


def test_channel_program_and_name_selectors(tmp_path):
    parts = [(n, k, p, line(VOICES[k])) for k, (n, p) in enumerate(zip(QUARTET_NAMES, (40, 40, 41, 42), strict=True))]
    parts.append(("drums", 4, 12, line([70] * 8)))  # a pitched part named "drums"
    path = make(tmp_path / "quartet.mid", parts)
    mapping = {"Tenor": "program:41", "Bass": ["program:42-43"], "Alto": "channel:1", "Soprano": "name:Drums"}
    _, report = read_midi(path, SATB, mapping, return_report=True)
    # Violin II is left with no free track (the mapping took all four): the pitch order among all of them.
    assert [(p.tracks[0], p.rule) for p in report.parts] == [
        ("Alto", "mapping"),
        ("Soprano", "pitch order"),
        ("Tenor", "mapping"),
        ("Bass", "mapping"),
        ("Soprano", "mapping"),
    ]
    _, report = read_midi(path, SATB, {"Bass": " Channel: 2 "}, auto=False, return_report=True)
    assert [p.rule for p in report.parts] == ["unmapped", "mapping", "unmapped", "unmapped", "unmapped"]
    for bad, why in [
        ("channel:0", "a channel must be 1-16"),
        ("channel:17", "a channel must be 1-16"),
        ("program:128", "expected 'program:N'"),
        ("program:50-40", "expected 'program:N'"),
        ("program:x", "expected 'program:N'"),
        (2.5, "a selector must be .*'channel:N'"),
        (200, "program must be 0-127"),
    ]:
        with pytest.raises(SpecError, match=f"mapping for track 'Bass': .*{why}"):
            read_midi(path, SATB, {"Bass": bad})
    assert parse_mapping(["Violin I=Soprano", "channel:3 = Alto", "program:32-39=Bass", "a=b=Tenor", "x=Alto"]) == {
        "Soprano": ["Violin I"],
        "Alto": ["channel:3", "x"],
        "Bass": ["program:32-39"],
        "Tenor": ["a=b"],
    }
    for bad in ["Soprano", "=Alto", "x= "]:
        with pytest.raises(SpecError, match="expected SELECTOR=TRACK"):
            parse_mapping([bad])


def test_out_of_range_notes_drop_or_fold_by_octaves(tmp_path):
    parts = [("Soprano", 0, 0, line([88, 72, 96, 72])), ("Bass", 1, 0, line([28, 31, 48, 36]))]  # range 36..84
    path = make(tmp_path / "wide.mid", parts)
    roll, report = read_midi(path, SATB, return_report=True)
    assert (report.out_of_range, report.folded, report.num_notes) == (4, 0, 4)
    assert [(p.kept, p.dropped, p.folded) for p in report.parts] == [(2, 2, 0), (2, 2, 0)]
    roll, report = read_midi(path, SATB, out_of_range="fold", return_report=True)
    assert (report.out_of_range, report.folded, report.num_notes, report.dropped) == (0, 4, 8, 0)
    assert [(p.kept, p.dropped, p.folded) for p in report.parts] == [(4, 0, 2), (4, 0, 2)]
    steps = lambda k: [int(np.flatnonzero(roll[4 * i, :, k])[0]) + 36 for i in range(4)]  # noqa: E731
    assert steps(0) == [76, 72, 84, 72] and steps(3) == [40, 43, 48, 36]
    with pytest.raises(SpecError, match=r"out_of_range='fold' needs a pitch range of an octave .* 60..70 holds 11"):
        read_midi(path, PianorollSpec(4, 60, 70, [TrackSpec("P")]), out_of_range="fold")
    assert read_midi(path, PianorollSpec(4, 60, 71, [TrackSpec("P")]), out_of_range="fold").sum() > 0
    with pytest.raises(SpecError, match="`out_of_range` must be 'drop' or 'fold', got 'clip'"):
        read_midi(path, SATB, out_of_range="clip")
    with pytest.raises(SpecError, match="`voices` must be True, False or None"):
        read_midi(path, SATB, voices="yes")


def test_a_part_with_no_note_in_range_takes_no_voice_from_the_others(tmp_path):
    parts = [(n, k, 40, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)] + [("Contrabass", 5, 43, line([28] * 8))]
    roll, report = read_midi(make(tmp_path / "quintet.mid", parts), SATB, return_report=True)
    np.testing.assert_array_equal(roll, voices_roll())  # not merged: the four voices as they are
    bass = report.parts[-1]
    assert (bass.tracks, bass.rule, bass.kept, bass.dropped, bass.mean_pitch) == (("Bass",), "pitch order", 0, 8, 28)
    assert report.out_of_range == 8 and report.unmapped == 0
    roll, report = read_midi(tmp_path / "quintet.mid", SATB, out_of_range="fold", return_report=True)
    # Folded to 40 it sounds, and five parts share four voices: the closest pair merges, the violin II (mean
    # 66.25) and the viola (59.875), closer than the cello (47) and the contrabass (40).
    assert [p.rule for p in report.parts] == [
        "pitch order",
        *["pitch order (merged)"] * 2,
        "pitch order",
        "pitch order",
    ]
    assert report.parts[-1].mean_pitch == 40 and report.folded == 8


def test_a_file_of_no_kept_note_is_an_error_saying_how_to_map_it(tmp_path):
    kit = make(tmp_path / "kit.mid", [("Kit", 9, None, line([36, 38] * 4))])
    with pytest.raises(NoNotesKeptError) as info:
        read_midi(kit, SATB)
    assert str(info.value) == (
        f"{kit}: all 8 notes dropped: 8 notes of 1 part(s) map to no track ('Kit', drums, channel 10: 8 notes); the "
        "spec has no drum track; map them onto the spec's tracks ['Soprano', 'Alto', 'Tenor', 'Bass'], e.g. "
        "mapping={'Soprano': 'Kit'} (command line: --map 'Kit=Soprano')"
    )
    assert isinstance(info.value, MidiError) and placed(info.value.report) == [("Kit", (), "unmapped")]
    assert read_midi(kit, SATB, {"Soprano": "Kit"}).any()

    parts = [(n, k, 40, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)] + [(None, 5, 0, line([20] * 8))]
    path = make(tmp_path / "quartet.mid", parts)
    with pytest.raises(NoNotesKeptError, match="pass auto=True") as info:
        read_midi(path, SATB, {"Bass": "channel:6"}, auto=False)
    message = str(info.value)
    assert (
        "\n" not in message and "all 40 notes dropped: 32 notes of 4 part(s) map to no track ('Violin I', " in message
    )
    assert "e.g. mapping={'Soprano': 'Violin I'} (command line: --map 'Violin I=Soprano')" in message
    assert message.endswith(
        "; 8 notes lie outside the spec's pitch range 36..84 (out_of_range='fold' (command line: --out-of-range fold) "
        "moves them by octaves into it)"
    )
    unnamed = make(tmp_path / "unnamed.mid", [(None, 2, 0, line([70] * 8))])
    with pytest.raises(NoNotesKeptError, match=re.escape("mapping={'Soprano': 'channel:3'} (command line: --map")):
        read_midi(unnamed, SATB, {"Soprano": "x"}, auto=False)


def test_tempo_and_time_signature_come_back_and_are_reported(tmp_path):
    roll = voices_roll()
    for tempo, signature in [(93.0, (3, 4)), (140.5, (6, 8)), (60.0, None)]:
        write_midi(roll, tmp_path / "x.mid", SATB, tempo=tempo, time_signature=signature)
        back, report = read_midi(tmp_path / "x.mid", SATB, return_report=True)
        np.testing.assert_array_equal(back, roll)
        assert report.tempo == pytest.approx(tempo, rel=1e-6)
        assert mido.bpm2tempo(report.tempo) == mido.bpm2tempo(tempo)  # the same microseconds per beat
        assert report.time_signature == (signature or (SATB.beats_per_bar, 4))
    path = make(tmp_path / "bare.mid", [("Soprano", 0, 0, line(SOPRANO))])
    report = read_midi(path, SATB, return_report=True)[1]
    assert report.tempo is None and report.time_signature is None
    path = make(tmp_path / "frame.mid", [("Soprano", 0, 0, line(SOPRANO))], tempo=72, time_signature=(5, 8))
    report = read_midi(path, SATB, return_report=True)[1]
    assert report.tempo == pytest.approx(72) and report.time_signature == (5, 8)
    for bad in [(3, 5), (0, 4), (3,), "3/4", (3.0, 4), (True, 4)]:
        with pytest.raises(MidiError, match="time_signature must be"):
            write_midi(roll, tmp_path / "bad.mid", SATB, time_signature=bad)


def rmid(smf, chunks=()):
    """`smf` wrapped as an RMID file, after `chunks` of (type, data) (odd sizes padded)."""
    body = b"RMID"
    for kind, data in [*chunks, (b"data", smf)]:
        body += kind + struct.pack("<L", len(data)) + data + b"\x00" * (len(data) & 1)
    return b"RIFF" + struct.pack("<L", len(body)) + body


def test_riff_wrapped_midi_reads_as_the_midi_inside(tmp_path):
    path = make(tmp_path / "x.mid", [(n, k, 48, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)], tempo=90)
    smf = path.read_bytes()
    (tmp_path / "x.rmi").write_bytes(rmid(smf, [(b"LIST", b"INFOodd")]))
    roll, report = read_midi(tmp_path / "x.rmi", SATB, return_report=True)
    np.testing.assert_array_equal(roll, read_midi(path, SATB))
    assert report.tempo == pytest.approx(90) and report.num_notes == 32
    for data, problem in [
        (b"RIFF\x04\x00\x00\x00RM", "corrupt or truncated MIDI file (RIFF header of 10 bytes, 12 expected)"),
        (b"RIFF\x04\x00\x00\x00WAVEfmt ", "not a MIDI file (a RIFF file of form b'WAVE', not RMID)"),
        (rmid(smf)[:-10], f"RMID 'data' chunk of {len(smf)} bytes from byte 20 runs past the end of the file"),
        (rmid(b"MTxx"), "RMID 'data' chunk holds no Standard MIDI File"),
        (rmid(smf)[:12] + b"LIST\x02\x00\x00\x00ab", "RMID file without a 'data' chunk"),
        (rmid(smf[:40]), "corrupt or truncated MIDI file (file ends inside the chunk header of track 2"),
    ]:
        (tmp_path / "bad.rmi").write_bytes(data)
        with pytest.raises(MidiError, match=re.escape(problem)):
            read_midi(tmp_path / "bad.rmi", SATB)


def test_report_describes_parts_and_converts_to_json(tmp_path):
    parts = [(n, k, 40, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)] + [("Kit", 9, None, line([36] * 8))]
    _, report = read_midi(make(tmp_path / "q.mid", parts, tempo=100, time_signature=(3, 4)), SATB, return_report=True)
    lines = report.describe().splitlines()
    assert lines[0] == f"{tmp_path / 'q.mid'}: 32 of 40 notes kept (8 unmapped); 100 bpm, 3/4, tracks as voices"
    assert lines[1] == "  'Violin I', program 40 (Strings), channel 1: 8 notes -> Soprano by pitch order, 8 kept"
    assert lines[5] == "  'Kit', drums, channel 10: 8 notes -> unmapped, 0 kept, 8 dropped"
    data = json.loads(json.dumps(report.to_dict()))
    assert data["time_signature"] == [3, 4] and data["dropped"] == 8 and data["voices"] is True
    assert data["parts"][0] == {
        "name": "Violin I",
        "channel": 1,
        "program": 40,
        "notes": 8,
        "mean_pitch": 74.0,
        "tracks": ["Soprano"],
        "rule": "pitch order",
        "kept": 8,
        "dropped": 0,
        "folded": 0,
        "is_drum": False,
    }
    assert (
        PartReport(**{k: v for k, v in data["parts"][1].items() if k != "is_drum"} | {"tracks": ("Alto",)})
        == (report.parts[1])
    )


def test_voice_layout_inference():
    from multinn.data.midi import _voice_layout

    assert _voice_layout(SATB, None) and not _voice_layout(LPD5_SPEC, None)
    mixed = PianorollSpec(4, 36, 84, [TrackSpec("Violin", 40), TrackSpec("Cello", 42)])
    one = PianorollSpec(4, 36, 84, [TrackSpec("Solo", 40)])
    assert not _voice_layout(mixed, None) and _voice_layout(mixed, True) and not _voice_layout(one, None)
    assert not _voice_layout(SATB, False)


def test_merge_and_voice_choice_agree_with_brute_force():
    rng = random.Random(5)
    for _ in range(300):  # merging: the closest neighbours first (the first pair on ties), means of all notes
        n, m = rng.randint(1, 9), rng.randint(1, 9)
        counts = [rng.randint(1, 4) for _ in range(n)]
        sums = [c * rng.choice([40, 50, 55, 60, 61, 70]) + rng.randint(0, 2) for c in counts]
        clusters = [[i] for i in range(n)]
        mean = lambda c, sums=sums, counts=counts: sum(sums[i] for i in c) / sum(counts[i] for i in c)  # noqa: E731
        while len(clusters) > m:
            gaps = [abs(mean(clusters[i]) - mean(clusters[i + 1])) for i in range(len(clusters) - 1)]
            i = gaps.index(min(gaps))
            clusters[i : i + 2] = [clusters[i] + clusters[i + 1]]
        assert _merge_adjacent(sums, counts, m) == clusters
    for _ in range(500):  # voices: the order-preserving choice of least distance, the first on ties
        k = rng.randint(2, 8)
        j = rng.randint(1, k - 1)
        pitches = sorted(rng.sample(range(40, 80), j), reverse=True)
        previous = [rng.choice([50, 60, 64, 70, 75]) for _ in range(k)]
        cost = lambda c, p=pitches, q=previous: sum(abs(x - q[v]) for x, v in zip(p, c, strict=True))  # noqa: E731
        best = min(itertools.combinations(range(k), j), key=cost)  # min keeps the first of equal costs
        assert tuple(_choose_voices(pitches, previous, k)) == best


def test_read_midis_and_midi_folder_pass_the_options_through(tmp_path):
    from multinn.data import read_midis
    from multinn.datasets.midi_folder import read_midi_folder

    parts = [(n, k, 40, line(VOICES[k])) for k, n in enumerate(QUARTET_NAMES)] + [(None, 5, 0, line([20] * 8))]
    (tmp_path / "songs" / "train").mkdir(parents=True)
    path = make(tmp_path / "songs" / "train" / "quartet.mid", parts)
    rolls, kept, skipped = read_midis([path], SATB, out_of_range="fold")
    assert skipped == [] and rolls[0].sum() == 40 * 4
    _, _, skipped = read_midis([path], SATB, mapping={"Bass": "channel:6"}, auto=False)
    assert skipped[0][1].startswith("all 40 notes dropped: ")
    # midi-folder keeps a mapping exclusive by default (as before `auto`); auto=True places the rest.
    (piece,) = read_midi_folder(tmp_path / "songs", SATB, mapping={"Bass": "Cello"}, out_of_range="fold")["train"]
    assert [int(piece[..., k].sum()) for k in range(4)] == [0, 0, 0, 32]
    (piece,) = read_midi_folder(tmp_path / "songs", SATB, mapping={"Bass": "Cello"}, auto=True)["train"]
    assert [int(piece[..., k].sum()) for k in range(4)] == [32, 32, 32, 32]
