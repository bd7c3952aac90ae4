"""Data-layer benchmark: dataset preparation, cache reads, MIDI I/O and tf.data throughput.

Usage: python benchmarks/data.py [--data-dir ../shared/data/jsb]
Prints a table; numbers go in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsb"
    parser.add_argument("--data-dir", type=Path, default=default)
    args = parser.parse_args()
    os.environ["MULTINN_HOME"] = tempfile.mkdtemp(prefix="multinn-bench-")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from multinn import datasets
    from multinn.data import make_tf_dataset, read_midi, write_midi

    table = Table(title=f"multinn data layer ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    for column in ("what", "dataset", "time", "throughput"):
        table.add_column(column, justify="right" if column in ("time", "throughput") else "left")
    files = {"jsb-chorales": "jsb-chorales-quarter.json", "bach-satb": "Jsb16thSeparated.json"}
    for name, filename in files.items():
        path = args.data_dir / filename
        cold, splits = timed(
            lambda name=name, path=path: datasets.load(name, split=None, path=path, cache=False), repeat=1
        )
        frames = sum(d.num_frames for d in splits.values())
        table.add_row("prepare from JSON", name, f"{cold * 1000:.0f} ms", f"{frames / cold:,.0f} frames/s")
        datasets.load(name, split=None, path=path)
        warm, _ = timed(lambda name=name, path=path: datasets.load(name, split=None, path=path))
        table.add_row("load from .npz cache", name, f"{warm * 1000:.0f} ms", f"{frames / warm:,.0f} frames/s")

        test = splits["test"]
        out = Path(os.environ["MULTINN_HOME"]) / "midi"
        out.mkdir(exist_ok=True)

        def write_all(test=test, out=out):
            return [write_midi(r, out / f"{i}.mid", test.spec) for i, r in enumerate(test)]

        def read_all(test=test, out=out):
            return [read_midi(out / f"{i}.mid", test.spec) for i in range(len(test))]

        write, _ = timed(write_all, repeat=1)
        read, _ = timed(read_all, repeat=1)
        table.add_row("write_midi (test split)", name, f"{write * 1000:.0f} ms", f"{len(test) / write:,.0f} files/s")
        table.add_row("read_midi (test split)", name, f"{read * 1000:.0f} ms", f"{len(test) / read:,.0f} files/s")

        train = splits["train"]
        crop = 16 if name == "bach-satb" else 32
        pipeline = make_tf_dataset(train, 64, crop_beats=crop, transpose=3, seed=0, repeat=True)
        iterator = iter(pipeline)
        next(iterator)  # build the graph
        steps = 50
        start = time.perf_counter()
        for _ in range(steps):
            next(iterator)
        elapsed = time.perf_counter() - start
        frames = steps * 64 * crop * train.spec.steps_per_beat
        table.add_row(
            f"tf.data crops ({crop} beats, transpose 3, batch 64)",
            name,
            f"{elapsed / steps * 1000:.1f} ms/batch",
            f"{frames / elapsed:,.0f} frames/s",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
