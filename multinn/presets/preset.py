"""A preset directory on disk: `config.json`, `model.weights.h5`, `metadata.json`, `manifest.json`.

Writing goes through temporary files moved into place, and `manifest.json` (the SHA-256 digest
and size of the three other files) is written last, so an interrupted `save_preset` never leaves
a directory that loads. Reading verifies the manifest before anything is parsed or built, then
checks that the weights file was written for the model `config.json` describes (its class, its
`PianorollSpec` and its weight shapes, recorded in the weights file by `save_preset`) and that
every weight is finite. Each problem is one `PresetError` that names the file.

Old presets (written before manifests existed) are refused with a message that says how to seal
them: `multinn presets seal DIR` (or `seal_preset(DIR)`), an explicit step that loading never
takes on its own.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multinn.errors import MultinnError, SpecError
from multinn.utils.io import atomic_write, default_file_mode, multinn_home, sha256_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
"""The files a preset's manifest lists, in the order they are checked."""

MANIFEST_FILE = "manifest.json"
"""SHA-256 digest and size of every file in `PRESET_FILES`, written last by `save_preset`."""

MANIFEST_FORMAT = 1
"""The `format` of the manifests this version writes and reads."""

RECORD_ATTRS = {
    "format": "multinn_format",
    "class_name": "multinn_class_name",
    "spec": "multinn_spec",
    "weight_shapes": "multinn_weight_shapes",
}
"""Root attributes of `model.weights.h5` that record what the weights were written for."""

_BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PresetError(MultinnError):
    """A preset is unknown, incomplete, damaged, or cannot be fetched."""


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (the CLI prints every error as one line)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _canonical_spec(spec: Mapping[str, Any]) -> dict:
    """A spec mapping in the form `PianorollSpec.to_dict` writes (defaults filled in)."""
    from multinn.data.pianoroll_spec import PianorollSpec

    return PianorollSpec.from_dict(spec).to_dict()


def _is_under(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _repair_hint(directory: str | os.PathLike, sealed: bool = True) -> str:
    """What to do about a damaged (`sealed`) or unsealed preset directory, for error messages.

    A bundled preset is fixed by reinstalling the package, a cached remote one by deleting it (the
    next load downloads it again), a local one by writing it again or, when its files were changed
    on purpose, by sealing it.
    """
    directory = Path(directory)
    if _is_under(directory, _BUNDLED_DIR):
        return "the multinn installation is damaged: reinstall it (pip install --force-reinstall multinn)"
    if _is_under(directory, multinn_home() / "presets"):
        return f"delete {directory}; the next load downloads a fresh copy"
    if not sealed:
        return f"if its files are intact and trusted, seal it with `multinn presets seal {directory}`"
    return (
        "write it again (save_preset, multinn train) or, if you changed it on purpose, "
        f"re-seal it with `multinn presets seal {directory} --force`"
    )


# ---------------------------------------------------------------------------------- manifest
def _manifest_entries(directory: Path) -> dict:
    return {
        name: {"sha256": sha256_file(directory / name), "size": (directory / name).stat().st_size}
        for name in PRESET_FILES
    }


def _write_manifest(directory: Path) -> dict:
    manifest = {"format": MANIFEST_FORMAT, "files": _manifest_entries(directory)}
    _write_json(directory / MANIFEST_FILE, manifest)
    return manifest


def _read_manifest(directory: Path, label: str, hint: str, missing_hint: str) -> dict:
    path = directory / MANIFEST_FILE
    shown = f"{label}/{MANIFEST_FILE}"
    if not path.is_file():
        raise PresetError(
            f"{label}: the preset has no {MANIFEST_FILE} (it was written by an earlier multinn, or its writing was "
            f"interrupted), so its files cannot be verified; {missing_hint}"
        )
    manifest = _read_json(path, shown=shown, hint=hint)
    if not isinstance(manifest.get("files"), dict):  # an object, but not a manifest
        raise PresetError(f"{shown}: expected an object with 'format' and 'files'; {hint}")
    if manifest.get("format") != MANIFEST_FORMAT or isinstance(manifest.get("format"), bool):
        raise PresetError(
            f"{shown}: unsupported format {manifest.get('format')!r} (this multinn reads format "
            f"{MANIFEST_FORMAT}; a newer multinn may read it); {hint}"
        )
    files = manifest["files"]
    for name, entry in files.items():
        if name not in PRESET_FILES:
            raise PresetError(
                f"{shown}: lists {name!r}, which is not a preset file ({', '.join(PRESET_FILES)}); {hint}"
            )
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest) or type(size) is not int or size < 0:
            raise PresetError(
                f"{shown}: the entry of {name} needs 'sha256' (64 lowercase hex digits) and 'size' (bytes); {hint}"
            )
    unlisted = [name for name in PRESET_FILES if name not in files]
    if unlisted:
        raise PresetError(f"{shown}: does not list {', '.join(unlisted)}; {hint}")
    return manifest


