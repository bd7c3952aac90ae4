import json

import numpy as np

from multinn import datasets
from multinn.data import PianorollDataset, ShardedDataset, write_midi
from tests.cli.conftest import assert_user_error, invoke


def test_data_prepare_reports_splits_and_skipped_files(tmp_path, bach_satb_path):
    test = datasets.load("bach-satb", split="test", path=bach_satb_path)
    folder = tmp_path / "midi"
    for split, pieces in (("train", range(3)), ("valid", [3]), ("test", [4])):
        for i in pieces:
            write_midi(test[i], folder / split / f"chorale{i}.mid", test.spec)
    (folder / "train" / "broken.mid").write_bytes(b"MThd\x00\x00")
    (folder / "train" / "empty.mid").write_bytes(b"")
    result = invoke("data", "prepare", folder, "--spec", "bach-satb", "--out", tmp_path / "prepared")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "5 MIDI files, 2 skipped" not in out  # 7 files, 2 of them skipped
    assert "7 MIDI files, 2 skipped" in out
    assert "broken.mid" in out and "corrupt or truncated" in out and "empty.mid" in out and "file is empty" in out
    assert "multinn train --data midi-folder --data-file" in out
    train = PianorollDataset.load(tmp_path / "prepared" / "train.npz")
    assert len(train) == 3 and train.spec == test.spec
    np.testing.assert_array_equal(train[0], test[0])
    assert (tmp_path / "prepared" / "spec.json").is_file()


def test_data_info(bach_satb_path):
    result = invoke("data", "info", "bach-satb", "--data-file", bach_satb_path)
    assert result.exit_code == 0, result.output
    assert "229" in result.stdout and "76" in result.stdout and "77" in result.stdout
    assert "Soprano" in result.stdout and "pitches 36..84" in result.stdout


def test_data_user_errors(tmp_path):
    assert_user_error(invoke("data", "prepare", tmp_path / "none"), "not a folder")
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke("data", "prepare", tmp_path / "empty"), "no .mid or .midi files found")
    assert_user_error(
        invoke("data", "prepare", tmp_path / "empty", "--spec", tmp_path / "spec.json"), "cannot read spec file"
    )
    assert_user_error(invoke("data", "info", "jsb-chorale", "--data-file", tmp_path), "did you mean 'jsb-chorales'")


def synthetic_lpd5(path, n=20, seed=0):
    """A small LPD-5 phrase file ([n, 2 bars, 48, 84, 5], 2% of cells on) as MuseGAN writes it."""
    dense = np.random.default_rng(seed).random((n, 2, 48, 84, 5)) < 0.02
    np.savez_compressed(path, nonzero=np.array(np.nonzero(dense)), shape=np.array(dense.shape))
    return path


def test_prepare_lpd5_shards_then_train_and_evaluate(tmp_path):
    source = synthetic_lpd5(tmp_path / "lpd5.npz")
    shards = tmp_path / "shards"
    result = invoke("data", "prepare", source, "--data", "lpd5", "--shards", shards, "--shard-size", "4pieces")
    assert result.exit_code == 0, result.output
    assert "train with: multinn train --data shards --data-file" in result.stdout
    manifest = json.loads((shards / "manifest.json").read_text())
    assert list(manifest["splits"]) == ["train", "valid", "test"]
    assert [info["pieces"] for info in manifest["splits"].values()] == [16, 2, 2]
    assert [len(info["shards"]) for info in manifest["splits"].values()] == [4, 1, 1]
    assert manifest["splits"]["train"]["frames"] == 16 * 96
    assert manifest["metadata"]["source_shape"] == [20, 2, 48, 84, 5]
    expected = datasets.load("lpd5", split="test", path=source, cache=False)
    back = ShardedDataset(shards).load("test")
    assert back.names == expected.names
    np.testing.assert_array_equal(back.coords, expected.coords)
    assert not any((tmp_path / "multinn_home").glob("datasets/*"))  # streamed: nothing cached

    again = invoke("data", "prepare", source, "--data", "lpd5", "--shards", shards)
    assert_user_error(again, "already holds shards (manifest.json); pass overwrite=True (--overwrite)")
    info = invoke("data", "info", "shards", "--data-file", shards)
    assert info.exit_code == 0 and "shard files" in info.stdout and "Drums" in info.stdout

    out = tmp_path / "run"
    trained = invoke(
        "train",
        "--data",
        "shards",
        "--data-file",
        shards,
        "--rnn-units",
        "4",
        "--num-hidden",
        "4",
        "--batch-size",
        "8",
        "--crop-beats",
        "4",
        "--epochs",
        "1",
        "--sample-every",
        "0",
        "--out",
        out,
    )
    assert trained.exit_code == 0, trained.output
    assert "shards: 16 train / 2 valid pieces" in trained.stderr
    state = json.loads((out / "state.json").read_text())
    assert state["completed_epochs"] == 1 and np.isfinite(state["history"]["val_nll"][0])
    recorded = state["metrics"]["test"]["nll"]
    # the test NLL computed from the streamed shards equals the in-memory evaluation of the same pieces
    report = tmp_path / "m.json"
    evaluated = invoke("evaluate", "--model", out, "--data", "lpd5", "--data-file", source, "--json", report)
    assert evaluated.exit_code == 0, evaluated.output
    assert abs(json.loads(report.read_text())["nll"] - recorded) < 1e-4


def test_shard_user_errors(tmp_path):
    source = synthetic_lpd5(tmp_path / "lpd5.npz", n=4)
    bad_size = invoke("data", "prepare", source, "--data", "lpd5", "--shards", tmp_path / "s", "--shard-size", "64")
    assert bad_size.exit_code == 2  # a click usage error, like every bad option value
    expected = "Invalid value for '--shard-size': expected a size like 64MB, 512KB, 1GB or a count like 500pieces"
    assert f"{expected}; got '64'" in bad_size.stderr
    assert not (tmp_path / "s").exists()
    assert_user_error(invoke("data", "info", "shards"), "needs --data-file DIR")
    assert_user_error(
        invoke("train", "--data", "shards", "--data-file", tmp_path / "none", "--out", tmp_path / "r"),
        "none: no such directory",
    )
    no_file = invoke("train", "--data", "shards", "--out", tmp_path / "r")
    assert_user_error(no_file, "--data shards needs --data-file DIR")
