import numpy as np
import pytest

from multinn import datasets
from multinn.data import PianorollDataset, PianorollSpec, TrackSpec, make_tf_dataset
from multinn.errors import DatasetError

SPEC = PianorollSpec(
    2, 40, 59, [TrackSpec("Keys"), TrackSpec("Kit", is_drum=True), TrackSpec("Bass", 33)], beats_per_bar=2
)


def toy(lengths=(7, 20, 3, 12), seed=0):
    rng = np.random.default_rng(seed)
    pieces = []
    for n in lengths:
        roll = np.zeros((n, 20, 3), bool)
        roll[:, 5:15][rng.random((n, 10, 3)) < 0.3] = True  # room to transpose by 5 either way
        pieces.append(roll)
    return PianorollDataset.from_rolls(pieces, SPEC)


def collect(tf_dataset):
    return [(x.numpy(), m.numpy()) for x, m in tf_dataset]


def test_whole_pieces_padded_with_mask():
    ds = toy()
    batches = collect(make_tf_dataset(ds, 2, shuffle=False))
    assert [x.shape for x, _ in batches] == [(2, 20, 20, 3), (2, 12, 20, 3)]
    for b, (x, mask) in enumerate(batches):
        assert x.dtype == np.float32 and mask.dtype == np.float32
        for j in range(2):
            piece = ds[2 * b + j]
            n = len(piece)
            np.testing.assert_array_equal(x[j, :n], piece)
            assert not x[j, n:].any()
            np.testing.assert_array_equal(mask[j], np.arange(x.shape[1]) < n)


@pytest.mark.parametrize("align, unit", [("step", 1), ("beat", 2), ("bar", 4)])
def test_crops_are_aligned_slices_and_short_pieces_are_padded(align, unit):
    ds = toy()
    crop = 4 * SPEC.steps_per_beat
    seen_starts = set()
    pipeline = make_tf_dataset(ds, 1, crop_beats=4, align=align, shuffle=False, seed=5)
    for _ in range(6):  # epochs draw new crops
        for i, (x, mask) in enumerate(collect(pipeline)):
            piece, x, mask = ds[i], x[0], mask[0]
            assert x.shape == (crop, 20, 3)
            starts = [
                s
                for s in range(0, max(len(piece) - crop, 0) + 1, unit)
                if np.array_equal(x[: min(crop, len(piece) - s)], piece[s : s + crop])
            ]
            assert starts, f"crop of piece {i} is not an aligned slice"
            valid = min(crop, len(piece) - starts[0])
            np.testing.assert_array_equal(mask, np.arange(crop) < valid)
            assert not x[valid:].any()
            if i == 1:
                seen_starts.add(starts[0])
    assert len(seen_starts) > 1  # crops of the long piece move


def test_transposition_moves_pitched_tracks_together_never_drums():
    ds = toy()
    shifts = set()
    pipeline = make_tf_dataset(ds, 1, transpose=5, shuffle=False, seed=0)
    for _ in range(8):
        for i, (x, _) in enumerate(collect(pipeline)):
            piece, x = ds[i], x[0, : len(ds[i])]
            np.testing.assert_array_equal(x[..., 1], piece[..., 1])  # drums untouched
            matches = [
                k for k in range(-5, 6) if np.array_equal(x[..., [0, 2]], np.roll(piece[..., [0, 2]], k, axis=1))
            ]
            assert len(matches) == 1
            shifts.add(matches[0])
    assert len(shifts) >= 6


def test_transposition_never_leaves_the_range():
    roll = np.zeros((6, 20, 3), bool)
    roll[0, 0, 0] = roll[1, 19, 2] = True  # lowest and highest pitch used: no shift is possible
    roll[2, 19, 1] = True
    ds = PianorollDataset.from_rolls([roll], SPEC)
    for x, _ in collect(make_tf_dataset(ds, 1, transpose=7, repeat=True, seed=0).take(10)):
        np.testing.assert_array_equal(x[0], roll)
    top = np.zeros((6, 20, 3), bool)
    top[:, 17, 0] = True  # can go up by at most 2
    ds = PianorollDataset.from_rolls([top], SPEC)
    examples = collect(make_tf_dataset(ds, 1, transpose=7, repeat=True, seed=0).take(60))
    found = {int(np.flatnonzero(x[0, 0, :, 0])[0]) - 17 for x, _ in examples}
    assert found <= set(range(-7, 3)) and 2 in found and -7 in found


def test_same_seed_same_batches_and_epochs_differ():
    ds = toy(lengths=(30, 25, 40, 33, 28))
    make = lambda seed: make_tf_dataset(ds, 2, crop_beats=3, transpose=4, seed=seed)  # noqa: E731
    first, again, other = make(11), make(11), make(12)
    epoch1 = collect(first)
    epoch2 = collect(first)
    for (a, ma), (b, mb) in zip(epoch1, collect(again), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ma, mb)
    for (a, _), (b, _) in zip(epoch2, collect(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(epoch1, epoch2, strict=True))
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(epoch1, collect(other), strict=True))


def test_repeat_and_drop_remainder():
    ds = toy()
    batches = collect(make_tf_dataset(ds, 3, crop_beats=2, repeat=True, drop_remainder=True, seed=0).take(5))
    assert [x.shape[0] for x, _ in batches] == [3] * 5


def test_bach_satb_batches(bach_satb_path):
    train = datasets.load("bach-satb", path=bach_satb_path)
    x, mask = next(iter(make_tf_dataset(train, 8, crop_beats=16, transpose=3, seed=0)))
    assert x.shape == (8, 64, 49, 4) and mask.shape == (8, 64)
    assert float(mask.numpy().sum()) == 8 * 64  # every chorale is longer than 16 beats
    assert 0 < float(x.numpy().sum()) <= 8 * 64 * 4  # at most one pitch per voice


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": 2, "crop_beats": -1}, "crop_beats must be a positive integer or None, got -1"),
        ({"batch_size": 2, "align": "phrase"}, "align must be one of"),
        ({"batch_size": 2, "transpose": -2}, "transpose must be an integer number of semitones"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(DatasetError, match=message):
        make_tf_dataset(toy(), **kwargs)


def test_empty_dataset():
    with pytest.raises(DatasetError, match="has no piece"):
        make_tf_dataset(PianorollDataset.from_rolls([], SPEC), 2)
