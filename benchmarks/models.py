"""Speed of the MultINN modes on bach-satb: training and generation frames/s, and how much the
compiled generation loop (one XLA program for NADE generators, one graph loop for RBM generators:
what `generate` picks by default) gains over step-by-step Python loops: one calling the
step eagerly (no compilation), one calling a compiled (tf.function) step.

Usage: python benchmarks/models.py [--data-file ../shared/data/jsb/Jsb16thSeparated.json]
    [--rnn-units 128] [--num-hidden 64] [--batch-size 64] [--crop-beats 16] [--train-batches 20]
    [--gen-batch 16] [--gen-steps 64] [--modes joint composer jamming feedback-dense feedback-rnn]
Frames are time steps of all four tracks together.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

MODES = {
    "joint": ("joint", {}),
    "composer": ("composer", {}),
    "jamming": ("jamming", {}),
    "feedback-dense": ("feedback", {"feedback": "dense", "feedback_units": [64]}),
    "feedback-rnn": ("feedback", {"feedback": "rnn", "feedback_units": [64]}),
    "joint-rbm": ("joint", {"generator": "rbm"}),
}


def main() -> None:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsb" / "Jsb16thSeparated.json"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=default if default.is_file() else None)
    parser.add_argument("--rnn-units", type=int, nargs="+", default=[128])
    parser.add_argument("--num-hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--crop-beats", type=int, default=16)
    parser.add_argument("--train-batches", type=int, default=20)
    parser.add_argument("--gen-batch", type=int, default=16)
    parser.add_argument("--gen-steps", type=int, default=64)
    parser.add_argument("--eager-steps", type=int, default=4, help="steps timed for the eager loop (it is slow)")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["joint", "composer", "jamming", "feedback-dense", "feedback-rnn"],
        choices=list(MODES),
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np
    import tensorflow as tf
    from rich.console import Console
    from rich.table import Table

    from multinn import datasets
    from multinn.data import make_tf_dataset
    from multinn.models import MODES as MODE_CLASSES

    train = datasets.load("bach-satb", split="train", path=args.data_file)
    batches = make_tf_dataset(train, args.batch_size, crop_beats=args.crop_beats, seed=0, repeat=True)
    frames_per_batch = args.batch_size * args.crop_beats * train.spec.steps_per_beat
    table = Table(title=f"MultINN modes on bach-satb ({platform.machine()}, {os.cpu_count()} cores, CPU)")
    columns = (
        "mode",
        "params",
        "train frames/s",
        "generate frames/s (XLA loop)",
        "graph loop",
        "python loop, compiled step",
        "python loop, eager step",
        "default loop vs eager",
        "default loop vs compiled step",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "mode" else "right")
    for name in args.modes:
        mode, extra = MODES[name]
        model = MODE_CLASSES[mode](train.spec, rnn_units=args.rnn_units, num_hidden=args.num_hidden, seed=0, **extra)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(batches.take(2), epochs=1, verbose=0)  # trace and warm up
        start = time.perf_counter()
        model.fit(batches.take(args.train_batches), epochs=1, verbose=0)
        train_fps = args.train_batches * frames_per_batch / (time.perf_counter() - start)

        def timed_generate(model=model, **kwargs):
            model.generate(args.gen_steps, batch_size=args.gen_batch, seed=0, **kwargs)  # trace
            start = time.perf_counter()
            model.generate(args.gen_steps, batch_size=args.gen_batch, seed=1, **kwargs)
            return args.gen_batch * args.gen_steps / (time.perf_counter() - start)

        gen_fps, graph_fps = timed_generate(jit_compile=True), timed_generate(jit_compile=False)
        default_fps = graph_fps if model.generator_type == "rbm" else gen_fps  # what generate() picks
        temperature = tf.constant(1.0)

        def python_loop(step, steps, model=model, temperature=temperature):
            states = model._initial_states(args.gen_batch)
            previous = tf.zeros((args.gen_batch, train.spec.num_pitches, train.spec.num_tracks))
            frames = []
            for _ in range(steps):
                units, states = step(previous, states, temperature)
                previous = model.from_units(units)
                frames.append(previous)
            return np.stack([f.numpy() for f in frames], axis=1)

        def timed_loop(step, steps):
            python_loop(step, 1)  # trace / warm up
            start = time.perf_counter()
            python_loop(step, steps)
            return args.gen_batch * steps / (time.perf_counter() - start)

        compiled_fps = timed_loop(tf.function(model._sample_step), args.gen_steps)
        eager_fps = timed_loop(model._sample_step, args.eager_steps)
        table.add_row(
            name,
            f"{model.count_params():,}",
            f"{train_fps:,.0f}",
            f"{gen_fps:,.0f}",
            f"{graph_fps:,.0f}",
            f"{compiled_fps:,.0f}",
            f"{eager_fps:,.1f}",
            f"{default_fps / eager_fps:,.0f}x",
            f"{default_fps / compiled_fps:.1f}x",
        )
    Console(width=200).print(table)
    print(
        f"sizes: rnn_units={args.rnn_units}, num_hidden={args.num_hidden}; training: batch {args.batch_size} x "
        f"{args.crop_beats} beats, {args.train_batches} batches; generation: {args.gen_batch} x {args.gen_steps} steps"
    )


if __name__ == "__main__":
    main()
