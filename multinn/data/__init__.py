"""Piano-roll data: the spec, MIDI I/O, the sparse dataset container, shards and the tf.data pipeline.

Only the tf.data pipeline (`make_tf_dataset`, which `ShardedDataset.tf_dataset` calls) needs
TensorFlow, and imports it when called.
"""

from multinn.data.midi import (
    MidiReport,
    NoNotesKeptError,
    PartReport,
    parse_mapping,
    program_family,
    read_midi,
    read_midis,
    summarise_parts,
    write_midi,
)
from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.data.pipeline import make_tf_dataset
from multinn.data.shard_writer import ShardWriter, write_shards
from multinn.data.sharded_dataset import ShardedDataset, ShardedSplit, read_shard

__all__ = [
    "MidiReport",
    "NoNotesKeptError",
    "PianorollDataset",
    "PartReport",
    "PianorollSpec",
    "ShardWriter",
    "ShardedDataset",
    "ShardedSplit",
    "TrackSpec",
    "make_tf_dataset",
    "parse_mapping",
    "program_family",
    "read_midi",
    "read_midis",
    "read_shard",
    "summarise_parts",
    "write_midi",
    "write_shards",
]
