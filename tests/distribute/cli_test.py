"""`multinn train --strategy ... --mixed-precision ...`: options, errors and resuming across strategies."""

import json

import keras
import numpy as np

from multinn.cli.common import load_spec
from multinn.cli.train import build_model
from tests.cli.conftest import assert_user_error, invoke

TINY = [
    "--mode",
    "joint",
    "--rnn-units",
    "4",
    "--num-hidden",
    "2",
    "--batch-size",
    "4",
    "--crop-beats",
    "2",
    "--max-pieces",
    "4",
    "--sample-every",
    "0",
]


def test_multi_worker_without_tf_config_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = invoke("train", "--data", "bach-satb", "--strategy", "multi-worker", "--out", tmp_path / "run")
    assert_user_error(result, "multi-worker training needs the TF_CONFIG environment variable")
    assert not (tmp_path / "run").exists()


def test_bad_tf_config_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}')
    result = invoke("train", "--data", "bach-satb", "--strategy", "multi-worker", "--out", tmp_path / "run")
    assert_user_error(result, "TF_CONFIG task index 3 is out of range for the 1 'worker' task(s)")


def test_input_sharding_files_needs_shards(tmp_path):
    result = invoke("train", "--data", "bach-satb", "--input-sharding", "files", "--out", tmp_path / "run")
    assert_user_error(result, "--input-sharding files needs --data shards")
    assert not (tmp_path / "run").exists()


def test_seed_sets_the_initial_weights():
    options = dict(
        mode="feedback",
        encoder="pass",
        encoder_units=None,
        generator="nade",
        rnn_units=[6],
        num_hidden=4,
        dropout=0.0,
        feedback="dense",
        feedback_units=[5],
        lr=1e-3,
        mixed_precision=None,
    )
    spec = load_spec("bach-satb")

    def weights(seed):
        return build_model(dict(options, seed=seed), spec).get_weights()

    first, again, other = weights(3), weights(3), weights(4)
    assert len(first) > 4
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert any(a.size > 1 and not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_mirrored_mixed_precision_run_resumes_on_the_default_strategy_and_back(bach_satb_path, tmp_path):
    out = tmp_path / "run"
    first = invoke(
        "train",
        "--data",
        "bach-satb",
        "--data-file",
        bach_satb_path,
        *TINY,
        "--epochs",
        "1",
        "--strategy",
        "mirrored",
        "--mixed-precision",
        "mixed_bfloat16",
        "--out",
        out,
    )
    assert first.exit_code == 0, first.output
    state = json.loads((out / "state.json").read_text())
    assert state["options"]["strategy"] == "mirrored" and state["options"]["mixed_precision"] == "mixed_bfloat16"
    checkpoint = keras.saving.load_model(out / json.loads((out / "state.json").read_text())["checkpoint"]["file"])
    assert checkpoint.dtype_policy.name == "mixed_bfloat16" and int(checkpoint.optimizer.iterations) == 1

    # The policy is part of the run (like the model options); the strategy is not.
    changed = invoke("train", "--data", "bach-satb", "--out", out, "--resume", "--epochs", "2", "--mixed-precision")
    assert_user_error(changed, "was trained with --mixed-precision mixed_bfloat16, not auto")
    second = invoke("train", "--data", "bach-satb", "--out", out, "--resume", "--epochs", "2")
    assert second.exit_code == 0, second.output
    assert "after epoch 1 (optimizer step 1)" in second.stderr
    checkpoint = keras.saving.load_model(out / json.loads((out / "state.json").read_text())["checkpoint"]["file"])
    assert checkpoint.dtype_policy.name == "mixed_bfloat16" and int(checkpoint.optimizer.iterations) == 2
    third = invoke("train", "--data", "bach-satb", "--out", out, "--resume", "--epochs", "3", "--strategy", "mirrored")
    assert third.exit_code == 0, third.output
    assert "after epoch 2 (optimizer step 2)" in third.stderr
    checkpoint = keras.saving.load_model(out / json.loads((out / "state.json").read_text())["checkpoint"]["file"])
    assert checkpoint.dtype_policy.name == "mixed_bfloat16" and int(checkpoint.optimizer.iterations) == 3
    metadata = json.loads((out / "preset" / "metadata.json").read_text())
    assert metadata["options"]["mixed_precision"] == "mixed_bfloat16"
    config = json.loads((out / "preset" / "config.json").read_text())["config"]
    assert config["dtype"]["config"]["name"] == "mixed_bfloat16"
