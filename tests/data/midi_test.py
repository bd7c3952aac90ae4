import collections
import dataclasses
import io
import math
import random
import re
import struct

import mido
import numpy as np
import pypianoroll
import pytest

from multinn import datasets
from multinn.data import PianorollSpec, TrackSpec, read_midi, write_midi
from multinn.data.midi import Instrument, MidiReport, NoNotesKeptError, _read_smf, read_midis
from multinn.datasets import LPD5_SPEC
from multinn.errors import MidiError, MultinnError, SpecError

SPEC = PianorollSpec(4, 48, 72, [TrackSpec("Lead", 81), TrackSpec("Drums", 0, True), TrackSpec("Bass", 33)])


def random_roll(steps=40, seed=0, density=0.15):
    rng = np.random.default_rng(seed)
    roll = rng.random((steps, SPEC.num_pitches, SPEC.num_tracks)) < density
    roll[-3:] = False  # trailing silence must survive the round trip
    return roll


def make_midi(path, tracks, ticks_per_beat=480, tempo_changes=()):
    """tracks: list of (name, channel, program, [(pitch, start_tick, end_tick), ...])."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)])
    last = 0
    for tick, bpm in tempo_changes:
        conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick - last))
        last = tick
    midi.tracks.append(conductor)
    for name, channel, program, notes in tracks:
        events = []
        for pitch, start, end in notes:
            events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
            events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        last = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    midi.save(path)
    return path


def test_round_trip_synthetic(tmp_path):
    roll = random_roll()
    write_midi(roll, tmp_path / "x.mid", SPEC, tempo=93.0)
    back = read_midi(tmp_path / "x.mid", SPEC)
    assert back.dtype == bool
    assert back.shape == roll.shape
    np.testing.assert_array_equal(back, roll)


def test_written_file_carries_track_names_programs_and_drum_channel(tmp_path):
    write_midi(random_roll(), tmp_path / "x.mid", SPEC, tempo=100.0)
    midi = mido.MidiFile(tmp_path / "x.mid")
    assert midi.type == 1 and len(midi.tracks) == 4
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks[1:]]
    assert names == ["Lead", "Drums", "Bass"]
    channels = [{m.channel for m in t if m.type == "note_on"} for t in midi.tracks[1:]]
    assert channels == [{0}, {9}, {1}]
    programs = [[m.program for m in t if m.type == "program_change"] for t in midi.tracks[1:]]
    assert programs == [[81], [], [33]]
    tempo = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(100.0)
    multitrack = pypianoroll.read(tmp_path / "x.mid")
    assert [(t.name, t.program, t.is_drum) for t in multitrack.tracks] == [
        ("Lead", 81, False),
        ("Drums", 0, True),
        ("Bass", 33, False),
    ]


@pytest.mark.parametrize(
    "dataset, filename", [("bach-satb", "Jsb16thSeparated.json"), ("jsb-chorales", "jsb-chorales-quarter.json")]
)
def test_round_trip_real_chorales(dataset, filename, tmp_path, request):
    path = request.getfixturevalue("bach_satb_path" if dataset == "bach-satb" else "jsb_quarter_path")
    test = datasets.load(dataset, split="test", path=path)
    for index in (0, 5, 40):
        roll = test[index]
        write_midi(roll, tmp_path / f"{index}.mid", test.spec)
        back, report = read_midi(tmp_path / f"{index}.mid", test.spec, return_report=True)
        np.testing.assert_array_equal(back, roll)
        assert report.dropped == 0 and report.num_notes > 0


def test_family_mapping_merges_and_counts(tmp_path):
    path = make_midi(
        tmp_path / "band.mid",
        [
            ("Grand", 0, 0, [(60, 0, 480)]),
            ("E.Piano", 1, 4, [(64, 0, 480)]),  # merges onto Piano
            ("Nylon", 2, 24, [(67, 480, 960)]),
            ("Fingered", 3, 33, [(40, 0, 960)]),
            ("Violin", 4, 40, [(76, 0, 240)]),  # no LPD-5 family: fallback
            ("Kit", 9, 0, [(36, 0, 120), (38, 480, 600)]),
            ("Low", 5, 0, [(12, 0, 480)]),  # below C1: out of range
        ],
    )
    roll, report = read_midi(path, LPD5_SPEC, return_report=True)
    assert roll.shape == (24, 84, 5)  # two beats at 12 steps per beat
    row = lambda pitch: pitch - LPD5_SPEC.lowest_pitch  # noqa: E731
    assert roll[:12, row(60), 1].all() and roll[:12, row(64), 1].all()
    assert roll[12:, row(67), 2].all() and not roll[:12, row(67), 2].any()
    assert roll[:, row(40), 3].all()
    assert roll[:3, row(36), 0].all() and roll[12:15, row(38), 0].all()
    assert not roll[..., 4].any()
    assert report.out_of_range == 1
    # No LPD-5 track of the violin's family (Strings, 40-47) and no fallback: the pitch order places it, alone, on
    # the first pitched track (it was dropped, unmapped, before the pitch-order rule).
    assert roll[:6, row(76), 1].all() and report.unmapped == 0
    violin = next(part for part in report.parts if part.name == "Violin")
    assert (violin.tracks, violin.rule, violin.kept) == (("Piano",), "pitch order", 1)
    assert report.track_notes == {"Drums": 2, "Piano": 3, "Guitar": 1, "Bass": 1, "Strings": 0}
    assert [part.rule for part in report.parts] == ["family"] * 4 + ["pitch order", "drums", "family"]

    roll, report = read_midi(path, LPD5_SPEC, fallback="Strings", return_report=True)
    assert roll[:6, row(76), 4].all() and report.unmapped == 0
    assert [(part.name, part.rule) for part in report.parts if part.tracks == ("Strings",)] == [("Violin", "fallback")]


def test_explicit_mapping(tmp_path):
    path = make_midi(
        tmp_path / "x.mid",
        [
            ("Flute", 0, 73, [(70, 0, 480)]),
            ("Tuba", 1, 58, [(50, 0, 480)]),
            ("Kit", 9, 0, [(60, 0, 120)]),
            ("Oboe", 2, 68, [(65, 0, 480)]),
        ],
    )
    spec = PianorollSpec(1, 48, 72, [TrackSpec("Melody"), TrackSpec("Low"), TrackSpec("Perc", is_drum=True)])
    roll, report = read_midi(
        path, spec, {"Melody": ["flute", 68], "Low": range(56, 64), "Perc": "drums"}, return_report=True
    )
    assert sorted(map(tuple, np.argwhere(roll).tolist())) == [(0, 2, 1), (0, 12, 2), (0, 17, 0), (0, 22, 0)]
    assert report.dropped == 0
    with pytest.raises(SpecError, match="no track named 'Lead'"):
        read_midi(path, spec, {"Lead": 73})
    with pytest.raises(SpecError, match="a selector must be"):
        read_midi(path, spec, {"Melody": [1.5]})


def test_single_track_spec_takes_every_pitched_instrument(tmp_path):
    path = make_midi(
        tmp_path / "x.mid", [("A", 0, 0, [(60, 0, 480)]), ("B", 1, 40, [(67, 0, 480)]), ("Kit", 9, 0, [(36, 0, 480)])]
    )
    spec = PianorollSpec(1, 21, 108, [TrackSpec("Piano")])
    roll, report = read_midi(path, spec, return_report=True)
    assert roll[0, 60 - 21, 0] and roll[0, 67 - 21, 0] and roll.sum() == 2
    assert report.unmapped == 1  # drums never land on a pitched track by default


def test_quantisation_is_on_the_beat_grid_whatever_the_tempo(tmp_path):
    # 96 ticks per beat, 4 steps per beat: 24 ticks per step; a tempo change must not move notes.
    path = make_midi(
        tmp_path / "x.mid",
        [("P", 0, 0, [(60, 0, 23), (62, 50, 95), (64, 97, 192)])],
        ticks_per_beat=96,
        tempo_changes=[(48, 60), (100, 200)],
    )
    spec = PianorollSpec(4, 60, 64, [TrackSpec("P")])
    roll = read_midi(path, spec)
    assert np.argwhere(roll[..., 0]).tolist() == [[0, 0], [2, 2], [3, 2], [4, 4], [5, 4], [6, 4], [7, 4]]


def test_bad_files_raise_midi_error_naming_the_file(tmp_path):
    spec = SPEC
    with pytest.raises(MidiError, match="missing.mid: no such file"):
        read_midi(tmp_path / "missing.mid", spec)
    with pytest.raises(MidiError, match="is a directory"):
        read_midi(tmp_path, spec)
    (tmp_path / "empty.mid").write_bytes(b"")
    with pytest.raises(MidiError, match="empty.mid: file is empty"):
        read_midi(tmp_path / "empty.mid", spec)
    (tmp_path / "text.mid").write_text("this is not a MIDI file")
    with pytest.raises(MidiError, match="text.mid: not a MIDI file"):
        read_midi(tmp_path / "text.mid", spec)
    write_midi(random_roll(), tmp_path / "good.mid", spec)
    data = (tmp_path / "good.mid").read_bytes()
    (tmp_path / "cut.mid").write_bytes(data[: len(data) // 2])
    with pytest.raises(MidiError, match="cut.mid: corrupt or truncated MIDI file"):
        read_midi(tmp_path / "cut.mid", spec)
    silent = mido.MidiFile()
    silent.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="x")]))
    silent.save(tmp_path / "silent.mid")
    with pytest.raises(MidiError, match="silent.mid: contains no notes"):
        read_midi(tmp_path / "silent.mid", spec)
    long = make_midi(tmp_path / "long.mid", [("P", 0, 0, [(60, 0, 480 * 1000)])])
    with pytest.raises(MidiError, match="long.mid: 4000 steps .* longer than max_steps=1000"):
        read_midi(long, spec, max_steps=1000)


def test_fuzzed_midi_bytes_only_raise_midi_error(tmp_path, bach_satb_path):
    roll = datasets.load("bach-satb", split="valid", path=bach_satb_path)[3]
    spec = datasets.BACH_SATB_SPEC
    write_midi(roll, tmp_path / "seed.mid", spec)
    original = (tmp_path / "seed.mid").read_bytes()
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for trial in range(400):
        data = bytearray(original)
        kind = trial % 4
        if kind == 0:  # truncate
            data = data[: rng.randrange(len(data))]
        elif kind == 1:  # flip random bytes
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:  # corrupt the header and track lengths
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(min(30, len(data)))] = rng.randrange(256)
        else:  # insert or delete a run of bytes
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            else:
                del data[at : at + rng.randint(1, 16)]
        path = tmp_path / f"fuzz{trial}.mid"
        path.write_bytes(bytes(data))
        try:
            result = read_midi(path, spec)
        except MidiError as exc:
            assert str(exc).startswith(str(path))
            outcomes["error"] += 1
        else:
            assert result.dtype == bool and result.shape[1:] == (spec.num_pitches, spec.num_tracks)
            outcomes["ok"] += 1
    assert outcomes["error"] > 100  # the mutations really broke files


def test_write_errors(tmp_path):
    with pytest.raises(SpecError, match="expects 25 pitches"):
        write_midi(np.zeros((4, 24, 3), bool), tmp_path / "x.mid", SPEC)
    with pytest.raises(MidiError, match="must be binary"):
        write_midi(np.full((4, 25, 3), 0.7), tmp_path / "x.mid", SPEC)
    with pytest.raises(MidiError, match="tempo must be a positive number"):
        write_midi(np.zeros((4, 25, 3)), tmp_path / "x.mid", SPEC, tempo=0)
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(MidiError, match="cannot write .*blocker/x.mid"):
        write_midi(np.zeros((4, 25, 3)), tmp_path / "blocker" / "x.mid", SPEC)
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]
    assert issubclass(MidiError, MultinnError)


def test_read_midis_keeps_good_files_and_reports_bad(tmp_path):
    write_midi(random_roll(seed=1), tmp_path / "a.mid", SPEC)
    (tmp_path / "b.mid").write_bytes(b"MThd\x00\x00")
    write_midi(random_roll(seed=2), tmp_path / "c.mid", SPEC)
    rolls, kept, skipped = read_midis(sorted(tmp_path.glob("*.mid")), SPEC)
    assert [p.rsplit("/", 1)[-1] for p in kept] == ["a.mid", "c.mid"]
    assert len(rolls) == 2 and len(skipped) == 1
    assert skipped[0][0].endswith("b.mid") and "truncated" in skipped[0][1]


def reference_assignment(spec, pitches, mapping=None, fallback=None, auto=True):
    """The rules of `read_midi` applied the straightforward way: `{instrument: track index or None}` for
    `pitches` (`{instrument: [pitch of each note]}`, in file order). No voice split: for specs without voices."""
    tracks, out, claimed, left = spec.tracks, {}, set(), []
    pitched = [i for i, t in enumerate(tracks) if not t.is_drum]

    def matches(selector, inst):
        if isinstance(selector, str):
            if selector.lower() == "drums":
                return inst.is_drum
            return selector.strip().lower() == inst.track_name.strip().lower()
        return not inst.is_drum and inst.program in (selector if isinstance(selector, range) else [selector])

    for inst in pitches:
        if mapping is not None:
            hits = [
                spec.track_index(name)
                for name, sel in mapping.items()
                if any(matches(s, inst) for s in (sel if isinstance(sel, list) else [sel]))
            ]
            if hits:
                out[inst] = hits[0]
                claimed.add(hits[0])
                continue
            if not auto:
                out[inst] = None if fallback is None else spec.track_index(fallback)
                continue
        name = inst.track_name.strip().lower()
        named = [i for i, t in enumerate(tracks) if name and t.name.lower() == name and t.is_drum == inst.is_drum]
        if named:
            out[inst] = named[0]
            claimed.add(named[0])
        else:
            left.append(inst)
    groups = {}
    for inst in left:
        if inst.is_drum:
            out[inst] = next((i for i, t in enumerate(tracks) if t.is_drum), None)
            continue
        family = [i for i in pitched if tracks[i].program // 8 == inst.program // 8]
        if len(family) == 1:
            out[inst] = family[0]
        elif not family and fallback is not None:
            out[inst] = spec.track_index(fallback)
        else:
            candidates = family or pitched
            free = tuple(i for i in candidates if i not in claimed) or tuple(candidates)
            out[inst] = None
            if free:
                groups.setdefault(free, []).append(inst)

    def sounds(inst):
        return any(spec.lowest_pitch <= p <= spec.highest_pitch for p in pitches[inst])

    def mean(group):  # of the pitches in the spec's range, or of all for a part with none
        heard = [
            p
            for inst in group
            for p in pitches[inst]
            if not sounds(inst) or spec.lowest_pitch <= p <= spec.highest_pitch
        ]
        return sum(heard) / len(heard)

    for free, group in groups.items():
        group = sorted(group, key=lambda inst: -mean([inst]))  # stable: file order on ties
        sounding = [inst for inst in group if sounds(inst)] or group
        clusters = [[inst] for inst in sounding]
        while len(clusters) > len(free):
            gaps = [mean(clusters[i]) - mean(clusters[i + 1]) for i in range(len(clusters) - 1)]
            i = gaps.index(min(gaps))
            clusters[i : i + 2] = [clusters[i] + clusters[i + 1]]
        n, m = len(clusters), len(free)
        for i, cluster in enumerate(clusters):
            for inst in cluster:
                out[inst] = free[0 if n == 1 else math.floor(i * (m - 1) / (n - 1) + 0.5)]
        for inst in group:  # a part with no note in the range: on the track of the part nearest in mean pitch
            if inst not in sounding:
                out[inst] = out[min(sounding, key=lambda other, inst=inst: abs(mean([other]) - mean([inst])))]
    return out


def reference_read_midi(path, spec, mapping=None, fallback=None, auto=True):
    """`read_midi` done the straightforward way, one note at a time, without its errors: `(roll, report)`."""
    midi = mido.MidiFile(path)
    tpb, spb = midi.ticks_per_beat, spec.steps_per_beat
    to_step = lambda tick: (2 * tick * spb + tpb) // (2 * tpb)  # noqa: E731
    notes, end_tick, pitches = [], 0, {}  # (start tick, stop tick, pitch, instrument); {instrument: [pitch]}
    for track in midi.tracks:
        tick, name, programs, active = 0, "", [0] * 16, {}
        for msg in track:
            tick += msg.time
            if msg.type == "track_name" and not name:
                name = msg.name
            elif msg.type == "program_change":
                programs[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                inst = Instrument(name, msg.channel, programs[msg.channel])
                active.setdefault((msg.channel, msg.note), []).append((tick, inst))
                pitches.setdefault(inst, []).append(msg.note)  # in the order of their first note
            elif msg.type in ("note_on", "note_off") and active.get((msg.channel, msg.note)):
                start, inst = active[msg.channel, msg.note].pop(0)  # first in, first out
                notes.append((start, tick, msg.note, inst))
        end_tick = max(end_tick, tick)
        notes += [(start, tick, pitch, inst) for (_, pitch), on in active.items() for start, inst in on]
    report = MidiReport(str(path), track_notes={t.name: 0 for t in spec.tracks})
    unmapped, kept = collections.Counter(), []
    assignment = reference_assignment(spec, pitches, mapping, fallback, auto)
    for start, stop, pitch, inst in notes:
        index = assignment[inst]
        if index is None:
            unmapped[inst] += 1
        elif not spec.lowest_pitch <= pitch <= spec.highest_pitch:
            report.out_of_range += 1
        else:
            kept.append((to_step(start), max(to_step(stop), to_step(start) + 1), pitch - spec.lowest_pitch, index))
    roll = np.zeros((max([to_step(end_tick)] + [k[1] for k in kept]), spec.num_pitches, spec.num_tracks), bool)
    for start, stop, row, index in kept:
        roll[start:stop, row, index] = True
        report.track_notes[spec.tracks[index].name] += 1
    report.num_notes, report.unmapped = len(kept), sum(unmapped.values())
    report.unmapped_instruments = [f"{inst.describe()}: {n} notes" for inst, n in unmapped.items()]
    return roll, report


def random_midi(path, seed):
    """A random multi-track file: few pitches per track (so same-pitch notes overlap), notes never switched off,
    note-offs as note_off or note_on of velocity 0, drums, program changes, late track names, odd tick rates."""
    rng = random.Random(seed)
    midi = mido.MidiFile(type=1, ticks_per_beat=rng.choice([3, 24, 100, 480]))
    names = ["", "Lead", "bass", "Kit", "Violin"]
    for _ in range(rng.randint(1, 4)):
        track = mido.MidiTrack()
        if rng.random() < 0.7:
            track.append(mido.MetaMessage("track_name", name=rng.choice(names)))
        pitches = rng.sample(range(40, 80), 3) + [rng.choice([20, 47, 48, 72, 73, 110])]  # SPEC holds 48-72
        channels = rng.sample(range(16), 2) + [9]
        for _ in range(rng.randint(0, 150)):
            time, channel, pitch, kind = (
                rng.choice([0, 0, 1, 7, 30, 200]),
                rng.choice(channels),
                rng.choice(pitches),
                rng.random(),
            )
            if kind < 0.05:
                program = rng.choice([0, 4, 24, 33, 40, 48, 81, 120])
                track.append(mido.Message("program_change", channel=channel, program=program, time=time))
            elif kind < 0.08:
                track.append(mido.MetaMessage("track_name", name=rng.choice(names), time=time))
            elif kind < 0.5:
                track.append(
                    mido.Message("note_on", channel=channel, note=pitch, velocity=rng.randint(1, 127), time=time)
                )
            elif kind < 0.75:
                track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=0, time=time))
            else:
                track.append(mido.Message("note_off", channel=channel, note=pitch, time=time))
        midi.tracks.append(track)
    midi.save(path)
    return path


EXPLICIT = {"Lead": ["lead", range(0, 30)], "Drums": ["drums", "kit"], "Bass": [33, 40]}


@pytest.mark.parametrize(
    "spec, mapping, fallback, auto, rules",
    [
        (SPEC, None, None, True, {"name", "drums", "family", "pitch order", "pitch order (merged)"}),
        (SPEC, EXPLICIT, None, True, {"mapping", "name", "family", "pitch order"}),
        (SPEC, EXPLICIT, None, False, {"mapping", "unmapped"}),
        (LPD5_SPEC, None, "Strings", True, {"drums", "family", "fallback"}),
        (LPD5_SPEC, None, None, True, {"drums", "family", "pitch order", "pitch order (merged)"}),
        (PianorollSpec(12, 48, 72, [TrackSpec("Piano")]), None, None, True, {"unmapped", "pitch order (merged)"}),
    ],
    ids=["family", "explicit", "exclusive", "lpd5", "lpd5-pitch-order", "one-track"],
)
def test_read_midi_equals_the_straightforward_reading_on_random_files(tmp_path, spec, mapping, fallback, auto, rules):
    seen, seen_rules = collections.Counter(), set()
    kwargs = {"fallback": fallback, "auto": auto}
    for seed in range(40):
        path = random_midi(tmp_path / f"{seed}.mid", seed)
        roll, report = reference_read_midi(path, spec, mapping, fallback, auto)
        if report.num_notes + report.dropped == 0:
            with pytest.raises(MidiError, match="contains no notes"):
                read_midi(path, spec, mapping, **kwargs)
            continue
        if report.num_notes == 0:  # once a silent roll (or "no time steps"), now an error
            with pytest.raises(NoNotesKeptError, match=f"all {report.dropped} notes dropped: "):
                read_midi(path, spec, mapping, **kwargs)
            seen.update(nothing_kept=1)
            continue
        back, back_report = read_midi(path, spec, mapping, return_report=True, **kwargs)
        assert back.dtype == bool and back.flags.c_contiguous
        np.testing.assert_array_equal(back, roll)
        for field in ("num_notes", "out_of_range", "unmapped", "unmapped_instruments", "track_notes"):
            assert getattr(back_report, field) == getattr(report, field), field
        assert back_report.dropped == report.dropped and back_report.extra_voices == 0
        assert sum(part.notes for part in back_report.parts) == report.num_notes + report.dropped
        assert sum(part.kept for part in back_report.parts) == report.num_notes
        seen_rules.update(part.rule for part in back_report.parts)
        with pytest.raises(MidiError, match=f": {len(roll)} steps at .* max_steps={len(roll) - 1} "):
            read_midi(path, spec, mapping, max_steps=len(roll) - 1, **kwargs)
        seen.update(kept=report.num_notes, out_of_range=report.out_of_range, unmapped=report.unmapped)
    assert seen["kept"] > 1000 and seen["out_of_range"] > 100  # the files exercise what they should
    assert seen["unmapped"] > 100 or "unmapped" not in rules
    assert rules <= seen_rules, rules - seen_rules


def test_overlapping_notes_pair_first_in_first_out(tmp_path):
    midi = mido.MidiFile(type=1, ticks_per_beat=4)  # one step per tick at SPEC's 4 steps per beat
    on = lambda time: mido.Message("note_on", note=60, velocity=64, time=time)  # noqa: E731
    off = lambda time: mido.Message("note_off", note=60, time=time)  # noqa: E731
    # note-ons at ticks 0, 1 and 10, note-offs at 2, 12 and 20: notes [0, 2), [1, 12), [10, 20)
    midi.tracks.append(mido.MidiTrack([on(0), on(1), off(1), on(8), off(2), off(8)]))
    midi.tracks.append(mido.MidiTrack([on(0), mido.Message("note_off", note=62, time=3)]))  # never switched off: [0, 3)
    midi.save(tmp_path / "x.mid")
    roll, report = read_midi(tmp_path / "x.mid", SPEC, {"Lead": range(128)}, return_report=True)
    assert roll.shape[0] == 20 and report.num_notes == 4
    assert roll[:, 60 - 48, 0].all() and not roll[..., 1:].any()


def test_a_file_of_no_kept_note_is_an_error_and_a_kept_note_keeps_a_step(tmp_path):
    # One note from tick 0 to tick 0: in range it keeps one step; dropped, nothing is left (once "holds no time
    # steps", or a silent roll for a longer file: now always the error of a file whose notes were all dropped).
    kept = make_midi(tmp_path / "kept.mid", [("Lead", 0, 0, [(60, 0, 0)])])
    assert read_midi(kept, SPEC).shape == (1, 25, 3)
    low = make_midi(tmp_path / "low.mid", [("Lead", 0, 0, [(20, 0, 0)])])
    reason = "all 1 notes dropped: 1 notes lie outside the spec's pitch range 48..72"
    with pytest.raises(
        NoNotesKeptError,
        match=re.escape(f"low.mid: {reason} (out_of_range='fold' (command line: --out-of-range fold) moves"),
    ) as info:
        read_midi(low, SPEC)
    assert info.value.report.out_of_range == 1 and info.value.report.parts[0].rule == "name"
    assert read_midi(low, SPEC, out_of_range="fold").shape == (1, 25, 3)
    # A note that ends before half a step (20 ticks at 480 ticks per beat and 12 steps per beat) keeps one step;
    # the violin (no LPD-5 family) is placed by the pitch order (it was unmapped, and the file held no step).
    violin = make_midi(tmp_path / "violin.mid", [("Violin", 0, 40, [(60, 0, 19)])])
    assert read_midi(violin, LPD5_SPEC).shape == (1, 84, 5)
    assert read_midi(violin, LPD5_SPEC, fallback="Strings").shape == (1, 84, 5)
    rolls, kept_paths, skipped = read_midis([kept, low], SPEC)  # as datasets and `multinn data prepare` read
    assert len(rolls) == 1 and kept_paths == [str(kept)]
    assert len(skipped) == 1 and skipped[0][0] == str(low) and skipped[0][1].startswith(reason)

    with pytest.raises(MidiError, match="cannot write .*empty.mid: the piano-roll has no time steps"):
        write_midi(np.zeros((0, 25, 3), bool), tmp_path / "empty.mid", SPEC)
    assert not (tmp_path / "empty.mid").exists()


# --- The Standard MIDI File scanner (`_read_smf`) against mido's reading ---------------------------------------------


@pytest.fixture
def mido_timing_fixed(monkeypatch):
    """mido 1.3.3 drops the delta time of a meta event of a type it does not know (its UnknownMetaMessage gets time
    0); the MIDI file standard counts it, and so does `_read_smf`. The reference reads with that fixed."""
    import mido.midifiles.midifiles as midifiles
    from mido.midifiles.meta import UnknownMetaMessage, build_meta_message

    def build(meta_type, data, delta=0):
        msg = build_meta_message(meta_type, data, delta)
        if isinstance(msg, UnknownMetaMessage):
            msg.time = delta
        return msg

    monkeypatch.setattr(midifiles, "build_meta_message", build)


def mido_contents(data):
    """What `_read_smf(data)` must find, from mido's parsing (the note pairing `read_midi` did on mido)."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    instrument_ids, notes, end_tick, names, tempos, signatures = {}, [], 0, [], [], []
    for midi_track in midi.tracks:
        tick, name, programs, active = 0, "", [0] * 16, collections.defaultdict(collections.deque)
        for msg in midi_track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                key = (name, msg.channel, programs[msg.channel])
                active[msg.channel, msg.note].append((tick, instrument_ids.setdefault(key, len(instrument_ids))))
            elif msg.type in ("note_on", "note_off") and active.get((msg.channel, msg.note)):
                start, instrument = active[msg.channel, msg.note].popleft()
                notes.append([start, tick, msg.note, instrument])
            elif msg.type == "program_change":
                programs[msg.channel] = msg.program
            elif msg.type == "track_name" and not name:
                name = msg.name
            elif msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                signatures.append(
                    (tick, msg.numerator, msg.denominator, msg.clocks_per_click, msg.notated_32nd_notes_per_beat)
                )
        end_tick = max(end_tick, tick)
        names.append(name)
        notes += [[start, tick, pitch, i] for (_, pitch), started in active.items() for start, i in started]
    return {
        "format": midi.type & 0xFFFF,  # mido reads it as a signed number
        "ticks_per_beat": midi.ticks_per_beat,
        "notes": notes,
        "instruments": [Instrument(*key) for key in instrument_ids],
        "end_tick": end_tick,
        "track_names": names,
        "tempos": sorted(tempos, key=lambda t: t[0]),
        "time_signatures": sorted(signatures, key=lambda t: t[0]),
    }


