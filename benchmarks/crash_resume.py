"""Crash consistency of `multinn train --resume`: kill -9 a small training run at random moments
(inside checkpoint and state writes among them), resume it each time, and check that the run
comes out as if it had never been interrupted.

Each trial starts a fresh run of `--epochs E` and kills it; every later invocation is
`multinn train --data bach-satb --out OUT --epochs E --resume`, killed again until the trial
has had its share of kills, then resumed to the end. A kill lands at one of these moments:

- `random`: after a random delay (start-up, pre-training, an epoch, a write: wherever it falls);
- `checkpoint-write`: as soon as a temporary checkpoint file appears under `OUT/checkpoints`
  (the `.keras` or best `.weights.h5` being written), after 0-500 ms (inside that write, the next
  one, or before the commit);
- `state-write`: as soon as the temporary `state.json` appears (the commit being written);
- `after-commit`: 0-150 ms after `state.json` changed (pruning, samples, the next epoch).

After the last resume each trial asserts the invariants of the issue:

1. `completed_epochs == E` and every history list has E values (each epoch once);
2. the committed checkpoint's optimizer step is E x steps per epoch (no epoch trained twice);
3. the checkpoint scores `history["val_nll"][-1]` on the valid split, and the best weights score
   the recorded best `val_nll`, which is the minimum of the history (no file lags another);
4. the command history starts with the command that started the run and ends with the last
   resume, in order, and `--patience` / `--sample-every` of the first command survive;
5. `OUT/checkpoints` holds exactly the two files the state names, and no temporary file is left;
6. the preset loads (its manifest verified) and its metadata records E epochs and the commands.

Usage: python benchmarks/crash_resume.py [--kills 20] [--kills-per-run 4] [--epochs 5] [--seed 0]
    [--data-file ../shared/data/jsb/Jsb16thSeparated.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MOMENTS = ("random", "checkpoint-write", "state-write", "after-commit")
PIECES, BATCH = 6, 4
SIZES = ["--rnn-units", "8", "--num-hidden", "4", "--batch-size", str(BATCH), "--crop-beats", "4"]
FIRST_OPTIONS = ["--patience", "50", "--sample-every", "2"]
"""Training-loop options of the first command that every resume must keep (not the defaults 10 and 10)."""
TIMEOUT = 300


@dataclasses.dataclass
class Trial:
    """One run: its kills (moment, seconds after start) and invocations."""

    out: Path
    kills: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    missed: int = 0
    commands: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def first_command(data_file: str, out: Path, epochs: int) -> list[str]:
    return [
        "train",
        "--mode",
        "composer",
        "--data",
        "bach-satb",
        "--data-file",
        data_file,
        *SIZES,
        "--max-pieces",
        str(PIECES),
        "--epochs",
        str(epochs),
        *FIRST_OPTIONS,
        "--out",
        str(out),
    ]


def resume_command(out: Path, epochs: int) -> list[str]:
    return ["train", "--data", "bach-satb", "--out", str(out), "--epochs", str(epochs), "--resume"]


def _temporary(directory: Path, prefix: str) -> set[str]:
    """The temporary files (names starting with `prefix`) in `directory` now."""
    try:
        return {name for name in os.listdir(directory) if name.startswith(prefix)}
    except FileNotFoundError:
        return set()


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def run_until_killed(
    args: list[str], out: Path, moment: str, rng: random.Random, env: dict, log, expected: float
) -> float | None:
    """Start `multinn ARGS` and kill -9 it at `moment` (`random`: within the `expected` seconds of
    a whole invocation); the seconds after start it was killed at, or None if it finished first
    (then it must have succeeded)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "multinn", *args], stdout=log, stderr=log, env=env)
    state, checkpoints = out / "state.json", out / "checkpoints"
    committed = _mtime(state)
    stale = _temporary(checkpoints, ".") | _temporary(out, ".state.json.")  # left by an earlier kill
    deadline = start + (rng.uniform(0.5, expected) if moment == "random" else TIMEOUT)
    fire_at = None
    while process.poll() is None and time.perf_counter() < deadline:
        now = time.perf_counter()
        if fire_at is None:
            if moment == "checkpoint-write" and _temporary(checkpoints, ".") - stale:
                fire_at = now + rng.uniform(0, 0.5)
            elif moment == "state-write" and _temporary(out, ".state.json.") - stale:
                fire_at = now
            elif moment == "after-commit" and _mtime(state) != committed:
                fire_at = now + rng.uniform(0, 0.15)
        if fire_at is not None and now >= fire_at:
            break
        time.sleep(0.0005)
    if process.poll() is None and (moment == "random" or fire_at is not None):
        process.send_signal(signal.SIGKILL)
        process.wait()
        return time.perf_counter() - start
    if process.poll() is None:  # an event that never came within TIMEOUT
        process.kill()
        raise AssertionError(f"multinn {shlex.join(args)} ran {TIMEOUT} s without reaching {moment}")
    if process.returncode != 0:
        raise AssertionError(f"multinn {shlex.join(args)} failed with exit code {process.returncode}; see {log.name}")
    return None


