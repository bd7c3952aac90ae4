"""A preset directory on disk: `config.json`, `model.weights.h5`, `metadata.json`.

Writing goes through temporary files moved into place, so an interrupted `save_preset` never
leaves a directory that looks complete; reading checks every file and turns each problem into
one clear error.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multinn.errors import MultinnError, SpecError
from multinn.utils.io import atomic_write

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)


class PresetError(MultinnError):
    """A preset is unknown, incomplete, damaged, or cannot be fetched."""


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_preset(model, directory: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write `model` as a preset directory.

    `config.json` is `keras.saving.serialize_keras_object(model)` (class, module and
    `get_config()`, which holds the `PianorollSpec`); `model.weights.h5` holds the model's
    weights (no optimizer state); `metadata.json` is `metadata` completed with the model's mode,
    generator, parameter count, the date and the package, Keras and TensorFlow versions.

    Args:
        model: A built `multinn.models.MultINN` model.
        directory: The preset directory (created; files already there are replaced).
        metadata: What the model was trained on and reached, e.g. `{"dataset": "bach-satb",
            "split": "train", "command": "multinn train ...", "metrics": {"test": {"nll": 5.1}}}`.

    Returns:
        The directory's path.
    """
    import keras

    import multinn

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    info = {
        "mode": getattr(model, "mode", ""),
        "generator": getattr(model, "generator_type", ""),
        "encoder": getattr(model, "encoder_type", ""),
        "tracks": list(model.spec.track_names),
        "params": int(model.count_params()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "multinn_version": multinn.__version__,
        "keras_version": keras.__version__,
    }
    with contextlib.suppress(ImportError):
        import tensorflow as tf

        info["tensorflow_version"] = tf.__version__
    info.update(dict(metadata or {}))

    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # a preset is for inference and fine-tuning: no optimizer
    bare = keras.saving.deserialize_keras_object(config)  # uncompiled: no optimizer state in the file
    bare.set_weights(model.get_weights())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model.", suffix=".weights.h5")
    os.close(fd)
    try:
        bare.save_weights(tmp, overwrite=True)
        os.replace(tmp, directory / WEIGHTS_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _write_json(directory / CONFIG_FILE, config)
    _write_json(directory / METADATA_FILE, info)
    umask = os.umask(0)
    os.umask(umask)
    for name in PRESET_FILES:  # temporary files are created private (0600); presets are shared
        os.chmod(directory / name, 0o666 & ~umask)
    return directory


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise PresetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def check_preset_dir(directory: str | os.PathLike) -> Path:
    """Raise a `PresetError` unless `directory` holds the three preset files."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError(f"{directory}: no such preset directory")
    missing = [name for name in PRESET_FILES if not (directory / name).is_file()]
    if missing:
        raise PresetError(f"{directory}: not a complete preset, missing {', '.join(missing)}")
    return directory


def read_metadata(directory: str | os.PathLike) -> dict:
    """The `metadata.json` of a preset directory."""
    return _read_json(check_preset_dir(directory) / METADATA_FILE)


def read_config(directory: str | os.PathLike) -> dict:
    """The `config.json` of a preset directory, with its spec checked.

    Raises:
        PresetError: A missing or unreadable file, or a config that is not a serialised model.
        SpecError: The config's spec is malformed.
    """
    from multinn.data.pianoroll_spec import PianorollSpec

    path = check_preset_dir(directory) / CONFIG_FILE
    config = _read_json(path)
    inner = config.get("config")
    if not isinstance(config.get("class_name"), str) or not isinstance(inner, dict):
        raise PresetError(f"{path}: not a serialised Keras model (needs 'class_name' and 'config')")
    if "spec" not in inner:
        raise PresetError(f"{path}: the model config has no 'spec'")
    try:
        PianorollSpec.from_dict(inner["spec"])
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return config


def load_preset_dir(directory: str | os.PathLike, compile: bool = True):
    """Build the model of a preset directory and load its weights.

    Args:
        directory: A preset directory (`config.json`, `model.weights.h5`, `metadata.json`).
        compile: Compile the model with the default optimizer, so `evaluate` works.

    Returns:
        The `multinn.models.MultINN` model.

    Raises:
        PresetError: Missing or damaged files, or weights that do not fit the config.
        SpecError: The config's spec is malformed.
    """
    import keras

    import multinn.models  # noqa: F401  (registers the model classes with Keras)

    directory = Path(directory)
    config = read_config(directory)
    config.pop("compile_config", None)  # compiled below with the default optimizer instead
    read_metadata(directory)
    try:
        model = keras.saving.deserialize_keras_object(config)
    except MultinnError:
        raise
    except Exception as exc:  # Keras raises TypeError/ValueError for unknown classes and bad arguments
        raise PresetError(f"{directory / CONFIG_FILE}: cannot build the model ({exc})") from None
    if not isinstance(model, keras.Model) or not hasattr(model, "spec"):
        raise PresetError(f"{directory / CONFIG_FILE}: {config['class_name']} is not a multinn model")
    try:
        model.load_weights(directory / WEIGHTS_FILE)
    except Exception as exc:  # h5py / Keras errors for damaged or mismatched weight files
        raise PresetError(f"{directory / WEIGHTS_FILE}: cannot load the weights ({exc})") from None
    if compile:
        model.compile()
    return model
