"""LPD-5 (Lakh Pianoroll Dataset, 5 tracks) as distributed for MuseGAN and MultINN.

The file is a NumPy `.npz` holding the sparse piano-roll: `shape`, the dense shape, either
`[n, bars, steps per bar, 84, 5]` (MuseGAN's `train_x_lpd_5_phr.npz`) or `[n, time, 84, 5]`,
and `nonzero`, an int array `[ndim, num_active]` of the coordinates of the active cells (what
`np.nonzero` of the dense array gives). The dense array is never built: coordinates go straight
into a `PianorollDataset`, whose pieces are densified one at a time.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.errors import DatasetError, SpecError

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

    order = np.random.default_rng(SPLIT_SEED).permutation(num_pieces)
    bounds = np.cumsum([0] + [round(f * num_pieces) for f in SPLIT_FRACTIONS.values()])
    bounds[-1] = num_pieces
    out = {}
    for (split, _), start, stop in zip(SPLIT_FRACTIONS.items(), bounds[:-1], bounds[1:]):
        out[split] = everything.subset(np.sort(order[start:stop]))
        out[split].split = split
    return out
