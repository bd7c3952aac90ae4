import numpy as np
import pytest

from multinn.datasets import LPD5_SPEC, load
from multinn.datasets.lpd5 import SPLIT_FRACTIONS
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
        for name, roll in zip(ds.names, ds):
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
        for name, roll in zip(ds.names, ds):
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
