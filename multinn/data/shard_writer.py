"""Writing sharded datasets: `ShardWriter` and `write_shards` (the format: `multinn/data/sharded_dataset.py`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.data.sharded_dataset import (
    MANIFEST,
    SHARD_KEYS,
    SHARDS_FORMAT,
    SHARDS_VERSION,
    ShardedDataset,
    shard_file_name,
)
from multinn.errors import DatasetError, SpecError
from multinn.utils.checks import check_positive_int
from multinn.utils.io import atomic_write, sha256_file

DEFAULT_SHARD_BYTES = 16 * 2**20
"""Default shard size: 16 MiB of coordinates in memory (the `.npz` files are compressed, smaller).

Training holds about `2 * cycle_length` shards; 16 MiB keeps that near 0.3 GB (docs/distributed.md)."""

NOTE_BYTES = 12
"""Bytes of one active cell in memory: int32 `(time, pitch, track)`."""

PIECE_BYTES = 16
"""Bytes of one piece's offset and length (int64 each)."""

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_STAGING_PREFIX = ".shards-"


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
        self.max_shard_bytes = check_positive_int(max_shard_bytes, "max_shard_bytes", error=DatasetError)
        self.max_shard_pieces = check_positive_int(
            max_shard_pieces, "max_shard_pieces", error=DatasetError, allow_none=True
        )
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
