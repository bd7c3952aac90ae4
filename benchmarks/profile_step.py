"""Where a training step's time goes, at the peer's sizes, on TensorFlow (CPU).

The model of `../shared/peer/` (`MultINNJoint`, one 88-pitch track, 3 LSTM layers of 128, NADE
128, dropout 0.5, Adam 1e-3, global-norm clipping at 5) on one batch of 64 real JSB pieces cut or
padded to `--steps` steps. Each part is its own `tf.function`, forward and backward where it
trains, timed on the same batch (median of `--repeats` calls after two warm-up calls):

- `LSTM stack`: the three LSTMs and dropout, gradient of a fixed linear function of the outputs;
- `bias heads`: the Dense heads from fixed RNN outputs to the NADE's biases, forward and backward;
- `NADE`: the teacher-forced NADE (logits, log-likelihood, frame losses) from fixed biases,
  forward and the hand-written backward;
- `loss gradient`: the whole model's loss and its gradient (what the three parts add up to);
- `metrics`: `update_metrics` on fixed outputs (loss, NLL, frame accuracy/precision/recall/F1);
- `clip + Adam`: global-norm clipping and one Adam update from fixed gradients;
- `train step`: `model.train_on_batch`, everything together, as `fit` runs it.

Usage: python benchmarks/profile_step.py [--steps 128] [--repeats 10] [--threads 2]
Prints a table of milliseconds per step and share of the train step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peer"


def timed(fn, repeats: int) -> float:
    """Median wall seconds of `fn()` over `repeats` calls, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128, help="time steps of the batch")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    sys.path.insert(0, str(PEER))
    import jsb_batches
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from multinn import datasets
    from multinn.models import MultINNJoint

    pieces = jsb_batches.load_splits()["train"][:64]
    x = np.zeros((64, args.steps, 88, 1), np.float32)
    for i, piece in enumerate(pieces):
        x[i, : min(len(piece), args.steps), :, 0] = piece[: args.steps]
    mask = np.zeros((64, args.steps), np.float32)
    for i, piece in enumerate(pieces):
        mask[i, : min(len(piece), args.steps)] = 1.0
    spec = datasets.load("jsb-chorales", split="train", path=jsb_batches.DEFAULT_DATA).spec
    keras.utils.set_random_seed(0)
    model = MultINNJoint(spec, generator="nade", rnn_units=[128, 128, 128], num_hidden=128, dropout=0.5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    generator = model.generators[0]
    nade = generator.estimators[0]
    xt, mt = tf.constant(x), tf.constant(mask)
    frames = tf.reshape(xt, (-1, 88))
    inputs = tf.pad(xt[..., 0], ((0, 0), (1, 0), (0, 0)))[:, :-1]  # step t reads frame t - 1
    rnn_out = tf.constant(generator.rnn_outputs(inputs).numpy().reshape(-1, generator.output_dim))
    enc, dec = (tf.constant(b.numpy()) for b in generator.biases(rnn_out)[0])
    probe = tf.constant(np.random.default_rng(0).normal(size=(64, args.steps, 128)).astype("float32"))
    lstm_vars = [v.value for layer in generator.lstms for v in layer.trainable_weights]
    head_vars = [v.value for pair in generator.heads for layer in pair for v in layer.trainable_weights]
    nade_vars = [nade.encoder_kernel.value, nade.decoder_kernel.value]

    @tf.function
    def lstm_part():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(generator.rnn_outputs(inputs, training=True) * probe)
        return tape.gradient(loss, lstm_vars)

    @tf.function
    def heads_part():
        with tf.GradientTape() as tape:
            ((e, d),) = generator.biases(rnn_out)
            loss = tf.reduce_sum(e) + tf.reduce_sum(d * probe[0, 0, :88])
        return tape.gradient(loss, head_vars)

    @tf.function
    def nade_part():
        with tf.GradientTape() as tape:
            tape.watch([enc, dec])
            logits = nade.conditional_logits(frames, enc, dec)
            loss = tf.reduce_mean(tf.reduce_sum(tf.nn.softplus((1.0 - 2.0 * frames) * logits), -1))
        return tape.gradient(loss, [*nade_vars, enc, dec])

    variables = model.trainable_variables

    @tf.function
    def loss_gradient():
        with tf.GradientTape() as tape:
            loss = model.data_loss(model.teacher_forced(xt, training=True), mt)
        return tape.gradient(loss, variables)

    outputs = model.teacher_forced(xt, training=True)

    @tf.function
    def metrics_part():
        return model.update_metrics(model.data_loss(outputs, mt), outputs, xt, mt)

    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(loss_gradient(), variables, strict=True)]

    @tf.function
    def optimizer_part():
        clipped, _ = tf.clip_by_global_norm(grads, 5.0)
        model.optimizer.apply_gradients(zip(clipped, variables, strict=True))

    def train_step():
        model.train_on_batch(x, mask)

    parts = [
        ("LSTM stack (fwd + bwd)", lstm_part),
        ("bias heads (fwd + bwd)", heads_part),
        ("NADE (fwd + hand bwd)", nade_part),
        ("loss gradient (whole model)", loss_gradient),
        ("metrics", metrics_part),
        ("clip + Adam", optimizer_part),
        ("train step (train_on_batch)", train_step),
    ]
    real = int(mask.sum())
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"load {os.getloadavg()[0]:.2f}; batch 64 x {args.steps} steps ({real:,} real frames)"
    )
    results = [(name, timed(fn, args.repeats)) for name, fn in parts]
    total = results[-1][1]
    print("\n| part | ms per step | share of the train step |")
    print("|---|---:|---:|")
    for name, seconds in results:
        print(f"| {name} | {seconds * 1e3:,.1f} | {seconds / total:.0%} |")
    print(f"\ntrain step: {real / total:,.0f} real frames/s ({64 * args.steps / total:,.0f} padded)")


if __name__ == "__main__":
    main()
