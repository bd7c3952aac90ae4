"""Throughput of the estimator layers: NADE log_prob (loop vs vectorised), NADE sampling, RBM CD-k.

Usage: python benchmarks/layers.py [--quick] [--jit]

Every measured function runs inside one `tf.function` (XLA only with `--jit`); the first call
(tracing, compilation) is not timed; the table shows the median of the timed calls, in frames
per second (a frame: one binary vector of D units).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from multinn.layers import NADELayer, RBMLayer  # noqa: E402

SIZES = [
    ("MultINN (84 x 3 tracks)", 252, 256),
    ("JSB (88)", 88, 150),
]


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of `fn()` over `repeats` calls, after one untimed call."""
    keras.ops.convert_to_numpy(tf.nest.flatten(fn())[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(tf.nest.flatten(fn())[0])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def nade_train_step(nade: NADELayer, x, jit: bool):
    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(nade.log_prob(x))
        return loss, tape.gradient(loss, nade.trainable_weights)

    return step


def rbm_train_step(rbm: RBMLayer, x, optimizer, jit: bool):
    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = rbm.cd_loss(x)
        optimizer.apply(tape.gradient(loss, rbm.trainable_weights), rbm.trainable_weights)
        return loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches, fewer repeats")
    parser.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    args = parser.parse_args()
    batch, sample_batch, repeats = (512, 64, 3) if args.quick else (2048, 256, 7)
    rng = np.random.default_rng(0)

    table = Table(title=f"multinn.layers throughput, frames/s (train batch {batch}, sample batch {sample_batch})")
    for column in ["sizes", "D", "H", "NADE f+b loop", "NADE f+b vectorized", "NADE sample", "RBM CD-1", "RBM CD-10"]:
        table.add_column(column, justify="left" if column == "sizes" else "right")
    for name, num_visible, num_hidden in SIZES:
        x = tf.constant((rng.random((batch, num_visible)) < 0.05).astype("float32"))
        row = [name, str(num_visible), str(num_hidden)]
        for implementation in ["loop", "vectorized"]:
            nade = NADELayer(num_visible, num_hidden, implementation=implementation, seed=0)
            seconds = median_seconds(nade_train_step(nade, x, args.jit), repeats)
            row.append(f"{batch / seconds:,.0f}")
        nade = NADELayer(num_visible, num_hidden, seed=0)
        sample = tf.function(lambda nade=nade: nade.sample(batch_size=sample_batch), jit_compile=args.jit)
        row.append(f"{sample_batch / median_seconds(sample, repeats):,.0f}")
        for cd_steps in [1, 10]:
            rbm = RBMLayer(num_visible, num_hidden, cd_steps=cd_steps, seed=0)
            step = rbm_train_step(rbm, x, keras.optimizers.SGD(0.01), args.jit)
            row.append(f"{batch / median_seconds(step, repeats):,.0f}")
        table.add_row(*row)

    console = Console(width=120)
    console.print(table)
    console.print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}; TensorFlow {tf.__version__}, Keras {keras.__version__}; "
        f"XLA: {'on' if args.jit else 'off'}; median of {repeats} calls after one untimed call"
    )


if __name__ == "__main__":
    main()
