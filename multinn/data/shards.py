"""Sharded datasets: pieces split over many `.npz` files plus a `manifest.json`, streamed with tf.data.

A dataset too large for memory (LPD-5: tens of thousands of 5-track songs) is written once as
shards, per split `train-00000-of-00012.npz`, ..., each a `PianorollDataset` cache file (sparse
coordinates, offsets, lengths, names, spec), and a `manifest.json` listing the spec, the splits
and every shard file with its piece, frame and note counts, size and SHA-256. Training then
reads the shards through a `tf.data` pipeline that holds a few shards at a time.

```python
from multinn.data import ShardedDataset, write_shards

write_shards(multinn.datasets.load("bach-satb", split=None), "satb-shards/", max_shard_pieces=64)
shards = ShardedDataset("satb-shards/")
train = shards.tf_dataset("train", batch_size=32, crop_beats=16, seed=0)   # (pianoroll, mask) batches
```
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.data.pipeline import batch_examples, check_pipeline_arguments
from multinn.errors import DatasetError, SpecError
from multinn.utils.io import atomic_write, sha256_file

if TYPE_CHECKING:
    import tensorflow as tf

MANIFEST = "manifest.json"
"""Name of the manifest file in a shard directory."""

SHARDS_FORMAT = "multinn-shards"
SHARDS_VERSION = 1
"""Version of the manifest layout; other versions are refused, never guessed at."""

DEFAULT_SHARD_BYTES = 16 * 2**20
"""Default shard size: 16 MiB of coordinates in memory (the `.npz` files are compressed, smaller).

Training holds about `2 * cycle_length` shards; 16 MiB keeps that near 0.3 GB (docs/distributed.md)."""

NOTE_BYTES = 12
"""Bytes of one active cell in memory: int32 `(time, pitch, track)`."""

PIECE_BYTES = 16
"""Bytes of one piece's offset and length (int64 each)."""

SHARD_KEYS = ("file", "pieces", "empty", "frames", "notes", "longest", "bytes", "sha256")
"""What the manifest records of each shard file (`empty`: pieces of no time step)."""

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_STAGING_PREFIX = ".shards-"


