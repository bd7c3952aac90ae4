"""The dataset registry and `load`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multinn.data.pianoroll_dataset import CACHE_FORMAT, PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.datasets.jsb_chorales import BACH_SATB_SPEC, JSB_CHORALES_SPEC, read_bach_satb, read_jsb_chorales
from multinn.datasets.lpd5 import LPD5_SPEC, read_lpd5
from multinn.datasets.midi_folder import midi_files, read_midi_folder
from multinn.errors import DatasetError
from multinn.utils.download import Download
from multinn.utils.io import multinn_home, sha256_file
from multinn.utils.names import unknown_name

SPLITS = ("train", "valid", "test")

Reader = Callable[..., "dict[str, PianorollDataset]"]


@dataclasses.dataclass(frozen=True, init=False)
class DataSource(Download):
    """A dataset file the package can download, checked against its SHA-256 digest: a `Download`
    whose positional arguments come in the order `(url, filename, size, sha256)`.

    Raises:
        ValueError: A field is malformed.
    """

    def __init__(self, url: str, filename: str, size: int, sha256: str) -> None:
        super().__init__(url, filename, sha256, size)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A registry entry.

    Attributes:
        name: Registry name, e.g. `"jsb-chorales"`.
        description: One line for listings.
        reader: `reader(path, spec, **options) -> {split: PianorollDataset}`.
        spec: The default spec.
        source: Where to download the data; `None` when a local `path` is required.
        path_kind: `"file"` or `"folder"`: what `path` must be.
        options: Names of the extra keyword arguments the reader accepts.
        version: Version of how the reader reads a source; a new version keys new caches (prepared
            splits of an older reader are not reused).
    """

    name: str
    description: str
    reader: Reader
    spec: PianorollSpec
    source: DataSource | None = None
    path_kind: str = "file"
    options: tuple[str, ...] = ()
    version: int = 1


_JSB_REPO = "https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/master/"

DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add (or replace) a registry entry."""
    DATASETS[info.name] = info
    return info


register_dataset(
    DatasetInfo(
        "jsb-chorales",
        "JSB Chorales, Boulanger-Lewandowski 2012 split (229/76/77), quarter-note frames, 88 pitches, 1 track",
        read_jsb_chorales,
        JSB_CHORALES_SPEC,
        DataSource(
            url=_JSB_REPO + "jsb-chorales-quarter.json",
            filename="jsb-chorales-quarter.json",
            size=407200,
            sha256="2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91",
        ),
    )
)
register_dataset(
    DatasetInfo(
        "bach-satb",
        "JSB Chorales as four voices (soprano, alto, tenor, bass), sixteenth-note frames, same split",
        read_bach_satb,
        BACH_SATB_SPEC,
        DataSource(
            url=_JSB_REPO + "Jsb16thSeparated.json",
            filename="Jsb16thSeparated.json",
            size=1666444,
            sha256="79294cc374f9252e95ef4b703161524c1c53dc1f712c236f00f1c1f5d54af5a7",
        ),
    )
)
register_dataset(
    DatasetInfo(
        "lpd5",
        "Lakh Pianoroll Dataset LPD-5 (MuseGAN/MultINN sparse npz; pass path=), 84 pitches, 5 tracks",
        read_lpd5,
        LPD5_SPEC,
    )
)
register_dataset(
    DatasetInfo(
        "midi-folder",
        "Any folder of .mid/.midi files (pass path=), mapped onto a spec (default LPD-5 tracks)",
        read_midi_folder,
        LPD5_SPEC,
        path_kind="folder",
        options=("mapping", "fallback", "max_steps", "auto", "voices", "out_of_range"),
        version=2,  # 2: part assignment by pitch order, voice splits, no silent files (multinn 0.2)
    )
)


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return sorted(DATASETS)


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`; an unknown name is a `DatasetError` suggesting close ones."""
    if name in DATASETS:
        return DATASETS[name]
    raise DatasetError(unknown_name("dataset", name, DATASETS))


