"""Keras callbacks for training and evaluating `multinn` models, as `multinn train` and
`multinn evaluate` use them.

- `RichProgress`: a rich progress bar per epoch (running loss and NLL), one line per epoch.
- `EvaluationProgress`: a rich progress bar over evaluation batches.
- `ResumableEarlyStopping`: `EarlyStopping` on `val_nll` (or the model's `monitor`) that continues an earlier run's best
  value and patience counter.
- `RunCheckpoint`: the per-epoch commit of a training directory: full-model checkpoint, best
  weights, then `state.json` (the run state of `multinn.cli.run_state`), atomically.
- `MidiSamples`: a seeded MIDI sample every few epochs.
- `save_model_atomically(model, path)`: `model.save` / `model.save_weights` through a temporary
  file, so a crash never leaves half a file.

```python
from pathlib import Path

from rich.console import Console

from multinn.callbacks import MidiSamples, RichProgress

callbacks = [RichProgress(Console(stderr=True), epochs=10, steps=len(train)), MidiSamples(Path("runs/satb"), 2, 64)]
model.fit(train, epochs=10, verbose=0, callbacks=callbacks)  # train: make_tf_dataset(...) batches
```

Importing this module imports Keras.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path

import keras

from multinn.cli.run_state import best_monitor, best_name, checkpoint_name, prune_run, record_file, write_state
from multinn.utils.io import default_file_mode


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """`model.save(path)` (`.keras`) or `model.save_weights(path)` (`.weights.h5`) through a
    temporary file, so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = path.name.endswith(".weights.h5")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".weights.h5" if weights else ".keras")
    os.close(fd)
    try:
        if weights:
            model.save_weights(tmp, overwrite=True)
        else:
            model.save(tmp, overwrite=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # on disk before it is named, so a commit never names a lost file
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fmt(logs: dict, keys) -> str:
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys if k in logs)


class RichProgress(keras.callbacks.Callback):
    """A rich progress bar per epoch with the running loss and NLL, and one line per finished epoch.

    Args:
        console: The rich console to draw on (stderr).
        epochs: The last epoch number of this run.
        steps: Batches per epoch.
    """

    def __init__(self, console, epochs: int, steps: int):
        super().__init__()
        self.console, self.epochs, self.steps = console, epochs, steps
        self.progress = None
        self.task = None
        self._start = 0.0

    def on_train_begin(self, logs=None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{self.epochs}", total=self.steps, metrics="")

    def on_train_batch_end(self, batch, logs=None):
        self.progress.update(self.task, completed=batch + 1, metrics=_fmt(logs or {}, ("loss", "nll")))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.progress.remove_task(self.task)
        seconds = time.perf_counter() - self._start
        line = _fmt(logs, ("loss", "nll", "val_nll", "val_pseudo_nll", "val_frame_f1"))
        self.progress.console.print(f"epoch {epoch + 1}/{self.epochs}  {line}  ({seconds:.0f} s)")

    def on_train_end(self, logs=None):
        self.progress.stop()


class EvaluationProgress(keras.callbacks.Callback):
    """A rich progress bar over evaluation batches."""

    def __init__(self, console, steps: int, description: str = "evaluating"):
        super().__init__()
        self.console, self.steps, self.description = console, steps, description
        self.progress = None

    def on_test_begin(self, logs=None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=self.steps)

    def on_test_batch_end(self, batch, logs=None):
        self.progress.update(self.task, completed=batch + 1)

    def on_test_end(self, logs=None):
        self.progress.stop()


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping(monitor, mode="min")` that continues the best value and patience counter of
    an earlier run instead of starting afresh. `monitor`: `"val_nll"`, or the model's `monitor`
    (`"val_pseudo_nll"` for RBM generators whose likelihood is an AIS estimate)."""

    def __init__(
        self, patience: int, best: float | None = None, wait: int = 0, best_epoch: int = 0, monitor: str = "val_nll"
    ):
        super().__init__(monitor=monitor, mode="min", patience=patience)
        self._resume = (best, wait, best_epoch)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best, self.wait, self.best_epoch = self._resume


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch, commit the run: `checkpoints/epoch-NNNN.keras` (the full model, optimizer
    state included), `checkpoints/best-NNNN.weights.h5` when the early-stopping metric (`val_nll`
    or `val_pseudo_nll`, recorded as the best record's `monitor`) improves, then `state.json`
    (one atomic replace naming both files with their digests and the optimizer step, with the
    history, the early-stopping counters and the training time); then the files of earlier epochs
    are deleted. See `multinn.cli.run_state`.

    Args:
        out: The training directory.
        state: The run state so far (replaced by each commit).
        early_stopping: The early-stopping callback, whose counters are saved with the state.
    """

    def __init__(self, out: Path, state: dict, early_stopping: ResumableEarlyStopping):
        super().__init__()
        self.out, self.state, self.early_stopping = out, state, early_stopping
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        done = epoch + 1
        state = dict(self.state)
        history = {k: list(v) for k, v in state["history"].items()}
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        state["history"] = history
        monitor = self.early_stopping.monitor
        current, best = logs.get(monitor), state.get("best")
        if best is not None and best_monitor(best) != monitor:
            best = None  # chosen on another metric (a run resumed by another multinn): start again
        if current is not None and math.isfinite(current) and (best is None or current < best[monitor]):
            save_model_atomically(self.model, self.out / best_name(done))
            state["best"] = record_file(self.out, best_name(done), done, monitor=monitor, **{monitor: current})
        save_model_atomically(self.model, self.out / checkpoint_name(done))
        iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        state["checkpoint"] = record_file(self.out, checkpoint_name(done), done, optimizer_iterations=iterations)
        state["completed_epochs"] = done
        state["wait"] = int(self.early_stopping.wait)
        state["stopped_early"] = bool(self.model.stop_training)
        state["training_seconds"] = state["training_seconds"] + time.perf_counter() - self._start
        write_state(self.out, state)  # the commit
        self.state.clear()
        self.state.update(state)
        prune_run(self.out, state)


class MidiSamples(keras.callbacks.Callback):
    """Every `every` epochs, write a seeded sample to `samples/epoch-NNNN.mid`."""

    def __init__(self, out: Path, every: int, num_steps: int):
        super().__init__()
        self.out, self.every, self.num_steps = out, every, num_steps

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        from multinn.data import write_midi

        roll = self.model.generate(self.num_steps, seed=epoch + 1)[0]
        write_midi(roll, self.out / "samples" / f"epoch-{epoch + 1:04d}.mid", self.model.spec)