def shard_file_name(split: str, index: int, count: int) -> str:
    """`train-00003-of-00012.npz`: the file name of shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.npz"


def _positive_int(value: Any, what: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{what} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------- writing
class ShardWriter:
    """Write pieces into shard files, one split at a time or interleaved, in bounded memory.

    Each split buffers its pieces until the buffer reaches `max_shard_bytes` of coordinates (or
    `max_shard_pieces` pieces) and then writes it as one shard. Shards go to a hidden staging
    folder inside `directory`; `close` moves them into place under their final names and writes
    `manifest.json` last, atomically: a directory holds a complete dataset exactly when it has a
    manifest. An existing manifest is removed (with the shards it lists) only at that point,
    and only with `overwrite=True`.

    Args:
        directory: Output folder (created if needed). It must be empty or new, or hold shards
            written earlier (replaced with `overwrite=True`).
        spec: The layout of every piece.
        name: Dataset name recorded in the manifest, e.g. `"lpd5"`.
        splits: Splits listed in the manifest even when they get no piece.
        max_shard_bytes: Shard size in bytes of coordinates in memory (12 per active cell,
            16 per piece); the `.npz` files are compressed and smaller.
        max_shard_pieces: Also close a shard after this many pieces.
        metadata: JSON-serialisable facts about the data (source, ...), saved in the manifest.
        overwrite: Replace shards already in `directory`.

    Raises:
        DatasetError: `directory` holds other files or shards (without `overwrite`), or an
            argument is out of range.

    Example:
    ```python
    with ShardWriter("shards/", spec, name="mine", splits=("train", "valid")) as writer:
        for split, roll in pieces:
            writer.add(split, np.argwhere(roll), len(roll))
    shards = writer.result  # a ShardedDataset
    ```
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        spec: PianorollSpec,
        *,
        name: str = "",
        splits: Iterable[str] = (),
        max_shard_bytes: int = DEFAULT_SHARD_BYTES,
        max_shard_pieces: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ):
        if not isinstance(spec, PianorollSpec):
            raise SpecError(f"spec must be a PianorollSpec, got {type(spec).__name__}")
        self.directory = Path(directory)
        self.spec = spec
        self.name = name
        self.max_shard_bytes = _positive_int(max_shard_bytes, "max_shard_bytes")
        self.max_shard_pieces = _positive_int(max_shard_pieces, "max_shard_pieces", allow_none=True)
        self.metadata = dict(metadata or {})
        self.overwrite = overwrite
        self.result: ShardedDataset | None = None
        self._buffers: dict[str, dict[str, Any]] = {}
        self._shards: dict[str, list[dict[str, Any]]] = {}
        for split in splits:
            self._split(split)
        self._check_directory()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(dir=self.directory, prefix=_STAGING_PREFIX))

    def _check_directory(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise DatasetError(f"{self.directory}: not a directory; shards need a directory")
        if not self.directory.is_dir():
            return
        if (self.directory / MANIFEST).exists():
            if not self.overwrite:
                raise DatasetError(
                    f"{self.directory} already holds shards ({MANIFEST}); pass overwrite=True (--overwrite) "
                    "to replace them, or choose another directory"
                )
            return
        others = [p.name for p in self.directory.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
        if others and not self.overwrite:
            raise DatasetError(
                f"{self.directory} is not empty and holds no {MANIFEST} ({sorted(others)[:3]}...); "
                "choose an empty or new directory"
            )

    def _split(self, split: str) -> dict[str, Any]:
        if split not in self._buffers:
            if not isinstance(split, str) or not _SPLIT_NAME.match(split):
                raise DatasetError(f"split names must be letters, digits, '_' or '-', got {split!r}")
            self._buffers[split] = {"coords": [], "lengths": [], "names": [], "bytes": 0, "pieces": 0}
            self._shards[split] = []
        return self._buffers[split]

    def add(self, split: str, coords: np.ndarray, length: int, name: str | None = None) -> None:
        """Add one piece to a split.

        Args:
            split: The split, e.g. `"train"`.
            coords: int array `[notes, 3]` of the piece's active `(time, pitch, track)` cells.
            length: Time steps of the piece.
            name: The piece's name (default `"<split>/<index in split>"`).

        Raises:
            DatasetError: The writer is closed, or `coords` is not `[notes, 3]`.
            SpecError: A note lies outside the piece's length or the spec (when its shard is written).
        """
        if self.result is not None or self._staging is None:
            raise DatasetError("the ShardWriter is closed")
        buffer = self._split(split)
        coords = np.asarray(coords)
        if coords.ndim != 2 or coords.shape[1] != 3:
            raise DatasetError(f"coords must be an int array [notes, 3], got shape {list(coords.shape)}")
        buffer["coords"].append(coords.astype(np.int32, copy=False))
        buffer["lengths"].append(int(length))
        buffer["names"].append(name if name is not None else f"{split}/{buffer['pieces']}")
        buffer["pieces"] += 1
        buffer["bytes"] += NOTE_BYTES * len(coords) + PIECE_BYTES
        full = buffer["bytes"] >= self.max_shard_bytes
        if full or (self.max_shard_pieces and len(buffer["lengths"]) >= self.max_shard_pieces):
            self._flush(split)

    def _flush(self, split: str) -> None:
        buffer = self._buffers[split]
        if not buffer["lengths"]:
            return
        counts = [len(c) for c in buffer["coords"]]
        coords = np.concatenate(buffer["coords"]) if buffer["coords"] else np.zeros((0, 3), np.int32)
        lengths, names = np.asarray(buffer["lengths"], np.int64), buffer["names"]
        buffer.update(coords=[], lengths=[], names=[], bytes=0)
        index = len(self._shards[split])
        dataset = PianorollDataset(
            coords,
            np.concatenate([[0], np.cumsum(counts)]),
            lengths,
            self.spec,
            names,
            name=self.name,
            split=split,
            metadata={"shard": index},
        )
        staged = self._staging / f"{split}-{index:05d}.npz"
        dataset.save(staged, key=f"{SHARDS_FORMAT}:{split}:{index}")
        self._shards[split].append(
            {
                "staged": staged,
                "pieces": len(lengths),
                "empty": int((lengths == 0).sum()),
                "frames": int(lengths.sum()),
                "notes": len(coords),
                "longest": int(lengths.max()),
                "bytes": staged.stat().st_size,
                "sha256": sha256_file(staged),
            }
        )

    def close(self) -> ShardedDataset:
        """Write the last shards, move every shard into place and write `manifest.json`.

        Returns:
            The written dataset (also kept as `self.result`).
        """
        if self.result is not None:
            return self.result
        if self._staging is None:
            raise DatasetError("the ShardWriter was aborted")
        try:
            for split in self._buffers:
                self._flush(split)
        except BaseException:
            self.abort()
            raise
        splits = {}
        for split, shards in self._shards.items():
            for i, shard in enumerate(shards):
                shard["file"] = shard_file_name(split, i, len(shards))
            splits[split] = {
                "pieces": sum(s["pieces"] for s in shards),
                "empty": sum(s["empty"] for s in shards),
                "frames": sum(s["frames"] for s in shards),
                "notes": sum(s["notes"] for s in shards),
                "longest": max((s["longest"] for s in shards), default=0),
                "shards": [{k: s[k] for k in SHARD_KEYS} for s in shards],
            }
        from multinn import __version__

        manifest = {
            "format": SHARDS_FORMAT,
            "version": SHARDS_VERSION,
            "name": self.name,
            "spec": self.spec.to_dict(),
            "max_shard_bytes": self.max_shard_bytes,
            "max_shard_pieces": self.max_shard_pieces,
            "multinn_version": __version__,
            "metadata": self.metadata,
            "splits": splits,
        }
        self._remove_previous()
        for shards in self._shards.values():
            for shard in shards:
                os.replace(shard["staged"], self.directory / shard["file"])
        with atomic_write(self.directory / MANIFEST, "w") as f:
            f.write(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None
        self.result = ShardedDataset(self.directory)
        return self.result

    def _remove_previous(self) -> None:
        """Remove an earlier manifest (first: the directory stops being a dataset) and its shards."""
        old = self.directory / MANIFEST
        if not old.exists():
            return
        try:
            splits = json.loads(old.read_text("utf-8"))["splits"]
            listed = [s["file"] for info in splits.values() for s in info["shards"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            listed = []
        old.unlink()
        for file in listed:
            if isinstance(file, str) and "/" not in file and file != MANIFEST:
                (self.directory / file).unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop everything written so far; `directory` is left as it was."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shards(
    source: Mapping[str, PianorollDataset] | Iterable[tuple[str, str, np.ndarray, int]],
    directory: str | os.PathLike,
    *,
    spec: PianorollSpec | None = None,
    name: str | None = None,
    splits: Iterable[str] | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    max_shard_pieces: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> ShardedDataset:
    """Write a dataset as shard files plus `manifest.json` (see `ShardWriter`).

    Args:
        source: `{split: PianorollDataset}` (e.g. `datasets.load(name, split=None)`), or an
            iterable of `(split, name, coords, length)` pieces, consumed once, such as
            `multinn.datasets.lpd5.stream_lpd5(path)`: then only one shard per split is in memory.
        directory: Output folder.
        spec: The layout; default: the datasets' (or the stream's `spec` attribute).
        name: Dataset name for the manifest; default: the datasets' name.
        splits: The splits in manifest order, listed even if they get no piece; default: the
            mapping's keys, or the stream's `SPLITS` attribute, then the order pieces arrive in.
        max_shard_bytes: Shard size in bytes of coordinates in memory (12 per active cell).
        max_shard_pieces: Also close a shard after this many pieces.
        metadata: Facts saved in the manifest; default: the first dataset's metadata.
        overwrite: Replace shards already in `directory`.

    Returns:
        The written `ShardedDataset`.

    Raises:
        DatasetError: No spec is known, the directory is taken, or an argument is out of range.
        SpecError: The datasets' specs differ, or a piece does not fit the spec.
    """
    if isinstance(source, Mapping):
        datasets = dict(source)
        if not datasets:
            raise DatasetError("write_shards got no split to write")
        first = next(iter(datasets.values()))
        spec = spec or first.spec
        for split, ds in datasets.items():
            spec.check_compatible(ds.spec, what=f"{split!r} split")
        name = first.name if name is None else name
        metadata = first.metadata if metadata is None else metadata
        splits = list(datasets) if splits is None else splits
        pieces: Iterable[tuple[str, str, np.ndarray, int]] = (
            (split, ds.names[i], ds.coords[ds.offsets[i] : ds.offsets[i + 1]], int(ds.lengths[i]))
            for split, ds in datasets.items()
            for i in range(len(ds))
        )
    else:
        spec = spec or getattr(source, "spec", None)
        if spec is None:
            raise DatasetError("write_shards needs spec= when the source is a stream of pieces")
        splits = getattr(source, "SPLITS", ()) if splits is None else splits
        pieces = source
    with ShardWriter(
        directory,
        spec,
        name=name or "",
        splits=splits,
        max_shard_bytes=max_shard_bytes,
        max_shard_pieces=max_shard_pieces,
        metadata=metadata,
        overwrite=overwrite,
    ) as writer:
        for split, piece_name, coords, length in pieces:
            writer.add(split, coords, length, piece_name)
    return writer.result


# ---------------------------------------------------------------------------------------------- reading
def read_shard(path: str | os.PathLike, entry: Mapping[str, Any] | None = None, *, verify: bool = True) -> dict:
    """The arrays of one shard file, checked against its manifest entry.

    Args:
        path: The shard file.
        entry: Its manifest entry (`bytes`, `sha256`, `pieces`, `notes`); `None` checks nothing.
        verify: Also compare the SHA-256 digest of the bytes read (the size is always compared).

    Returns:
        `{"coords": int32 [notes, 3], "offsets": int64 [pieces + 1], "lengths": int64 [pieces],
        "names": list of str}`.

    Raises:
        DatasetError: The file is missing, truncated, damaged or does not match its entry; the
            message names the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the shard ({exc.strerror or exc})") from None
    if entry is not None:
        if len(data) != entry["bytes"]:
            raise DatasetError(
                f"{path}: {len(data)} bytes, but {MANIFEST} lists {entry['bytes']}: the shard is truncated or "
                "was replaced; prepare the shards again"
            )
        digest = hashlib.sha256(data).hexdigest() if verify else entry["sha256"]
        if digest != entry["sha256"]:
            raise DatasetError(
                f"{path}: SHA-256 {digest[:16]}... does not match {entry['sha256'][:16]}... in {MANIFEST}: the "
                "shard is damaged or was replaced; prepare the shards again"
            )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {
                "coords": npz["coords"].astype(np.int32, copy=False).reshape(-1, 3),
                "offsets": npz["offsets"].astype(np.int64, copy=False),
                "lengths": npz["lengths"].astype(np.int64, copy=False),
                "names": npz["names"].tolist(),
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a readable shard ({exc})") from None
    n = len(arrays["lengths"])
    offsets = arrays["offsets"]
    consistent = offsets.shape == (n + 1,) and offsets[0] == 0 and offsets[-1] == len(arrays["coords"])
    if entry is not None and (n != entry["pieces"] or len(arrays["coords"]) != entry["notes"]):
        consistent = False
    if not consistent:
        raise DatasetError(f"{path}: the shard's arrays do not match {MANIFEST} (pieces, notes or offsets)")
    return arrays


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        raise DatasetError(f"{path}: not a multinn shard manifest (format {SHARDS_FORMAT!r})")
    if manifest.get("version") != SHARDS_VERSION:
        raise DatasetError(
            f"{path}: shard manifest version {manifest.get('version')!r} is not {SHARDS_VERSION}; "
            "prepare the shards again with this version of multinn"
        )
    splits = manifest.get("splits")
    try:
        for info in splits.values():
            for shard in info["shards"]:
                if not all(k in shard for k in SHARD_KEYS):
                    raise KeyError
                if not isinstance(shard["file"], str) or "/" in shard["file"]:
                    raise KeyError
            info["pieces"], info["frames"], info["notes"], info["longest"]  # noqa: B018
    except (AttributeError, KeyError, TypeError):
        raise DatasetError(f"{path}: malformed shard manifest (splits and their shard entries)") from None


class ShardedDataset(Mapping[str, "ShardedSplit"]):
    """A dataset written by `write_shards` (or `multinn data prepare --shards`): a read-only
    mapping from split name to `ShardedSplit`.

    Opening reads `manifest.json` and checks that every shard file listed exists with the
    listed size; `verify()` also checks their SHA-256 digests, and the tf.data pipeline checks
    the digest of every shard it reads.

    Args:
        path: The shard directory, or its `manifest.json`.

    Attributes:
        directory: The shard directory.
        manifest: The manifest, as a dict.
        spec: The layout of every piece.
        name: The dataset name.
        metadata: Facts recorded when the shards were written.

    Raises:
        DatasetError: No manifest, a malformed one, or a missing or truncated shard file.
        SpecError: The manifest's spec is invalid.

    Example:
    ```python
    shards = ShardedDataset("lpd5-shards/")
    shards.splits, len(shards["train"]), shards["train"].num_frames
    pipeline = shards.tf_dataset("train", batch_size=32, crop_beats=16, transpose=3, seed=0)
    ```
    """

    def __init__(self, path: str | os.PathLike):
        path = Path(path).expanduser()
        self.directory = path.parent if path.name == MANIFEST or path.suffix == ".json" else path
        self.manifest_path = path if path.suffix == ".json" else path / MANIFEST
        if not self.manifest_path.is_file():
            what = "no such directory" if not self.directory.exists() else f"no {MANIFEST}"
            raise DatasetError(
                f"{self.directory}: {what}; expected shards written by multinn.data.write_shards or "
                "`multinn data prepare --shards` (an interrupted write leaves no manifest)"
            )
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{self.manifest_path}: not a readable shard manifest ({exc})") from None
        _check_manifest(manifest, self.manifest_path)
        self.manifest: dict[str, Any] = manifest
        try:
            self.spec = PianorollSpec.from_dict(manifest["spec"])
        except SpecError as exc:
            raise SpecError(f"{self.manifest_path}: {exc}") from None
        self.name: str = manifest.get("name") or ""
        self.metadata: dict[str, Any] = manifest.get("metadata") or {}
        for split in self.splits:
            for shard in manifest["splits"][split]["shards"]:
                file = self.directory / shard["file"]
                if not file.is_file():
                    raise DatasetError(f"{file}: shard file listed in {MANIFEST} is missing")
                size = file.stat().st_size
                if size != shard["bytes"]:
                    raise DatasetError(
                        f"{file}: {size} bytes, but {MANIFEST} lists {shard['bytes']}: the shard is truncated or "
                        "was replaced; prepare the shards again"
                    )

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names, in manifest order."""
        return tuple(self.manifest["splits"])

    def __getitem__(self, split: str) -> ShardedSplit:
        if split not in self.manifest["splits"]:
            raise DatasetError(f"{self.directory} has no split {split!r}; its splits are {list(self.splits)}")
        return ShardedSplit(self, split)

    def __iter__(self) -> Iterator[str]:
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {len(self[s])}" for s in self.splits)
        return f"<ShardedDataset {self.name or '?'} in {self.directory}: pieces {counts}>"

    def verify(self, splits: Iterable[str] | None = None) -> None:
        """Check the SHA-256 digest of every shard file (of `splits`, default all).

        Raises:
            DatasetError: The first file whose digest differs from the manifest's, by name.
        """
        for split in self.splits if splits is None else splits:
            for shard, file in zip(self[split].shards, self[split].files, strict=True):
                digest = sha256_file(file)
                if digest != shard["sha256"]:
                    raise DatasetError(
                        f"{file}: SHA-256 {digest[:16]}... does not match {shard['sha256'][:16]}... in {MANIFEST}: "
                        "the shard is damaged or was replaced; prepare the shards again"
                    )

    def tf_dataset(self, split: str, batch_size: int, **kwargs: Any) -> tf.data.Dataset:
        """`self[split].tf_dataset(batch_size, **kwargs)`: see `ShardedSplit.tf_dataset`."""
        return self[split].tf_dataset(batch_size, **kwargs)

    def load(self, split: str, **kwargs: Any) -> PianorollDataset:
        """`self[split].load(**kwargs)`: a split (or part of it) in memory; see `ShardedSplit.load`."""
        return self[split].load(**kwargs)


class ShardedSplit:
    """One split of a `ShardedDataset`: its shard files, counts and streaming pipeline.

    `multinn.data.make_tf_dataset(split, ...)` accepts it in place of a `PianorollDataset`.

    Args:
        dataset: The sharded dataset.
        split: The split name.
        max_pieces: Use only the first `max_pieces` pieces (in manifest order).
    """

    def __init__(self, dataset: ShardedDataset, split: str, max_pieces: int | None = None):
        self.dataset, self.split = dataset, split
        self.max_pieces = _positive_int(max_pieces, "max_pieces", allow_none=True)
        info = dataset.manifest["splits"][split]
        self._info = info
        shards, first = [], 0
        for shard in info["shards"]:
            if self.max_pieces is not None and first >= self.max_pieces:
                break
            shards.append(dict(shard, first=first))
            first += shard["pieces"]
        self.shards: list[dict[str, Any]] = shards
        """Manifest entries of the shards used, each with `first`: the index of its first piece."""
        self._partial: dict[str, int] | None = None

    @property
    def spec(self) -> PianorollSpec:
        return self.dataset.spec

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def files(self) -> list[Path]:
        """The shard files used, in manifest order."""
        return [self.dataset.directory / s["file"] for s in self.shards]

    def __len__(self) -> int:
        total = self._info["pieces"]
        return total if self.max_pieces is None else min(total, self.max_pieces)

    def _counts(self) -> dict[str, int]:
        """Exact frames and notes of the pieces used, and the empty pieces cut off the last shard
        (reads the last shard when `max_pieces` cuts it)."""
        if self._partial is None:
            frames = sum(s["frames"] for s in self.shards)
            notes = sum(s["notes"] for s in self.shards)
            empty_cut = 0
            last = self.shards[-1] if self.shards else None
            if last is not None and last["first"] + last["pieces"] > len(self):
                keep = len(self) - last["first"]
                arrays = read_shard(self.dataset.directory / last["file"], last)
                frames -= int(arrays["lengths"][keep:].sum())
                notes -= int(arrays["offsets"][-1] - arrays["offsets"][keep])
                empty_cut = int((arrays["lengths"][keep:] == 0).sum())
            self._partial = {"frames": frames, "notes": notes, "empty_cut": empty_cut}
        return self._partial

    def num_examples(self, num_shards: int = 1, index: int = 0) -> int:
        """Pieces with at least one time step that input pipeline `index` of `num_shards` reads:
        one pass of `tf_dataset` gives this many examples."""
        files = set(self.worker_files(num_shards, index))
        count = 0
        for shard, file in zip(self.shards, self.files, strict=True):
            if file in files:
                count += min(shard["pieces"], len(self) - shard["first"]) - shard["empty"]
                if shard is self.shards[-1] and shard["first"] + shard["pieces"] > len(self):
                    count += self._counts()["empty_cut"]
        return count

    @property
    def num_frames(self) -> int:
        """Total time steps over the pieces used."""
        return self._counts()["frames"]

    @property
    def num_notes(self) -> int:
        """Total active cells over the pieces used."""
        return self._counts()["notes"]

    @property
    def longest(self) -> int:
        """Steps of the longest piece of the shards used (with `max_pieces`, an upper bound)."""
        return max((s["longest"] for s in self.shards), default=0)

    def head(self, max_pieces: int) -> ShardedSplit:
        """The first `max_pieces` pieces of this split (a view; nothing is read)."""
        return ShardedSplit(self.dataset, self.split, max_pieces)

    def __repr__(self) -> str:
        return (
            f"<ShardedSplit {self.name or '?'}/{self.split}: {len(self)} pieces in {len(self.shards)} shard files, "
            f"{self.spec.num_pitches} pitches, tracks {list(self.spec.track_names)}>"
        )

    def worker_files(self, num_shards: int = 1, index: int = 0) -> list[Path]:
        """The files input pipeline `index` of `num_shards` reads: every `num_shards`-th, from `index`.

        This is what `tf.data.Dataset.shard(num_shards, index)` keeps of the manifest's file list,
        so the workers' files are disjoint and together cover the split.
        """
        num_shards = _positive_int(num_shards, "num_shards")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < num_shards:
            raise DatasetError(f"index must be an integer in 0..{num_shards - 1}, got {index!r}")
        return self.files[index::num_shards]

    # ------------------------------------------------------------------ in memory
    def load(self, *, max_frames: int | None = None, seed: int | None = None, verify: bool = True) -> PianorollDataset:
        """The pieces as one in-memory `PianorollDataset` (all of them, or a sample).

        Args:
            max_frames: Stop once the pieces taken hold at least this many frames (reading only
                the shards needed): a bounded sample, e.g. for pre-training statistics.
            seed: Visit shards, and pieces within each shard, in a seeded random order (else in
                manifest order).
            verify: Check each shard's SHA-256 digest.

        Returns:
            A `PianorollDataset` named after the dataset and split.

        Raises:
            DatasetError: A shard is missing, damaged or does not match the manifest.
        """
        max_frames = _positive_int(max_frames, "max_frames", allow_none=True)
        rng = np.random.default_rng(seed) if seed is not None else None
        order = rng.permutation(len(self.shards)) if rng is not None else range(len(self.shards))
        parts, lengths, names, frames = [], [], [], 0
        for i in order:
            shard = self.shards[i]
            arrays = read_shard(self.dataset.directory / shard["file"], shard, verify=verify)
            count = min(shard["pieces"], len(self) - shard["first"])
            pieces = rng.permutation(count) if rng is not None else range(count)
            for j in pieces:
                offsets = arrays["offsets"]
                parts.append(arrays["coords"][offsets[j] : offsets[j + 1]])
                lengths.append(int(arrays["lengths"][j]))
                names.append(arrays["names"][j])
                frames += lengths[-1]
                if max_frames is not None and frames >= max_frames:
                    break
            if max_frames is not None and frames >= max_frames:
                break
        coords = np.concatenate(parts) if parts else np.zeros((0, 3), np.int32)
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts], dtype=np.int64)])
        return PianorollDataset(
            coords,
            offsets,
            np.asarray(lengths, np.int64),
            self.spec,
            names,
            name=self.name,
            split=self.split,
            metadata=dict(self.dataset.metadata),
        )

    # ------------------------------------------------------------------ streaming
    def tf_dataset(
        self,
        batch_size: int,
        *,
        crop_beats: int | None = None,
        align: str = "beat",
        transpose: int = 0,
        shuffle: bool = True,
        seed: int | None = None,
        repeat: bool = False,
        drop_remainder: bool = False,
        prefetch: bool = True,
        shuffle_buffer: int = 1024,
        cycle_length: int = 4,
        input_context: tf.distribute.InputContext | None = None,
        num_shards: int | None = None,
        index: int | None = None,
        pad_to_longest: bool = False,
        verify: bool = True,
    ) -> tf.data.Dataset:
        """Stream `(pianoroll, mask)` batches from the shard files.

        The examples are those of `make_tf_dataset` (the same crop, transposition, padding and
        mask code): with `shuffle=False` and the same seed they are identical to
        `make_tf_dataset(self.load(), ...)`. The pipeline: the shard files (this worker's, see
        below) -> seeded shuffle of the files -> `interleave` reading `cycle_length` shards in
        parallel (`tf.numpy_function`; each shard's size and SHA-256 are checked) -> a seeded
        shuffle buffer of `shuffle_buffer` sparse pieces -> examples -> batches -> `prefetch`.
        Memory holds about `2 * cycle_length` shards plus the buffer, whatever the dataset size.

        Per-worker input: with `input_context` (as `strategy.distribute_datasets_from_function`
        passes it) or `num_shards`/`index`, this pipeline reads only every `num_shards`-th file
        from `index` (`Dataset.shard` on the file list, before shuffling), so workers read
        disjoint files that together cover the split; tf.data's own auto-sharding is turned off.
        `batch_size` is then the per-replica batch: `input_context.get_per_replica_batch_size(GLOBAL)`.

        Args:
            batch_size: Examples per batch.
            crop_beats: Crop length in beats; `None` keeps whole pieces.
            align: Where crops may start: `"step"`, `"beat"` or `"bar"`.
            transpose: Largest random transposition in semitones.
            shuffle: Shuffle files and pieces (again each epoch). Without it, pieces come in
                manifest order.
            seed: Seed of shuffling, crops and transpositions.
            repeat: Repeat forever (use with `steps_per_epoch`; advised for multi-worker
                training, where workers may hold different numbers of pieces).
            drop_remainder: Drop a last, smaller batch.
            prefetch: Prefetch batches in the background.
            shuffle_buffer: Pieces in the shuffle buffer.
            cycle_length: Shard files read (and interleaved) at once.
            input_context: A `tf.distribute.InputContext`: read this input pipeline's files.
            num_shards: Number of input pipelines (instead of `input_context`).
            index: This pipeline's index in `0..num_shards - 1`.
            pad_to_longest: Pad every batch to the split's longest piece (whole pieces only): with
                one padded length the Keras metrics give exact averages over real steps.
            verify: Check the SHA-256 digest of each shard read.

        Returns:
            A dataset of float32 `[batch, time, pitch, track]` and float32 `[batch, time]`.

        Raises:
            DatasetError: An argument is out of range, the split has no piece, or fewer shard
                files than input pipelines. A shard that fails its checks while streaming
                raises a TensorFlow error whose message names the file.
        """
        import tensorflow as tf

        check_pipeline_arguments(batch_size, crop_beats, align, transpose)
        shuffle_buffer = _positive_int(shuffle_buffer, "shuffle_buffer")
        cycle_length = _positive_int(cycle_length, "cycle_length")
        if pad_to_longest and crop_beats is not None:
            raise DatasetError("pad_to_longest pads whole pieces; it cannot be used with crop_beats")
        if input_context is not None:
            if num_shards is not None or index is not None:
                raise DatasetError("give input_context or num_shards/index, not both")
            num_shards, index = input_context.num_input_pipelines, input_context.input_pipeline_id
        num_shards = 1 if num_shards is None else num_shards
        files = self.worker_files(num_shards, 0 if index is None else index)
        if not self.shards or not self.num_examples():
            raise DatasetError(f"{self!r} has no piece to build a tf.data pipeline from")
        if len(self.shards) < num_shards:
            raise DatasetError(
                f"split {self.split!r} has {len(self.shards)} shard file(s), fewer than the {num_shards} input "
                "pipelines; prepare smaller shards (--shard-size) so that every worker gets files"
            )

        entries = {os.fspath(self.dataset.directory / s["file"]): s for s in self.shards}

        def load(path: bytes):
            arrays = read_shard(path.decode(), entries[path.decode()], verify=verify)
            return arrays["coords"], arrays["offsets"], arrays["lengths"]

        def read(path, first):
            types = (tf.int32, tf.int64, tf.int64)
            coords, offsets, lengths = tf.numpy_function(load, [path], types, name="read_shard")
            coords = tf.reshape(coords, [-1, 3])
            offsets, lengths = tf.reshape(offsets, [-1]), tf.reshape(lengths, [-1])

            def piece(i):
                return first + i, coords[offsets[i] : offsets[i + 1]], lengths[i]

            return tf.data.Dataset.range(tf.size(lengths, out_type=tf.int64)).map(piece)

        paths = [os.fspath(p) for p in self.files]
        firsts = [s["first"] for s in self.shards]
        stream = tf.data.Dataset.from_tensor_slices((paths, tf.constant(firsts, tf.int64)))
        if num_shards > 1:
            stream = stream.shard(num_shards, index)
        if shuffle:
            stream = stream.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            stream = stream.repeat()
        block = 1 if shuffle else max(s["pieces"] for s in self.shards)  # in order: each file whole, in turn
        pieces = stream.interleave(
            read,
            cycle_length=min(cycle_length, len(files)),
            block_length=block,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        limit = len(self)
        pieces = pieces.filter(lambda i, cells, length: (length > 0) & (i < limit))
        if shuffle:
            pieces = pieces.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        batches = batch_examples(
            pieces,
            self.spec,
            batch_size,
            crop_beats=crop_beats,
            align=align,
            transpose=transpose,
            seed=seed,
            drop_remainder=drop_remainder,
            prefetch=False,
        )
        if not repeat:  # the exact number of batches: Keras then knows the epoch length
            examples = self.num_examples(num_shards, 0 if index is None else index)
            count = examples // batch_size if drop_remainder else -(-examples // batch_size)
            batches = batches.apply(tf.data.experimental.assert_cardinality(count))
        if pad_to_longest:
            longest = self.longest

            def pad(pianoroll, mask):
                extra = longest - tf.shape(pianoroll)[1]
                return tf.pad(pianoroll, [[0, 0], [0, extra], [0, 0], [0, 0]]), tf.pad(mask, [[0, 0], [0, extra]])

            batches = batches.map(pad)
        if num_shards > 1:
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            batches = batches.with_options(options)
        return batches.prefetch(tf.data.AUTOTUNE) if prefetch else batches