def _fingerprint(path: Path, kind: str) -> str:
    if kind == "file":
        return sha256_file(path)
    listing = [(p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in midi_files(path)]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _source_path(info: DatasetInfo, path: str | os.PathLike | None) -> Path:
    if path is None:
        if info.source is None:
            raise DatasetError(f"dataset {info.name!r} cannot be downloaded: pass path= (a {info.path_kind})")
        from multinn.utils.download import download

        return download(info.source.url, info.source.filename, info.source.sha256, subdir="downloads")
    path = Path(path).expanduser()
    if info.path_kind == "folder" and not path.is_dir():
        raise DatasetError(f"{path}: dataset {info.name!r} needs a folder of MIDI files, and this is not a folder")
    if info.path_kind == "file" and not path.is_file():
        raise DatasetError(f"{path}: no such file (dataset {info.name!r})")
    return path


def load(
    name: str,
    split: str | None = "train",
    path: str | os.PathLike | None = None,
    *,
    spec: PianorollSpec | None = None,
    cache: bool = True,
    **options: Any,
) -> PianorollDataset | dict[str, PianorollDataset]:
    """Load a registered dataset split as a `PianorollDataset`.

    The source is a local `path` or, for datasets with a download source, a file fetched into
    `$MULTINN_HOME/downloads` and checked against its SHA-256 digest. Prepared splits are cached
    as `.npz` files (with the spec) under `$MULTINN_HOME/datasets`, keyed by the source's digest,
    the spec and the options, and reused; caches are written atomically and a damaged one is
    rebuilt.

    Args:
        name: A registered name (`multinn.datasets.list_datasets()`): `"jsb-chorales"`,
            `"bach-satb"`, `"lpd5"`, `"midi-folder"`.
        split: `"train"`, `"valid"` or `"test"`; `None` returns all three in a dict.
        path: Local file or folder to read instead of downloading.
        spec: Layout to read into (default: the dataset's own).
        cache: Read and write the prepared-array cache.
        **options: Dataset-specific options (`midi-folder`: `mapping`, `fallback`, `max_steps`).

    Returns:
        The split's `PianorollDataset`, or `{split: PianorollDataset}` when `split` is `None`.

    Raises:
        DatasetError: Unknown dataset, split or option; missing, malformed or corrupt source.
        ChecksumError: A download does not match its digest.
        SpecError: `spec` does not fit the data.

    Example:
    ```python
    train = multinn.datasets.load("bach-satb", path="Jsb16thSeparated.json")
    train.spec.track_names  # ('Soprano', 'Alto', 'Tenor', 'Bass')
    ```
    """
    info = get_dataset_info(name)
    if split is not None and split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for dataset {name!r}; expected one of {list(SPLITS)}")
    unknown = set(options) - set(info.options)
    if unknown:
        accepted = f"; it accepts {list(info.options)}" if info.options else "; it takes none"
        raise DatasetError(f"unknown option(s) {sorted(unknown)} for dataset {name!r}{accepted}")
    spec = spec or info.spec
    source = _source_path(info, path)

    datasets = None
    if cache:
        settings = {"format": CACHE_FORMAT, "source": _fingerprint(source, info.path_kind), "spec": spec.to_dict()}
        if info.version > 1:  # a reader that reads the same source differently keys new caches
            settings["version"] = info.version
        settings["options"] = {k: repr(v) for k, v in sorted(options.items())}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        files = {s: multinn_home() / "datasets" / f"{name}-{s}-{key}.npz" for s in SPLITS}
        if all(PianorollDataset.read_header(f).get("key") == key for f in files.values()):
            try:
                datasets = {s: PianorollDataset.load(f) for s, f in files.items()}
            except DatasetError:
                datasets = None  # damaged: rebuild below
    if datasets is None:
        datasets = info.reader(source, spec, **options)
        for s, dataset in datasets.items():
            dataset.metadata.setdefault("source", str(source))
            if cache:
                dataset.save(files[s], key=key)

    skipped = next(iter(datasets.values())).metadata.get("skipped")
    if skipped:
        listed = "; ".join(f"{p}: {why}" for p, why in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"{name}: skipped {len(skipped)} unreadable file(s) in {source}: {listed}{more}", stacklevel=2)
    return datasets if split is None else datasets[split]
