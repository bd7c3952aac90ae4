"""Training and sampling speed of the whole model on each Keras backend, at the peer's sizes.

`MultINNJoint(spec, generator="nade", rnn_units=[128, 128, 128], num_hidden=128, dropout=0.5)` on
one 88-pitch track (Magenta's `pianoroll_rnn_nade` default config, `../shared/peer/`), compiled
with `Adam(1e-3)` and multinn's defaults (global-norm clipping at 5, the metrics of every training
step), trained with `keras.Model.fit` on the peer's own batch stream (`../shared/peer/jsb_batches.py`:
full batches of 64 whole JSB pieces, reshuffled every epoch), each backend in its own process.

One thing differs from the peer's harness: each batch is zero-padded to a multiple of
`--pad-multiple` steps (mask 0 there), on every backend alike. JAX compiles one program per batch
shape, so padding to the longest piece of each batch (the peer's way, `--pad-multiple 1`) would
compile nearly every step; a multiple of 16 leaves a handful of shapes, each compiled once (the
windows that compile are reported apart and left out of the median). Frames are real, unpadded
time steps.

Usage: python benchmarks/backends.py [--backends tensorflow jax] [--seconds 60] [--pad-multiple 16]
    [--window-steps 4] [--threads 2]
Prints a table (the numbers are in docs/benchmarks.md with the machine, load and date).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peer"
BATCH_SIZE = 64


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(PEER))
    import jsb_batches
    import numpy as np

    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from multinn import datasets
    from multinn.models import MultINNJoint

    splits = jsb_batches.load_splits()
    spec = datasets.load("jsb-chorales", split="train", path=jsb_batches.DEFAULT_DATA).spec
    keras.utils.set_random_seed(args.seed)
    model = MultINNJoint(spec, generator="nade", rnn_units=[128, 128, 128], num_hidden=128, dropout=0.5, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))

    multiple = args.pad_multiple
    frames: list[int] = []  # real frames of each batch, in the order fit reads them
    shapes_seen: set[int] = set()
    new_shape: list[bool] = []  # whether each batch brought a time length not seen before

    def batches():
        for x, n in jsb_batches.train_stream(splits["train"], BATCH_SIZE, None, args.seed):
            steps = -(-x.shape[1] // multiple) * multiple
            rolls = np.zeros((BATCH_SIZE, steps, x.shape[2], 1), np.float32)
            rolls[:, : x.shape[1], :, 0] = x
            mask = (np.arange(steps)[None, :] < n[:, None]).astype(np.float32)
            frames.append(int(n.sum()))
            new_shape.append(steps not in shapes_seen)
            shapes_seen.add(steps)
            yield rolls, mask

    windows: list[tuple[int, float, bool]] = []
    marks: dict[str, float] = {}

    class Timer(keras.callbacks.Callback):
        # A batch hook makes Keras dispatch callbacks synchronously, so an epoch's time is its steps'.
        def on_train_begin(self, logs=None):
            marks["begin"] = time.perf_counter()
            marks["cpu"] = sum(os.times()[:2])

        def on_epoch_begin(self, epoch, logs=None):
            marks["epoch"] = time.perf_counter()
            marks["first_batch"] = len(frames)

        def on_train_batch_end(self, batch, logs=None):
            pass

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            done = len(windows) * args.window_steps
            window = slice(done, done + args.window_steps)
            windows.append((sum(frames[window]), now - marks["epoch"], any(new_shape[window])))
            if now - marks["begin"] >= args.seconds and sum(not w[2] for w in windows[1:]) >= 3:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            marks["wall"] = time.perf_counter() - marks["begin"]
            marks["cpu"] = sum(os.times()[:2]) - marks["cpu"]

    model.fit(batches(), steps_per_epoch=args.window_steps, epochs=10**6, verbose=0, shuffle=False, callbacks=[Timer()])
    steady = [f / s for f, s, compiled in windows[1:] if not compiled]
    compiling = [s for _, s, compiled in windows if compiled]

    start = time.perf_counter()
    model.generate(64, batch_size=16, seed=0)
    first_call = time.perf_counter() - start
    passes = []
    for i in range(5):
        start = time.perf_counter()
        model.generate(64, batch_size=16, seed=i + 1)
        passes.append(time.perf_counter() - start)
    result = {
        "backend": keras.backend.backend(),
        "params": int(model.count_params()),
        "train_frames_per_s": statistics.median(steady),
        "train_windows": len(windows),
        "compile_windows": len(compiling),
        "compile_window_s": statistics.median(compiling) if compiling else 0.0,
        "batch_shapes": sorted(shapes_seen),
        "train_cpu_util": marks["cpu"] / marks["wall"],
        "sample_frames_per_s": 16 * 64 / statistics.median(passes),
        "sample_first_call_s": first_call,
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=["tensorflow", "jax"], default=["tensorflow", "jax"])
    parser.add_argument("--seconds", type=float, default=60.0, help="training time per backend")
    parser.add_argument("--pad-multiple", type=int, default=16, help="pad each batch's time axis to a multiple of this")
    parser.add_argument("--window-steps", type=int, default=4, help="training steps per timed window")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow's intra- and inter-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not (PEER / "jsb_batches.py").is_file():
        raise SystemExit(f"needs the peer harness at {PEER} (../shared beside the checkout)")
    load = os.getloadavg()[0]
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load:.2f}")
    rows = []
    for backend in args.backends:
        if backend == "jax" and importlib.util.find_spec("jax") is None:
            print("  jax: not installed (pip install 'multinn[jax]'), skipped")
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker", *sys.argv[1:]]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(result)
        print(f"  {backend}: {result['train_frames_per_s']:,.0f} train frames/s", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}\n")
    print(
        "| backend | params | train frames/s | CPU use | compiling windows (median s) | batch lengths "
        "| sample frames/s | first sample call |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['params']:,} | {r['train_frames_per_s']:,.0f} | {r['train_cpu_util']:.2f} "
            f"| {r['compile_windows']} ({r['compile_window_s']:.1f}) | {', '.join(map(str, r['batch_shapes']))} "
            f"| {r['sample_frames_per_s']:,.0f} | {r['sample_first_call_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
