"""`multinn evaluate`: likelihood, frame metrics and sample musical metrics of a model on a dataset split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from multinn.cli.common import load_model, model_options, model_source, quiet_tensorflow, stderr_console, stdout_console
from multinn.errors import MultinnError

FRAME_METRICS = ("frame_accuracy", "frame_precision", "frame_recall", "frame_f1")


def metrics_report(logs: dict, spec) -> dict:
    """Keras logs -> `{"nll", "nll_per_track": {track: nll}, frame metrics}` (NLL in nats per step;
    RBM generators also `pseudo_nll`)."""
    from multinn.models.multinn import metric_name

    report = {"nll": float(logs["nll"]) if "nll" in logs else None}
    per_track = {t: float(logs[metric_name(t)]) for t in spec.track_names if metric_name(t) in logs}
    report["nll_per_track"] = per_track
    if "pseudo_nll" in logs:
        report["pseudo_nll"] = float(logs["pseudo_nll"])
    report.update({k: float(logs[k]) for k in FRAME_METRICS if k in logs})
    return report


def evaluation_pipeline(dataset, batch_size: int):
    """Whole pieces in order, every batch padded to the longest piece of the split
    (`make_tf_dataset(..., shuffle=False, pad_to_longest=True)`), so that the NLL is the exact
    average over real steps, whatever the batch size. `dataset`: a `PianorollDataset` or a
    `ShardedSplit` (streamed)."""
    from multinn.data import make_tf_dataset

    return make_tf_dataset(dataset, batch_size, shuffle=False, pad_to_longest=True)


def recorded_nll(source: str, data: str, split: str) -> float | None:
    """The NLL a preset's metadata records for this dataset and split (`None` if none)."""
    from multinn.presets import read_metadata, resolve_preset

    meta = read_metadata(resolve_preset(source))
    if meta.get("dataset") != data:
        return None
    value = ((meta.get("metrics") or {}).get(split) or {}).get("nll")
    return None if value is None else float(value)


