import mido
import numpy as np
import pypianoroll
import pytest

from multinn.data import read_midi, write_midi
from multinn.presets import DEFAULT_PRESET, load_pretrained
from tests.cli.conftest import assert_user_error, invoke, write_one_instrument

SATB = ["Soprano", "Alto", "Tenor", "Bass"]


def test_default_sample_is_a_deterministic_four_track_midi(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--help")
    first = invoke("sample", "--seed", "0")  # no options: the default preset, sample.mid, 16 bars
    assert first.exit_code == 0, first.output
    assert "wrote sample.mid" in first.stdout
    data = (tmp_path / "sample.mid").read_bytes()

    midi = mido.MidiFile(tmp_path / "sample.mid")
    names = [msg.name for track in midi.tracks for msg in track if msg.type == "track_name"]
    assert names == SATB
    assert sum(msg.type == "note_on" and msg.velocity > 0 for track in midi.tracks for msg in track) > 20
    multitrack = pypianoroll.read(tmp_path / "sample.mid")
    assert [t.name for t in multitrack.tracks] == SATB
    assert all(t.pianoroll.any() for t in multitrack.tracks)

    spec = load_pretrained(DEFAULT_PRESET).spec
    roll = read_midi(tmp_path / "sample.mid", spec)
    assert roll.shape == (16 * spec.steps_per_bar, 49, 4)

    again = invoke("sample", "--seed", "0", "--out", tmp_path / "again.mid")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.mid").read_bytes() == data  # the same seed writes the same file
    assert result.exit_code == 0


def test_num_beats_plot_and_a_random_seed(tmp_path):
    result = invoke(
        "sample",
        "--preset",
        DEFAULT_PRESET,
        "--num",
        "2",
        "--beats",
        "8",
        "--out",
        tmp_path / "s.mid",
        "--plot",
        tmp_path / "s.png",
        "--temperature",
        "0.8",
        "--tempo",
        "120",
    )
    assert result.exit_code == 0, result.output
    assert "seed " in result.stderr  # the seed drawn is printed so it can be reused
    for i in (1, 2):
        assert mido.MidiFile(tmp_path / f"s-{i}.mid").length == pytest.approx(8 * 60 / 120)  # 8 beats (may be silent)
        assert (tmp_path / f"s-{i}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "s.mid").exists()


def test_primer_and_fixed_tracks(tmp_path, chorale_midi):
    path, piece = chorale_midi
    spec = load_pretrained(DEFAULT_PRESET).spec
    primer = tmp_path / "primer.mid"
    write_midi(piece[:16], primer, spec)
    result = invoke("sample", "--primer", primer, "--steps", "16", "--seed", "3", "--out", tmp_path / "cont.mid")
    assert result.exit_code == 0, result.output
    out = read_midi(tmp_path / "cont.mid", spec)
    assert out.shape[0] == 32
    np.testing.assert_array_equal(out[:16], piece[:16])  # the primer comes back unchanged

    # accompaniment: the soprano of a 4-track file is kept, the other voices are generated;
    # without --steps the result is as long as the fixed track
    result = invoke("sample", "--fix-track", f"soprano={path}", "--seed", "3", "--out", tmp_path / "harm.mid")
    assert result.exit_code == 0, result.output
    out = read_midi(tmp_path / "harm.mid", spec)
    assert out.shape[0] == len(piece)
    np.testing.assert_array_equal(out[..., 0], piece[..., 0])

    # a one-instrument file (any track name) is taken as the fixed track; it is padded to the length asked
    melody = write_one_instrument(tmp_path / "melody.mid", [(72, 0, 4), (74, 4, 4), (76, 8, 8)])
    result = invoke(
        "sample", "--fix-track", f"Bass={melody}", "--steps", "24", "--seed", "3", "--out", tmp_path / "m.mid"
    )
    assert result.exit_code == 0, result.output
    assert "fixed track Bass (16 steps) padded with silence to 24 steps" in result.stderr
    out = read_midi(tmp_path / "m.mid", spec)
    assert out.shape[0] == 24
    assert np.flatnonzero(out[:, :, 3].any(axis=0)).tolist() == [72 - 36, 74 - 36, 76 - 36]
    assert not out[16:, :, 3].any()


def test_infill_rewrites_the_bars_asked_and_keeps_the_rest(tmp_path, chorale_midi):
    path, piece = chorale_midi
    spec = load_pretrained(DEFAULT_PRESET).spec
    bar = spec.steps_per_bar
    out_path = tmp_path / "infilled.mid"
    result = invoke(
        "sample", "--primer", path, "--infill", "2:3", "--candidates", "4", "--seed", "1", "--out", out_path
    )
    assert result.exit_code == 0, result.output
    out = read_midi(out_path, spec)
    assert out.shape == piece.shape
    np.testing.assert_array_equal(out[:bar], piece[:bar])  # bar 1
    np.testing.assert_array_equal(out[3 * bar :], piece[3 * bar :])  # bars 4 on
    assert not np.array_equal(out[bar : 3 * bar], piece[bar : 3 * bar])  # bars 2-3 are new
    # Only the alto and tenor of bar 2: soprano and bass come back everywhere.
    result = invoke(
        "sample", "--primer", path, "--infill", "2", "--infill-tracks", "Alto,Tenor", "--seed", "2", "--out", out_path
    )
    assert result.exit_code == 0, result.output
    out = read_midi(out_path, spec)
    np.testing.assert_array_equal(out[..., [0, 3]], piece[..., [0, 3]])
    np.testing.assert_array_equal(out[2 * bar :], piece[2 * bar :])
    assert_user_error(invoke("sample", "--infill", "2:3"), "--infill regenerates bars of a --primer file")
    assert_user_error(invoke("sample", "--primer", path, "--infill", "2:3", "--beats", "4"), "drop --steps/--beats")
    beyond = invoke("sample", "--primer", path, "--infill", "900:901")  # after the primer's table
    assert beyond.exit_code == 2 and beyond.stderr.strip().splitlines()[-1].startswith("Error: --infill 900:901: the")
    assert_user_error(
        invoke("sample", "--primer", path, "--infill", "2", "--infill-tracks", "Viola"), "no track named 'Viola'"
    )
    bad = invoke("sample", "--primer", path, "--infill", "3:2")
    assert bad.exit_code == 2 and "expected bars 1 <= FIRST <= LAST" in bad.output


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, chorale_midi):
    path, _ = chorale_midi
    assert_user_error(invoke("sample", "--preset", "bach-satb-compser"), "did you mean 'bach-satb-composer'")
    assert_user_error(invoke("sample", "--model", tmp_path / "nothing"), "no such preset directory")
    assert_user_error(invoke("sample", "--primer", tmp_path / "absent.mid"), "absent.mid: no such file")
    assert_user_error(invoke("sample", "--fix-track", f"Alto={tmp_path / 'absent.mid'}"), "absent.mid: no such file")
    text = tmp_path / "notes.mid"
    text.write_text("not a MIDI file")
    assert_user_error(invoke("sample", "--primer", text), "not a MIDI file (no 'MThd' header)")
    piano = write_one_instrument(tmp_path / "piano.mid", [(60, 0, 4)], program=0, name="Piano")
    drums = tmp_path / "drums.mid"
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name="Kit"),
                mido.Message("note_on", channel=9, note=36, velocity=90),
                mido.Message("note_off", channel=9, note=36, time=480),
            ]
        )
    )
    midi.save(drums)
    assert_user_error(
        invoke("sample", "--primer", drums),
        "drums.mid: all 1 notes dropped: 1 notes of 1 part(s) map to no track ('Kit', drums, channel 10: 1 notes)",
    )
    high = write_one_instrument(tmp_path / "high.mid", [(100, 0, 4)], program=52, name="Soprano")
    for args in (["--primer", high], ["--fix-track", f"Soprano={high}"]):
        assert_user_error(invoke("sample", *args), "1 notes lie outside the spec's pitch range 36..84")
    half = write_one_instrument(tmp_path / "half.mid", [(100, 0, 4), (101, 4, 4), (60, 8, 4)], program=52)
    assert_user_error(invoke("sample", "--primer", half), "primer " + str(half) + ": 2 of 3 notes would be dropped")
    assert_user_error(
        invoke("sample", "--fix-track", f"Drums={path}"),
        "no track named 'Drums'; the tracks are ['Soprano', 'Alto', 'Tenor', 'Bass']",
    )
    assert_user_error(
        invoke("sample", "--fix-track", f"Soprano={piano}", "--preset", "jsb-chorales-rnn-nade"),
        "no track named 'Soprano'; the tracks are ['Chorale']",
    )
    assert_user_error(invoke("sample", "--primer", piano, "--map", "Piano"), "mapping 'Piano': expected SELECTOR=TRACK")
    assert_user_error(invoke("sample", "--primer", piano, "--map", "Piano=Lead"), "no track named 'Lead'")
    assert_user_error(invoke("sample", "--steps", "4", "--beats", "1"), "give --steps or --beats, not both")
    assert_user_error(
        invoke("sample", "--preset", DEFAULT_PRESET, "--model", tmp_path), "give --preset or --model, not both"
    )
    assert not list(tmp_path.glob("sample*.mid"))


@pytest.mark.parametrize("args", [["--fix-track", "Soprano"], ["--num", "0"]])
def test_malformed_options_are_usage_errors(args):
    result = invoke("sample", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