def scanned(data, path="x.mid"):
    contents = _read_smf(data, path)
    assert contents.notes.dtype == np.int64 and contents.notes.shape[1:] == (4,)
    return {**dataclasses.asdict(contents), "notes": contents.notes.tolist(), "instruments": contents.instruments}


def random_mido_file(seed):
    """A random valid file written by mido (so without running status): every kind of message and meta event."""
    rng = random.Random(seed)
    midi = mido.MidiFile(type=rng.choice([0, 1, 2]), ticks_per_beat=rng.choice([1, 96, 480, 32767]))
    names = ["", "Lead", "Bass", "Caf\xe9 \xff", " "]
    for _ in range(1 if midi.type == 0 else rng.randint(1, 4)):
        track = mido.MidiTrack()
        channels = rng.sample(range(16), 2)
        for _ in range(rng.randint(0, 120)):
            time = rng.choice([0, 0, 1, 5, 127, 128, 16383, 16384, 2**21, 2**25])  # (end_of_track's time moves on)
            channel, pitch, value = rng.choice(channels), rng.choice([0, 60, 61, 127]), rng.randrange(128)
            kind = rng.random()
            if kind < 0.25:
                msg = mido.Message("note_on", channel=channel, note=pitch, velocity=rng.choice([0, 1, 64, 127]))
            elif kind < 0.4:
                msg = mido.Message("note_off", channel=channel, note=pitch, velocity=value)
            elif kind < 0.5:
                msg = rng.choice(
                    [
                        mido.Message("program_change", channel=channel, program=value),
                        mido.Message("control_change", channel=channel, control=value, value=rng.randrange(128)),
                        mido.Message("pitchwheel", channel=channel, pitch=rng.randrange(-8192, 8192)),
                        mido.Message("aftertouch", channel=channel, value=value),
                        mido.Message("polytouch", channel=channel, note=pitch, value=value),
                        mido.Message("sysex", data=[rng.randrange(128) for _ in range(rng.randint(0, 200))]),
                        mido.Message("quarter_frame", frame_type=rng.randrange(8), frame_value=rng.randrange(16)),
                        mido.Message("songpos", pos=rng.randrange(16384)),
                        mido.Message("song_select", song=value),  # (mido's writer takes tune_request as real-time)
                    ]
                )
            else:
                text = rng.choice(names)
                msg = rng.choice(
                    [
                        mido.MetaMessage("track_name", name=text),
                        mido.MetaMessage("track_name", name=text),
                        mido.MetaMessage("set_tempo", tempo=rng.randrange(2**24)),
                        mido.MetaMessage(
                            "time_signature",
                            numerator=rng.randrange(256),
                            denominator=2 ** rng.randrange(8),
                            clocks_per_click=rng.randrange(256),
                            notated_32nd_notes_per_beat=rng.randrange(256),
                        ),
                        mido.MetaMessage("sequence_number", number=rng.randrange(65536)),
                        mido.MetaMessage(
                            rng.choice(["text", "copyright", "lyrics", "marker", "cue_marker"]), text=text
                        ),
                        mido.MetaMessage(rng.choice(["instrument_name", "device_name"]), name=text),
                        mido.MetaMessage("channel_prefix", channel=rng.randrange(256)),
                        mido.MetaMessage("midi_port", port=rng.randrange(256)),
                        mido.MetaMessage("smpte_offset", frame_rate=25, hours=1, minutes=59, seconds=3, frames=4),
                        mido.MetaMessage("key_signature", key=rng.choice(["C", "F#m", "Cb", "A#m"])),
                        mido.MetaMessage("sequencer_specific", data=[rng.randrange(256) for _ in range(5)]),
                        mido.MetaMessage("end_of_track"),  # mido's writer moves it to the end, adding up its time
                        mido.UnknownMetaMessage(type_byte=rng.choice([0x08, 0x0A, 0x4B, 0x60, 0xF0]), data=[1, 200]),
                    ]
                )
            track.append(msg.copy(time=time))
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def varlen(value, padding=0):
    """`value` as a MIDI variable-length quantity, after `padding` leading 0x80 bytes (longer, still valid)."""
    out = [value & 0x7F]
    while value := value >> 7:
        out.append(0x80 | value & 0x7F)
    return bytes([0x80] * padding + out[::-1])


