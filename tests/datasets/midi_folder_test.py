import numpy as np
import pytest

from multinn.data import PianorollSpec, TrackSpec, write_midi
from multinn.datasets import LPD5_SPEC, load
from multinn.datasets.midi_folder import split_files
from multinn.errors import DatasetError

SPEC = PianorollSpec(4, 48, 72, [TrackSpec("Lead", 81), TrackSpec("Bass", 33)])


def roll(seed, steps=16):
    return np.random.default_rng(seed).random((steps, 25, 2)) < 0.1


def test_folder_with_bad_files_loads_the_good_ones_and_reports_the_bad(tmp_path):
    folder = tmp_path / "songs"
    (folder / "sub").mkdir(parents=True)
    originals = {}
    for i in range(12):
        name = f"sub/song{i}.MID" if i % 3 == 0 else f"song{i}.mid"
        originals[name] = roll(i)
        write_midi(originals[name], folder / name, SPEC)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00")
    (folder / "empty.midi").write_bytes(b"")
    (folder / "notes.txt").write_text("not a MIDI file and not picked up")
    with pytest.warns(
        UserWarning,
        match=r"skipped 2 unreadable file\(s\) in .*songs: broken.mid: corrupt or truncated .*; "
        r"empty.midi: file is empty",
    ):
        splits = load("midi-folder", split=None, path=folder, spec=SPEC)
    names = sorted(n for ds in splits.values() for n in ds.names)
    assert names == sorted(originals)
    for ds in splits.values():
        assert ds.metadata["skipped"] == [
            ["broken.mid", "corrupt or truncated MIDI file (file is truncated)"],
            ["empty.midi", "file is empty"],
        ]
        for name, piece in zip(ds.names, ds, strict=True):
            np.testing.assert_array_equal(piece, originals[name])
    assert len(splits["train"]) >= 6  # about 80 % by name hash
    with pytest.warns(UserWarning, match="skipped 2"):  # the report survives the cache
        load("midi-folder", split="train", path=folder, spec=SPEC)


def test_hash_split_is_stable_when_files_are_added(tmp_path):
    for i in range(30):
        write_midi(roll(i, 4), tmp_path / f"{i}.mid", SPEC)
    before = split_files(tmp_path)
    write_midi(roll(99, 4), tmp_path / "new.mid", SPEC)
    after = split_files(tmp_path)
    for split in before:
        assert set(before[split]) <= set(after[split])
    assert {len(v) for v in before.values()} != {0}


def test_subfolders_give_the_split(tmp_path):
    for split, count in (("train", 3), ("valid", 1), ("test", 2)):
        (tmp_path / split).mkdir()
        for i in range(count):
            write_midi(roll(i), tmp_path / split / f"{i}.mid", SPEC)
    splits = load("midi-folder", split=None, path=tmp_path, spec=SPEC)
    assert {s: len(d) for s, d in splits.items()} == {"train": 3, "valid": 1, "test": 2}


def test_default_lpd5_mapping_sends_unknown_instruments_to_strings(tmp_path):
    spec = PianorollSpec(12, 24, 107, [TrackSpec("Flute", 73), TrackSpec("Piano", 0)])
    r = np.zeros((24, 84, 2), bool)
    r[:12, 40, 0] = r[12:, 50, 1] = True
    for i in range(3):
        write_midi(r, tmp_path / f"{i}.mid", spec)
    pieces = [p for ds in load("midi-folder", split=None, path=tmp_path).values() for p in ds]
    assert len(pieces) == 3
    for piece in pieces:
        assert piece.shape == (24, 84, 5)
        assert piece[:12, 40, LPD5_SPEC.track_index("Strings")].all()
        assert piece[12:, 50, LPD5_SPEC.track_index("Piano")].all()
        assert piece.sum() == 24


def test_mapping_options_and_errors(tmp_path):
    write_midi(roll(0), tmp_path / "a.mid", SPEC)
    solo = PianorollSpec(4, 48, 72, [TrackSpec("Melody")])
    ds = load("midi-folder", split=None, path=tmp_path, spec=solo, mapping={"Melody": "lead"})
    (piece,) = [p for d in ds.values() for p in d]
    np.testing.assert_array_equal(piece[..., 0], roll(0)[..., 0])
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="train: no .mid or .midi files found"):
        load("midi-folder", path=tmp_path / "train")
    (tmp_path / "train" / "x.mid").write_text("nope")
    with pytest.raises(DatasetError, match=r"none of the 1 MIDI files could be read \(x.mid: not a MIDI file"):
        load("midi-folder", path=tmp_path, spec=SPEC)
