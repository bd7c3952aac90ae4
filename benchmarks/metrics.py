"""Speed of the musical metrics (`multinn.metrics.musical`) on LPD-5-sized random rolls.

Usage: python benchmarks/metrics.py [--bars 10000] [--bars-per-piece 4] [--repeat 5]

The rolls have LPD-5's layout (5 tracks: drums, piano, guitar, bass, strings; 84 pitches; 48 steps
per bar) and note-like content: each bar of each track is empty with probability 0.15, else it
holds a few notes of random pitch and length (drums: 1-step hits, mostly on the 16th grid).
The table shows the best of `--repeat` runs of each metric over all bars, and the values per
track, so a broken metric shows as a wrong number as well as a slow one. No TensorFlow needed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from multinn.data import PianorollSpec, TrackSpec
from multinn.metrics import musical

SPEC = PianorollSpec(
    steps_per_beat=12,
    lowest_pitch=24,
    highest_pitch=107,
    tracks=[
        TrackSpec("Drums", is_drum=True),
        TrackSpec("Piano"),
        TrackSpec("Guitar", 24),
        TrackSpec("Bass", 32),
        TrackSpec("Strings", 48),
    ],
)
"""LPD-5's layout (as `multinn.datasets.LPD5_SPEC`)."""


def random_rolls(bars: int, bars_per_piece: int, seed: int = 0) -> np.ndarray:
    """Bool `[bars / bars_per_piece, bars_per_piece * 48, 84, 5]` with note-like random content."""
    rng = np.random.default_rng(seed)
    steps_per_bar, pitches, tracks = SPEC.steps_per_bar, SPEC.num_pitches, SPEC.num_tracks
    pieces = bars // bars_per_piece
    rolls = np.zeros((pieces, bars_per_piece * steps_per_bar, pitches, tracks), dtype=bool)
    ranges = [(11, 58), (24, 72), (16, 60), (4, 36), (20, 72)]  # pitch index ranges per track
    for track, (low, high) in enumerate(ranges):
        notes_per_bar = 12 if track == 0 else 6
        count = pieces * bars_per_piece * notes_per_bar
        bar = rng.integers(0, pieces * bars_per_piece, count)
        if track == 0:
            start = rng.integers(0, 16, len(bar)) * 3 + (rng.random(len(bar)) < 0.1)
            length = np.ones(len(bar), np.int64)
        else:
            start = rng.integers(0, steps_per_bar, len(bar))
            length = rng.choice([2, 3, 6, 12, 24, 48], len(bar))
        pitch = rng.integers(low, high, len(bar))
        piece, step = bar // bars_per_piece, (bar % bars_per_piece) * steps_per_bar + start
        for offset in range(int(length.max())):
            keep = (offset < length) & (step + offset < rolls.shape[1])
            rolls[piece[keep], step[keep] + offset, pitch[keep], track] = True
    by_bar = rolls.reshape(pieces, bars_per_piece, steps_per_bar, pitches, tracks)
    piece, bar, track = np.nonzero(rng.random((pieces, bars_per_piece, tracks)) < 0.15)
    by_bar[piece, bar, :, :, track] = False  # empty bars
    return rolls


def best_seconds(fn, repeat: int):
    """Best wall time of `fn()` over `repeat` calls, and its result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def show(values) -> str:
    values = np.asarray(values)
    if values.ndim == 2:  # tonal distance: the pairs above the diagonal that are defined
        rows, cols = np.triu_indices(len(values), 1)
        values = values[rows, cols]
        values = values[~np.isnan(values)]
    return " ".join("  -  " if np.isnan(v) else f"{v:5.3f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--bars-per-piece", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    rolls = random_rolls(args.bars, args.bars_per_piece)
    made = time.perf_counter() - start
    bars, spb, low = args.bars, SPEC.steps_per_bar, SPEC.lowest_pitch
    calls = {
        "empty_bar_rate": lambda r: musical.empty_bar_rate(r, spb),
        "used_pitches": lambda r: musical.used_pitches(r, spb),
        "used_pitch_classes": lambda r: musical.used_pitch_classes(r, spb, low),
        "qualified_note_rate": lambda r: musical.qualified_note_rate(r, musical.default_min_length(12)),
        "polyphonic_rate": lambda r: musical.polyphonic_rate(r),
        "in_scale_rate": lambda r: musical.in_scale_rate(r, low),
        "drum_pattern_rate": lambda r: musical.drum_pattern_rate(r, spb),
        "tonal_distance": lambda r: musical.tonal_distance(r, spb, low),
    }
    title = (
        f"musical metrics: {bars:,} bars x {SPEC.num_tracks} tracks, {spb} steps x {SPEC.num_pitches} pitches "
        f"({rolls.shape} bool, {rolls.mean():.2%} on, made in {made:.1f} s); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}"
    )
    table = Table(title=title)
    for column, justify in [
        ("metric", "left"),
        ("", "left"),
        ("time", "right"),
        ("bars/s", "right"),
        ("value per track (D P G B S) / per pair for TD", "left"),
    ]:
        table.add_column(column, justify=justify)
    total = 0.0
    for key, call in calls.items():
        seconds, value = best_seconds(lambda c=call: c(rolls), args.repeat)
        total += seconds
        label = musical.METRIC_INFO[key][0]
        table.add_row(key, label, f"{seconds * 1000:,.0f} ms", f"{bars / seconds:,.0f}", show(value))
    table.add_row("all eight, one call each", "", f"{total * 1000:,.0f} ms", f"{bars / total:,.0f}", "", style="bold")
    inputs = {
        "musical_metrics (one pass, bool)": lambda: rolls,
        "musical_metrics (list of pieces)": lambda: list(rolls),
        "musical_metrics (float32 input)": lambda: rolls.astype(np.float32),
    }
    for name, make in inputs.items():
        data = make()
        seconds, values = best_seconds(lambda data=data: musical.musical_metrics(data, SPEC), args.repeat)
        table.add_row(name, "", f"{seconds * 1000:,.0f} ms", f"{bars / seconds:,.0f}", "", style="bold")
        del data
    console = Console(width=max(150, Console().width))
    console.print(table)
    spec_table = Table(title="musical_metrics(rolls, LPD-5 spec): per track, NaN shown as -")
    spec_table.add_column("metric")
    for name in SPEC.track_names:
        spec_table.add_column(name, justify="right")
    for key, value in values.items():
        if key != "tonal_distance":
            spec_table.add_row(musical.METRIC_INFO[key][0], *show(value).split())
    console.print(spec_table)


if __name__ == "__main__":
    main()
