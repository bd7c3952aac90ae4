import json

import numpy as np
import pytest
import tensorflow as tf

from multinn.data import PianorollDataset, ShardedDataset, ShardWriter, make_tf_dataset, read_shard, write_shards
from multinn.errors import DatasetError, SpecError
from tests.data.pipeline_test import SPEC, collect, toy


def splits():
    """Train: 8 pieces, one empty (0 steps) and one silent (steps, no notes); valid: 2 pieces."""
    train = toy(lengths=(7, 20, 3, 12, 0, 9, 30, 5), seed=1)
    silent = PianorollDataset.from_rolls([np.zeros((6, 20, 3), bool)], SPEC, names=["silent"])
    rolls = [train[i] for i in range(8)]
    rolls[5] = silent[0]
    train = PianorollDataset.from_rolls(rolls, SPEC, names=[f"t{i}" for i in range(8)], name="toy", split="train")
    valid = PianorollDataset.from_rolls(list(toy(lengths=(4, 11), seed=2)), SPEC, name="toy", split="valid")
    return {"train": train, "valid": valid}


@pytest.fixture
def written(tmp_path):
    data = splits()
    return data, write_shards(data, tmp_path / "shards", max_shard_pieces=3)


def test_round_trip_is_exact(written, tmp_path):
    data, shards = written
    assert shards.splits == ("train", "valid") and shards.spec == SPEC and shards.name == "toy"
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "manifest.json",
        "train-00000-of-00003.npz",
        "train-00001-of-00003.npz",
        "train-00002-of-00003.npz",
        "valid-00000-of-00001.npz",
    ]
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    assert [s["pieces"] for s in train["shards"]] == [3, 3, 2]
    assert [s["empty"] for s in train["shards"]] == [0, 1, 0]  # piece 4 has 0 steps
    assert [s["frames"] for s in train["shards"]] == [7 + 20 + 3, 12 + 0 + 6, 30 + 5]
    assert [s["longest"] for s in train["shards"]] == [20, 12, 30]
    assert train["pieces"] == 8 and train["frames"] == 83 and train["notes"] == data["train"].num_notes
    assert len(shards["train"]) == 8 and shards["train"].num_frames == 83 and shards["train"].longest == 30
    for split, original in data.items():
        back = shards.load(split)
        assert back.names == original.names and back.split == split
        np.testing.assert_array_equal(back.lengths, original.lengths)
        np.testing.assert_array_equal(back.offsets, original.offsets)
        np.testing.assert_array_equal(back.coords, original.coords)
    # each shard is a PianorollDataset cache file, readable without the manifest
    second = PianorollDataset.load(tmp_path / "shards" / "train-00001-of-00003.npz")
    assert second.names == ["t3", "t4", "t5"] and second.spec == SPEC
    np.testing.assert_array_equal(second[0], data["train"][3])


def test_shard_size_in_bytes(tmp_path):
    # 5 pieces of 10 notes: 12 * 10 + 16 = 136 bytes each; a shard closes at >= 300 bytes, i.e. after 3
    rolls = []
    for _ in range(5):
        roll = np.zeros((10, 20, 3), bool)
        roll[np.arange(10), np.arange(10), 0] = True
        rolls.append(roll)
    shards = write_shards({"train": PianorollDataset.from_rolls(rolls, SPEC)}, tmp_path / "s", max_shard_bytes=300)
    assert [s["pieces"] for s in shards["train"].shards] == [3, 2]
    assert [s["notes"] for s in shards["train"].shards] == [30, 20]
    assert [p.name for p in shards["train"].files] == ["train-00000-of-00002.npz", "train-00001-of-00002.npz"]


@pytest.mark.parametrize(
    "kwargs", [{}, {"crop_beats": 2, "transpose": 3, "seed": 4}, {"crop_beats": 1, "align": "bar", "seed": 0}]
)
def test_stream_gives_the_examples_of_make_tf_dataset(written, kwargs):
    data, shards = written
    expected = collect(make_tf_dataset(data["train"], 2, shuffle=False, **kwargs))
    for pipeline in (
        shards.tf_dataset("train", 2, shuffle=False, **kwargs),
        make_tf_dataset(shards["train"], 2, shuffle=False, **kwargs),
    ):
        got = collect(pipeline)
        assert len(got) == len(expected) == 4  # 7 pieces with steps
        assert int(pipeline.cardinality()) == 4
        for (x, m), (y, n) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(m, n)


