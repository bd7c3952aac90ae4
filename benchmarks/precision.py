"""Training speed in float32 and in mixed precision, for the LPD-5 default configuration.

The model is what `multinn train --data lpd5` builds by default (LPD-5 spec: 5 tracks x 84
pitches, 12 steps per beat; `--mode joint`, `--rnn-units 128`, `--num-hidden 64`, batch 32,
16-beat crops = 192 steps), trained on synthetic random piano-rolls (about 1.5 % of cells on,
like LPD-5). "mixed" is `multinn.distribute.precision_policy("auto")`: mixed_float16 (with loss
scaling) on a GPU, mixed_bfloat16 elsewhere. "vs float32" divides by the mean float32 speed.

Usage: python benchmarks/precision.py [--mode joint] [--batch-size 32] [--crop-beats 16]
    [--train-batches 10] [--policies float32 mixed]
Frames are time steps (all tracks together) per second of training.
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="joint", choices=["joint", "composer", "jamming", "feedback"])
    parser.add_argument("--rnn-units", type=int, nargs="+", default=[128])
    parser.add_argument("--num-hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-beats", type=int, default=16)
    parser.add_argument("--train-batches", type=int, default=10, help="timed batches (after 2 warm-up batches)")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["float32", "mixed"],
        help="float32, mixed (auto), mixed_float16, mixed_bfloat16",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np
    import tensorflow as tf
    from rich.console import Console
    from rich.table import Table

    from multinn.datasets.lpd5 import LPD5_SPEC
    from multinn.distribute import precision_policy
    from multinn.models import MODES

    spec = LPD5_SPEC
    steps = args.crop_beats * spec.steps_per_beat
    rng = np.random.default_rng(0)
    rolls = (rng.random((args.batch_size, steps, spec.num_pitches, spec.num_tracks)) < 0.015).astype("float32")
    mask = np.ones((args.batch_size, steps), "float32")
    batches = tf.data.Dataset.from_tensors((rolls, mask)).repeat()
    gpus = tf.config.list_physical_devices("GPU")
    device = (
        tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        if gpus
        else f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    )
    table = Table(
        title=f"Training speed by dtype policy: LPD-5 spec, {args.mode} mode, batch {args.batch_size} x "
        f"{steps} steps, {device}"
    )
    for column in ("policy", "train frames/s", "vs float32", "loss (last batch)", "loss dtype"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    rows = []
    for name in args.policies:
        policy = precision_policy("auto" if name == "mixed" else name)
        model = MODES[args.mode](spec, rnn_units=args.rnn_units, num_hidden=args.num_hidden, seed=0, dtype=policy)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(batches.take(2), epochs=1, verbose=0)  # trace and warm up
        start = time.perf_counter()
        history = model.fit(batches.take(args.train_batches), epochs=1, verbose=0).history
        fps = args.train_batches * args.batch_size * steps / (time.perf_counter() - start)
        loss_dtype = model.test_step((rolls[:2], mask[:2]))["loss"].dtype
        rows.append((policy, fps, history["loss"][-1], loss_dtype.name))
    float32 = [fps for policy, fps, _, _ in rows if policy == "float32"]
    for policy, fps, loss, loss_dtype in rows:
        ratio = f"{fps / (sum(float32) / len(float32)):.2f}x" if float32 else "-"
        table.add_row(policy, f"{fps:,.0f}", ratio, f"{loss:.3f}", loss_dtype)
    Console().print(table)


if __name__ == "__main__":
    main()
