"""NADE training gradient benchmark: the loop's hand-written gradient vs autodiff of the loop.

`NADELayer(implementation="loop")` on TensorFlow differentiates its loop over the D dimensions with
a hand-written backward loop that recovers the hidden pre-activations by subtraction instead of
keeping them (`multinn.layers.nade_layer._tf_loop_logits`). Autodiff of the same loop keeps every
step's `[batch, H]` activations. This benchmark trains models both ways, each configuration in
its own process, and reports training frames/s and the process's peak RSS (`ru_maxrss`):

- `lpd5-composer`: the streaming benchmark's model (Composer, LSTM 64, NADE 32; LPD-5 layout,
  5 tracks x 84 pitches) on random 16-beat batches (192 steps), batch 32;
- `jsb-magenta`: the Magenta `pianoroll_rnn_nade` peer's sizes (DESIGN.md: 3 LSTM layers of 128,
  NADE 128, batch 64, dropout 0.5) on one 88-pitch track, 128-step batches.

Usage: python benchmarks/nade_gradient.py [--steps 20] [--configs lpd5-composer jsb-magenta]
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
    "lpd5-composer": dict(mode="composer", spec="lpd5", rnn_units=[64], num_hidden=32, dropout=0.0, batch=32, steps=192),
    "jsb-magenta": dict(mode="joint", spec="jsb", rnn_units=[128, 128, 128], num_hidden=128, dropout=0.5, batch=64,
                        steps=128),
}  # fmt: skip


def spec_of(name: str):
    from multinn.data import PianorollSpec, TrackSpec
    from multinn.datasets import lpd5

    if name == "lpd5":
        return lpd5.LPD5_SPEC
    return PianorollSpec(4, 21, 108, [TrackSpec("Piano")])  # 88 pitches, one track


def worker(config: str, hand: bool, steps: int) -> None:
    """Subprocess: train `config` for 2 x `steps` steps (the first epoch warms up); print JSON."""
    import keras
    import numpy as np

    import multinn.layers.nade_layer as nade_layer
    from multinn.models import MODES

    nade_layer._HAND_GRADIENT = hand
    options = CONFIGS[config]
    spec = spec_of(options["spec"])
    model = MODES[options["mode"]](
        spec, rnn_units=options["rnn_units"], num_hidden=options["num_hidden"], dropout=options["dropout"], seed=0
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    shape = (options["batch"], options["steps"], spec.num_pitches, spec.num_tracks)
    x = (rng.random(shape) < 0.03).astype("float32")
    mask = np.ones(shape[:2], "float32")
    import tensorflow as tf

    data = tf.data.Dataset.from_tensors((x, mask)).repeat()
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

    history = model.fit(data, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[Timer()])
    frames = steps * options["batch"] * options["steps"]
    print(json.dumps({"frames_per_s": frames / times[1], "first_epoch_s": times[0], "loss": float(history.history["loss"][-1]),
                      "params": model.count_params()}))  # fmt: skip


def peak_rss_gb(args: list[str], env: dict) -> tuple[str, float]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{args[3:]} failed:\n{err[-3000:]}")
    return out, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


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
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {args.steps} timed steps")
    rows = []
    for config in args.configs:
        for gradient in ("autodiff", "hand"):
            start = time.perf_counter()
            out, peak = peak_rss_gb([sys.executable, __file__, "--worker", config, gradient, str(args.steps)], env)
            result = json.loads(out.strip().splitlines()[-1])
            rows.append((config, gradient, result["params"], result["frames_per_s"], peak, result["loss"],
                         time.perf_counter() - start))  # fmt: skip
            print(f"  {config} {gradient}: {result['frames_per_s']:,.0f} frames/s, peak {peak:.2f} GB", flush=True)
    print()
    print("| config | gradient | params | train frames/s | peak RSS | last loss | wall |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for config, gradient, params, fps, peak, loss, wall in rows:
        print(f"| {config} | {gradient} | {params:,} | {fps:,.0f} | {peak:.2f} GB | {loss:.4f} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
