import numpy as np
import pytest

from multinn.data import PianorollDataset, PianorollSpec, TrackSpec
from multinn.errors import DatasetError, SpecError

SPEC = PianorollSpec(2, 60, 71, [TrackSpec("A"), TrackSpec("B", 33)])


def rolls():
    rng = np.random.default_rng(7)
    return [rng.random((n, 12, 2)) < 0.2 for n in (5, 9, 1, 16)]


def test_from_rolls_round_trips_every_piece():
    pieces = rolls()
    ds = PianorollDataset.from_rolls(pieces, SPEC, name="toy", split="train")
    assert len(ds) == 4
    assert ds.num_frames == 31
    assert ds.num_notes == sum(int(p.sum()) for p in pieces)
    for got, want in zip(ds, pieces, strict=True):
        assert got.dtype == bool
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ds[-1], pieces[-1])
    with pytest.raises(IndexError, match="piece index 4 out of range for 4 pieces"):
        ds[4]
    sub = ds[1:3]
    assert len(sub) == 2 and sub.names == ["train/1", "train/2"]
    np.testing.assert_array_equal(sub[0], pieces[1])
    reordered = ds.subset([3, 0])
    np.testing.assert_array_equal(reordered[0], pieces[3])
    np.testing.assert_array_equal(reordered[1], pieces[0])
    assert "toy/train: 4 pieces, 31 frames" in repr(ds)


def test_save_load_round_trip(tmp_path):
    ds = PianorollDataset.from_rolls(
        rolls(), SPEC, names=list("wxyz"), name="toy", split="valid", metadata={"skipped": [["q.mid", "bad"]]}
    )
    ds.save(tmp_path / "toy.npz", key="abc")
    back = PianorollDataset.load(tmp_path / "toy.npz")
    assert back.spec == SPEC and back.names == list("wxyz") and back.split == "valid" and back.name == "toy"
    assert back.metadata == {"skipped": [["q.mid", "bad"]]}
    assert PianorollDataset.read_header(tmp_path / "toy.npz")["key"] == "abc"
    for a, b in zip(ds, back, strict=True):
        np.testing.assert_array_equal(a, b)


def test_damaged_cache_is_a_clear_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="bad.npz: not a readable multinn dataset cache"):
        PianorollDataset.load(tmp_path / "bad.npz")
    assert PianorollDataset.read_header(tmp_path / "bad.npz") == {}


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    ds = PianorollDataset.from_rolls(rolls(), SPEC)
    ds.save(tmp_path / "c.npz", key="old")
    before = (tmp_path / "c.npz").read_bytes()

    def crash(file, **arrays):
        file.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        ds.save(tmp_path / "c.npz", key="new")
    assert (tmp_path / "c.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_pieces_must_fit_the_spec():
    with pytest.raises(SpecError, match="piece 1 has 13 pitches"):
        PianorollDataset.from_rolls([np.zeros((3, 12, 2)), np.zeros((3, 13, 2))], SPEC)
    with pytest.raises(SpecError, match="piece 'piece/0' does not fit the spec"):
        PianorollDataset(np.array([[0, 12, 0]]), [0, 1], [4], SPEC)
    with pytest.raises(SpecError, match="does not fit the spec"):
        PianorollDataset(np.array([[4, 0, 0]]), [0, 1], [4], SPEC)
    with pytest.raises(DatasetError, match="offsets do not partition"):
        PianorollDataset(np.array([[0, 0, 0]]), [0, 2], [4], SPEC)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os

    PianorollDataset.from_rolls(rolls(), SPEC).save(tmp_path / "c.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == 0o666 & ~mask
