import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from multinn.data import write_shards
from multinn.datasets import LPD5_SPEC, load, read_lpd5
from multinn.datasets.lpd5 import SPLIT_FRACTIONS, stream_lpd5
from multinn.errors import DatasetError, SpecError


def write_lpd5(path, dense, shuffle_order=False):
    nonzero = np.array(np.nonzero(dense))
    if shuffle_order:
        nonzero = nonzero[:, np.random.default_rng(0).permutation(nonzero.shape[1])]
    np.savez_compressed(path, nonzero=nonzero, shape=np.array(dense.shape))
    return path


def dense_phrases(n=20, bars=2, steps=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, bars, steps, 84, 5)) < 0.02


@pytest.mark.parametrize("shuffle_order", [False, True])
def test_five_dimensional_phrases(tmp_path, shuffle_order):
    dense = dense_phrases()
    path = write_lpd5(tmp_path / "train_x_lpd_5_phr.npz", dense, shuffle_order)
    splits = load("lpd5", split=None, path=path)
    assert {s: len(d) for s, d in splits.items()} == {"train": 16, "valid": 2, "test": 2}
    assert sum(round(f * 20) for f in SPLIT_FRACTIONS.values()) == 20
    seen = []
    for split, ds in splits.items():
        assert ds.spec == LPD5_SPEC and ds.split == split
        for name, roll in zip(ds.names, ds, strict=True):
            index = int(name.split("/")[1])
            seen.append(index)
            assert roll.shape == (96, 84, 5)
            np.testing.assert_array_equal(roll, dense[index].reshape(96, 84, 5))
    assert sorted(seen) == list(range(20))
    again = load("lpd5", split="valid", path=path, cache=False)
    assert again.names == splits["valid"].names  # the split is fixed


def test_four_dimensional_and_empty_pieces(tmp_path):
    dense = np.zeros((10, 64, 84, 5), bool)
    dense[3, 5, 10, 0] = dense[7, 63, 83, 4] = True
    splits = load("lpd5", split=None, path=write_lpd5(tmp_path / "x.npz", dense))
    total = sum(d.num_notes for d in splits.values())
    assert total == 2
    for ds in splits.values():
        for name, roll in zip(ds.names, ds, strict=True):
            np.testing.assert_array_equal(roll, dense[int(name.split("/")[1])])


