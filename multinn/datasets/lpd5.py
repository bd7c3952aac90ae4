"""LPD-5 (Lakh Pianoroll Dataset, 5 tracks) as distributed for MuseGAN and MultINN.

The file is a NumPy `.npz` holding the sparse piano-roll: `shape`, the dense shape, either
`[n, bars, steps per bar, 84, 5]` (MuseGAN's `train_x_lpd_5_phr.npz`) or `[n, time, 84, 5]`,
and `nonzero`, an int array `[ndim, num_active]` of the coordinates of the active cells (what
`np.nonzero` of the dense array gives). The dense array is never built: coordinates go straight
into a `PianorollDataset`, whose pieces are densified one at a time.

`read_lpd5` loads the whole coordinate array. `stream_lpd5` reads it in chunks straight from the
zip member and yields one piece at a time, so that files larger than memory can be turned into
shards (`multinn.data.write_shards`) with bounded memory.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.errors import DatasetError, SpecError
from multinn.utils.checks import check_positive_int

LPD5_SPEC = PianorollSpec(
    steps_per_beat=12,
    lowest_pitch=24,
    highest_pitch=107,
    tracks=(
        TrackSpec("Drums", 0, is_drum=True),
        TrackSpec("Piano", 0),
        TrackSpec("Guitar", 24),
        TrackSpec("Bass", 32),
        TrackSpec("Strings", 48),
    ),
)
"""LPD-5: 12 steps per beat (48 per 4/4 bar), 84 pitches C1..B7, Drums/Piano/Guitar/Bass/Strings."""

SPLIT_FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
"""LPD-5 has no published split: pieces are split by a fixed-seed permutation in these shares."""

SPLIT_SEED = 0


def read_lpd5(path: str | os.PathLike, spec: PianorollSpec = LPD5_SPEC) -> dict[str, PianorollDataset]:
    """Read a sparse LPD-5 `.npz` into train/valid/test datasets without densifying it.

    Args:
        path: The `.npz` file with `nonzero` and `shape`.
        spec: The layout; must have the file's pitch and track counts (default `LPD5_SPEC`).

    Raises:
        DatasetError: The file is missing, not an npz, lacks `nonzero`/`shape`, or is inconsistent.
        SpecError: The file's pitch or track count differs from the spec's.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "nonzero" not in data or "shape" not in data:
                raise DatasetError(f"{path}: expected arrays 'nonzero' and 'shape', found {sorted(data.files)}")
            nonzero, shape = data["nonzero"], tuple(int(s) for s in data["shape"])
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable LPD-5 npz file ({exc})") from None

    if len(shape) not in (4, 5) or nonzero.ndim != 2 or nonzero.shape[0] != len(shape):
        raise DatasetError(
            f"{path}: expected shape [n, time, pitch, track] or [n, bars, steps, pitch, track] and nonzero "
            f"[ndim, num_active]; got shape {list(shape)} and nonzero of shape {list(nonzero.shape)}"
        )
    if shape[-2:] != (spec.num_pitches, spec.num_tracks):
        raise SpecError(
            f"{path}: the data has {shape[-2]} pitches and {shape[-1]} tracks, but the spec expects "
            f"{spec.num_pitches} pitches and {spec.num_tracks} tracks"
        )
    if nonzero.size and ((nonzero.min(axis=1) < 0).any() or (nonzero.max(axis=1) >= np.asarray(shape)).any()):
        raise DatasetError(f"{path}: 'nonzero' holds coordinates outside the shape {list(shape)}")

    num_pieces = shape[0]
    piece = nonzero[0]
    if len(shape) == 5:  # [n, bars, steps, pitch, track] -> time = bar * steps + step
        time = nonzero[1].astype(np.int64) * shape[2] + nonzero[2]
        length = shape[1] * shape[2]
    else:
        time, length = nonzero[1], shape[1]
    coords = np.stack([time, nonzero[-2], nonzero[-1]], axis=1).astype(np.int32)
    del time
    if np.any(np.diff(piece) < 0):  # np.nonzero gives sorted coordinates; other writers may not
        order = np.argsort(piece, kind="stable")
        piece, coords = piece[order], coords[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(piece, minlength=num_pieces))])
    names = [f"lpd5/{i}" for i in range(num_pieces)]
    everything = PianorollDataset(coords, offsets, np.full(num_pieces, length), spec, names, name="lpd5")

    out = {}
    for split, indices in lpd5_split_indices(num_pieces).items():
        out[split] = everything.subset(indices)
        out[split].split = split
    return out