@click.command()
@model_options()
@click.option("--data", required=True, metavar="NAME", help="Dataset: jsb-chorales, bach-satb, lpd5, midi-folder.")
@click.option("--data-file", type=click.Path(), help="Local file or folder of the dataset (else downloaded).")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="test", show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the numbers as JSON.",
)
@click.option(
    "--samples",
    type=click.IntRange(1),
    metavar="N",
    help="Also generate N samples and compare their musical metrics with the split's.",
)
@click.option("--steps", type=click.IntRange(1), help="Steps per sample (with --samples) [default: 16 bars].")
@click.option("--temperature", type=click.FloatRange(0), default=1.0, show_default=True, help="Sampling temperature.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples.")
@click.option("--no-nll", is_flag=True, help="Skip the likelihood (with --samples: musical metrics only).")
@click.option("--max-pieces", type=click.IntRange(1), hidden=True, help="Use only the first N pieces.")
def evaluate(
    preset,
    model_dir,
    data,
    data_file,
    split,
    batch_size,
    json_path,
    samples,
    steps,
    temperature,
    seed,
    no_nll,
    max_pieces,
) -> None:
    """Negative log-likelihood (nats per time step: overall and per track) and frame metrics
    of a model on whole pieces of a dataset split; with --samples N, also the musical metrics
    (empty bars, pitch classes, qualified notes, polyphony, drum patterns, in-scale notes,
    tonal distance) of N generated samples next to the split's, and their relative gaps.

    \b
    Examples:
      multinn evaluate --preset jsb-chorales-rnn-nade --data jsb-chorales --split test
      multinn evaluate --preset bach-satb-composer --data bach-satb --samples 64 --no-nll --json m.json
    """
    from multinn import datasets

    if no_nll and not samples:
        raise MultinnError("--no-nll leaves nothing to evaluate: add --samples N")
    if steps and not samples:
        raise MultinnError("--steps sets the length of samples: add --samples N")
    source = model_source(preset, model_dir)
    err = stderr_console()
    quiet_tensorflow(tensorflow=True)  # evaluation reads its data through tf.data
    model = load_model(source)
    ds = datasets.load(data, split=split, path=data_file)
    if max_pieces:
        ds = ds.subset(range(min(max_pieces, len(ds))))
    model.spec.check_compatible(ds.spec, what=f"{data} data")
    report = {
        "model": source,
        "mode": model.mode,
        "dataset": data,
        "split": split,
        "pieces": len(ds),
        "frames": ds.num_frames,
    }
    if not no_nll:
        report.update(_likelihood(model, source, ds, data, split, batch_size, err))
    if samples:
        from multinn.metrics.sample_metrics import evaluate_samples

        with err.status(f"generating {samples} samples and computing musical metrics"):
            report["musical"] = evaluate_samples(model, ds, samples, steps, temperature, seed, batch_size=64)
        stdout_console().print(musical_table(report["musical"], f"{source}: {samples} samples vs {data}/{split}"))
    if json_path:
        from multinn.utils.io import atomic_write

        with atomic_write(json_path, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")


def _likelihood(model, source: str, ds, data: str, split: str, batch_size: int, err) -> dict:
    """Evaluate the NLL and frame metrics over whole pieces; print their table; return them."""
    from multinn.callbacks import EvaluationProgress

    pipeline = evaluation_pipeline(ds, batch_size)
    progress = EvaluationProgress(err, math.ceil(len(ds) / batch_size), f"evaluating {data}/{split}")
    logs = model.evaluate(pipeline, return_dict=True, verbose=0, callbacks=[progress])
    report = metrics_report(logs, model.spec)
    recorded = recorded_nll(source, data, split)
    if recorded is not None:
        report["recorded_nll"] = recorded

    from rich.table import Table

    table = Table(title=f"{source} on {data}/{split}: {len(ds)} pieces, {ds.num_frames} frames")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if report["nll"] is not None:
        table.add_row("NLL (nats/step)", f"{report['nll']:.4f}")
    for track, value in report["nll_per_track"].items():
        table.add_row(f"  NLL {track}", f"{value:.4f}")
    if "pseudo_nll" in report:
        table.add_row("pseudo-NLL (nats/step)", f"{report['pseudo_nll']:.4f}")
    for key in FRAME_METRICS:
        if key in report:
            table.add_row(key.replace("_", " "), f"{report[key]:.4f}")
    if recorded is not None:
        table.add_row("NLL recorded in the preset", f"{recorded:.4f}")
    stdout_console().print(table)
    return report


def _cell(value: float | None, gap: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if gap else f"{value:.3f}"


def musical_table(report: dict, title: str):
    """A rich table of `compare_metrics` / `evaluate_samples` output: one section per track
    (then tonal distances), columns samples / data / relative gap."""
    from rich.table import Table

    from multinn.metrics.musical import METRIC_INFO

    table = Table(title=title)
    for column in ("track", "metric", "samples", "data", "gap"):
        table.add_column(column, justify="left" if column in ("track", "metric") else "right")
    for track, rows in report["tracks"].items():
        for i, (key, row) in enumerate(rows.items()):
            label = f"{METRIC_INFO[key][0]}  {METRIC_INFO[key][1]}" if key in METRIC_INFO else key
            table.add_row(
                track if i == 0 else "", label, _cell(row["samples"]), _cell(row["data"]), _cell(row["gap"], gap=True)
            )
        table.add_section()
    for pair, row in report["tonal_distance"].items():
        table.add_row(
            pair, "TD  tonal distance", _cell(row["samples"]), _cell(row["data"]), _cell(row["gap"], gap=True)
        )
    if report.get("mean_abs_gap") is not None:
        table.add_section()
        table.add_row("all", "mean |gap|", "", "", f"{report['mean_abs_gap']:.1%}")
    return table