def smf(*tracks, division=480, file_format=1, num_tracks=None, header=b"", chunks=None):
    """A Standard MIDI File of these MTrk bodies (`chunks`, if given, instead: (type, body) pairs)."""
    chunks = [(b"MTrk", track) for track in tracks] if chunks is None else chunks
    num_tracks = sum(kind == b"MTrk" for kind, _ in chunks) if num_tracks is None else num_tracks
    head = struct.pack(">4sLHHH", b"MThd", 6 + len(header), file_format, num_tracks, division & 0xFFFF) + header
    return head + b"".join(kind + struct.pack(">L", len(body)) + body for kind, body in chunks)


def random_running_status_track(rng):
    """Hand-assembled track bytes: running status (also across meta events, and mido's reading of a data byte after
    a sysex or system message), delta times of 1-4 bytes (some longer than needed), system common and real-time
    messages, meta events of all kinds, events after end_of_track, or no end_of_track."""
    out, last = bytearray(), None
    for _ in range(rng.randint(0, 80)):
        delta = rng.choice([0, 0, 1, 5, 127, 128, 200, 20000, 2**21 + 3, 2**28 - 1])
        out += varlen(delta, min(rng.choice([0, 0, 0, 0, 1, 2, 3]), 4 - len(varlen(delta))))
        kind = rng.random()
        if kind < 0.6:
            status = rng.choice([0x80, 0x90, 0x90, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0]) | rng.choice([0, 1, 9])
            data = [rng.choice([60, 61, 0, 127, rng.randrange(128)])]
            if status < 0xC0 or status >= 0xE0:
                data.append(rng.choice([0, 0, 64, 127]))
            out += bytes(data) if status == last and rng.random() < 0.8 else bytes([status, *data])
            last = status
        elif kind < 0.8:
            meta = rng.choice([0x00, 0x01, 0x03, 0x03, 0x03, 0x04, 0x06, 0x09, 0x20, 0x21, 0x2F, 0x51, 0x51, 0x54])
            meta = rng.choice([meta, 0x58, 0x58, 0x59, 0x7F, 0x08, 0x4B, 0x60, 0x90])
            length = {0x00: 2, 0x20: 1, 0x21: 1, 0x2F: 0, 0x51: 3, 0x54: 5, 0x58: 4, 0x59: 2}.get(
                meta, rng.randint(0, 6)
            )
            length += rng.choice([0, 0, 0, 1, 2]) if meta in (0x2F, 0x51, 0x58) else 0
            data = [rng.randrange(256) for _ in range(length)]
            if meta == 0x54:
                data = [rng.randrange(4) << 5 | rng.randrange(24), rng.randrange(60), rng.randrange(60), 0, 0]
            elif meta == 0x58:
                data[1] = rng.randrange(8)
            elif meta == 0x59:
                data = [rng.randrange(-7, 8) & 0xFF, rng.randrange(2)]
            elif meta == 0x03 and rng.random() < 0.3:
                data = []
            out += bytes([0xFF, meta]) + varlen(len(data), rng.choice([0, 0, 0, 1])) + bytes(data)
        elif kind < 0.9:
            status = rng.choice([0xF0, 0xF7])
            body = [rng.randrange(128) for _ in range(rng.randint(0, 5))] + ([0xF7] if status == 0xF0 else [])
            out += bytes([status]) + varlen(len(body)) + bytes(body)
            last = status
            if rng.random() < 0.3:  # mido reads a data byte here as a sysex event, dropping the byte
                out += b"\x00" + bytes([rng.randrange(128)]) + varlen(1) + bytes([rng.randrange(128)])
        else:
            status = rng.choice([0xF1, 0xF2, 0xF3, 0xF6, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE])
            count = {0xF1: 1, 0xF2: 2, 0xF3: 1}.get(status, 0)
            out += bytes([status] + [rng.randrange(128) for _ in range(count)])
            last = status
            if count and rng.random() < 0.5:  # running status, as mido reads it
                out += varlen(3) + bytes(rng.randrange(128) for _ in range(count))
    if rng.random() < 0.8:
        out += b"\x00\xff\x2f\x00"
        if rng.random() < 0.4:
            out += b"\x05\x90\x3c\x40\x07\x3c\x00\x81\x00\x90\x3d\x40"  # events after end_of_track count
    return bytes(out)


