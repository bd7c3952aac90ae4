"""Nothing lost, nothing silent: bounded sampling requests, all-or-nothing outputs, damaged run
state, quiet TensorFlow, and exact resume after kills at any moment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.crash_resume import run_trials
from multinn.errors import GenerationError
from multinn.presets import DEFAULT_PRESET, load_pretrained
from tests.cli.conftest import assert_user_error, invoke
from tests.cli.train_test import train_args


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_temperature_that_is_not_finite_is_one_error_line(tmp_path, value):
    result = invoke("sample", "--temperature", value, "--seed", "0", "--out", tmp_path / "s.mid")
    assert_user_error(result, f"temperature must be a finite number >= 0, got {float(value)}")
    assert not list(tmp_path.iterdir())


def test_a_generation_longer_than_memory_allows_is_one_error_line(tmp_path):
    result = invoke("sample", "--beats", str(10**12), "--seed", "0", "--out", tmp_path / "s.mid")
    assert_user_error(result, "4,000,000,000,000 steps x 1 sequence(s) would need about")
    assert "the longest generation this machine can hold now is" in result.stderr
    assert not list(tmp_path.iterdir())


def test_the_generation_limit_follows_the_memory_estimate(monkeypatch):
    import multinn.utils.io

    model = load_pretrained(DEFAULT_PRESET)
    per_step = 21 * 49 * 4 * 2  # bytes per pitch, track, step and sequence; 49 pitches, 4 tracks, batch 2
    monkeypatch.setattr(multinn.utils.io, "available_memory", lambda: 2 * 1000 * per_step)
    assert model.max_generation_steps(2) == 1000  # half the available memory
    model.check_generation(1000, 2)
    with pytest.raises(GenerationError, match=r"1,001 steps x 2 sequence\(s\) .* 1,000 steps \(250 beats\) at batch 2"):
        model.generate(1001 - 8, primer=np.zeros((8, 49, 4), bool), batch_size=2)
    with pytest.raises(GenerationError, match="temperature must be a finite number >= 0, got nan"):
        model.generate(4, temperature=float("nan"))


def test_several_outputs_are_written_all_or_none(tmp_path):
    (tmp_path / "o-2.mid").mkdir()  # the second file cannot be written
    result = invoke("sample", "--num", "3", "--beats", "2", "--seed", "0", "--out", tmp_path / "o.mid")
    assert result.exit_code == 2 and result.stderr.startswith("Error: cannot write"), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o-2.mid"]  # no o-1.mid, no temporary file

    (tmp_path / "o-2.mid").rmdir()
    (tmp_path / "o-1.mid").write_bytes(b"kept")
    result = invoke("sample", "--num", "3", "--beats", "2", "--seed", "0", "--out", tmp_path / "o.mid")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o-1.mid", "o-2.mid", "o-3.mid"]
    assert (tmp_path / "o-1.mid").read_bytes()[:4] == b"MThd"


@pytest.mark.parametrize(
    "damage, message",
    [
        ("{not json", "state.json: not valid JSON"),
        ("[]", "state.json: expected a JSON object, got list"),
        ('{"format": 2, "completed_epochs": 0}', "state.json: it has no 'options' object"),
        ("history", "'history' must hold one value per completed epoch (1)"),
        ("checkpoint", "checkpoints/epoch-0001.keras: its SHA-256 digest is not the one"),
        ("iterations", "its optimizer is at step 2, but"),
        ("monitor", "the best epoch was chosen on 'val_loss', not one of val_nll, val_pseudo_nll"),
        ("best value", "the best epoch's val_nll is 'low'"),
    ],
)
def test_a_damaged_run_state_is_one_error_line(bach_satb_path, tmp_path_factory, damage, message):
    run = tmp_path_factory.getbasetemp() / "one-epoch-run"
    if not run.exists():
        result = invoke(*train_args(bach_satb_path, run, "--epochs", "1", "--sample-every", "0"))
        assert result.exit_code == 0, result.output
    out = tmp_path_factory.mktemp("damaged") / "run"
    import shutil

    shutil.copytree(run, out)
    state = json.loads((out / "state.json").read_text())
    if damage == "history":
        state["history"]["val_nll"].append(1.0)
        damage = json.dumps(state)
    elif damage == "iterations":
        state["checkpoint"]["optimizer_iterations"] = 7
        damage = json.dumps(state)
    elif damage == "monitor":
        state["best"]["monitor"] = "val_loss"
        damage = json.dumps(state)
    elif damage == "best value":
        state["best"]["val_nll"] = "low"
        damage = json.dumps(state)
    elif damage == "checkpoint":
        with open(out / "checkpoints" / "epoch-0001.keras", "r+b") as f:
            f.seek(100)
            f.write(b"\x00" * 8)
        damage = None
    if damage is not None:
        (out / "state.json").write_text(damage)
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    result = invoke("train", "--data", "bach-satb", "--out", out, "--epochs", "2", "--resume")
    assert_user_error(result, message)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before  # nothing written


def test_a_fresh_run_into_a_started_run_is_refused(bach_satb_path, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "state.json").write_text("{}")
    assert_user_error(invoke(*train_args(bach_satb_path, out, "--epochs", "1")), "already holds a training run")


def test_sample_prints_only_its_own_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MULTINN_VERBOSE")}
    command = [sys.executable, "-m", "multinn", "sample", "--seed", "0", "--beats", "4", "--out", "s.mid"]
    quiet = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # no oneDNN / CUDA / absl lines on a machine without a GPU
    assert quiet.stdout.startswith("wrote s.mid")
    error = subprocess.run([*command, "--temperature", "nan"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert error.returncode == 2 and error.stderr.splitlines() == [
        "Error: temperature must be a finite number >= 0, got nan"
    ]


def test_kills_at_any_moment_resume_exactly(bach_satb_path, tmp_path):
    """The short version of `benchmarks/crash_resume.py` (20 kills there): one run killed inside a
    checkpoint write, inside the state commit and just after a commit, then resumed to the end;
    `check_run` asserts every invariant (epochs once, optimizer steps, files agreeing, commands
    and options kept)."""
    trials = run_trials(
        kills=3,
        kills_per_run=3,
        epochs=3,
        seed=1,
        data_file=str(bach_satb_path),
        work=tmp_path,
        moments=("checkpoint-write", "state-write", "after-commit"),
        echo=lambda line: None,
    )
    assert sum(len(t.kills) for t in trials) == 3


def test_a_run_of_multinn_0_1_0_resumes(bach_satb_path, tmp_path):
    """A state.json of the first format (fixed file names, no digests) is read and continued."""
    out = tmp_path / "run"
    assert invoke(*train_args(bach_satb_path, out, "--epochs", "1", "--sample-every", "0")).exit_code == 0
    state = json.loads((out / "state.json").read_text())
    (out / state["checkpoint"]["file"]).rename(out / "checkpoints" / "last.keras")
    (out / state["best"]["file"]).rename(out / "checkpoints" / "best.weights.h5")
    old = {k: state[k] for k in ("options", "commands", "completed_epochs", "wait", "stopped_early", "history")}
    old.update(best_val_nll=state["best"]["val_nll"], best_epoch=1, training_seconds=1.0)
    (out / "state.json").write_text(json.dumps(old))
    result = invoke("train", "--data", "bach-satb", "--out", out, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.output
    assert "after epoch 1 (optimizer step 2)" in result.stderr
    state = json.loads((out / "state.json").read_text())
    assert state["format"] == 2 and state["completed_epochs"] == 2 and len(state["commands"]) == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        Path(state["best"]["file"]).name,
        "epoch-0002.keras",
    ]