def verify_manifest(directory: str | os.PathLike, label: str | None = None, hint: str | None = None) -> dict:
    """Check every preset file against the directory's `manifest.json`; no file is parsed.

    Args:
        directory: A preset directory.
        label: How messages name the directory (default: its path), e.g. an archive's name.
        hint: What messages advise (default: what fixes a preset where `directory` lives).

    Returns:
        The manifest.

    Raises:
        PresetError: A missing preset file, a missing or malformed manifest, or a file whose size
            or SHA-256 digest is not the one the manifest records.
    """
    directory = check_preset_dir(directory)
    label = str(directory) if label is None else label
    missing_hint = _repair_hint(directory, sealed=False) if hint is None else hint
    hint = _repair_hint(directory) if hint is None else hint
    manifest = _read_manifest(directory, label, hint, missing_hint)
    for name in PRESET_FILES:
        entry = manifest["files"][name]
        path = directory / name
        size = path.stat().st_size
        if size != entry["size"]:
            raise PresetError(
                f"{label}/{name}: {size} bytes, but the preset's {MANIFEST_FILE} records {entry['size']} "
                f"(the file is truncated, damaged or was changed); {hint}"
            )
        if sha256_file(path) != entry["sha256"]:
            raise PresetError(
                f"{label}/{name}: SHA-256 digest does not match the preset's {MANIFEST_FILE} "
                f"(the file is damaged or was changed); {hint}"
            )
    return manifest


# ---------------------------------------------------------------------------------- weights record
def _record_for(class_name: str, spec: Mapping[str, Any], model) -> dict:
    return {
        "format": 1,
        "class_name": class_name,
        "spec": _canonical_spec(spec),
        "weight_shapes": [[int(d) for d in w.shape] for w in model.weights],
    }


def _write_record(path: Path, record: Mapping[str, Any]) -> None:
    """Store `record` as root attributes of the HDF5 file at `path` (in place; no dataset changes)."""
    import h5py

    with h5py.File(path, "r+") as f:
        f.attrs[RECORD_ATTRS["format"]] = int(record["format"])
        f.attrs[RECORD_ATTRS["class_name"]] = record["class_name"]
        f.attrs[RECORD_ATTRS["spec"]] = json.dumps(record["spec"], sort_keys=True)
        f.attrs[RECORD_ATTRS["weight_shapes"]] = json.dumps(record["weight_shapes"])


def read_weights_record(path: str | os.PathLike) -> dict | None:
    """What a weights file records it was written for, or `None` for files without a record.

    Returns:
        `{"format": 1, "class_name": ..., "spec": {...}, "weight_shapes": [[...], ...]}`, from the
        root attributes `save_preset` writes (`RECORD_ATTRS`).

    Raises:
        PresetError: Not a readable HDF5 file, or a malformed record.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = {key: f.attrs[name] for key, name in RECORD_ATTRS.items() if name in f.attrs}
    except Exception as exc:  # h5py raises OSError for damaged files, others for damaged metadata
        raise PresetError(f"{path}: not a readable HDF5 weights file ({_one_line(exc)})") from None
    if not attrs:
        return None
    try:
        attrs = {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in attrs.items()}
        record = {
            "format": int(attrs["format"]),
            "class_name": str(attrs["class_name"]),
            "spec": _canonical_spec(json.loads(attrs["spec"])),
            "weight_shapes": json.loads(attrs["weight_shapes"]),
        }
        if record["format"] != 1 or not all(
            isinstance(s, list) and all(type(d) is int for d in s) for s in record["weight_shapes"]
        ):
            raise ValueError("unexpected format or weight shapes")
    except (KeyError, ValueError, TypeError) as exc:  # SpecError is a ValueError
        raise PresetError(
            f"{path}: the record of what the weights were written for is malformed ({_one_line(exc)})"
        ) from None
    return record


def _check_record(directory: Path, config: Mapping[str, Any], record: dict | None, hint: str) -> None:
    """The weights' record must name the class and spec of `config.json`."""
    weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    if record is None:
        raise PresetError(
            f"{weights}: does not record the model class and spec it was written for (written by an earlier multinn); "
            f"{_repair_hint(directory, sealed=False)}"
        )
    if record["class_name"] != config["class_name"]:
        raise PresetError(
            f"{weights}: the weights were written for a {record['class_name']}, but {config_path} describes a "
            f"{config['class_name']}; {hint}"
        )
    spec = _canonical_spec(config["config"]["spec"])
    if spec != record["spec"]:
        fields = [k for k in spec if spec[k] != record["spec"].get(k)]
        diffs = "; ".join(f"{k}: {record['spec'].get(k)!r} in the weights, {spec[k]!r} in the config" for k in fields)
        raise PresetError(f"{weights}: the weights were written for another spec than {config_path} ({diffs}); {hint}")


