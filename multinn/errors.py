"""Exception types raised by `multinn` for bad input.

Every error a user can cause (a corrupt MIDI file, a JSON of the wrong shape, a spec that does
not fit the data, a download whose hash does not match) is raised as a subclass of
`MultinnError`, with a message that names the file or value and the problem. Callers (and the
`multinn` command line) catch `MultinnError` to report user errors without a traceback.
"""

from __future__ import annotations


class MultinnError(Exception):
    """Base class of every error `multinn` raises for bad input."""


class SpecError(MultinnError, ValueError):
    """A `PianorollSpec` is invalid, or does not fit the data or model it meets."""


class MidiError(MultinnError):
    """A MIDI file cannot be read or written (missing, empty, corrupt, truncated, not MIDI)."""


class DatasetError(MultinnError):
    """A dataset is unknown, malformed, or cannot be loaded or prepared."""


class ChecksumError(DatasetError):
    """A downloaded or cached file does not have the expected SHA-256 digest."""


class GenerationError(MultinnError, ValueError):
    """A generation request that cannot be served: a temperature that is not a finite number >= 0,
    or a length whose arrays would not fit in this machine's memory."""
