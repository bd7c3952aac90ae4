"""The run state of a `multinn train --out` directory, committed in one atomic step per epoch.

`OUT/state.json` is the commit record of a run. Checkpoint files are never overwritten: each
epoch writes `checkpoints/epoch-NNNN.keras` (the full model, optimizer included) and, when the
validation NLL improves, `checkpoints/best-NNNN.weights.h5`, each to a temporary file moved into
place; then `state.json` is replaced in one `os.replace`, naming the files of that epoch with
their SHA-256 digests and the optimizer step count. Only after that are the files of earlier
epochs deleted. A kill at any moment therefore leaves either the old or the new state, and each
names files that exist and belong to it: `--resume` continues after the last committed epoch,
trains every remaining epoch exactly once, and verifies the checkpoint it loads against the
record (digest and optimizer step).

Nothing here imports TensorFlow or Keras, so the CLI reads and checks a run before TensorFlow
starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

from multinn.errors import MultinnError
from multinn.utils.io import atomic_write, sha256_file

STATE_FILE = "state.json"
CHECKPOINT_DIR = "checkpoints"
STATE_FORMAT = 2
"""Format of `state.json`; format 1 (multinn 0.1.0: `last.keras`, `best.weights.h5`, no digests) is read too."""

MONITORS = ("val_nll", "val_pseudo_nll")
"""What a best epoch can be chosen on (`MultINN.monitor`)."""


class RunStateError(MultinnError):
    """A training directory's `state.json` or the checkpoint it names is missing, damaged or inconsistent."""


def checkpoint_name(epoch: int) -> str:
    """`checkpoints/epoch-0003.keras`: the full model after `epoch` epochs, relative to OUT."""
    return f"{CHECKPOINT_DIR}/epoch-{epoch:04d}.keras"


def best_name(epoch: int) -> str:
    """`checkpoints/best-0002.weights.h5`: the weights of the best epoch so far, relative to OUT."""
    return f"{CHECKPOINT_DIR}/best-{epoch:04d}.weights.h5"


def new_state(options: dict, command: str) -> dict:
    """The state of a fresh run: its options and the command that started it; no epoch done."""
    return {
        "format": STATE_FORMAT,
        "options": {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in options.items()},
        "commands": [command],
        "completed_epochs": 0,
        "checkpoint": None,
        "best": None,
        "wait": 0,
        "stopped_early": False,
        "history": {},
        "training_seconds": 0.0,
    }


def _damaged(path: Path, problem: str) -> RunStateError:
    return RunStateError(
        f"{path}: {problem}; the run state is damaged, so the run cannot be resumed from it "
        "(restore the file or train into a new --out)"
    )


def _file_record(path: Path, record, what: str, epochs: int) -> dict:
    if not isinstance(record, dict):
        raise _damaged(path, f"{what!r} must be an object, got {type(record).__name__}")
    name, epoch = record.get("file"), record.get("epoch")
    if not isinstance(name, str) or not name.startswith(f"{CHECKPOINT_DIR}/") or ".." in Path(name).parts:
        raise _damaged(path, f"{what!r} names no file under {CHECKPOINT_DIR}/ ({name!r})")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= epochs:
        raise _damaged(path, f"{what!r} has epoch {epoch!r}, but {epochs} epochs are done")
    digest = record.get("sha256")
    if digest is not None and (not isinstance(digest, str) or len(digest) != 64):
        raise _damaged(path, f"{what!r} has no valid SHA-256 digest")
    return record


def _from_format_1(state: dict) -> dict:
    """A multinn 0.1.0 state (fixed file names, no digests) in the current layout."""
    done = state.get("completed_epochs", 0)
    best_epoch = state.get("best_epoch")
    migrated = {**new_state(state.get("options", {}), ""), **state, "format": STATE_FORMAT}
    migrated["commands"] = list(state.get("commands") or [])
    migrated["checkpoint"] = {"file": f"{CHECKPOINT_DIR}/last.keras", "epoch": done} if done else None
    migrated["best"] = (
        {"file": f"{CHECKPOINT_DIR}/best.weights.h5", "epoch": best_epoch, "val_nll": state.get("best_val_nll")}
        if best_epoch
        else None
    )
    for key in ("best_epoch", "best_val_nll"):
        migrated.pop(key, None)
    return migrated


