"""The preset registry: bundled and remote presets, `list_presets` and `load_pretrained`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from multinn.presets.hub import download_hub_preset, is_hub_handle
from multinn.presets.preset import (
    MANIFEST_FILE,
    PRESET_FILES,
    PresetError,
    check_preset_dir,
    load_preset_dir,
    read_metadata,
    verify_manifest,
)
from multinn.utils.download import Download
from multinn.utils.io import multinn_home
from multinn.utils.names import unknown_name

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
"""Where the wheel carries the bundled presets (one directory per preset)."""

DEFAULT_PRESET = "bach-satb-composer"
"""The preset `multinn sample` uses when given none: four voices (soprano, alto, tenor, bass)."""

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")


@dataclasses.dataclass(frozen=True)
class PresetSource(Download):
    """A remote preset: a `Download` (url, filename, sha256, size) of an archive (`.zip` or
    `.tar.gz`) of a preset directory, checked by SHA-256.

    Raises:
        ValueError: A field is malformed, or `filename` does not name an archive.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.filename.endswith(ARCHIVE_SUFFIXES):
            raise ValueError(f"`filename`: expected a {' / '.join(ARCHIVE_SUFFIXES)} archive, got {self.filename!r}")


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A registry entry.

    Attributes:
        name: Registry name, e.g. `"bach-satb-joint"`.
        description: One line for listings.
        source: `None` for a preset bundled in the package (`multinn/presets/bundled/<name>`), or
            where to download it.
    """

    name: str
    description: str
    source: PresetSource | None = None

    @property
    def bundled(self) -> bool:
        return self.source is None

    def local_dir(self) -> Path:
        """Where the preset lives (bundled) or is unpacked after download (remote)."""
        return BUNDLED_DIR / self.name if self.bundled else multinn_home() / "presets" / self.name

    def is_available(self) -> bool:
        """Whether it can be loaded without a download."""
        try:
            check_preset_dir(self.local_dir())
        except PresetError:
            return False
        return self.bundled or _marker(self.local_dir()) == self.source.sha256.lower()

    def metadata(self) -> dict:
        """The preset's `metadata.json`, or `{}` for a remote preset not downloaded yet."""
        return read_metadata(self.local_dir()) if self.is_available() else {}


PRESETS: dict[str, PresetInfo] = {}


def register_preset(info: PresetInfo) -> PresetInfo:
    """Add (or replace) a registry entry."""
    PRESETS[info.name] = info
    return info


for _name, _description in (
    ("bach-satb-joint", "Joint RNN-NADE over all four voices (bach-satb, 16th notes)"),
    ("bach-satb-composer", "Composer: one LSTM, one NADE per voice (bach-satb, 16th notes); the default"),
    ("bach-satb-jamming", "Jamming: one RNN-NADE per voice, no communication (bach-satb, 16th notes)"),
    ("bach-satb-feedback", "Feedback: one RNN-NADE per voice plus a dense feedback module (bach-satb)"),
    ("jsb-chorales-rnn-nade", "RNN-NADE on the JSB Chorales likelihood benchmark (quarter notes, 88 keys)"),
):
    register_preset(PresetInfo(_name, _description))


def list_presets() -> list[str]:
    """Names of the registered presets."""
    return sorted(PRESETS)


def get_preset_info(name: str) -> PresetInfo:
    """The registry entry for `name`; an unknown name is a `PresetError` naming the close ones."""
    if name in PRESETS:
        return PRESETS[name]
    raise PresetError(unknown_name("preset", name, PRESETS, cutoff=0.4))


def _marker(directory: Path) -> str:
    with contextlib.suppress(OSError):
        return (directory / ".sha256").read_text(encoding="utf-8").strip()
    return ""


