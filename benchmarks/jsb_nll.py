"""JSB Chorales likelihood benchmark: the classic RNN-NADE as `MultINNJoint` on one track.

Trains on the train split with early stopping on the valid split's NLL, then prints valid and
test NLL in nats per step (DESIGN.md's unit, directly comparable with Boulanger-Lewandowski et al.
2012: RNN-NADE (HF) 5.56; later papers 5.19) and the wall time.

Usage:
    python benchmarks/jsb_nll.py [--data-file ../shared/data/jsb/jsb-chorales-quarter.json]
        [--rnn-units 128 128] [--num-hidden 128] [--dropout 0.3] [--lr 1e-3] [--batch-size 16]
        [--epochs 300] [--patience 15] [--reduce-lr-patience 0] [--minutes 30] [--transpose 0]
        [--out results.json] [--save model.keras]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def main() -> None:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsb" / "jsb-chorales-quarter.json"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=default if default.is_file() else None)
    parser.add_argument("--rnn-units", type=int, nargs="+", default=[128, 128])
    parser.add_argument("--num-hidden", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument(
        "--reduce-lr-patience",
        type=int,
        default=0,
        help="halve the learning rate after this many epochs without improvement (0: off)",
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--transpose", type=int, default=0, help="random transposition (semitones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--save", type=Path, help="save the trained model (.keras)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    from rich.console import Console
    from rich.table import Table

    from multinn import datasets
    from multinn.data import make_tf_dataset
    from multinn.models import MultINNJoint

    keras.utils.set_random_seed(args.seed)
    splits = datasets.load("jsb-chorales", split=None, path=args.data_file)
    spec = splits["train"].spec
    model = MultINNJoint(
        spec,
        generator="nade",
        rnn_units=args.rnn_units,
        num_hidden=args.num_hidden,
        dropout=args.dropout,
        seed=args.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    model.pretrain_generators(splits["train"])
    train = make_tf_dataset(splits["train"], args.batch_size, transpose=args.transpose, seed=args.seed)
    valid = make_tf_dataset(splits["valid"], 64, shuffle=False)
    test = make_tf_dataset(splits["test"], 64, shuffle=False)

    deadline = time.monotonic() + args.minutes * 60

    class TimeBudget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() > deadline:
                self.model.stop_training = True

    start = time.monotonic()
    history = model.fit(
        train,
        validation_data=valid,
        epochs=args.epochs,
        verbose=2,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_nll", mode="min", patience=args.patience, restore_best_weights=True
            ),
            TimeBudget(),
            *(
                [
                    keras.callbacks.ReduceLROnPlateau(
                        monitor="val_nll", mode="min", factor=0.5, patience=args.reduce_lr_patience
                    )
                ]
                if args.reduce_lr_patience
                else []
            ),
        ],
    )
    wall = time.monotonic() - start
    epochs = len(history.history["loss"])
    results = {
        "valid_nll": model.evaluate(valid, verbose=0, return_dict=True)["nll"],
        "test_nll": model.evaluate(test, verbose=0, return_dict=True)["nll"],
        "best_epoch": int(min(range(epochs), key=lambda e: history.history["val_nll"][e])) + 1,
        "epochs": epochs,
        "train_minutes": wall / 60,
        "train_frames_per_s_incl_validation": splits["train"].num_frames * epochs / wall,
        "params": model.count_params(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    table = Table(title="RNN-NADE (MultINNJoint, 1 track) on JSB Chorales, nats per step")
    for key in (
        "valid_nll",
        "test_nll",
        "best_epoch",
        "epochs",
        "train_minutes",
        "train_frames_per_s_incl_validation",
        "params",
    ):
        value = results[key]
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
    Console().print(table)
    print("targets: test NLL <= 5.56 (RNN-NADE HF, Boulanger-Lewandowski 2012); stretch <= 5.19")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.save:
        model.save(args.save)


if __name__ == "__main__":
    main()
