"""Mode comparison on bach-satb: do the inter-track modes (Composer, Feedback) beat Jamming?

Trains Joint, Composer, Jamming, Feedback (dense) and Feedback (rnn) on the bach-satb train split
(four voices, 16th-note steps) with the same wall-clock budget and similar parameter counts (the
LSTM width of each mode is chosen so that its parameter count is closest to `--params`), keeping
the weights of the epoch with the best validation NLL. Then, for each mode: test NLL on whole
pieces (overall and per voice, nats per step), training frames/s (train steps only, validation
excluded), generation frames/s (`--samples` four-voice samples of 16 bars in one compiled call,
after a warm-up call), and the musical metrics of those samples against the test split's
(`multinn.metrics`: each metric averaged over voices, with its relative gap to the test data;
`mean |gap|` averages the absolute relative gaps over every defined per-voice entry and voice
pair). Qualified notes are left out of the table: at 4 steps per beat every note is at least the
default minimum length (one step), so QN is 1 for data and samples alike.

Usage:
    python benchmarks/modes.py [--data-file ../shared/data/jsb/Jsb16thSeparated.json]
        [--minutes 8] [--params 250000] [--num-hidden 64] [--batch-size 16] [--lr 2e-3]
        [--samples 64] [--modes joint,composer,jamming,feedback-dense,feedback-rnn]
        [--out results.json] [--plots DIR]

The default budget (5 modes x 8 minutes of training, plus evaluation) runs in about 50 minutes on
2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

from models import MODES as MODEL_BENCHMARK_MODES  # benchmarks/models.py, beside this script

MODES = {name: mode for name, mode in MODEL_BENCHMARK_MODES.items() if name != "joint-rbm"}
"""The compared modes: benchmarks/models.py's NADE configurations (name: (mode, model options))."""
GAP_COLUMNS = ("empty_bar_rate", "used_pitches", "used_pitch_classes", "polyphonic_rate", "in_scale_rate")


def build(name: str, spec, units: int, args, modes: dict = MODES):
    """A compiled, built model of mode `name` (a key of `modes`) with one LSTM layer of `units`."""
    import keras
    import numpy as np

    from multinn.models import MODES as CLASSES

    mode, options = modes[name]
    model = CLASSES[mode](
        spec, rnn_units=[units], num_hidden=args.num_hidden, dropout=args.dropout, seed=args.seed, **options
    )
    model(np.zeros((1, 2, spec.num_pitches, spec.num_tracks), "float32"))
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    return model


def sized(name: str, spec, args, modes: dict = MODES):
    """The model of mode `name` whose parameter count is closest to `args.params` (bisection on the LSTM width)."""
    low, high = 4, 1024
    while high - low > 1:
        mid = (low + high) // 2
        if build(name, spec, mid, args, modes).count_params() < args.params:
            low = mid
        else:
            high = mid
    candidates = [build(name, spec, u, args, modes) for u in (low, high)]
    return min(candidates, key=lambda m: abs(m.count_params() - args.params))


def train_frames_per_epoch(dataset) -> int:
    """Real (unpadded) time steps in one epoch of training crops."""
    return int(sum(float(mask.numpy().sum()) for _, mask in dataset))


def train_with_budget(name: str, model, splits: dict, args, console) -> dict:
    """Fit `model` on the train split for `args.minutes` of wall time (whole epochs), keeping the
    weights of the epoch with the best validation NLL: epochs, best epoch, best validation NLL,
    minutes, and training frames/s (the median epoch after the first, validation excluded)."""
    import keras
    import numpy as np

    from multinn.cli.evaluate import evaluation_pipeline
    from multinn.data import make_tf_dataset

    train = make_tf_dataset(splits["train"], args.batch_size, crop_beats=args.crop_beats, seed=args.seed)
    valid = evaluation_pipeline(splits["valid"], 32)
    frames_per_epoch = train_frames_per_epoch(train)
    deadline = time.monotonic() + args.minutes * 60
    train_seconds = []

    class Budget(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.monotonic()

        def on_test_begin(self, logs=None):  # validation starts: the epoch's training is over
            if hasattr(self, "start"):
                train_seconds.append(time.monotonic() - self.start)

        def on_epoch_end(self, epoch, logs=None):
            console.print(f"  [{name}] epoch {epoch + 1}: loss {logs['loss']:.3f}, val_nll {logs['val_nll']:.4f}")
            if time.monotonic() > deadline:
                self.model.stop_training = True

    console.print(f"[bold]{name}[/]: {model.count_params():,} parameters, LSTM {model.rnn_units}")
    start = time.monotonic()
    history = model.fit(
        train,
        validation_data=valid,
        epochs=10_000,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_nll", mode="min", patience=10_000, restore_best_weights=True),
            Budget(),
        ],
    )
    val = history.history["val_nll"]
    # The first epoch includes tracing and compiling: the median of the others is the speed.
    steady = train_seconds[1:] or train_seconds
    return {
        "epochs": len(val),
        "best_epoch": int(np.argmin(val)) + 1,
        "best_val_nll": float(np.min(val)),
        "train_minutes": (time.monotonic() - start) / 60,
        "train_frames_per_s": frames_per_epoch / float(np.median(steady)),
    }


