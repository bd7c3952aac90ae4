"""Draw the pictures of docs/harmonise.md from the bundled default preset (no training, no network).

    python docs/images/harmonise.py --data-file ../shared/data/jsb/Jsb16thSeparated.json \
        [--in-frame-model composer-in-frame.keras]

Writes docs/images/harmonise-soprano.png (the first 8 bars of the first bach-satb test chorale,
its soprano kept and the other voices generated), docs/images/infill-original.png and
docs/images/infill-bars-3-4.png (the same bars with bars 3-4 of alto and tenor regenerated).
With `--in-frame-model` (a model with in-frame conditioning, e.g. the one
`benchmarks/harmonise.py --save DIR` writes as DIR/composer-in-frame.keras), also
docs/images/harmonise-soprano-in-frame.png: the same soprano harmonised by that model.
Needs the `plot` extra (matplotlib).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from multinn import datasets, load_pretrained, plot
from multinn.presets import DEFAULT_PRESET

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, required=True, help="Jsb16thSeparated.json (bach-satb)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--in-frame-model", type=Path, help="a .keras model with in-frame conditioning")
    args = parser.parse_args()
    model = load_pretrained(DEFAULT_PRESET)
    spec = model.spec
    piece = datasets.load("bach-satb", split="test", path=args.data_file)[0][: 8 * spec.steps_per_bar]
    soprano = spec.track_index("Soprano")
    harmony = model.generate(len(piece), fixed_tracks={"Soprano": piece[:, :, soprano]}, seed=args.seed)[0]
    plot(harmony, spec, HERE / "harmonise-soprano.png", title=f"{DEFAULT_PRESET}: the soprano of chorale 1 harmonised")
    bar = spec.steps_per_bar
    infilled = model.infill(piece, 2 * bar, 4 * bar, tracks=["Alto", "Tenor"], candidates=16, seed=args.seed)
    plot(piece, spec, HERE / "infill-original.png", title="chorale 1, bars 1-8 (data)")
    plot(infilled, spec, HERE / "infill-bars-3-4.png", title=f"{DEFAULT_PRESET}: alto and tenor of bars 3-4 infilled")
    names = ["harmonise-soprano.png", "infill-original.png", "infill-bars-3-4.png"]
    if args.in_frame_model:
        import keras

        in_frame = keras.saving.load_model(args.in_frame_model)
        harmony = in_frame.generate(len(piece), fixed_tracks={"Soprano": piece[:, :, soprano]}, seed=args.seed)[0]
        title = f"{args.in_frame_model.stem} ({in_frame.count_params():,} parameters): the same soprano harmonised"
        plot(harmony, spec, HERE / "harmonise-soprano-in-frame.png", title=title)
        names.append("harmonise-soprano-in-frame.png")
    for name in names:
        print(HERE / name)


if __name__ == "__main__":
    main()
