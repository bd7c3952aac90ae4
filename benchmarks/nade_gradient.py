"""NADE training gradient benchmark: the loop's hand-written gradient vs autodiff, on the Keras backend.

`NADELayer(implementation="loop")` differentiates its loop over the D dimensions with a
hand-written backward loop that recovers the hidden pre-activations by subtraction instead of
keeping them (`multinn.backend.nade_loop_logits`: `tf.custom_gradient` on TensorFlow,
`jax.custom_vjp` on JAX); `hand_gradient=False` (here: the generators' `nade_hand_gradient`)
differentiates the same `keras.ops` loop with the backend's autodiff, which keeps every step's
`[batch, H]` activations. This benchmark trains each configuration both ways, each in its own
process, on the backend that `KERAS_BACKEND` selects (default: TensorFlow), and reports training
frames/s and the process's peak RSS (`ru_maxrss`):

- `lpd5-composer`: the streaming benchmark's model sizes (Composer: LSTM 64, one NADE 32 per
  track; LPD-5 layout, 5 tracks x 84 pitches) on random 16-beat batches (192 steps), batch 32;
- `jsb-magenta`: the Magenta `pianoroll_rnn_nade` peer's sizes (DESIGN.md: 3 LSTM layers of 128,
  NADE 128, batch 64, dropout 0.5) on one 88-pitch track, 128-step batches.

What is trained is the model's generator with pass-through encoders (an `RNNMultiNADE` reading
the previous frame, as `MultINNComposer` and `MultINNJoint` build it), teacher-forced, its
negative log-likelihood minimised by `keras.Model.fit` with Adam: the computation of a MultINN
training step without the model's metrics and gradient clipping, in a model that runs on every
backend. TensorFlow compiles it with `tf.function` (XLA off: XLA slows the NADE loop down on CPU,
docs/layers.md), JAX with `jax.jit`.

Usage: [KERAS_BACKEND=jax] python benchmarks/nade_gradient.py [--steps 20] [--configs lpd5-composer jsb-magenta]
Prints a table; the numbers are in docs/layers.md ("Training gradient") with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CONFIGS = {
    "lpd5-composer": dict(tracks=5, pitches=84, rnn_units=[64], num_hidden=32, dropout=0.0, batch=32, steps=192),
    "jsb-magenta": dict(
        tracks=1, pitches=88, rnn_units=[128, 128, 128], num_hidden=128, dropout=0.5, batch=64, steps=128
    ),
}


def worker(config: str, hand: bool, steps: int) -> None:
    """Subprocess: train `config` for 2 x `steps` steps (the first epoch warms up); print JSON."""
    import keras
    import numpy as np
    from keras import ops

    from multinn.generators import RNNMultiNADE

    options = CONFIGS[config]
    units = options["tracks"] * options["pitches"]
    generator = RNNMultiNADE(
        units,
        [units] if options["tracks"] == 1 else [options["pitches"]] * options["tracks"],
        options["num_hidden"],
        rnn_units=options["rnn_units"],
        dropout=options["dropout"],
        nade_hand_gradient=hand,
        seed=0,
    )

    class TeacherForcedNLL(keras.Model):
        """The generator's negative log-likelihood of `[batch, time, units]` frames, nats per step."""

        def __init__(self, generator):
            super().__init__()
            self.generator = generator

        def call(self, frames, training=False):
            inputs = ops.pad(frames, ((0, 0), (1, 0), (0, 0)))[:, :-1]  # step t reads frame t - 1
            outputs = ops.reshape(self.generator.rnn_outputs(inputs, training=training), (-1, generator.output_dim))
            flat = ops.reshape(frames, (-1, units))
            weights = ops.ones(ops.shape(flat)[:1])
            loss = self.generator.frame_loss(outputs, flat, weights, self.generator.frame_scores(outputs, flat))
            self.add_loss(loss)
            return loss

    model = TeacherForcedNLL(generator)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=keras.backend.backend() == "jax")
    x = (np.random.default_rng(0).random((options["batch"], options["steps"], units)) < 0.03).astype("float32")
    times = []

    class Timer(keras.callbacks.Callback):
        # A batch hook makes Keras dispatch callbacks synchronously, as `multinn train`'s progress
        # bar does; with asynchronous dispatch (no batch hook) this 2-core machine spent up to 25 s
        # more per 60 steps outside the epochs.
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            pass

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    def batches():
        while True:  # the same batch, as a generator: `fit` reads it the same way on every backend
            yield (x,)

    history = model.fit(batches(), steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[Timer()])
    frames = steps * options["batch"] * options["steps"]
    result = {"frames_per_s": frames / times[1], "first_epoch_s": times[0], "loss": float(history.history["loss"][-1])}
    print(json.dumps({**result, "params": model.count_params()}))


def peak_rss_gb(args: list[str], env: dict) -> tuple[str, float]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{args[3:]} failed:\n{err[-3000:]}")
    return out, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def backend_description() -> str:
    import keras

    name = keras.backend.backend()
    library = {"tensorflow": "tensorflow", "jax": "jax"}.get(name)
    version = __import__(library).__version__ if library else ""
    return f"Keras {keras.__version__}, backend {name} {version}".rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="Timed training steps (after as many warm-up steps).")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        config, gradient, steps = args.worker
        worker(config, gradient == "hand", int(steps))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {backend_description()}; "
        f"{args.steps} timed steps"
    )
    rows = []
    for config in args.configs:
        for gradient in ("autodiff", "hand"):
            start = time.perf_counter()
            out, peak = peak_rss_gb([sys.executable, __file__, "--worker", config, gradient, str(args.steps)], env)
            result = json.loads(out.strip().splitlines()[-1])
            rows.append(
                (
                    config,
                    gradient,
                    result["params"],
                    result["frames_per_s"],
                    peak,
                    result["loss"],
                    time.perf_counter() - start,
                )
            )
            print(f"  {config} {gradient}: {result['frames_per_s']:,.0f} frames/s, peak {peak:.2f} GB", flush=True)
    print()
    print("| config | gradient | params | train frames/s | peak RSS | last loss | wall |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for config, gradient, params, fps, peak, loss, wall in rows:
        print(f"| {config} | {gradient} | {params:,} | {fps:,.0f} | {peak:.2f} GB | {loss:.4f} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