def test_bad_lpd5_files(tmp_path):
    np.savez(tmp_path / "wrong_keys.npz", data=np.zeros(3))
    with pytest.raises(DatasetError, match=r"wrong_keys.npz: expected arrays 'nonzero' and 'shape', found \['data'\]"):
        load("lpd5", path=tmp_path / "wrong_keys.npz")
    write_lpd5(tmp_path / "pitches.npz", np.zeros((2, 8, 128, 5), bool))
    with pytest.raises(SpecError, match="has 128 pitches and 5 tracks, but the spec expects 84 pitches and 5 tracks"):
        load("lpd5", path=tmp_path / "pitches.npz")
    np.savez(tmp_path / "outside.npz", nonzero=np.array([[0], [9], [0], [0]]), shape=np.array([1, 8, 84, 5]))
    with pytest.raises(DatasetError, match="coordinates outside the shape"):
        load("lpd5", path=tmp_path / "outside.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="text.npz: not a readable LPD-5 npz file"):
        load("lpd5", path=tmp_path / "text.npz")


# ------------------------------------------------------------------ streaming reader
def streamed(path, **kwargs):
    """`stream_lpd5` grouped like `read_lpd5`: {split: [(name, coords, length)]}."""
    out = {}
    for split, name, coords, length in stream_lpd5(path, **kwargs):
        out.setdefault(split, []).append((name, coords, length))
    return out


def assert_same_as_read_lpd5(path, **kwargs):
    expected = read_lpd5(path)
    got = streamed(path, **kwargs)
    assert sorted(got) == sorted(expected) == ["test", "train", "valid"]
    for split, ds in expected.items():
        assert [name for name, _, _ in got[split]] == ds.names
        for i, (_, coords, length) in enumerate(got[split]):
            assert length == ds.lengths[i] and coords.dtype == np.int32
            np.testing.assert_array_equal(coords, ds.coords[ds.offsets[i] : ds.offsets[i + 1]])


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
@pytest.mark.parametrize("layout", ["phrases-compressed", "phrases-stored", "songs", "fortran"])
def test_stream_lpd5_equals_read_lpd5(tmp_path, layout, chunk_size):
    if layout == "songs":
        dense = np.random.default_rng(1).random((23, 40, 84, 5)) < 0.02
    else:
        dense = dense_phrases(n=23, seed=3)
    dense[[0, 4, 5, 22]] = False  # pieces without notes: first, two in a row, last
    nonzero = np.array(np.nonzero(dense))
    path = tmp_path / "lpd5.npz"
    if layout == "phrases-stored":
        np.savez(path, nonzero=nonzero, shape=np.array(dense.shape))
    elif layout == "fortran":  # the ndim values of each cell adjacent in the file
        np.savez(path, nonzero=np.asfortranarray(nonzero), shape=np.array(dense.shape))
    else:
        np.savez_compressed(path, nonzero=nonzero, shape=np.array(dense.shape))
    stream = stream_lpd5(path, chunk_size=chunk_size)
    assert len(stream) == 23 and stream.num_notes == nonzero.shape[1]
    assert stream.piece_length == (96 if layout != "songs" else 40)
    assert_same_as_read_lpd5(path, chunk_size=chunk_size)


def test_stream_lpd5_into_shards_equals_read_lpd5(tmp_path):
    path = write_lpd5(tmp_path / "lpd5.npz", dense_phrases(n=30, seed=4))
    shards = write_shards(stream_lpd5(path, chunk_size=100), tmp_path / "shards", name="lpd5", max_shard_bytes=4096)
    assert shards.name == "lpd5" and shards.spec == LPD5_SPEC and shards.splits == ("train", "valid", "test")
    assert len(shards["train"].shards) > 3  # ~390 notes per phrase, ~4.7 KB: about one piece per shard
    for split, ds in read_lpd5(path).items():
        back = shards.load(split)
        assert back.names == ds.names
        np.testing.assert_array_equal(back.coords, ds.coords)
        np.testing.assert_array_equal(back.lengths, ds.lengths)


def test_stream_lpd5_memory_is_bounded(tmp_path):
    # 2,000,000 coordinates in 4 int64 rows: 64 MB of 'nonzero', never held whole by the stream
    n, notes = 2000, 1000
    piece = np.repeat(np.arange(n), notes)
    rng = np.random.default_rng(0)
    columns = [rng.integers(0, high, n * notes) for high in (64, 84, 5)]
    nonzero = np.stack([piece, *columns])
    np.savez(tmp_path / "big.npz", nonzero=nonzero, shape=np.array([n, 64, 84, 5]))
    size = nonzero.nbytes
    del nonzero, piece
    tracemalloc.start()
    try:
        count = sum(len(coords) for _, _, coords, _ in stream_lpd5(tmp_path / "big.npz", chunk_size=1 << 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n * notes
    assert peak < 0.4 * size, f"peak {peak / 2**20:.1f} MiB for {size / 2**20:.0f} MiB of coordinates"


def test_stream_lpd5_errors(tmp_path):
    dense = dense_phrases(n=6)
    write_lpd5(tmp_path / "shuffled.npz", dense, shuffle_order=True)
    with pytest.raises(DatasetError, match="not sorted by piece .* read the file whole with read_lpd5"):
        list(stream_lpd5(tmp_path / "shuffled.npz"))
    np.savez(tmp_path / "outside.npz", nonzero=np.array([[0], [9], [0], [0]]), shape=np.array([1, 8, 84, 5]))
    with pytest.raises(DatasetError, match="coordinates outside the shape"):
        list(stream_lpd5(tmp_path / "outside.npz"))
    # a member whose header promises more coordinates than it holds
    nonzero = np.array(np.nonzero(dense))
    header = io.BytesIO()
    promised = {"descr": "<i8", "fortran_order": False, "shape": (5, nonzero.shape[1] + 10)}
    np.lib.format.write_array_header_1_0(header, promised)
    with zipfile.ZipFile(tmp_path / "truncated.npz", "w") as zf:
        zf.writestr("nonzero.npy", header.getvalue() + nonzero.astype("<i8").tobytes())
        with zf.open("shape.npy", "w") as f:
            np.lib.format.write_array(f, np.array(dense.shape))
    with pytest.raises(DatasetError, match="truncated.npz: 'nonzero' ends early: the file is truncated"):
        list(stream_lpd5(tmp_path / "truncated.npz"))
    np.savez(tmp_path / "wrong_keys.npz", data=np.zeros(3))
    with pytest.raises(DatasetError, match=r"wrong_keys.npz: expected arrays 'nonzero' and 'shape', found \['data'\]"):
        stream_lpd5(tmp_path / "wrong_keys.npz")
    write_lpd5(tmp_path / "pitches.npz", np.zeros((2, 8, 128, 5), bool))
    with pytest.raises(SpecError, match="has 128 pitches and 5 tracks, but the spec expects 84 pitches and 5 tracks"):
        stream_lpd5(tmp_path / "pitches.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="text.npz: not a readable LPD-5 npz file"):
        stream_lpd5(tmp_path / "text.npz")
    with pytest.raises(DatasetError, match="missing.npz: no such file"):
        stream_lpd5(tmp_path / "missing.npz")