def random_running_status_file(seed):
    rng = random.Random(seed)
    tracks = [random_running_status_track(rng) for _ in range(rng.randint(1, 4))]
    data = smf(*tracks, division=rng.choice([1, 96, 480]), header=rng.choice([b"", b"", b"\x00\x07"]))
    return data + rng.choice([b"", b"", b"bytes after the last track are ignored"])


@pytest.mark.usefixtures("mido_timing_fixed")
def test_scanner_finds_what_mido_reads_in_files_mido_writes():
    seen = collections.Counter()
    for seed in range(150):
        data = random_mido_file(seed)
        expected = mido_contents(data)
        assert scanned(data) == expected, seed
        seen.update(notes=len(expected["notes"]), tempos=len(expected["tempos"]), names=any(expected["track_names"]))
        seen.update(signatures=len(expected["time_signatures"]), instruments=len(expected["instruments"]))
    assert min(seen.values()) > 100  # the files hold what they should


@pytest.mark.usefixtures("mido_timing_fixed")
def test_scanner_finds_what_mido_reads_in_hand_assembled_files_with_running_status():
    seen = collections.Counter()
    for seed in range(300):
        data = random_running_status_file(seed)
        expected = mido_contents(data)
        assert scanned(data) == expected, seed
        seen.update(notes=len(expected["notes"]), tempos=len(expected["tempos"]), names=any(expected["track_names"]))
    assert seen["notes"] > 1000 and seen["tempos"] > 50 and seen["names"] > 50  # the files hold what they should


