import numpy as np

from multinn import datasets
from multinn.data import PianorollDataset, write_midi
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