def check_run(trial: Trial, epochs: int, data_file: str) -> None:
    """The invariants of a finished run (module docstring)."""
    import keras
    import numpy as np

    import multinn.models  # noqa: F401  (registers the model classes)
    from multinn import datasets
    from multinn.cli.run_state import read_state
    from multinn.data import make_tf_dataset
    from multinn.presets import load_pretrained, read_metadata

    out = trial.out
    state = read_state(out)
    assert state["completed_epochs"] == epochs, state["completed_epochs"]
    for key, values in state["history"].items():
        assert len(values) == epochs, (key, len(values))
    steps = math.ceil(PIECES / BATCH)
    model = keras.saving.load_model(out / state["checkpoint"]["file"])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == epochs * steps
    assert state["checkpoint"]["optimizer_iterations"] == epochs * steps

    valid = datasets.load("bach-satb", split="valid", path=data_file).subset(range(PIECES))
    pipeline = make_tf_dataset(valid, BATCH, shuffle=False)
    last = model.evaluate(pipeline, return_dict=True, verbose=0)["nll"]
    assert abs(last - state["history"]["val_nll"][-1]) < 1e-4, (last, state["history"]["val_nll"][-1])
    history = state["history"]["val_nll"]
    best = state["best"]
    assert best["val_nll"] == min(history) and best["epoch"] == int(np.argmin(history)) + 1, (best, history)
    model.load_weights(out / best["file"])
    scored = model.evaluate(pipeline, return_dict=True, verbose=0)["nll"]
    assert abs(scored - best["val_nll"]) < 1e-4, (scored, best["val_nll"])

    commands = state["commands"]
    assert commands[0] == trial.commands[0] and commands[-1] == trial.commands[-1], commands
    rest = iter(trial.commands)
    assert all(any(c == r for r in rest) for c in commands), (commands, trial.commands)  # a subsequence, in order
    for options in (state["options"], read_metadata(out / "preset")["options"]):
        assert options["patience"] == 50 and options["sample_every"] == 2, options

    named = {Path(best["file"]).name, Path(state["checkpoint"]["file"]).name}
    assert {p.name for p in (out / "checkpoints").iterdir()} == named, sorted(os.listdir(out / "checkpoints"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")], sorted(os.listdir(out))

    preset = load_pretrained(out / "preset")
    meta = read_metadata(out / "preset")
    assert meta["epochs"] == epochs and meta["commands"] == commands and preset.mode == "composer"
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        f"epoch-{e:04d}.mid" for e in range(2, epochs + 1, 2)
    ]


def run_trials(
    kills: int, kills_per_run: int, epochs: int, seed: int, data_file: str, work: Path, moments=MOMENTS, echo=print
) -> list[Trial]:
    """Kill and resume runs until `kills` kills have landed; check every run. Returns the trials."""
    rng = random.Random(seed)
    env = {**os.environ, "MULTINN_HOME": str(work / "home"), "PYTHONUNBUFFERED": "1"}
    trials: list[Trial] = []
    landed = 0
    expected = 8.0  # seconds of a whole small invocation on a 2-core machine; learnt from the runs
    while landed < kills:
        trial = Trial(work / f"run-{len(trials) + 1:02d}")
        trials.append(trial)
        start = time.perf_counter()
        with open(work / f"run-{len(trials):02d}.log", "w") as log:
            args = first_command(data_file, trial.out, epochs)
            for _ in range(min(kills_per_run, kills - landed)):
                moment = moments[landed % len(moments)]
                trial.commands.append(shlex.join(["multinn", *args]))
                began = time.perf_counter()
                at = run_until_killed(args, trial.out, moment, rng, env, log, expected)
                if at is None:  # the run finished before the kill: nothing more to kill
                    trial.missed += 1
                    expected = 0.8 * (time.perf_counter() - began)
                    break
                trial.kills.append((moment, at))
                landed += 1
                if (trial.out / "state.json").exists():
                    args = resume_command(trial.out, epochs)
                else:  # killed before the run recorded anything: it starts again
                    args = first_command(data_file, trial.out, epochs)
                echo(f"  {trial.out.name}: killed at {moment} after {at:.2f} s")
            else:
                trial.commands.append(shlex.join(["multinn", *args]))
                result = subprocess.run([sys.executable, "-m", "multinn", *args], stdout=log, stderr=log, env=env)
                assert result.returncode == 0, f"the last resume failed; see {log.name}"
        trial.seconds = time.perf_counter() - start
        check_run(trial, epochs, data_file)
        echo(f"{trial.out.name}: {len(trial.kills)} kills, every invariant holds ({trial.seconds:.0f} s)")
    return trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kills-per-run", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "jsb" / "Jsb16thSeparated.json"
    parser.add_argument("--data-file", default=str(default_data))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="multinn-crash-") as work:
        start = time.perf_counter()
        trials = run_trials(args.kills, args.kills_per_run, args.epochs, args.seed, args.data_file, Path(work))
        total = time.perf_counter() - start
    counts = {m: sum(k[0] == m for t in trials for k in t.kills) for m in MOMENTS}
    print(f"\n{platform.node()} ({os.cpu_count()} cores), load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d')}")
    print("| moment | kills | resumed with every invariant |")
    print("|---|---:|---:|")
    for moment, n in counts.items():
        print(f"| {moment} | {n} | {n} |")
    print(f"| all | {sum(counts.values())} | {sum(counts.values())} |")
    print(json.dumps({"trials": len(trials), "kills": sum(counts.values()), "seconds": round(total)}))


if __name__ == "__main__":
    main()