def lpd5_split_indices(num_pieces: int) -> dict[str, np.ndarray]:
    """The pieces of each split: a fixed-seed permutation cut in `SPLIT_FRACTIONS` shares.

    Args:
        num_pieces: Pieces in the file.

    Returns:
        `{"train": indices, "valid": indices, "test": indices}`, each sorted ascending.
    """
    order = np.random.default_rng(SPLIT_SEED).permutation(num_pieces)
    bounds = np.cumsum([0] + [round(f * num_pieces) for f in SPLIT_FRACTIONS.values()])
    bounds[-1] = num_pieces
    return {
        split: np.sort(order[start:stop])
        for split, start, stop in zip(SPLIT_FRACTIONS, bounds[:-1], bounds[1:], strict=True)
    }


DEFAULT_CHUNK_SIZE = 1 << 20
"""Coordinates read per chunk by `stream_lpd5` (8 MB per int64 row of `nonzero`)."""


def _read_exact(f: IO[bytes], size: int, path: str) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise DatasetError(f"{path}: 'nonzero' ends early: the file is truncated ({len(data)} of {size} bytes read)")
    return data


def _skip(f: IO[bytes], size: int, step: int = 1 << 20) -> None:
    """Move `f` forward by `size` bytes, decompressing and dropping at most `step` bytes at a time
    (`ZipExtFile.seek` would hold up to 16 MB)."""
    while size > 0:
        data = f.read(min(step, size))
        if not data:
            return
        size -= len(data)