def test_shuffled_stream_covers_every_piece_once_per_epoch(written):
    data, shards = written
    key = lambda x, m: (int(m.sum()), x[: int(m.sum())].tobytes())  # noqa: E731
    expected = sorted(key(p.astype(np.float32), np.ones(len(p))) for p in data["train"] if len(p))
    pipeline = shards.tf_dataset("train", 1, seed=3, cycle_length=2, shuffle_buffer=4)
    epochs = [[key(x[0], m[0]) for x, m in collect(pipeline)] for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == expected
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled each epoch
    pipeline = shards.tf_dataset("train", 1, seed=3, cycle_length=2, shuffle_buffer=4)
    again = [key(x[0], m[0]) for x, m in collect(pipeline)]
    assert again == epochs[0]  # the same seed gives the same order


def test_head_max_pieces(written):
    data, shards = written
    head = shards["train"].head(5)  # pieces 0..4: the cut falls inside the second shard
    assert len(head) == 5 and len(head.shards) == 2
    assert head.num_frames == 7 + 20 + 3 + 12 + 0 and head.num_notes == int(data["train"].offsets[5])
    assert head.num_examples() == 4  # piece 4 has no step
    got = collect(head.tf_dataset(1, shuffle=False))
    assert len(got) == 4
    for (x, _), i in zip(got, [0, 1, 2, 3], strict=True):
        np.testing.assert_array_equal(x[0], data["train"][i])
    assert head.load().names == ["t0", "t1", "t2", "t3", "t4"]
    sample = shards["train"].load(max_frames=25)
    assert sample.names == ["t0", "t1"]  # 7 + 20 >= 25 frames
    seeded = shards["train"].load(max_frames=25, seed=0)
    assert seeded.num_frames >= 25 and set(seeded.names) <= set(data["train"].names)


def test_workers_read_disjoint_files_covering_the_split(written):
    data, shards = written
    train = shards["train"]
    files = [train.worker_files(2, i) for i in range(2)]
    assert [[f.name for f in w] for w in files] == [
        ["train-00000-of-00003.npz", "train-00002-of-00003.npz"],
        ["train-00001-of-00003.npz"],
    ]
    assert [train.num_examples(2, i) for i in range(2)] == [5, 2]
    owners = {0: [0, 1, 2, 6, 7], 1: [3, 5]}  # piece 4 has no step
    for index, pieces in owners.items():
        got = collect(train.tf_dataset(1, shuffle=False, num_shards=2, index=index))
        assert len(got) == len(pieces)
        for (x, _), i in zip(got, pieces, strict=True):
            np.testing.assert_array_equal(x[0], data["train"][i])
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    got = collect(train.tf_dataset(1, shuffle=False, input_context=context))
    np.testing.assert_array_equal(got[0][0][0], data["train"][3])
    shuffled = collect(train.tf_dataset(1, seed=0, num_shards=2, index=1))
    assert sorted(int(m.sum()) for _, m in shuffled) == [6, 12]
    with pytest.raises(DatasetError, match="has 1 shard file\\(s\\), fewer than the 2 input pipelines"):
        shards.tf_dataset("valid", 1, num_shards=2, index=0)
    with pytest.raises(DatasetError, match="index must be an integer in 0..1"):
        train.worker_files(2, 2)


def test_pad_to_longest(written):
    _, shards = written
    for x, mask in collect(shards.tf_dataset("train", 3, shuffle=False, pad_to_longest=True)):
        assert x.shape[1] == 30 and mask.shape[1] == 30
    with pytest.raises(DatasetError, match="pad_to_longest pads whole pieces"):
        shards.tf_dataset("train", 3, crop_beats=2, pad_to_longest=True)


def test_checksum_mismatch_names_the_file(written, tmp_path):
    _, shards = written
    path = tmp_path / "shards" / "train-00001-of-00003.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    reopened = ShardedDataset(tmp_path / "shards")  # sizes still match
    message = r"train-00001-of-00003.npz: SHA-256 \w+\.\.\. does not match \w+\.\.\. in manifest.json"
    with pytest.raises(DatasetError, match=message):
        reopened.verify()
    with pytest.raises(DatasetError, match="train-00001-of-00003.npz: SHA-256"):
        reopened.load("train")
    with pytest.raises(tf.errors.OpError, match="train-00001-of-00003.npz: SHA-256 .* does not match"):
        collect(reopened.tf_dataset("train", 2, shuffle=False))
    reopened.verify(["valid"])  # the other split is fine


def test_truncated_or_missing_shard_is_a_clear_error(written, tmp_path):
    _, shards = written
    path = tmp_path / "shards" / "train-00002-of-00003.npz"
    entry = shards["train"].shards[2]
    path.write_bytes(path.read_bytes()[:100])
    message = f"train-00002-of-00003.npz: 100 bytes, but manifest.json lists {entry['bytes']}: the shard is truncated"
    with pytest.raises(DatasetError, match=message):
        ShardedDataset(tmp_path / "shards")
    with pytest.raises(DatasetError, match=message):
        read_shard(path, entry)
    with pytest.raises(DatasetError, match="train-00002-of-00003.npz: not a readable shard"):
        read_shard(path)
    with pytest.raises(tf.errors.OpError, match=message):
        collect(shards.tf_dataset("train", 2, shuffle=False))  # opened before the damage
    path.unlink()
    with pytest.raises(DatasetError, match="train-00002-of-00003.npz: shard file listed in manifest.json is missing"):
        ShardedDataset(tmp_path / "shards" / "manifest.json")


def test_directory_rules_and_interrupted_writes(tmp_path):
    data = splits()
    with pytest.raises(DatasetError, match="no manifest.json"):
        ShardedDataset(tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="busy is not empty and holds no manifest.json"):
        write_shards(data, tmp_path / "busy")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), ShardWriter(out, SPEC, splits=("train",)) as writer:
        writer.add("train", np.array([[0, 1, 2]]), 4)
        raise RuntimeError("interrupted")
    assert list(out.iterdir()) == []  # no manifest, no staging folder, no shard
    write_shards(data, out, max_shard_pieces=3)
    with pytest.raises(DatasetError, match="already holds shards \\(manifest.json\\); pass overwrite=True"):
        write_shards(data, out)
    write_shards(data, out, max_shard_pieces=100, overwrite=True)
    expected = ["manifest.json", "train-00000-of-00001.npz", "valid-00000-of-00001.npz"]
    assert sorted(p.name for p in out.iterdir()) == expected
    assert ShardedDataset(out).load("train").names == data["train"].names


def test_bad_input(tmp_path):
    data = splits()
    with pytest.raises(SpecError, match="piece 'x' does not fit the spec"):
        with ShardWriter(tmp_path / "a", SPEC) as writer:
            writer.add("train", np.array([[5, 0, 0]]), 5, "x")  # time 5 of a 5-step piece
    assert list((tmp_path / "a").iterdir()) == []  # the staging folder is gone
    with pytest.raises(DatasetError, match="split names must be letters"):
        write_shards({"train/x": data["train"]}, tmp_path / "b")
    with pytest.raises(DatasetError, match="max_shard_bytes must be a positive integer"):
        write_shards(data, tmp_path / "c", max_shard_bytes=0)
    with pytest.raises(DatasetError, match="write_shards needs spec="):
        write_shards(iter([]), tmp_path / "d")
    shards = write_shards(data, tmp_path / "e")
    with pytest.raises(DatasetError, match="has no split 'test'; its splits are \\['train', 'valid'\\]"):
        shards["test"]
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    manifest["version"] = 99
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="shard manifest version 99 is not 1"):
        ShardedDataset(tmp_path / "e")
