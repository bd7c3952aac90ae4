"""Train a Composer model with plain `keras.Model.fit`, save it as a preset, load it back and sample.

Usage: python examples/train_and_sample.py [--data-file ../shared/data/jsb/Jsb16thSeparated.json]
    [--epochs 5] [--out runs/example]

The same as `multinn train --mode composer --data bach-satb --epochs 5 --out runs/example`, written
out in Python so each step can be changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, help="Jsb16thSeparated.json (default: download it)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/example"))
    args = parser.parse_args()

    import keras

    import multinn
    from multinn import datasets
    from multinn.data import make_tf_dataset, write_midi
    from multinn.models import MultINNComposer
    from multinn.presets import save_preset

    train = datasets.load("bach-satb", split="train", path=args.data_file)
    valid = datasets.load("bach-satb", split="valid", path=args.data_file)
    model = MultINNComposer(train.spec, rnn_units=[128], num_hidden=64, seed=0)
    model.pretrain_generators(train)  # NADE: start the output biases at the note frequencies
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(
        make_tf_dataset(train, batch_size=16, crop_beats=16, seed=0),  # (pianoroll, mask) batches
        validation_data=make_tf_dataset(valid, batch_size=16, shuffle=False),  # whole pieces
        epochs=args.epochs,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_nll", mode="min", patience=5, restore_best_weights=True)],
    )
    metrics = model.evaluate(make_tf_dataset(valid, batch_size=16, shuffle=False), return_dict=True)
    print(f"valid NLL {metrics['nll']:.3f} nats per step")

    preset = save_preset(
        model, args.out / "preset", {"dataset": "bach-satb", "split": "train", "metrics": {"valid": metrics}}
    )
    loaded = multinn.load_pretrained(preset)  # or a bundled name: multinn.load_pretrained("bach-satb-composer")
    rolls = loaded.generate(num_steps=16 * loaded.spec.steps_per_bar, batch_size=2, temperature=1.0, seed=0)
    for i, roll in enumerate(rolls):  # bool [time, pitch, track]
        write_midi(roll, args.out / f"sample-{i + 1}.mid", loaded.spec, tempo=90)
    print(f"wrote {preset} and {len(rolls)} samples in {args.out}")


if __name__ == "__main__":
    main()
