"""Harmonisation benchmark on bach-satb: how well does each mode accompany a given voice?

Trains Joint, Composer, Jamming, Feedback (dense) and Composer with in-frame conditioning
(`in_frame=True`) on the bach-satb train split with the same wall-clock budget and similar
parameter counts (benchmarks/modes.py's sizing and training: the LSTM width of each mode is chosen
so that its parameter count is closest to `--params`; the weights of the best validation epoch are
kept). Then, on the test split:

- **Conditional NLL** (nats per step, whole pieces): minus the log-likelihood terms of the other
  three voices, summed over the voices, with the given voice (soprano; bass) first in the track
  order. For the in-frame model these terms are exactly `log p(others_t | x_<t, given_t)`: the
  voices hear the given voice's current note. Composer, Jamming and Feedback have tracks that are
  independent within a frame given the past, so their terms are `log p(others_t | x_<t)`: the
  given voice's past only. Joint's terms are the chain-rule terms of the other voices' units in
  its pitch-major unit order: each unit given every voice's units below its pitch (the given
  voice's current note only where it is lower; for the bass, usually; for the soprano, rarely).
- **Harmonisations**: for each test piece of at least `--bars` bars, its first `--bars` bars with
  the given voice fixed and the other three generated (`generate(fixed_tracks=...)`, one batched
  call per model and voice), then the musical-metric gaps of those harmonisations against the
  same crops of the data (`compare_metrics`; mean |gap| over the generated voices' metrics and all
  voice pairs' tonal distances) and the rate of dissonant vertical intervals against the given
  voice on strong beats (minor seconds / ninths, tritones, major sevenths, in any octave, between a
  note of the given voice and a note of another voice sounding at the first and third beat of a
  4/4 bar: every pair of such notes counts once), for the data and for each model.

Usage:
    python benchmarks/harmonise.py [--data-file ../shared/data/jsb/Jsb16thSeparated.json]
        [--minutes 8] [--params 250000] [--modes joint,composer,jamming,feedback-dense,composer-in-frame]
        [--bars 8] [--out results.json] [--save DIR]

The default budget (5 models x 8 minutes of training, plus sizing and evaluation) runs in about
50 minutes on 2 CPU cores. Results: docs/benchmarks.md ("Harmonisation").
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from modes import add_training_arguments, finish, sized, train_with_budget  # benchmarks/modes.py, beside this script

MODES = {
    "joint": ("joint", {}),
    "composer": ("composer", {}),
    "jamming": ("jamming", {}),
    "feedback-dense": ("feedback", {"feedback": "dense", "feedback_units": [64]}),
    "composer-in-frame": ("composer", {"in_frame": True}),
    "composer-in-frame-64": ("composer", {"in_frame": True, "in_frame_units": 64}),
    "jamming-in-frame": ("jamming", {"in_frame": True}),
    "feedback-in-frame": ("feedback", {"feedback": "dense", "feedback_units": [64], "in_frame": True}),
}
"""The compared models (name: (mode, model options)); the default run leaves out the last two."""
DEFAULT_MODES = ("joint", "composer", "jamming", "feedback-dense", "composer-in-frame")
GIVEN = ("Soprano", "Bass")
DISSONANT_INTERVALS = (1, 6, 11)
"""Interval classes (semitones mod 12) counted as dissonant: minor second, tritone, major seventh."""


def track_nll(model, split, given: str, batch_size: int = 16) -> np.ndarray:
    """Minus the log-likelihood terms of each track per real step, `[K]` nats, with `given` first
    in the track order (in-frame models; the others have no order)."""
    import keras

    from multinn.backend import compile_function
    from multinn.cli.evaluate import evaluation_pipeline

    def sums(x, m, ranks):
        out = model._teacher_forced(x, False, likelihood=True, mask=m, ranks=ranks)
        return keras.ops.sum(out["track_log_prob"] * m[..., None], axis=(0, 1)), keras.ops.sum(m)

    fn = compile_function(model, sums, jit_compile=False)
    ranks = model.track_ranks([given])
    total, steps = np.zeros(model.num_tracks), 0.0
    for x, m in evaluation_pipeline(split, batch_size):
        s, n = fn(x, m, ranks)
        total += keras.ops.convert_to_numpy(s)
        steps += float(keras.ops.convert_to_numpy(n))
    return -total / steps


def crops(split, bars: int) -> np.ndarray:
    """The first `bars` bars of every piece at least that long: bool `[N, bars * steps_per_bar, P, K]`."""
    steps = bars * split.spec.steps_per_bar
    return np.stack([piece[:steps] for piece in split if len(piece) >= steps]).astype(bool)


def strong_beats(num_steps: int, spec) -> np.ndarray:
    """Steps on the first and third beat of a 4/4 bar (the downbeat only in other metres)."""
    t = np.arange(num_steps)
    if spec.beats_per_bar % 2:
        return t[t % spec.steps_per_bar == 0]
    return t[t % (spec.steps_per_bar // 2) == 0]


def dissonance_rate(rolls: np.ndarray, given: int, spec) -> float:
    """Share of the (given-voice note, other-voice note) pairs sounding together on strong beats
    whose interval class is in `DISSONANT_INTERVALS`."""
    x = rolls[:, strong_beats(rolls.shape[1], spec)].astype(np.float64)
    g = x[..., given]  # [N, S, P]
    others = np.delete(x, given, axis=-1).sum(-1)  # notes of the other voices at each pitch
    pitches = np.arange(spec.num_pitches)
    classes = np.abs(pitches[:, None] - pitches[None, :]) % 12
    dissonant = np.isin(classes, DISSONANT_INTERVALS).astype(np.float64)
    pairs = np.einsum("nsp,nsq->", g, others)
    return float(np.einsum("nsp,pq,nsq->", g, dissonant, others) / max(pairs, 1.0))


def free_voice_gap(musical: dict, given: str) -> float | None:
    """Mean |gap| of `compare_metrics` over the generated voices' metrics and every voice pair's
    tonal distance (the given voice's own metrics equal the data's)."""
    gaps = [
        abs(row["gap"])
        for track, rows in musical["tracks"].items()
        if track != given
        for row in rows.values()
        if row["gap"] is not None
    ]
    gaps += [abs(row["gap"]) for row in musical["tonal_distance"].values() if row["gap"] is not None]
    return float(np.mean(gaps)) if gaps else None


def run_model(name: str, splits: dict, data: np.ndarray, args, console) -> dict:
    import keras

    from multinn.metrics.sample_metrics import compare_metrics

    keras.utils.set_random_seed(args.seed)
    spec = splits["train"].spec
    model = sized(name, spec, args, MODES)
    trained = train_with_budget(name, model, splits, args, console)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        model.save(args.save / f"{name}.keras")
    result = {"model": name, "params": model.count_params(), "rnn_units": list(model.rnn_units), **trained}
    for given in GIVEN:
        k = spec.track_index(given)
        per_track = track_nll(model, splits["test"], given)
        fixed = {given: data[..., k]}
        t0 = time.monotonic()
        harmonised = model.generate(data.shape[1], batch_size=len(data), fixed_tracks=fixed, seed=args.seed)
        seconds = time.monotonic() - t0
        assert np.array_equal(harmonised[..., k], data[..., k])  # the given voice comes back unchanged
        musical = compare_metrics(harmonised, data, spec)
        result[given] = {
            "nll_per_track": dict(zip(spec.track_names, per_track.tolist(), strict=True)),
            "nll": float(per_track.sum()),
            "conditional_nll": float(np.delete(per_track, k).sum()),
            "dissonance_rate": dissonance_rate(harmonised, k, spec),
            "mean_abs_gap": free_voice_gap(musical, given),
            "generate_seconds": seconds,
            "musical": musical,
        }
        console.print(
            f"  [{name}] given {given}: NLL of the others {result[given]['conditional_nll']:.3f}, "
            f"dissonance {result[given]['dissonance_rate']:.1%}, mean |gap| {result[given]['mean_abs_gap']:.1%}"
        )
    return result


def tables(results: list[dict], data_rates: dict):
    from rich.table import Table

    nll = Table(title="Harmonisation on bach-satb (test split, whole pieces): NLL in nats per step")
    for column in ("model", "params", "LSTM", "epochs (best)", "test NLL", "A+T+B | S", "S+A+T | B", "train fr/s"):
        nll.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        nll.add_row(
            r["model"],
            f"{r['params']:,}",
            ",".join(map(str, r["rnn_units"])),
            f"{r['epochs']} ({r['best_epoch']})",
            f"{r['Soprano']['nll']:.3f}",
            f"{r['Soprano']['conditional_nll']:.3f}",
            f"{r['Bass']['conditional_nll']:.3f}",
            f"{r['train_frames_per_s']:,.0f}",
        )
    music = Table(title="Harmonisations of the test crops: dissonance on strong beats, mean |gap| to the data")
    for column in ("model", "dissonance | S", "dissonance | B", "mean |gap| | S", "mean |gap| | B"):
        music.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        music.add_row(
            r["model"],
            f"{r['Soprano']['dissonance_rate']:.1%}",
            f"{r['Bass']['dissonance_rate']:.1%}",
            f"{r['Soprano']['mean_abs_gap']:.1%}",
            f"{r['Bass']['mean_abs_gap']:.1%}",
        )
    music.add_section()
    music.add_row("test data", f"{data_rates['Soprano']:.1%}", f"{data_rates['Bass']:.1%}", "0", "0")
    return nll, music


def goal_line(results: list[dict]) -> str | None:
    """The issue's goal: the in-frame model's NLL of A+T+B given S against the best model without it."""
    in_frame = [r for r in results if r["model"].endswith("in-frame")]
    per_track = [r for r in results if not r["model"].endswith("in-frame") and r["model"] != "joint"]
    if not in_frame or not per_track:
        return None
    best = min(per_track, key=lambda r: r["Soprano"]["conditional_nll"])
    ours = min(in_frame, key=lambda r: r["Soprano"]["conditional_nll"])
    change = ours["Soprano"]["conditional_nll"] / best["Soprano"]["conditional_nll"] - 1.0
    return (
        f"A+T+B given S: {ours['model']} {ours['Soprano']['conditional_nll']:.3f} vs best per-track mode "
        f"{best['model']} {best['Soprano']['conditional_nll']:.3f}: {change:+.1%} (goal: -15% or lower)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser)
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help="comma-separated, from: " + ", ".join(MODES))
    parser.add_argument("--bars", type=int, default=8, help="length of the harmonised test crops")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--save", type=Path, help="save each trained model as DIR/NAME.keras")
    args = parser.parse_args()
    names = [n.strip() for n in args.modes.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from rich.console import Console

    from multinn import datasets

    console = Console(width=None if Console().is_terminal else 150)
    splits = datasets.load("bach-satb", split=None, path=args.data_file)
    spec = splits["train"].spec
    data = crops(splits["test"], args.bars)
    data_rates = {g: dissonance_rate(data, spec.track_index(g), spec) for g in GIVEN}
    console.print(f"{len(data)} test crops of {args.bars} bars; data dissonance on strong beats {data_rates}")
    started = time.monotonic()
    results = [run_model(name, splits, data, args, console) for name in names]
    for table in tables(results, data_rates):
        console.print(table)
    goal = goal_line(results)
    if goal:
        console.print(goal)
    record = {"results": results, "data_dissonance_rate": data_rates, "test_crops": len(data), "goal": goal}
    finish(args, console, started, record)


if __name__ == "__main__":
    main()