def test_scanner_reads_tempo_and_time_signature_as_written(tmp_path):
    write_midi(random_roll(), tmp_path / "x.mid", SPEC, tempo=93.0)
    contents = _read_smf((tmp_path / "x.mid").read_bytes(), "x.mid")
    assert contents.tempos == [(0, mido.bpm2tempo(93.0))]
    assert contents.time_signatures == [(0, SPEC.beats_per_bar, 4, 24, 8)]
    assert contents.track_names == ["", "Lead", "Drums", "Bass"] and contents.format == 1
    assert contents.ticks_per_beat == 480 and contents.end_tick == 40 * 120
    # The first tempo is the earliest, whatever the track: tempos and time signatures are sorted by tick.
    tempo = lambda value: b"\xff\x51\x03" + value.to_bytes(3, "big")  # noqa: E731
    data = smf(b"\x10" + tempo(400_000) + b"\x00" + tempo(300_000), b"\x00" + tempo(600_000) + b"\x10" + tempo(1))
    assert _read_smf(data, "x.mid").tempos == [(0, 600_000), (16, 400_000), (16, 300_000), (16, 1)]


def test_scanner_leniency_where_mido_rejects_or_misreads():
    note = b"\x00\x90\x3c\x40\x60\x3c\x00"  # a note from tick 0 to 96
    # Chunks of unknown types are skipped (the MIDI file standard says so; mido 1.3.3 raises).
    data = smf(chunks=[(b"XFIH", b"\x01\x02"), (b"MTrk", note), (b"MTrk", note)])
    with pytest.raises(OSError, match="no MTrk header"):
        mido.MidiFile(file=io.BytesIO(data))
    assert _read_smf(data, "x.mid").notes.tolist() == [[0, 96, 60, 0], [0, 96, 60, 0]]
    # Meta events `read_midi` does not use are skipped unchecked, sysex data too (mido raises on all of these).
    for event in [
        b"\x00\xff\x59\x02\x09\x00",  # key signature of 9 sharps
        b"\x00\xff\x54\x05\xe0\x3c\x00\x00\x00",  # SMPTE offset: frame rate code 7, 60 minutes
        b"\x00\xff\x00\x01\x05",  # sequence number of 1 byte
        b"\x00\xff\x20\x00",  # channel prefix of no byte
        b"\x00\xff\x58\x04\x04\x1d\x18\x08",  # time signature of 4/2**29 (mido's float log2 rejects it)
        b"\x00\xf0\x03\x01\x90\xf7",  # sysex data byte above 127
        b"\x00\xf7" + varlen(1_000_001) + bytes(1_000_001),  # sysex longer than mido's 1,000,000 bytes
    ]:
        data = smf(event + note)
        with pytest.raises(Exception):  # noqa: B017 - mido raises many types
            mido.MidiFile(file=io.BytesIO(data))
        assert _read_smf(data, "x.mid").notes.tolist() == [[0, 96, 60, 0]], event[:8]
    # A file declaring 32,768 tracks or more: mido reads a negative count, so no track; the scanner reads them.
    data = smf(*[note] * 0x8000)
    assert mido.MidiFile(file=io.BytesIO(data)).tracks == []
    assert len(_read_smf(data, "x.mid").notes) == 0x8000
    # The delta time of an unknown meta event counts (mido 1.3.3 drops it: its UnknownMetaMessage has time 0).
    data = smf(b"\x00\x90\x3c\x40\x60\xff\x4b\x00\x10\x3c\x00")
    assert _read_smf(data, "x.mid").notes.tolist() == [[0, 112, 60, 0]]
    assert mido_contents(data)["notes"] == [[0, 16, 60, 0]]  # mido's tick 16 is wrong

    # A delta time of more than 4 bytes is an error (the standard allows 4; mido reads any length).
    data = smf(varlen(0, padding=4) + note[1:])
    assert len(mido.MidiFile(file=io.BytesIO(data)).tracks[0]) == 2
    with pytest.raises(
        MidiError, match=r"x.mid: .*\(track 1: variable-length quantity of over 4 bytes in the event at byte 22\)$"
    ):
        _read_smf(data, "x.mid")


