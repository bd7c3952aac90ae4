"""Real MIDI in: `multinn sample --primer/--fix-track` and `multinn data prepare` on files shaped
like the ones musicians have (a string quartet, unnamed parts), with the mapping table, `--map`,
`--out-of-range`, `--allow-drop`, and the input's tempo and time signature kept."""

import mido
import numpy as np

from multinn.data import read_midi
from multinn.presets import DEFAULT_PRESET, load_pretrained
from tests.cli.conftest import assert_user_error, invoke

# (name, program, pitches of 12 eighth notes): a string quartet in 3/4 at 72 bpm. The cello
# dips to G1 (31), below the default preset's range 36..84, twice.
QUARTET = [
    ("Violin I", 40, [76, 77, 79, 81, 79, 77, 76, 74, 72, 74, 76, 77]),
    ("Violin II", 40, [72, 72, 74, 74, 76, 74, 72, 71, 69, 71, 72, 74]),
    ("Viola", 41, [64, 65, 67, 65, 64, 62, 60, 62, 64, 65, 64, 62]),
    ("Cello", 42, [48, 43, 31, 45, 48, 43, 31, 41, 48, 43, 45, 47]),
]


def write_quartet(path, parts=QUARTET, names=True, tempo=72, time_signature=(3, 4)):
    """A type-1 file as notation programs write it: a conductor track, then one track per part."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)),
            mido.MetaMessage("time_signature", numerator=time_signature[0], denominator=time_signature[1]),
        ]
    )
    midi.tracks.append(conductor)
    for channel, (name, program, pitches) in enumerate(parts):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)] if names else [])
        track.append(mido.Message("program_change", channel=channel, program=program))
        for pitch in pitches:
            track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=80))
            track.append(mido.Message("note_off", channel=channel, note=pitch, time=240))
        midi.tracks.append(track)
    midi.save(path)
    return path


def test_a_string_quartet_primes_all_four_voices_and_keeps_its_tempo(tmp_path):
    quartet = write_quartet(tmp_path / "quartet.mid")
    out = tmp_path / "x.mid"
    result = invoke("sample", "--primer", quartet, "--beats", "4", "--seed", "0", "--out", out)
    assert result.exit_code == 0, result.output
    spec = load_pretrained(DEFAULT_PRESET).spec
    primer = read_midi(quartet, spec)
    written = read_midi(out, spec)
    assert len(written) == len(primer) + 16
    np.testing.assert_array_equal(written[: len(primer)], primer)  # the primer as read starts the output
    assert all(primer[..., k].any() for k in range(4))  # every voice sounds
    for name, track in zip(
        ("Violin I", "Violin II", "Viola", "Cello"), ("Soprano", "Alto", "Tenor", "Bass"), strict=True
    ):
        assert any(name in line and track in line and "pitch order" in line for line in result.stderr.splitlines())
    assert "46 of 48 notes kept (72 bpm, 3/4)" in result.stderr  # the table's title: 2 cello notes out of range
    midi = mido.MidiFile(out)
    metas = [m for m in midi.tracks[0] if m.is_meta]
    assert round(mido.tempo2bpm(next(m.tempo for m in metas if m.type == "set_tempo"))) == 72
    assert next((m.numerator, m.denominator) for m in metas if m.type == "time_signature") == (3, 4)

    again = invoke("sample", "--primer", quartet, "--beats", "4", "--seed", "0", "--tempo", "120", "--out", out)
    assert again.exit_code == 0, again.output
    metas = [m for m in mido.MidiFile(out).tracks[0] if m.type == "set_tempo"]
    assert round(mido.tempo2bpm(metas[0].tempo)) == 120  # --tempo wins


def test_map_fold_and_allow_drop(tmp_path):
    spec = load_pretrained(DEFAULT_PRESET).spec
    quartet = write_quartet(tmp_path / "quartet.mid")
    # --map moves the viola to the alto; the others fill the free voices by pitch order
    result = invoke(
        "sample",
        "--primer",
        quartet,
        "--map",
        "Viola=Alto",
        "--steps",
        "4",
        "--seed",
        "0",
        "--out-of-range",
        "fold",
        "--out",
        tmp_path / "m.mid",
    )
    assert result.exit_code == 0, result.output
    assert "48 of 48 notes kept" in result.stderr  # the cello's G1s folded to G2
    roll = read_midi(tmp_path / "m.mid", spec)
    viola = read_midi(quartet, spec, {"Alto": "Viola"}, auto=False)
    np.testing.assert_array_equal(roll[: len(viola), :, 1], viola[..., 1])
    assert roll[:, 43 - 36, 3].any()  # a folded G2 in the bass

    # a file that would lose most of its notes is refused unless --allow-drop
    low = write_quartet(tmp_path / "low.mid", [("Contrabass", 43, [24, 26, 28, 29, 31, 48])])
    assert_user_error(
        invoke("sample", "--primer", low, "--out", tmp_path / "l.mid"),
        "primer " + str(low) + ": 5 of 6 notes would be dropped",
    )
    assert not (tmp_path / "l.mid").exists()
    allowed = invoke("sample", "--primer", low, "--allow-drop", "--steps", "4", "--out", tmp_path / "l.mid")
    assert allowed.exit_code == 0, allowed.output


def test_fix_track_from_a_multi_part_file_and_from_a_melody(tmp_path):
    spec = load_pretrained(DEFAULT_PRESET).spec
    quartet = write_quartet(tmp_path / "quartet.mid", names=False)  # unnamed parts on programs 40-42
    result = invoke("sample", "--fix-track", f"Tenor={quartet}", "--seed", "1", "--out", tmp_path / "h.mid")
    assert result.exit_code == 0, result.output
    expected = read_midi(quartet, spec)[..., 2]  # the viola: third in pitch order
    out = read_midi(tmp_path / "h.mid", spec)
    np.testing.assert_array_equal(out[: len(expected), :, 2], expected)
    assert out[: len(expected), :, 2].any()

    melody = write_quartet(tmp_path / "melody.mid", QUARTET[:1])  # one part: the fixed track, whatever its name
    result = invoke("sample", "--fix-track", f"Bass={melody}", "--seed", "1", "--out", tmp_path / "b.mid")
    assert result.exit_code == 0, result.output
    out = read_midi(tmp_path / "b.mid", spec)
    assert sorted({p + 36 for p in np.flatnonzero(out[:, :, 3].any(axis=0))}) == sorted(set(QUARTET[0][2]))

    duo = write_quartet(tmp_path / "duo.mid", [QUARTET[0], QUARTET[3]])  # two parts spread to Soprano and Bass
    assert_user_error(
        invoke("sample", "--fix-track", f"Alto={duo}", "--out", tmp_path / "d.mid"),
        "no part of the file lands on Alto (Violin I -> Soprano; Cello -> Bass); choose one with --map 'PART=Alto'",
    )


def test_data_prepare_shows_where_the_parts_went_and_takes_map(tmp_path):
    folder = tmp_path / "quartets"
    for split in ("train", "valid", "test"):
        (folder / split).mkdir(parents=True)
        write_quartet(folder / split / "q.mid")
    result = invoke("data", "prepare", folder, "--spec", "bach-satb")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("Soprano" in line and "pitch order" in line and " 3 " in line for line in lines), result.stdout
    mapped = invoke(
        "data",
        "prepare",
        folder,
        "--spec",
        "bach-satb",
        "--map",
        "Cello=Tenor",
        "--map",
        "Viola=Bass",
        "--out",
        tmp_path / "out",
    )
    assert mapped.exit_code == 0, mapped.output
    assert any(line.lstrip("│ ").startswith("Tenor") and "mapping" in line for line in mapped.stdout.splitlines())
