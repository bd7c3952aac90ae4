import json
import subprocess
import sys

import keras
import mido
import numpy as np

from multinn.data import read_midi
from multinn.presets import load_pretrained, read_metadata
from multinn.utils.io import sha256_file
from tests.cli.conftest import assert_user_error, invoke, write_one_instrument

TINY = ["--rnn-units", "8", "--num-hidden", "4", "--batch-size", "4", "--crop-beats", "4", "--max-pieces", "6"]


def train_args(path, out, *extra):
    return ["train", "--mode", "composer", "--data", "bach-satb", "--data-file", path, *TINY, "--out", out, *extra]


def test_train_then_resume_runs_exactly_one_more_epoch(bach_satb_path, tmp_path):
    out = tmp_path / "run"
    first = invoke(*train_args(bach_satb_path, out, "--epochs", "1", "--sample-every", "1"))
    assert first.exit_code == 0, first.output
    state = json.loads((out / "state.json").read_text())
    assert state["completed_epochs"] == 1 and len(state["history"]["val_nll"]) == 1
    assert state["best"]["epoch"] == 1 and state["wait"] == 0
    assert state["checkpoint"] == {
        "file": "checkpoints/epoch-0001.keras",
        "epoch": 1,
        "optimizer_iterations": 2,  # 6 pieces, batches of 4
        "sha256": sha256_file(out / "checkpoints" / "epoch-0001.keras"),
    }
    checkpoint = keras.saving.load_model(out / "checkpoints" / "epoch-0001.keras")
    assert int(checkpoint.optimizer.iterations) == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best-0001.weights.h5", "epoch-0001.keras"]
    assert len(mido.MidiFile(out / "samples" / "epoch-0001.mid").tracks) == 5  # conductor + 4 voices
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    meta = read_metadata(out / "preset")
    assert meta["epochs"] == 1 and meta["dataset"] == "bach-satb" and meta["split"] == "train"
    assert meta["command"].startswith("multinn train --mode composer --data bach-satb --data-file ")
    assert meta["command"].endswith("--epochs 1 --sample-every 1")
    assert set(meta["metrics"]) == {"valid", "test"} and meta["metrics"]["test"]["nll"] > 0
    assert "epoch 1/1" in first.stderr and "preset written to" in first.stdout

    refused = invoke(*train_args(bach_satb_path, out, "--epochs", "2"))
    assert_user_error(refused, "already holds a training run; pass --resume to continue it")
    changed = invoke("train", "--mode", "jamming", "--data", "bach-satb", "--out", out, "--resume", "--epochs", "2")
    assert_user_error(changed, "was trained with --mode composer, not jamming")
    assert json.loads((out / "state.json").read_text())["completed_epochs"] == 1

    # the saved model and data options (the data file too) are reused: only --epochs is needed
    second = invoke("train", "--data", "bach-satb", "--out", out, "--epochs", "2", "--resume")
    assert second.exit_code == 0, second.output
    assert "resuming" in second.stderr and "after epoch 1 (optimizer step 2)" in second.stderr
    assert "epoch 2/2" in second.stderr and "epoch 1/2" not in second.stderr
    state = json.loads((out / "state.json").read_text())
    assert state["completed_epochs"] == 2 and len(state["history"]["val_nll"]) == 2
    assert int(keras.saving.load_model(out / state["checkpoint"]["file"]).optimizer.iterations) == 4
    assert not (out / "checkpoints" / "epoch-0001.keras").exists()  # committed epochs replace earlier ones
    meta = read_metadata(out / "preset")
    assert (
        meta["epochs"] == 2
        and len(meta["commands"]) == 2
        and meta["commands"][1] == f"multinn train --data bach-satb --out {out} --epochs 2 --resume"
    )
    assert meta["command"] == meta["commands"][0]  # the command that started the run

    model = load_pretrained(out / "preset")
    assert model.mode == "composer" and model.spec.num_tracks == 4
    evaluated = invoke(
        "evaluate",
        "--model",
        out,
        "--data",
        "bach-satb",
        "--data-file",
        bach_satb_path,
        "--split",
        "test",
        "--max-pieces",
        "6",
        "--batch-size",
        "5",
        "--json",
        tmp_path / "m.json",
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert (
        abs(report["nll"] - meta["metrics"]["test"]["nll"]) < 1e-4
    )  # batch size does not matter; a train --out directory is a model
    assert report["recorded_nll"] == meta["metrics"]["test"]["nll"]

    # a fresh process (nothing imported yet) resumes too; with the epochs done it only re-evaluates
    third = subprocess.run(
        [sys.executable, "-m", "multinn", "train", "--data", "bach-satb", "--out", out, "--epochs", "2", "--resume"],
        capture_output=True,
        text=True,
    )
    assert third.returncode == 0, third.stderr
    assert "nothing left to train" in third.stderr
    assert json.loads((out / "state.json").read_text())["options"]["rnn_units"] == [8]


def test_train_user_errors(bach_satb_path, tmp_path):
    assert_user_error(invoke(*train_args(bach_satb_path, tmp_path / "r", "--resume")), "holds no run to resume")
    assert_user_error(invoke(*train_args(tmp_path / "missing.json", tmp_path / "r")), "missing.json: no such file")
    assert_user_error(
        invoke("train", "--data", "bach-sat", "--data-file", bach_satb_path, "--out", tmp_path / "r"),
        "unknown dataset 'bach-sat'; did you mean 'bach-satb'?",
    )
    assert_user_error(
        invoke(*train_args(bach_satb_path, tmp_path / "r", "--generator", "rbm")), "Composer mode uses RNN-MultiNADE"
    )
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_an_ais_rbm_run_stops_on_the_pseudo_nll_and_reports_the_ais_nll(bach_satb_path, tmp_path):
    out = tmp_path / "rbm"
    # Voices of 20+ pitches, 16 hidden units: enumerating 2**16 states costs more than AIS.
    args = ["train", "--mode", "jamming", "--generator", "rbm", "--data", "bach-satb", "--data-file", bach_satb_path]
    args += ["--rnn-units", "8", "--num-hidden", "16", "--batch-size", "4", "--crop-beats", "4", "--max-pieces", "2"]
    first = invoke(*args, "--pretrain-epochs", "1", "--epochs", "1", "--out", out)
    assert first.exit_code == 0, first.output
    state = json.loads((out / "state.json").read_text())
    assert "val_nll" not in state["history"] and len(state["history"]["val_pseudo_nll"]) == 1
    assert state["best"]["monitor"] == "val_pseudo_nll"
    assert state["best"]["val_pseudo_nll"] == state["history"]["val_pseudo_nll"][0]
    assert "val_pseudo_nll" in first.stderr
    meta = read_metadata(out / "preset")
    assert "early stopping on val_pseudo_nll" in meta["validation"]
    for split in ("valid", "test"):  # the AIS estimate of the best epoch, and its pseudo-NLL
        assert meta["metrics"][split]["nll"] > 0 and meta["metrics"][split]["pseudo_nll"] > 0


def test_an_in_frame_run_harmonises_with_the_fixed_voice_heard(bach_satb_path, tmp_path):
    out = tmp_path / "run"
    result = invoke(*train_args(bach_satb_path, out, "--in-frame", "--epochs", "1", "--sample-every", "0"))
    assert result.exit_code == 0, result.output
    model = load_pretrained(out / "preset")
    assert model.in_frame and model.mode == "composer"
    assert json.loads((out / "state.json").read_text())["options"]["in_frame"] is True
    assert read_metadata(out / "preset")["in_frame"] is True
    melody = tmp_path / "melody.mid"
    write_one_instrument(melody, [(72, 0, 4), (74, 4, 4), (76, 8, 8)])
    harmony = tmp_path / "h.mid"
    result = invoke(
        "sample", "--model", out / "preset", "--fix-track", f"Soprano={melody}", "--seed", "1", "--out", harmony
    )
    assert result.exit_code == 0, result.output
    assert "in-frame: Alto, Tenor, Bass drawn after Soprano, hearing their notes at every step" in result.stderr
    roll = read_midi(harmony, model.spec)
    assert np.flatnonzero(roll[:, :, 0].any(axis=0)).tolist() == [72 - 36, 74 - 36, 76 - 36]  # the melody, unchanged
    # A model without the option says what its voices hear.
    plain = tmp_path / "plain"
    assert invoke(*train_args(bach_satb_path, plain, "--epochs", "1", "--sample-every", "0")).exit_code == 0
    result = invoke("sample", "--model", plain / "preset", "--fix-track", f"Soprano={melody}", "--out", harmony)
    assert result.exit_code == 0, result.output
    assert "note: Alto, Tenor, Bass hear Soprano only through the past" in result.stderr
