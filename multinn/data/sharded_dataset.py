"""Reading sharded datasets: pieces split over many `.npz` files plus a `manifest.json`.

A dataset too large for memory (LPD-5: tens of thousands of 5-track songs) is written once as
shards (`multinn.data.write_shards`, in `multinn/data/shard_writer.py`), per split
`train-00000-of-00012.npz`, ..., each a `PianorollDataset` cache file (sparse coordinates,
offsets, lengths, names, spec), and a `manifest.json` listing the spec, the splits and every shard
file with its piece, frame and note counts, size and SHA-256. `ShardedDataset` opens it; training
streams a split through `multinn.data.make_tf_dataset`, which holds a few shards at a time.
Nothing here imports TensorFlow.

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
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import DatasetError, SpecError
from multinn.utils.checks import check_positive_int, is_int
from multinn.utils.io import sha256_file

if TYPE_CHECKING:
    import tensorflow as tf

MANIFEST = "manifest.json"
"""Name of the manifest file in a shard directory."""

SHARDS_FORMAT = "multinn-shards"
SHARDS_VERSION = 1
"""Version of the manifest layout; other versions are refused, never guessed at."""

SHARD_KEYS = ("file", "pieces", "empty", "frames", "notes", "longest", "bytes", "sha256")
"""What the manifest records of each shard file (`empty`: pieces of no time step)."""


def shard_file_name(split: str, index: int, count: int) -> str:
    """`train-00003-of-00012.npz`: the file name of shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.npz"


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
        """`make_tf_dataset(self[split], batch_size, **kwargs)`: see `multinn.data.make_tf_dataset`."""
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
        self.max_pieces = check_positive_int(max_pieces, "max_pieces", error=DatasetError, allow_none=True)
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
        num_shards = check_positive_int(num_shards, "num_shards", error=DatasetError)
        if not is_int(index) or not 0 <= index < num_shards:
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
        max_frames = check_positive_int(max_frames, "max_frames", error=DatasetError, allow_none=True)
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
    def tf_dataset(self, batch_size: int, **kwargs: Any) -> tf.data.Dataset:
        """`make_tf_dataset(self, batch_size, **kwargs)`: `(pianoroll, mask)` batches streamed from
        the shard files; see `multinn.data.make_tf_dataset` for the arguments and the streaming ones
        (`shuffle_buffer`, `cycle_length`, `input_context`, `num_shards`/`index`, `verify`)."""
        from multinn.data.pipeline import make_tf_dataset

        return make_tf_dataset(self, batch_size, **kwargs)