class LPD5Stream:
    """The pieces of a sparse LPD-5 `.npz`, read in chunks of coordinates: bounded memory.

    An `.npz` is a zip of `.npy` files. The `nonzero.npy` member is read through
    `zipfile.ZipFile.open` (decompressing on the fly): its `.npy` header gives the dtype and
    shape, then every row of `nonzero` (piece, [bar,] time, pitch, track) is read `chunk_size`
    coordinates at a time, from one open handle per row. The coordinates of `np.nonzero` are
    sorted by piece, so each piece is complete when the piece index moves on; memory holds one
    chunk plus one piece. Pieces without notes are yielded too, as in `read_lpd5`.

    Args:
        path: The `.npz` file with `nonzero` and `shape`.
        spec: The layout; must have the file's pitch and track counts (default `LPD5_SPEC`).
        chunk_size: Coordinates per chunk.

    Attributes:
        shape: The dense shape the file declares.
        num_pieces: Pieces in the file (`shape[0]`).
        num_notes: Active cells in the file.
        piece_length: Time steps of every piece.
        split_of: int array `[num_pieces]`: index into `SPLITS` of each piece's split.

    Raises:
        DatasetError: The file is missing, not a zip of `.npy` files, lacks `nonzero`/`shape`,
            or is inconsistent (while iterating: coordinates outside the shape, not sorted by
            piece, or a truncated member).
        SpecError: The file's pitch or track count differs from the spec's.

    Example:
    ```python
    stream = stream_lpd5("train_x_lpd_5_phr.npz")
    for split, name, coords, length in stream:  # coords: int32 [notes, 3] of (time, pitch, track)
        ...
    ```
    """

    SPLITS = tuple(SPLIT_FRACTIONS)

    def __init__(
        self, path: str | os.PathLike, spec: PianorollSpec = LPD5_SPEC, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ):
        self.path = os.fspath(path)
        self.spec = spec
        self.chunk_size = check_positive_int(chunk_size, "chunk_size", error=DatasetError)
        with self._open() as zf:
            self.shape = self._read_shape(zf)
            with zf.open("nonzero.npy") as f:
                self._dtype, nonzero_shape, self._fortran, _ = self._read_header(f)
        if len(self.shape) not in (4, 5) or len(nonzero_shape) != 2 or nonzero_shape[0] != len(self.shape):
            raise DatasetError(
                f"{self.path}: expected shape [n, time, pitch, track] or [n, bars, steps, pitch, track] and nonzero "
                f"[ndim, num_active]; got shape {list(self.shape)} and nonzero of shape {list(nonzero_shape)}"
            )
        if self.shape[-2:] != (spec.num_pitches, spec.num_tracks):
            raise SpecError(
                f"{self.path}: the data has {self.shape[-2]} pitches and {self.shape[-1]} tracks, but the spec "
                f"expects {spec.num_pitches} pitches and {spec.num_tracks} tracks"
            )
        self.num_pieces = self.shape[0]
        self.num_notes = int(nonzero_shape[1])
        self.piece_length = self.shape[1] * self.shape[2] if len(self.shape) == 5 else self.shape[1]
        self.split_of = np.zeros(self.num_pieces, np.int8)
        for i, indices in enumerate(lpd5_split_indices(self.num_pieces).values()):
            self.split_of[indices] = i

    def __len__(self) -> int:
        return self.num_pieces

    def __repr__(self) -> str:
        return f"<LPD5Stream {self.path}: {self.num_pieces} pieces, {self.num_notes} notes, shape {list(self.shape)}>"

    # ------------------------------------------------------------------ file access
    def _open(self) -> zipfile.ZipFile:
        try:
            zf = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise DatasetError(f"{self.path}: no such file") from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{self.path}: not a readable LPD-5 npz file ({exc})") from None
        names = {n.removesuffix(".npy") for n in zf.namelist()}
        if "nonzero" not in names or "shape" not in names:
            zf.close()
            raise DatasetError(f"{self.path}: expected arrays 'nonzero' and 'shape', found {sorted(names)}")
        return zf

    def _read_shape(self, zf: zipfile.ZipFile) -> tuple[int, ...]:
        try:
            with zf.open("shape.npy") as f:
                return tuple(int(s) for s in np.lib.format.read_array(f, allow_pickle=False).ravel())
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{self.path}: not a readable LPD-5 npz file ({exc})") from None

    def _read_header(self, f: IO[bytes]) -> tuple[np.dtype, tuple[int, ...], bool, int]:
        """dtype, shape, Fortran order and data offset of the `.npy` stream `f` (left at the data)."""
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:  # (2, 0) and (3, 0) share the header layout; a dtype descr is plain ASCII
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{self.path}: not a readable LPD-5 npz file ({exc})") from None
        if dtype.kind not in "iu":
            raise DatasetError(f"{self.path}: 'nonzero' must hold integer coordinates, not {dtype}")
        return dtype, tuple(shape), bool(fortran), f.tell()

    def _chunks(self) -> Iterator[np.ndarray]:
        """`nonzero` as int64 `[ndim, k]` chunks, in order."""
        ndim, total, size = len(self.shape), self.num_notes, self._dtype.itemsize
        with self._open() as zf:
            try:
                if self._fortran:  # (ndim, N) in Fortran order: the ndim values of each cell are adjacent
                    with zf.open("nonzero.npy") as f:
                        self._read_header(f)
                        for start in range(0, total, self.chunk_size):
                            k = min(self.chunk_size, total - start)
                            data = np.frombuffer(_read_exact(f, k * ndim * size, self.path), self._dtype)
                            yield data.reshape(k, ndim).T.astype(np.int64)
                    return
                handles = [zf.open("nonzero.npy") for _ in range(ndim)]
                try:
                    for row, f in enumerate(handles):
                        self._read_header(f)
                        _skip(f, row * total * size)
                    for start in range(0, total, self.chunk_size):
                        k = min(self.chunk_size, total - start)
                        rows = [np.frombuffer(_read_exact(f, k * size, self.path), self._dtype) for f in handles]
                        yield np.stack(rows).astype(np.int64)
                finally:
                    for f in handles:
                        f.close()
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise DatasetError(f"{self.path}: cannot read 'nonzero' ({exc})") from None

    # ------------------------------------------------------------------ pieces
    def __iter__(self) -> Iterator[tuple[str, str, np.ndarray, int]]:
        """Yield `(split, name, coords, length)` for every piece in file order.

        `coords` is int32 `[notes, 3]` of `(time, pitch, track)`, in the file's order.
        """
        upper = np.asarray(self.shape, np.int64)[:, None]
        emitted = 0  # pieces yielded so far
        current, pending = -1, []

        def emit(piece: int, coords: np.ndarray):
            nonlocal emitted
            empty = np.zeros((0, 3), np.int32)
            for i in range(emitted, piece + 1):
                yield self._piece(i, coords if i == piece else empty)
            emitted = piece + 1

        for chunk in self._chunks():
            if chunk.size and ((chunk.min(axis=1) < 0).any() or (chunk.max(axis=1)[:, None] >= upper).any()):
                raise DatasetError(f"{self.path}: 'nonzero' holds coordinates outside the shape {list(self.shape)}")
            piece = chunk[0]
            if piece[0] < current or np.any(np.diff(piece) < 0):
                raise DatasetError(
                    f"{self.path}: the coordinates in 'nonzero' are not sorted by piece (as np.nonzero gives them), "
                    "so they cannot be streamed; read the file whole with read_lpd5 / datasets.load('lpd5')"
                )
            if len(self.shape) == 5:  # [n, bars, steps, pitch, track] -> time = bar * steps + step
                time = chunk[1] * self.shape[2] + chunk[2]
            else:
                time = chunk[1]
            coords = np.stack([time, chunk[-2], chunk[-1]], axis=1).astype(np.int32)
            bounds = [0, *(np.flatnonzero(np.diff(piece)) + 1).tolist(), len(piece)]
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
                index = int(piece[start])
                if index != current:
                    if current >= 0:
                        yield from emit(current, np.concatenate(pending))
                    current, pending = index, []
                pending.append(coords[start:stop])
        if current >= 0:
            yield from emit(current, np.concatenate(pending))
        if emitted < self.num_pieces:
            yield from emit(self.num_pieces - 1, np.zeros((0, 3), np.int32))

    def _piece(self, index: int, coords: np.ndarray) -> tuple[str, str, np.ndarray, int]:
        return self.SPLITS[self.split_of[index]], f"lpd5/{index}", coords, self.piece_length


def stream_lpd5(
    path: str | os.PathLike, spec: PianorollSpec = LPD5_SPEC, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> LPD5Stream:
    """Open a sparse LPD-5 `.npz` for streaming: an iterable of `(split, name, coords, length)`.

    The pieces, names and splits are those of `read_lpd5`, but the coordinate array is read
    `chunk_size` coordinates at a time, never whole. Feed it to `multinn.data.write_shards`:

    ```python
    from multinn.data import write_shards
    from multinn.datasets.lpd5 import LPD5_SPEC, stream_lpd5

    write_shards(stream_lpd5("lpd5.npz"), "lpd5-shards/", spec=LPD5_SPEC, name="lpd5")
    ```

    Args:
        path: The `.npz` file with `nonzero` and `shape`.
        spec: The layout (default `LPD5_SPEC`).
        chunk_size: Coordinates per chunk.

    Returns:
        An `LPD5Stream` (with `len`, `num_notes`, `piece_length`, `split_of`).

    Raises:
        DatasetError, SpecError: As `read_lpd5`, see `LPD5Stream`.
    """
    return LPD5Stream(path, spec, chunk_size=chunk_size)