NOTE = b"\x00\x90\x3c\x40\x60\x3c\x00"


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"MThd\x00\x00\x00\x06\x00\x01", "file is truncated"),
        (b"MThd\x00\x00\x00\x04\x00\x01\x00\x01\x01\xe0", "header chunk of 4 bytes, 6 expected"),
        (
            b"MThd\x00\x00\x01\x00" + smf(NOTE)[8:],
            r"header chunk of 256 bytes runs past the end of the file \(29 bytes\)",
        ),
        (smf(NOTE, num_tracks=2), "file ends after 1 of its 2 tracks"),
        (smf(NOTE, num_tracks=2) + b"MTr", "file ends inside the chunk header of track 2, at byte 29"),
        (smf(NOTE)[:-1], r"track 1 \(7 bytes from byte 22\) runs past the end of the file \(28 bytes\)"),
        (smf(chunks=[(b"XFIH", b"\x01\x02")], num_tracks=1)[:-1], r"chunk b'XFIH' before track 1 \(2 bytes"),
        (smf(NOTE[:-1]), "track 1 ends inside the event at byte 26"),
        (smf(b"\x00\xff\x03\x05abc"), "track 1 ends inside the event at byte 22"),
        (smf(b"\x00\xf0\x05\x01\x02\xf7"), "track 1 ends inside the event at byte 22"),
        (smf(b"\x00\xf2\x01"), "track 1 ends inside the event at byte 22"),
        (smf(b"\x00\xff\x03\x80\x80\x80\x80\x01"), "track 1: variable-length quantity of over 4 bytes"),
        (smf(b"\x00\xf0\x80\x80\x80\x80\x01"), "track 1: variable-length quantity of over 4 bytes"),
        (smf(b"\x00\x3c\x40"), "track 1: running status with no previous status in the event at byte 22"),
        (
            smf(b"\x00\xff\x2f\x00\x00\x3c\x40"),
            "track 1: running status with no previous status in the event at byte 26",
        ),
        (smf(NOTE, b"\x00\x90\x3c\x80"), "track 2: data byte above 127 in the event at byte 37"),
        (smf(b"\x00\x80\xbc\x00"), "track 1: data byte above 127"),
        (smf(b"\x00\xc0\x80"), "track 1: data byte above 127"),
        (smf(b"\x00\xb0\x07\xff"), "track 1: data byte above 127"),
        (smf(b"\x00\xf2\x01\x80"), "track 1: data byte above 127"),
        (smf(b"\x00\xf4"), "track 1: undefined status byte 0xF4"),
        (smf(b"\x00\xf8\x00\x01"), "track 1: data byte after system message 0xF8"),
        (smf(b"\x00\xff\x51\x02\x07\xa1"), "track 1: set_tempo of 2 bytes"),
        (smf(b"\x00\xff\x58\x03\x04\x02\x18"), "track 1: time_signature of 3 bytes"),
        (smf(b"\x00\xf7\x8f\xff\xff\x7f"), "track 1 ends inside the event at byte 22"),
    ],
)
def test_scanner_reports_malformed_files_in_one_line(data, problem):
    with pytest.raises(MidiError, match=rf"^x.mid: corrupt or truncated MIDI file \(.*{problem}") as info:
        _read_smf(data, "x.mid")
    assert "\n" not in str(info.value)
    with pytest.raises(Exception):  # noqa: B017 - mido rejects them all too, with many types
        mido.MidiFile(file=io.BytesIO(data))


