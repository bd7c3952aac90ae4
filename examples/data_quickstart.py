"""Load JSB Chorales as four voices, round-trip a chorale through MIDI, and build a tf.data pipeline.

Usage: python examples/data_quickstart.py [PATH/TO/Jsb16thSeparated.json]
Without a path the file is downloaded (and checked against its SHA-256 digest).
"""

import sys

from multinn import datasets
from multinn.data import make_tf_dataset, read_midi, write_midi

path = sys.argv[1] if len(sys.argv) > 1 else None
train = datasets.load("bach-satb", split="train", path=path)
print(train)

roll = train[0]
write_midi(roll, "chorale.mid", train.spec, tempo=80)
assert (read_midi("chorale.mid", train.spec) == roll).all()
print(f"wrote chorale.mid: {roll.shape[0]} steps, tracks {list(train.spec.track_names)}")

pipeline = make_tf_dataset(train, batch_size=32, crop_beats=16, transpose=3, seed=0)
pianoroll, mask = next(iter(pipeline))
print("batch:", pianoroll.shape, "mask:", mask.shape)