def read_state(out: str | os.PathLike) -> dict:
    """The run state of a training directory, checked (`{}` when there is none).

    Raises:
        RunStateError: `state.json` is not valid JSON, misses a field, or is inconsistent (one
            line naming the file and the problem).
    """
    path = Path(out) / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(state, dict):
        raise _damaged(path, f"expected a JSON object, got {type(state).__name__}")
    if "format" not in state and "options" in state:
        state = _from_format_1(state)
    if state.get("format") != STATE_FORMAT:
        raise _damaged(path, f"unknown state format {state.get('format')!r} (this multinn writes {STATE_FORMAT})")
    if not isinstance(state.get("options"), dict):
        raise _damaged(path, "it has no 'options' object (the run's model and data options)")
    done = state.get("completed_epochs")
    if isinstance(done, bool) or not isinstance(done, int) or done < 0:
        raise _damaged(path, f"'completed_epochs' must be a non-negative integer, got {done!r}")
    commands = state.get("commands")
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        raise _damaged(path, "'commands' must be a list of command lines")
    history = state.get("history")
    if not isinstance(history, dict) or any(not isinstance(v, list) or len(v) != done for v in history.values()):
        raise _damaged(path, f"'history' must hold one value per completed epoch ({done})")
    if (state.get("checkpoint") is None) != (done == 0):
        raise _damaged(path, f"{done} epochs are done, but the checkpoint record is {state.get('checkpoint')!r}")
    if done:
        checkpoint = _file_record(path, state["checkpoint"], "checkpoint", done)
        if checkpoint["epoch"] != done:
            raise _damaged(path, f"the checkpoint is of epoch {checkpoint['epoch']}, but {done} epochs are done")
    if state.get("best") is not None:
        best = _file_record(path, state["best"], "best", done)
        monitor = best_monitor(best)
        if monitor not in MONITORS:
            raise _damaged(path, f"the best epoch was chosen on {monitor!r}, not one of {', '.join(MONITORS)}")
        if isinstance(best.get(monitor), bool) or not isinstance(best.get(monitor), (int, float)):
            raise _damaged(path, f"the best epoch's {monitor} is {best.get(monitor)!r}")
        if not math.isfinite(best[monitor]):
            raise _damaged(path, f"the best epoch's {monitor} is {best.get(monitor)!r}")
    for key, kind in (("wait", int), ("training_seconds", (int, float)), ("stopped_early", bool)):
        if not isinstance(state.get(key), kind):
            raise _damaged(path, f"{key!r} is {state.get(key)!r}")
    return state


def best_monitor(best: dict) -> str:
    """The metric a best record was chosen on (older records name none: `val_nll`)."""
    return best.get("monitor", "val_nll")


def best_value(best: dict | None, monitor: str) -> float | None:
    """The best record's value of `monitor`; `None` without a record or when it was chosen on another metric."""
    return best[monitor] if best is not None and best_monitor(best) == monitor else None


def write_state(out: str | os.PathLike, state: dict) -> None:
    """Commit `state` as `OUT/state.json` in one atomic replace."""
    with atomic_write(Path(out) / STATE_FILE, "w") as f:
        f.write(json.dumps(state, indent=2) + "\n")


def record_file(out: str | os.PathLike, name: str, epoch: int, **extra) -> dict:
    """The state's record of a checkpoint file just written: its name, epoch and SHA-256 digest."""
    return {"file": name, "epoch": epoch, "sha256": sha256_file(Path(out) / name), **extra}


def verified_file(out: str | os.PathLike, record: dict) -> Path:
    """The path of a file the state names, after checking that it exists and has the recorded digest.

    Raises:
        RunStateError: The file is missing or its digest differs from the record.
    """
    path = Path(out) / record["file"]
    if not path.is_file():
        raise RunStateError(
            f"{path}: missing, but {Path(out) / STATE_FILE} names it (epoch {record['epoch']}); "
            "the run cannot be resumed (train into a new --out)"
        )
    if record.get("sha256") and sha256_file(path) != record["sha256"]:
        raise RunStateError(
            f"{path}: its SHA-256 digest is not the one {Path(out) / STATE_FILE} records (the file is damaged "
            "or was changed); the run cannot be resumed from it (train into a new --out)"
        )
    return path


def prune_run(out: str | os.PathLike, state: dict) -> None:
    """Delete what the committed `state` does not need: the files under `OUT/checkpoints` it does
    not name (earlier epochs, temporary files of a killed write) and temporary `state.json` files."""
    out = Path(out)
    keep = {out / r["file"] for r in (state.get("checkpoint"), state.get("best")) if r}
    directory = out / CHECKPOINT_DIR
    stale = [p for p in directory.iterdir() if p.is_file() and p not in keep] if directory.is_dir() else []
    stale += out.glob(f".{STATE_FILE}.*.tmp")
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
