"""Piano-roll data: the spec, MIDI I/O, the sparse dataset container and the tf.data pipeline.

Only `make_tf_dataset` needs TensorFlow, and imports it when called.
"""

from multinn.data.midi import MidiReport, program_family, read_midi, read_midis, write_midi
from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.data.pipeline import make_tf_dataset

__all__ = [
    "MidiReport",
    "PianorollDataset",
    "PianorollSpec",
    "TrackSpec",
    "make_tf_dataset",
    "program_family",
    "read_midi",
    "read_midis",
    "write_midi",
]