def test_read_midi_rejects_unsupported_division_and_absurd_ticks(tmp_path):
    (tmp_path / "smpte.mid").write_bytes(smf(NOTE, division=0xE728))  # -25 frames per second, 40 ticks per frame
    with pytest.raises(MidiError, match=r"smpte.mid: unsupported time division -6360 \(SMPTE"):
        read_midi(tmp_path / "smpte.mid", SPEC)
    (tmp_path / "zero.mid").write_bytes(smf(NOTE, division=0))
    with pytest.raises(MidiError, match=r"zero.mid: unsupported time division 0 "):
        read_midi(tmp_path / "zero.mid", SPEC)
    # Delta times of 2**28 - 1 ticks add up, without overflow, to a piece far longer than max_steps.
    (tmp_path / "long.mid").write_bytes(smf(b"\x00\x90\x3c\x40" + b"\xff\xff\xff\x7f\x3c\x40" * 10_000))
    # (The notes, of no family of SPEC, are kept by the pitch order: the last one starts at the end and adds a step.)
    with pytest.raises(MidiError, match=r"long.mid: 22369621251 steps .* longer than max_steps=100000"):
        read_midi(tmp_path / "long.mid", SPEC)


def mutate(rng, data):
    data = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:  # truncate
        del data[rng.randrange(len(data)) :]
    elif kind == 1:  # replace a few bytes, anywhere
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 5:  # replace a few bytes by data bytes (0-127), past the header: mostly still valid
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(14, len(data))] = rng.randrange(128)
    elif kind == 2:  # replace a byte of the header or of the first chunk header
        data[rng.randrange(min(30, len(data)))] = rng.randrange(256)
    elif kind == 3:  # insert a few bytes
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    else:  # delete a few bytes
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 8)]
    return bytes(data)


