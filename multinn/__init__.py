"""multinn: multi-track polyphonic music generation, the MultINN model zoo on Keras 3.

Importing `multinn` is cheap: subpackages that need TensorFlow load on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from multinn.errors import ChecksumError, DatasetError, MidiError, MultinnError, SpecError

try:
    __version__ = version("multinn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_SUBMODULES = ("audio", "data", "datasets", "presets", "utils")
_PRESET_FUNCTIONS = ("list_presets", "load_pretrained")
_FUNCTIONS = {"plot": "multinn.plotting", "render_audio": "multinn.audio"}

__all__ = [
    "ChecksumError",
    "DatasetError",
    "MidiError",
    "MultinnError",
    "SpecError",
    "__version__",
    *_SUBMODULES,
    *_PRESET_FUNCTIONS,
    *_FUNCTIONS,
]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"multinn.{name}")
    if name in _PRESET_FUNCTIONS:
        return getattr(importlib.import_module("multinn.presets"), name)
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'multinn' has no attribute {name!r}")