def run_mode(name: str, splits: dict, args, console) -> dict:
    import keras

    from multinn.cli.evaluate import evaluation_pipeline, metrics_report
    from multinn.metrics.sample_metrics import compare_metrics

    keras.utils.set_random_seed(args.seed)
    spec = splits["train"].spec
    model = sized(name, spec, args)
    trained = train_with_budget(name, model, splits, args, console)
    test = metrics_report(model.evaluate(evaluation_pipeline(splits["test"], 32), verbose=0, return_dict=True), spec)

    steps = 16 * spec.steps_per_bar
    model.generate(steps, batch_size=args.samples, seed=args.seed)  # warm-up: compiles the loop
    t0 = time.monotonic()
    samples = model.generate(steps, batch_size=args.samples, seed=args.seed + 1)
    generate_seconds = time.monotonic() - t0
    musical = compare_metrics(samples, splits["test"], spec)
    if args.plots:
        from multinn.plotting import plot

        args.plots.mkdir(parents=True, exist_ok=True)
        plot(
            samples[0][: 8 * spec.steps_per_bar],
            spec,
            args.plots / f"modes-{name}.png",
            title=f"{name}: sample 1 (first 8 bars), seed {args.seed + 1}",
        )
    return {
        "mode": name,
        "params": model.count_params(),
        "rnn_units": list(model.rnn_units),
        **trained,
        "test": test,
        "generate_frames_per_s": args.samples * steps / generate_seconds,
        "musical": musical,
    }


def track_mean(musical: dict, key: str, field: str) -> float | None:
    """Mean of `field` ("samples", "data" or "gap") of one metric over the tracks where it is defined."""
    values = [rows[key][field] for rows in musical["tracks"].values() if key in rows and rows[key][field] is not None]
    return sum(values) / len(values) if values else None


def pair_mean(musical: dict, field: str) -> float | None:
    """Mean of `field` of the tonal distance over the track pairs where it is defined."""
    values = [row[field] for row in musical["tonal_distance"].values() if row[field] is not None]
    return sum(values) / len(values) if values else None


def value_and_gap(value: float | None, gap: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" ({gap:+.0%})" if gap is not None else "")


def tables(results: list[dict], spec):
    from rich.table import Table

    from multinn.metrics.musical import METRIC_INFO

    main = Table(title="MultINN modes on bach-satb (test split, whole pieces; NLL in nats per step)")
    for column in (
        "mode",
        "params",
        "LSTM",
        "epochs (best)",
        "test NLL",
        *(f"NLL {t[0]}" for t in spec.track_names),
        "train frames/s",
        "gen frames/s",
        "mean |gap|",
    ):
        main.add_column(column, justify="left" if column == "mode" else "right")
    for r in results:
        per_track = [r["test"]["nll_per_track"].get(t) for t in spec.track_names]
        mean_abs = r["musical"]["mean_abs_gap"]
        main.add_row(
            r["mode"],
            f"{r['params']:,}",
            ",".join(map(str, r["rnn_units"])),
            f"{r['epochs']} ({r['best_epoch']})",
            f"{r['test']['nll']:.3f}",
            *(f"{v:.3f}" if v is not None else "-" for v in per_track),
            f"{r['train_frames_per_s']:,.0f}",
            f"{r['generate_frames_per_s']:,.0f}",
            f"{mean_abs:.1%}" if mean_abs is not None else "-",
        )
    gaps = Table(title="Musical metrics of 16-bar samples, mean over voices (relative gap to the test data)")
    gaps.add_column("mode")
    for key in GAP_COLUMNS:
        gaps.add_column(METRIC_INFO[key][0], justify="right")
    gaps.add_column("TD", justify="right")
    for r in results:
        m = r["musical"]
        cells = [value_and_gap(track_mean(m, key, "samples"), track_mean(m, key, "gap")) for key in GAP_COLUMNS]
        gaps.add_row(r["mode"], *cells, value_and_gap(pair_mean(m, "samples"), pair_mean(m, "gap")))
    gaps.add_section()
    first = results[0]["musical"]
    gaps.add_row(
        "test data",
        *(value_and_gap(track_mean(first, key, "data"), None) for key in GAP_COLUMNS),
        value_and_gap(pair_mean(first, "data"), None),
    )
    return main, gaps


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The data and training options that `build`, `sized` and `train_with_budget` read."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsb" / "Jsb16thSeparated.json"
    parser.add_argument("--data-file", type=Path, default=default if default.is_file() else None)
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per model")
    parser.add_argument("--params", type=int, default=250_000, help="target parameter count of every model")
    parser.add_argument("--num-hidden", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop-beats", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, from: " + ", ".join(MODES))
    parser.add_argument("--samples", type=int, default=64, help="16-bar samples per mode for metrics and speed")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--plots", type=Path, help="write one sample picture per mode into this folder")
    args = parser.parse_args()
    names = [n.strip() for n in args.modes.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {list(MODES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from rich.console import Console

    from multinn import datasets

    console = Console(width=None if Console().is_terminal else 150)
    splits = datasets.load("bach-satb", split=None, path=args.data_file)
    started = time.monotonic()
    results = [run_mode(name, splits, args, console) for name in names]
    main_table, gap_table = tables(results, splits["train"].spec)
    console.print(main_table)
    console.print(gap_table)
    finish(args, console, started, {"results": results})


def finish(args, console, started: float, record: dict) -> None:
    """Print the total time, machine and date; with `--out`, write `record` with them and the options as JSON."""
    total = (time.monotonic() - started) / 60
    machine = f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    console.print(f"total {total:.1f} min; {machine}; {datetime.date.today()}")
    if args.out:
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        record = {**record, "config": config, "total_minutes": total, "machine": machine}
        args.out.write_text(json.dumps({**record, "date": str(datetime.date.today())}, indent=2))


if __name__ == "__main__":
    main()