def _extract(archive: Path, target: Path) -> None:
    """Unpack a preset archive into `target`, replaced in one step once complete and its files match
    the preset's `manifest.json`."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        try:
            if archive.name.endswith(".zip"):
                with zipfile.ZipFile(archive) as zf:
                    members = [m for m in zf.namelist() if not m.endswith("/")]
                    _check_members(archive, members)
                    zf.extractall(staging, members)
            else:
                with tarfile.open(archive, "r:gz") as tf:
                    files = [m for m in tf.getmembers() if m.isfile()]  # no links, devices or folders
                    _check_members(archive, [m.name for m in files])
                    tf.extractall(staging, files, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise PresetError(f"{archive.name}: not a readable preset archive ({exc})") from None
        source = staging
        folders = [p for p in staging.iterdir()]
        if not (staging / PRESET_FILES[0]).is_file() and len(folders) == 1 and folders[0].is_dir():
            source = folders[0]  # the archive holds one folder
        missing = [name for name in (*PRESET_FILES, MANIFEST_FILE) if not (source / name).is_file()]
        if missing:
            raise PresetError(f"{archive.name}: not a preset archive, missing {', '.join(missing)}")
        verify_manifest(source, label=archive.name, hint="the archive is damaged or was changed; nothing was kept")
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_members(archive: Path, names: list[str]) -> None:
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise PresetError(f"{archive.name}: refusing an archive member outside the preset directory: {name!r}")


def download_preset(name: str) -> Path:
    """Make a preset available locally and return its directory.

    A bundled preset is already there. A remote one is fetched with `keras.utils.get_file`
    (SHA-256 checked; a corrupt download leaves nothing in the cache), unpacked, checked against
    the `manifest.json` it must carry, and moved into `$MULTINN_HOME/presets/<name>` (with a
    `.sha256` marker naming the archive's digest); later calls reuse it without network. The
    cached files are verified again by every load (`load_preset_dir`).

    Raises:
        PresetError: Unknown name, or a damaged archive or one without a manifest.
        ChecksumError: The download does not match its SHA-256 digest.
        DatasetError: The download failed (network).
    """
    from multinn.utils.download import download

    info = get_preset_info(name)
    target = info.local_dir()
    if info.bundled:
        return check_preset_dir(target)
    if info.is_available():
        return target
    archive = download(info.source.url, info.source.filename, info.source.sha256, subdir="presets/.downloads")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _extract(archive, target)
        (target / ".sha256").write_text(info.source.sha256.lower() + "\n", encoding="utf-8")
    finally:
        with contextlib.suppress(FileNotFoundError):
            archive.unlink()  # the unpacked directory is what is kept
    return target


def resolve_preset(name_or_path: str | os.PathLike) -> Path:
    """The directory of a registered preset (downloaded if needed) or of a local preset path."""
    name = os.fspath(name_or_path)
    if is_hub_handle(name):
        return download_hub_preset(name)
    if name in PRESETS:
        return download_preset(name)
    path = Path(name).expanduser()
    if path.is_dir():
        return check_preset_dir(path)
    if os.sep in name or name.startswith(".") or (os.altsep and os.altsep in name):
        raise PresetError(f"{name}: no such preset directory")
    return download_preset(name)  # an unknown name raises, naming the close ones


def load_pretrained(name_or_path: str | os.PathLike, compile: bool = True):
    """Load a pretrained model: a registered preset name or a preset directory.

    Args:
        name_or_path: A name from `list_presets()` (bundled, or remote: downloaded once and
            cached under `$MULTINN_HOME/presets`), a Hugging Face Hub handle
            `hf://owner/name[@revision]` (the `hub` extra; cached by `huggingface_hub`, see
            `multinn.presets.hub`), or a directory holding `config.json`, `model.weights.h5`,
            `metadata.json` and `manifest.json` (e.g. `multinn train`'s `OUT/preset`).
        compile: Compile with the default optimizer (Adam 1e-3), so `fit` and `evaluate` work.

    Bundled, local and cached presets are verified alike before the model is built: every file
    against `manifest.json` (size and SHA-256), the weights file's record against the class and
    spec of `config.json`, the weight shapes, and every weight finite (see `load_preset_dir`).

    Returns:
        The `multinn.models.MultINN` model with its weights; its `spec` says what it plays.

    Raises:
        PresetError: Unknown name (the close ones are named), missing, unsealed or damaged files.
        SpecError: The preset's spec is malformed.
        ChecksumError: A download does not match its SHA-256 digest.

    Example:
    ```python
    model = multinn.load_pretrained("bach-satb-composer")
    rolls = model.generate(64, batch_size=2, seed=0)   # bool [2, 64, 49, 4]
    ```
    """
    return load_preset_dir(resolve_preset(name_or_path), compile=compile)


def preset_summary(info: PresetInfo) -> dict:
    """Facts for listings: name, where it lives, and what its metadata records (if available)."""
    meta = info.metadata()
    test = (meta.get("metrics") or {}).get("test") or {}
    weights = info.local_dir() / PRESET_FILES[1]
    size = (
        weights.stat().st_size
        if weights.is_file() and info.is_available()
        else (info.source.size if info.source else 0)
    )
    return {
        "name": info.name,
        "description": info.description,
        "source": "bundled" if info.bundled else ("cached" if info.is_available() else "remote"),
        "mode": meta.get("mode", "") + (" in-frame" if meta.get("in_frame") else ""),
        "generator": meta.get("generator", ""),
        "dataset": meta.get("dataset", ""),
        "params": meta.get("params"),
        "test_nll": test.get("nll"),
        "size": size,
    }