def _check_shapes(directory: Path, model, record: dict, hint: str) -> None:
    weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    expected = [[int(d) for d in w.shape] for w in model.weights]
    if len(expected) != len(record["weight_shapes"]):
        raise PresetError(
            f"{weights}: holds {len(record['weight_shapes'])} weights, but the model {config_path} describes has "
            f"{len(expected)}; {hint}"
        )
    for variable, want, have in zip(model.weights, expected, record["weight_shapes"], strict=True):
        if want != have:
            raise PresetError(
                f"{weights}: weight {variable.path} has shape {tuple(have)}, but the model {config_path} describes "
                f"needs {tuple(want)}; {hint}"
            )


def _non_finite(model) -> tuple[str, int] | None:
    """The first weight of `model` with NaN or inf values, and how many it has."""
    import numpy as np

    for variable in model.weights:
        bad = int(np.size(variable.numpy()) - np.count_nonzero(np.isfinite(variable.numpy())))
        if bad:
            return variable.path, bad
    return None


# ---------------------------------------------------------------------------------- writing
def save_preset(model, directory: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write `model` as a preset directory.

    `config.json` is `keras.saving.serialize_keras_object(model)` (class, module and
    `get_config()`, which holds the `PianorollSpec`); `model.weights.h5` holds the model's
    weights (no optimizer state) and records, as root attributes, the class, spec and weight
    shapes they were written for; `metadata.json` is `metadata` completed with the model's mode,
    generator, parameter count, the date and the package, Keras and TensorFlow versions;
    `manifest.json`, written last, holds the SHA-256 digest and size of the three others.

    Args:
        model: A built `multinn.models.MultINN` model.
        directory: The preset directory (created; files already there are replaced).
        metadata: What the model was trained on and reached, e.g. `{"dataset": "bach-satb",
            "split": "train", "command": "multinn train ...", "metrics": {"test": {"nll": 5.1}}}`.

    Returns:
        The directory's path.

    Raises:
        PresetError: The model has NaN or inf weights (nothing is written).
    """
    import keras

    import multinn

    directory = Path(directory)
    bad = _non_finite(model)
    if bad:
        raise PresetError(
            f"{directory}: not saving a model with non-finite weights ({bad[1]} NaN or inf values in {bad[0]}; "
            "did training diverge?)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    info = {
        "mode": getattr(model, "mode", ""),
        "in_frame": bool(getattr(model, "in_frame", False)),
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
    # Until the new manifest is written last, the directory reads as unsealed, never as a mix.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / MANIFEST_FILE)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model.", suffix=".weights.h5")
    os.close(fd)
    try:
        bare.save_weights(tmp, overwrite=True)
        _write_record(Path(tmp), _record_for(config["class_name"], config["config"]["spec"], bare))
        os.replace(tmp, directory / WEIGHTS_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _write_json(directory / CONFIG_FILE, config)
    _write_json(directory / METADATA_FILE, info)
    for name in PRESET_FILES:  # temporary files are created private (0600); presets are shared
        os.chmod(directory / name, default_file_mode())
    _write_manifest(directory)
    return directory


# ---------------------------------------------------------------------------------- reading
def _read_json(path: Path, shown: str | None = None, hint: str = "") -> dict:
    """A JSON object from `path`; each problem one `PresetError` naming the file (as `shown`), then `hint`."""
    shown, hint = shown or str(path), f"; {hint}" if hint else ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{shown}: cannot read file ({exc.strerror or _one_line(exc)}){hint}") from None
    except ValueError as exc:
        raise PresetError(f"{shown}: not valid JSON ({_one_line(exc)}){hint}") from None
    if not isinstance(data, dict):
        raise PresetError(f"{shown}: expected a JSON object, got {type(data).__name__}{hint}")
    return data


def check_preset_dir(directory: str | os.PathLike) -> Path:
    """Raise a `PresetError` unless `directory` holds the three preset files (nothing is verified)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError(f"{directory}: no such preset directory")
    missing = [name for name in PRESET_FILES if not (directory / name).is_file()]
    if missing:
        raise PresetError(f"{directory}: not a complete preset, missing {', '.join(missing)}")
    return directory


def read_metadata(directory: str | os.PathLike) -> dict:
    """The `metadata.json` of a preset directory (for listings: the manifest is not verified)."""
    return _read_json(check_preset_dir(directory) / METADATA_FILE)


def read_config(directory: str | os.PathLike) -> dict:
    """The `config.json` of a preset directory, with its spec checked (the manifest is not verified).

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


def _build(directory: Path, config: dict):
    """The model `config.json` describes, built, without weights."""
    import keras

    import multinn.models  # noqa: F401  (registers the model classes with Keras)

    config = dict(config)
    config.pop("compile_config", None)  # compiled by the caller with the default optimizer instead
    try:
        model = keras.saving.deserialize_keras_object(config)
    except MultinnError:
        raise
    except Exception as exc:  # Keras raises TypeError/ValueError for unknown classes and bad arguments
        raise PresetError(f"{directory / CONFIG_FILE}: cannot build the model ({_one_line(exc)})") from None
    if not isinstance(model, keras.Model) or not hasattr(model, "spec"):
        raise PresetError(f"{directory / CONFIG_FILE}: {config['class_name']} is not a multinn model")
    return model


def _stored_shapes(path: Path) -> list[tuple[int, ...]]:
    """The shapes of every array in an HDF5 weights file."""
    import h5py

    shapes = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda _, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset) else None)
    except Exception as exc:  # h5py raises OSError for damaged files, others for damaged metadata
        raise PresetError(f"{path}: not a readable HDF5 weights file ({_one_line(exc)})") from None
    return shapes


def _load_weights(directory: Path, model, hint: str) -> None:
    """Load the weights file into `model`: every array of the file into one weight, all finite."""
    import warnings

    weights = directory / WEIGHTS_FILE
    # Keras skips a layer whose group is absent with a warning only; so the file's arrays must be
    # the model's weights, no more and no fewer, and that warning is an error here.
    stored = sorted(_stored_shapes(weights))
    needed = sorted(tuple(int(d) for d in w.shape) for w in model.weights)
    if stored != needed:
        only_file = ", ".join(map(str, sorted((Counter(stored) - Counter(needed)).elements()))) or "none"
        only_model = ", ".join(map(str, sorted((Counter(needed) - Counter(stored)).elements()))) or "none"
        raise PresetError(
            f"{weights}: its weight arrays do not fit the model {directory / CONFIG_FILE} describes (the file holds "
            f"{len(stored)} arrays, the model has {len(needed)} weights; shapes only in the file: "
            f"{only_file}; only in the model: {only_model}); {hint}"
        )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Skipping nested container", category=UserWarning)
            model.load_weights(weights)
    except Exception as exc:  # h5py / Keras errors for damaged or mismatched weight files
        raise PresetError(f"{weights}: cannot load the weights ({_one_line(exc)}); {hint}") from None
    bad = _non_finite(model)
    if bad:
        raise PresetError(
            f"{weights}: weight {bad[0]} holds {bad[1]} non-finite values (NaN or inf): the file is damaged; {hint}"
        )


def _load_checked(directory: str | os.PathLike):
    """Every check `load_preset_dir` makes, in order; returns (model, manifest)."""
    directory = check_preset_dir(directory)
    hint = _repair_hint(directory)
    manifest = verify_manifest(directory)  # before anything is parsed or built
    config = read_config(directory)
    read_metadata(directory)
    record = read_weights_record(directory / WEIGHTS_FILE)
    _check_record(directory, config, record, hint)
    model = _build(directory, config)
    _check_shapes(directory, model, record, hint)
    _load_weights(directory, model, hint)
    return model, manifest


def load_preset_dir(directory: str | os.PathLike, compile: bool = True):
    """Verify a preset directory, build its model and load its weights.

    Before anything is parsed, every file is checked against `manifest.json` (size and SHA-256
    digest); then the weights file's record must name the class and spec of `config.json`, the
    built model's weight shapes must be the recorded ones, the file's arrays must be exactly the
    model's weights, and every loaded weight must be finite. Nothing is ever written: a preset
    without a manifest is refused (see `seal_preset`).

    Args:
        directory: A preset directory (`config.json`, `model.weights.h5`, `metadata.json`,
            `manifest.json`).
        compile: Compile the model with the default optimizer, so `evaluate` works.

    Returns:
        The `multinn.models.MultINN` model.

    Raises:
        PresetError: Missing, unsealed or damaged files, or weights that do not fit the config.
        SpecError: The config's spec is malformed.
    """
    model, _ = _load_checked(directory)
    if compile:
        model.compile()
    return model


def verify_preset(directory: str | os.PathLike) -> dict:
    """Make every check `load_preset_dir` makes (the model is built and its weights loaded).

    Returns:
        The preset's manifest (`{"format": 1, "files": {name: {"sha256": ..., "size": ...}}}`).

    Raises:
        PresetError: Missing, unsealed or damaged files, or weights that do not fit the config.
        SpecError: The config's spec is malformed.

    Example:
    ```python
    from multinn.presets import resolve_preset, verify_preset

    manifest = verify_preset(resolve_preset("bach-satb-composer"))
    manifest["files"]["model.weights.h5"]["sha256"]
    ```
    """
    _, manifest = _load_checked(directory)
    return manifest


def seal_preset(directory: str | os.PathLike, force: bool = False) -> bool:
    """Write the manifest (and the weights' record) of a preset that lacks them, after checking it.

    This is how a preset written by an earlier multinn (no `manifest.json`, no record in
    `model.weights.h5`) becomes loadable: the model is built from `config.json`, the weights are
    loaded into it (their shapes must fit) and must be finite; then the class, spec and weight
    shapes are recorded as root attributes of `model.weights.h5` (its weights are not rewritten)
    and `manifest.json` is written last. Sealing trusts the files as they are: seal only presets
    whose files you trust. Loading never seals.

    Args:
        directory: A preset directory.
        force: Also re-seal a preset whose files no longer match its manifest, or whose weights
            record another spec than `config.json` (for files changed on purpose).

    Returns:
        Whether anything was written (`False`: the preset was already sealed and verifies).

    Raises:
        PresetError: The preset does not load, or (without `force`) it has a manifest that its
            files do not match or a record that its config does not match.
        SpecError: The config's spec is malformed.

    Example:
    ```python
    from multinn.presets import load_pretrained, seal_preset

    seal_preset("runs/old/preset")          # True: manifest.json written
    seal_preset("runs/old/preset")          # False: already sealed
    model = load_pretrained("runs/old/preset")
    ```
    """
    directory = check_preset_dir(directory)
    hint = f"if you changed it on purpose, re-seal it with `multinn presets seal {directory} --force`"
    has_manifest = (directory / MANIFEST_FILE).is_file()
    if has_manifest and not force:
        verify_manifest(directory, hint=hint)
    config = read_config(directory)
    read_metadata(directory)
    weights = directory / WEIGHTS_FILE
    record = read_weights_record(weights)
    if record is not None and not force:
        _check_record(directory, config, record, hint)
    model = _build(directory, config)
    _load_weights(directory, model, "it cannot be sealed")
    new_record = _record_for(config["class_name"], config["config"]["spec"], model)
    if record is not None and not force:
        _check_shapes(directory, model, record, hint)
    written = False
    if record != new_record:
        with contextlib.suppress(FileNotFoundError):  # unsealed until the new manifest is written
            os.unlink(directory / MANIFEST_FILE)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model.", suffix=".weights.h5")
        os.close(fd)
        try:
            shutil.copyfile(weights, tmp)
            _write_record(Path(tmp), new_record)
            shutil.copymode(weights, tmp)
            os.replace(tmp, weights)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        written = True
    try:
        sealed = not written and _read_manifest(directory, str(directory), "", "")["files"] == _manifest_entries(
            directory
        )
    except PresetError:  # no manifest, or (with `force`) a malformed one
        sealed = False
    if not sealed:
        _write_manifest(directory)
    return not sealed
