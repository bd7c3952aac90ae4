"""Streaming benchmark: LPD-5-scale data prepared as shards and trained on, in bounded memory.

Builds a synthetic LPD-5 phrase file (`[n, 4 bars, 48 steps, 84 pitches, 5 tracks]`, sparse
`nonzero` + `shape` as MuseGAN/MultINN ship it) whose dense size as bool is >= 2 GB, written in
blocks of pieces without ever building the whole array; then, each in its own subprocess:
`multinn data prepare FILE --data lpd5 --shards DIR`, training a small Composer model from the
shards for a number of steps (`ShardedDataset.tf_dataset`, `keras.Model.fit`), and a short
`multinn train --data shards` run; optionally (`--baseline`) the in-memory `read_lpd5` of the
same file for comparison. Peak memory is each subprocess's `ru_maxrss` (from `os.wait4`).

Usage: python benchmarks/streaming.py [--pieces 27000] [--steps 60] [--workdir DIR] [--baseline]
Prints a table; the numbers are in docs/distributed.md ("Streaming data") with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

BARS, STEPS_PER_BAR, PITCHES, TRACKS = 4, 48, 84, 5
PHRASE_STEPS = BARS * STEPS_PER_BAR
CELLS = PHRASE_STEPS * PITCHES * TRACKS  # 80,640 cells (bytes as bool) per phrase
BLOCK = 256  # pieces generated (dense) at a time: 20 MB
DRUMS, PIANO, GUITAR, BASS, STRINGS = range(TRACKS)


# ---------------------------------------------------------------------------------------------- data
def phrase_block(seed: int, block: int, count: int) -> np.ndarray:
    """`count` plausible 4-bar LPD-5 phrases, dense bool `[count, 192, 84, 5]`, reproducible per block.

    Each phrase has a key and a chord per bar (I, IV, V, vi); piano plays the chord on beats,
    strings hold it per bar, guitar strums root and fifth on eighths, bass plays the root on beats,
    drums play kick, snare and hi-hat; each track is absent from some phrases (empty tracks are
    common in LPD-5). About 1.5 % of cells are on, like LPD-5.
    """
    rng = np.random.default_rng([seed, block])
    roll = np.zeros((count, PHRASE_STEPS, PITCHES, TRACKS), bool)
    pieces = np.arange(count)
    key = rng.integers(0, 12, count)
    degree = rng.integers(0, 4, (count, BARS))
    degree[:, 0] = 0
    root = (key[:, None] + np.array([0, 5, 7, 9])[degree]) % 12  # pitch class of each bar's chord
    third = np.where(degree == 3, 3, 4)  # vi is minor
    present = rng.random((count, TRACKS)) < np.array([0.92, 0.95, 0.75, 0.9, 0.7])
    beat = 12

    def hold(track, start, length, pitch, on):
        roll[pieces[on], start : start + length, pitch[on], track] = True

    for bar in range(BARS):
        chord = [root[:, bar], root[:, bar] + third[:, bar], root[:, bar] + 7]
        bar_start = bar * STEPS_PER_BAR
        for note in chord:  # strings: the chord held through the bar, MIDI 72..90
            hold(STRINGS, bar_start, STEPS_PER_BAR - 1, 48 + note, present[:, STRINGS])
        for b in range(4):
            start = bar_start + b * beat
            piano_on = present[:, PIANO] & (rng.random(count) < 0.8)
            for note in chord:  # piano: the chord on the beat, MIDI 60..78
                hold(PIANO, start, beat - 1, 36 + note, piano_on)
            bass_on = present[:, BASS] & (rng.random(count) < 0.9)
            hold(BASS, start, beat - 2, 12 + root[:, bar], bass_on)  # MIDI 36..47
            for half in range(2):
                eighth = start + half * 6
                strum = present[:, GUITAR] & (rng.random(count) < 0.6)
                for note in (root[:, bar], root[:, bar] + 7):  # guitar: MIDI 52..70
                    hold(GUITAR, eighth, 5, 28 + note, strum)
                hold(DRUMS, eighth, 2, np.full(count, 18), present[:, DRUMS])  # closed hi-hat (42)
            drum = np.full(count, 12 if b % 2 == 0 else 14)  # kick (36) on 1 and 3, snare (38) on 2 and 4
            hold(DRUMS, start, 2, drum, present[:, DRUMS])
    return roll


def block_nonzero(seed: int, block: int, count: int) -> np.ndarray:
    """`np.nonzero` of the block as 5-D phrases `[piece, bar, step, pitch, track]`, pieces offset."""
    piece, time_, pitch, track = np.nonzero(phrase_block(seed, block, count))
    return np.stack([piece + block * BLOCK, time_ // STEPS_PER_BAR, time_ % STEPS_PER_BAR, pitch, track])


def write_synthetic_lpd5(path: Path, pieces: int, seed: int = 0) -> int:
    """Write the sparse `.npz` (compressed) in blocks; returns the number of active cells.

    `nonzero` is `[5, N]` in C order (row after row, like `np.array(np.nonzero(x))`): one pass
    counts the cells, then each row is written block by block, regenerating the blocks (they are
    seeded per block), so memory holds one dense block, never the whole array.
    """
    blocks = [(b, min(BLOCK, pieces - b * BLOCK)) for b in range(-(-pieces // BLOCK))]
    total = sum(int(phrase_block(seed, b, n).sum()) for b, n in blocks)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        with zf.open("shape.npy", "w") as f:
            np.lib.format.write_array(f, np.array([pieces, BARS, STEPS_PER_BAR, PITCHES, TRACKS]))
        with zf.open("nonzero.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (5, total)})
            for row in range(5):
                for b, n in blocks:
                    f.write(block_nonzero(seed, b, n)[row].astype("<i8").tobytes())
    return total


# ---------------------------------------------------------------------------------------------- workers
def train_worker(shards: str, steps: int, batch: int, source: str = "shards") -> None:
    """Subprocess: train a small Composer model; print JSON with frames/s.

    `source="shards"` streams the train split; `"memory"` (the control) trains the same way from
    the test split loaded into memory (`make_tf_dataset`), so the difference in peak memory is
    what streaming costs.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from multinn.data import ShardedDataset, make_tf_dataset
    from multinn.models import MODES

    dataset = ShardedDataset(shards)
    model = MODES["composer"](dataset.spec, rnn_units=[64], num_hidden=32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    options = dict(crop_beats=16, transpose=3, seed=0, repeat=True)
    if source == "shards":
        pipeline = dataset.tf_dataset("train", batch, **options)
    else:
        pipeline = make_tf_dataset(dataset.load("test"), batch, **options)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    history = model.fit(pipeline, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[Timer()])
    frames = steps * batch * 16 * dataset.spec.steps_per_beat  # every phrase is 16 beats: no padding
    print(
        json.dumps(
            {
                "frames_per_s": frames / times[1],
                "first_epoch_s": times[0],
                "steps": steps,
                "nll": float(history.history["nll"][-1]),
            }
        )
    )


def baseline_worker(path: str) -> None:
    """Subprocess: the in-memory reader, for comparison."""
    from multinn.datasets import read_lpd5

    splits = read_lpd5(path)
    print(json.dumps({"pieces": sum(len(s) for s in splits.values())}))


def run(args: list[str], env: dict) -> dict:
    """Run a subprocess; its wall time, peak RSS (`ru_maxrss` via `os.wait4`), exit status and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"seconds": time.perf_counter() - start, "rss": usage.ru_maxrss * 1024, "stdout": out}


def gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=27000, help="Phrases (27,000: 2.18 GB dense).")
    parser.add_argument("--steps", type=int, default=60, help="Timed training steps (after as many warm-up steps).")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--shard-size", default="16MB")
    parser.add_argument("--workdir", type=Path, help="Where the files go (default: a temporary folder, removed).")
    parser.add_argument("--baseline", action="store_true", help="Also measure read_lpd5 (whole file in memory).")
    worker_args = ("SHARDS", "STEPS", "BATCH", "SOURCE")
    parser.add_argument("--train-worker", nargs=4, metavar=worker_args, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-worker", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_worker:
        shards, steps, batch, source = args.train_worker
        return train_worker(shards, int(steps), int(batch), source)
    if args.baseline_worker:
        return baseline_worker(args.baseline_worker)

    import resource

    from rich.console import Console
    from rich.table import Table

    console = Console()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="multinn-streaming-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MULTINN_HOME=str(workdir / "home"), TF_CPP_MIN_LOG_LEVEL="2")
    source, shards = workdir / "synthetic_lpd5_phr.npz", workdir / "shards"
    try:
        start = time.perf_counter()
        notes = write_synthetic_lpd5(source, args.pieces)
        build = time.perf_counter() - start
        dense = args.pieces * CELLS
        console.print(
            f"synthetic file: {args.pieces:,} phrases, {notes:,} notes ({notes / dense:.2%} of cells), {build:.0f} s"
        )

        cli = [sys.executable, "-m", "multinn"]
        shutil.rmtree(shards, ignore_errors=True)
        prepare = run(
            [
                *cli,
                "data",
                "prepare",
                str(source),
                "--data",
                "lpd5",
                "--shards",
                str(shards),
                "--shard-size",
                args.shard_size,
            ],
            env,
        )
        manifest = json.loads((shards / "manifest.json").read_text())
        shard_bytes = sum(s["bytes"] for info in manifest["splits"].values() for s in info["shards"])
        shard_files = sum(len(info["shards"]) for info in manifest["splits"].values())

        worker = [sys.executable, __file__, "--train-worker", str(shards), str(args.steps), str(args.batch)]
        train = run([*worker, "shards"], env)
        trained = json.loads(train["stdout"].strip().splitlines()[-1])
        control = run([*worker, "memory"], env)
        controlled = json.loads(control["stdout"].strip().splitlines()[-1])
        cli_run = run(
            [
                *cli,
                "train",
                "--mode",
                "composer",
                "--data",
                "shards",
                "--data-file",
                str(shards),
                "--rnn-units",
                "64",
                "--num-hidden",
                "32",
                "--batch-size",
                str(args.batch),
                "--max-pieces",
                "256",
                "--epochs",
                "1",
                "--sample-every",
                "0",
                "--out",
                str(workdir / "run"),
            ],
            env,
        )
        baseline = run([sys.executable, __file__, "--baseline-worker", str(source)], env) if args.baseline else None

        table = Table(
            title=f"streaming LPD-5-scale data ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
        )
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_column("peak RSS", justify="right")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        table.add_row(f"dense size as bool ({args.pieces:,} x 4 x 48 x 84 x 5)", gb(dense), "")
        table.add_row(f"synthetic .npz (sparse, compressed), {notes:,} notes", gb(source.stat().st_size), "")
        table.add_row("write the synthetic .npz in blocks (this process)", f"{build:.0f} s", gb(own))
        table.add_row(
            f"data prepare --shards ({shard_files} files, {args.shard_size})",
            f"{prepare['seconds']:.0f} s",
            gb(prepare["rss"]),
        )
        table.add_row("shard files on disk", gb(shard_bytes), "")
        what = f"train from shards: composer, batch {args.batch}, 16-beat crops (frames/s, {args.steps} steps)"
        table.add_row(what, f"{trained['frames_per_s']:,.0f}", gb(train["rss"]))
        table.add_row(
            "control: the same training from a split in memory (2,700 pieces, make_tf_dataset)",
            f"{controlled['frames_per_s']:,.0f}",
            gb(control["rss"]),
        )
        table.add_row(
            "multinn train --data shards --max-pieces 256, 1 epoch + evaluation",
            f"{cli_run['seconds']:.0f} s",
            gb(cli_run["rss"]),
        )
        if baseline:
            table.add_row(
                "in-memory read_lpd5 of the same file (baseline)", f"{baseline['seconds']:.0f} s", gb(baseline["rss"])
            )
        console.print(table)
        peaks = [prepare["rss"], train["rss"], cli_run["rss"]]
        verdict = "[green]under" if max(peaks) < 2e9 else "[red]over"
        extra = (train["rss"] - control["rss"]) / 1e9
        console.print(
            f"{verdict} 2 GB[/]: largest peak RSS of prepare/train is {gb(max(peaks))}; streaming's own "
            f"cost (train from shards - control) {extra:+.2f} GB"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
