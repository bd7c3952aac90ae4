"""`PianorollDataset`: a split of pieces, stored sparsely, with its spec and an atomic cache."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import DatasetError, SpecError
from multinn.utils.io import atomic_write

CACHE_FORMAT = 1
"""Version of the `.npz` cache layout; caches of another version are rebuilt, never trusted."""


class PianorollDataset(Sequence[np.ndarray]):
    """A list of binary piano-roll pieces `[time, pitch, track]` sharing one `PianorollSpec`.

    Pieces are stored as the coordinates of their active cells (`coords[offsets[i]:offsets[i+1]]`
    holds piece `i`'s `(time, pitch, track)` triples) plus their lengths, so that LPD-5-sized
    sets fit in memory; indexing a piece builds its dense array.

    Args:
        coords: int array `[num_active, 3]` of `(time, pitch, track)`, pieces concatenated.
        offsets: int array `[num_pieces + 1]`, where each piece's coordinates start and end.
        lengths: int array `[num_pieces]`, time steps of each piece (trailing silence included).
        spec: The layout of every piece.
        names: Optional name of each piece (source file, or `"<split>/<index>"`).
        name: Dataset name, e.g. `"jsb-chorales"`.
        split: Split name, e.g. `"train"`.
        metadata: JSON-serialisable facts about the data (source, skipped files, ...), saved
            with the cache.

    Example:
    ```python
    ds = multinn.datasets.load("jsb-chorales", split="train", path="jsb-chorales-quarter.json")
    len(ds), ds.num_frames, ds[0].shape  # (229, 13807, (129, 88, 1))
    ```
    """

    def __init__(
        self,
        coords: np.ndarray,
        offsets: np.ndarray,
        lengths: np.ndarray,
        spec: PianorollSpec,
        names: Sequence[str] | None = None,
        name: str = "",
        split: str = "",
        metadata: dict[str, Any] | None = None,
    ):
        self.coords = np.asarray(coords, dtype=np.int32).reshape(-1, 3)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.spec = spec
        self.name = name
        self.split = split
        self.metadata = dict(metadata or {})
        n = len(self.lengths)
        self.names = list(names) if names is not None else [f"{split or 'piece'}/{i}" for i in range(n)]
        if self.offsets.shape != (n + 1,) or len(self.names) != n:
            raise DatasetError(
                f"inconsistent dataset arrays: {n} lengths, {len(self.offsets)} offsets, {len(self.names)} names"
            )
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.coords) or np.any(np.diff(self.offsets) < 0):
            raise DatasetError("inconsistent dataset arrays: offsets do not partition the coordinates")
        self._check_coords()

    def _check_coords(self) -> None:
        if not len(self.coords):
            return
        piece = np.repeat(np.arange(len(self.lengths)), np.diff(self.offsets))
        bad = (
            (self.coords < 0).any(axis=1)
            | (self.coords[:, 0] >= self.lengths[piece])
            | (self.coords[:, 1] >= self.spec.num_pitches)
            | (self.coords[:, 2] >= self.spec.num_tracks)
        )
        if bad.any():
            i = int(piece[np.argmax(bad)])
            raise SpecError(
                f"piece {self.names[i]!r} does not fit the spec: it has notes outside "
                f"[{self.lengths[i]} steps, {self.spec.num_pitches} pitches, {self.spec.num_tracks} tracks]"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rolls(
        cls, rolls: Sequence[np.ndarray], spec: PianorollSpec, names: Sequence[str] | None = None, **kwargs: Any
    ) -> PianorollDataset:
        """Build a dataset from dense rolls `[time, pitch, track]` (checked against `spec`)."""
        coords, counts, lengths = [], [0], []
        for i, roll in enumerate(rolls):
            spec.check_roll(roll, batched=False, name=f"piece {names[i] if names else i}")
            nz = np.argwhere(np.asarray(roll) != 0).astype(np.int32)
            coords.append(nz)
            counts.append(len(nz))
            lengths.append(np.shape(roll)[0])
        coords_arr = np.concatenate(coords) if coords else np.zeros((0, 3), np.int32)
        return cls(coords_arr, np.cumsum(counts), np.asarray(lengths), spec, names, **kwargs)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"piece index {index} out of range for {n} pieces")
        index %= n
        roll = np.zeros((int(self.lengths[index]), self.spec.num_pitches, self.spec.num_tracks), dtype=bool)
        c = self.coords[self.offsets[index] : self.offsets[index + 1]]
        roll[c[:, 0], c[:, 1], c[:, 2]] = True
        return roll

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def subset(self, indices: Sequence[int]) -> PianorollDataset:
        """A dataset of the pieces at `indices` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        parts = [self.coords[self.offsets[i] : self.offsets[i + 1]] for i in indices]
        counts = [0] + [len(p) for p in parts]
        coords = np.concatenate(parts) if parts else np.zeros((0, 3), np.int32)
        return PianorollDataset(
            coords,
            np.cumsum(counts),
            self.lengths[indices],
            self.spec,
            [self.names[i] for i in indices],
            name=self.name,
            split=self.split,
            metadata=self.metadata,
        )

    @property
    def num_frames(self) -> int:
        """Total time steps over all pieces."""
        return int(self.lengths.sum())

    @property
    def num_notes(self) -> int:
        """Total active cells (pitch-steps) over all pieces."""
        return len(self.coords)

    def __repr__(self) -> str:
        return (
            f"<PianorollDataset {self.name or '?'}/{self.split or '?'}: {len(self)} pieces, "
            f"{self.num_frames} frames, {self.spec.num_pitches} pitches, tracks {list(self.spec.track_names)}>"
        )

    def as_tf_dataset(self, batch_size: int, **kwargs: Any):
        """A `tf.data.Dataset` of `(pianoroll, mask)` batches; see `multinn.data.make_tf_dataset`."""
        from multinn.data.pipeline import make_tf_dataset

        return make_tf_dataset(self, batch_size, **kwargs)

    # ------------------------------------------------------------------ cache
    def save(self, path: str | os.PathLike, key: str = "") -> None:
        """Write the dataset, its spec and metadata as one `.npz`, atomically.

        Args:
            path: Output file.
            key: Fingerprint of what the data was prepared from, checked by cache readers.
        """
        header = {"format": CACHE_FORMAT, "key": key, "name": self.name, "split": self.split, "metadata": self.metadata}
        with atomic_write(path) as f:
            np.savez_compressed(
                f,
                coords=self.coords,
                offsets=self.offsets,
                lengths=self.lengths,
                names=np.asarray(self.names, dtype=str),
                spec=np.asarray(self.spec.to_json()),
                header=np.asarray(json.dumps(header)),
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> PianorollDataset:
        """Read a dataset written by `save`; a damaged or foreign file is a `DatasetError`."""
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("format") != CACHE_FORMAT:
                    raise DatasetError(f"{path}: cache format {header.get('format')} is not {CACHE_FORMAT}")
                spec = PianorollSpec.from_json(str(data["spec"]))
                return cls(
                    data["coords"],
                    data["offsets"],
                    data["lengths"],
                    spec,
                    data["names"].tolist(),
                    name=header.get("name", ""),
                    split=header.get("split", ""),
                    metadata=header.get("metadata"),
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, io.UnsupportedOperation) as exc:
            raise DatasetError(f"{path}: not a readable multinn dataset cache ({exc})") from None

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict[str, Any]:
        """The header (`format`, `key`, `name`, `split`, `metadata`) of a saved dataset; `{}` if unreadable."""
        try:
            with np.load(os.fspath(path), allow_pickle=False) as data:
                return json.loads(str(data["header"]))
        except Exception:  # a damaged cache is simply not trusted
            return {}