@pytest.mark.usefixtures("mido_timing_fixed")
def test_fuzzed_files_only_raise_midi_error_and_agree_with_mido_when_both_read(tmp_path):
    seeds = [random_mido_file(1), random_mido_file(7), random_running_status_file(3), random_running_status_file(11)]
    write_midi(random_roll(steps=12), tmp_path / "written.mid", SPEC)
    seeds.append((tmp_path / "written.mid").read_bytes())
    rng = random.Random(20261201)
    outcomes = collections.Counter()
    for trial in range(4000):
        data = mutate(rng, seeds[trial % len(seeds)])
        try:
            got = scanned(data)
        except MidiError as exc:
            assert str(exc).startswith("x.mid: ") and "\n" not in str(exc)
            got = str(exc)
        if trial % 3 == 0 and data.startswith(b"MThd"):  # against mido on a third of them
            try:
                expected = mido_contents(data)
            except Exception:  # noqa: BLE001 - mido raises many types
                outcomes["mido fails"] += 1
            else:
                if isinstance(got, dict):
                    assert got == expected, trial
                    outcomes["both read"] += 1
                else:  # only mido reads: a variable-length quantity of 5+ bytes, SMPTE time (read_midi's error), or
                    # no track read at all (its count read as negative, or zero in a header chunk cut short)
                    assert re.search("variable-length quantity|time division", got) or not expected["track_names"], got
        outcomes["read" if isinstance(got, dict) else "error"] += 1
        if trial % 10 == 0:  # and the whole read_midi on a tenth of them
            (tmp_path / "fuzz.mid").write_bytes(data)
            try:
                roll = read_midi(tmp_path / "fuzz.mid", SPEC, fallback="Lead")
            except MidiError as exc:
                assert str(exc).startswith(str(tmp_path / "fuzz.mid")) and "\n" not in str(exc)
            else:
                assert roll.dtype == bool and roll.shape[1:] == (SPEC.num_pitches, SPEC.num_tracks)
    assert outcomes["read"] > 500 and outcomes["error"] > 1000 and outcomes["both read"] > 100
