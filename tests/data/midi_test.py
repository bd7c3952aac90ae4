import random

import mido
import numpy as np
import pypianoroll
import pytest

from multinn import datasets
from multinn.data import PianorollSpec, TrackSpec, read_midi, write_midi
from multinn.data.midi import read_midis
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
    assert [(t.name, t.program, t.is_drum) for t in multitrack.tracks] == [("Lead", 81, False), ("Drums", 0, True), ("Bass", 33, False)]


@pytest.mark.parametrize("dataset, filename", [("bach-satb", "Jsb16thSeparated.json"), ("jsb-chorales", "jsb-chorales-quarter.json")])
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
    assert report.unmapped == 1 and "Violin" in report.unmapped_instruments[0]
    assert report.track_notes == {"Drums": 2, "Piano": 2, "Guitar": 1, "Bass": 1, "Strings": 0}

    roll, report = read_midi(path, LPD5_SPEC, fallback="Strings", return_report=True)
    assert roll[:6, row(76), 4].all() and report.unmapped == 0


def test_explicit_mapping(tmp_path):
    path = make_midi(
        tmp_path / "x.mid",
        [("Flute", 0, 73, [(70, 0, 480)]), ("Tuba", 1, 58, [(50, 0, 480)]), ("Kit", 9, 0, [(60, 0, 120)]), ("Oboe", 2, 68, [(65, 0, 480)])],
    )
    spec = PianorollSpec(1, 48, 72, [TrackSpec("Melody"), TrackSpec("Low"), TrackSpec("Perc", is_drum=True)])
    roll, report = read_midi(path, spec, {"Melody": ["flute", 68], "Low": range(56, 64), "Perc": "drums"}, return_report=True)
    assert sorted(map(tuple, np.argwhere(roll).tolist())) == [(0, 2, 1), (0, 12, 2), (0, 17, 0), (0, 22, 0)]
    assert report.dropped == 0
    with pytest.raises(SpecError, match="no track named 'Lead'"):
        read_midi(path, spec, {"Lead": 73})
    with pytest.raises(SpecError, match="a selector must be"):
        read_midi(path, spec, {"Melody": [1.5]})


def test_single_track_spec_takes_every_pitched_instrument(tmp_path):
    path = make_midi(tmp_path / "x.mid", [("A", 0, 0, [(60, 0, 480)]), ("B", 1, 40, [(67, 0, 480)]), ("Kit", 9, 0, [(36, 0, 480)])])
    spec = PianorollSpec(1, 21, 108, [TrackSpec("Piano")])
    roll, report = read_midi(path, spec, return_report=True)
    assert roll[0, 60 - 21, 0] and roll[0, 67 - 21, 0] and roll.sum() == 2
    assert report.unmapped == 1  # drums never land on a pitched track by default


def test_quantisation_is_on_the_beat_grid_whatever_the_tempo(tmp_path):
    # 96 ticks per beat, 4 steps per beat: 24 ticks per step; a tempo change must not move notes.
    path = make_midi(
        tmp_path / "x.mid", [("P", 0, 0, [(60, 0, 23), (62, 50, 95), (64, 97, 192)])], ticks_per_beat=96, tempo_changes=[(48, 60), (100, 200)]
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
