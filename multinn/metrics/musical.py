"""Musical metrics of binary piano-rolls, in NumPy (MuseGAN's objective metrics, checked by hand).

These are the statistics Dong et al. ("MuseGAN", AAAI 2018) use to compare generated music with
the training data: empty bars (EB), used pitches (UP) and pitch classes (UPC) per bar, qualified
notes (QN), polyphony (PP), drum pattern (DP), tonal distance between tracks (TD), plus the
in-scale rate (IS). Every function takes the same inputs:

- a NumPy array `[batch, time, pitch, track]` -> one value per track, an array `[track]`;
- `[batch, time, pitch]` (one track) or `[time, pitch]` (one track, one piece) -> a float;
- a list or tuple (any sequence, e.g. a `PianorollDataset`) of pieces of any lengths, each
  `[time, pitch, track]` (-> `[track]`) or each `[time, pitch]` (-> a float). A sequence is always
  a sequence of pieces, never a nested list meant as one array.

Every batch row or list element is one piece: notes never run from one piece into the next.
A cell is "on" when it is nonzero (bool and integer arrays) or greater than 0.5 (float arrays).
Pieces are cut into bars of `steps_per_bar` steps from step 0; the bar-level metrics ignore a
trailing incomplete bar. Statistics are pooled over all pieces (total over total, not a mean of
per-piece means). Results are fractions in [0, 1] or counts, and NaN where undefined (no bar, no
note, ...), without a warning.

Nothing here imports TensorFlow or Keras. The reference definitions, and where these functions
differ from MuseGAN's code (`musegan/utils/metrics.py`) and pypianoroll 1.0.4, are in
`docs/metrics.md`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from multinn.errors import SpecError
from multinn.utils.checks import check_int

if TYPE_CHECKING:
    from multinn.data.pianoroll_spec import PianorollSpec

__all__ = [
    "METRIC_INFO",
    "SCALES",
    "default_min_length",
    "drum_pattern_rate",
    "empty_bar_rate",
    "frame_precision_recall_f1",
    "in_scale_rate",
    "musical_metrics",
    "polyphonic_rate",
    "qualified_note_rate",
    "tonal_distance",
    "used_pitch_classes",
    "used_pitches",
]

RollLike = np.ndarray | Sequence[np.ndarray]
"""A piano-roll array, or a sequence of pieces (see the module docstring)."""

METRIC_INFO: dict[str, tuple[str, str]] = {
    "empty_bar_rate": ("EB", "fraction of bars with no note"),
    "used_pitches": ("UP", "distinct pitches per non-empty bar"),
    "used_pitch_classes": ("UPC", "distinct pitch classes (0-12) per non-empty bar"),
    "qualified_note_rate": ("QN", "fraction of notes at least a 32nd note long"),
    "polyphonic_rate": ("PP", "fraction of time steps with more than two pitches sounding"),
    "in_scale_rate": ("IS", "fraction of note-steps in the best-fitting major scale"),
    "drum_pattern_rate": ("DP", "fraction of drum onsets on the 16th-note grid"),
    "tonal_distance": ("TD", "tonal-centroid distance between two tracks, per bar"),
}
"""Metric key -> (short label for table headers, one-line description), in `musical_metrics` order."""

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor
}
"""Scale modes of `in_scale_rate`: semitones above the tonic."""

_CHUNK_CELLS = 1 << 21  # cells per batch chunk: large enough to vectorise, small enough for the cache


# ---------------------------------------------------------------------------------------- inputs
@dataclasses.dataclass(frozen=True)
class _Rolls:
    """A validated metric input: where the pieces are, their pitch/track counts, the result rank."""

    source: Any  # a 4-D array, or a sequence of pieces
    num_pitches: int
    num_tracks: int
    one_track: bool  # True: the input had no track axis, so results are floats
    is_sequence: bool

    def chunks(self) -> Iterator[np.ndarray]:
        """Yields binary C-contiguous chunks `[batch, time, pitch, track]`; at least one.

        A 4-D array is cut along the batch axis; consecutive sequence pieces of equal length are
        stacked, so that a list of many short pieces is not processed one piece at a time.
        """
        if not self.is_sequence:
            array = self.source
            step = max(1, _CHUNK_CELLS // max(1, math.prod(array.shape[1:])))
            for start in range(0, max(1, len(array)), step):
                yield _binarize(array[start : start + step])
            return
        group: list[np.ndarray] = []  # consecutive pieces of one length, stacked into one chunk
        for index, piece in enumerate(self.source):
            piece = self._check_piece(index, np.asarray(piece))
            if group and (len(piece) != len(group[0]) or (len(group) + 1) * piece.size > _CHUNK_CELLS):
                yield np.stack(group)
                group = []
            group.append(piece)
        yield np.stack(group)

    def _check_piece(self, index: int, piece: np.ndarray) -> np.ndarray:
        """Piece `index` of a sequence as a binary `[time, pitch, track]` array, or a `SpecError`."""
        if piece.ndim != (2 if self.one_track else 3) or piece.shape[1:] != self._piece_tail():
            raise SpecError(
                f"piece {index} of `roll` has shape {piece.shape}, but piece 0 has shape (time, "
                f"{', '.join(map(str, self._piece_tail()))}): every piece must have the same "
                f"number of pitches{'' if self.one_track else ' and tracks'}"
            )
        _check_dtype(piece, f"piece {index} of `roll`")
        return _binarize(piece[..., None] if self.one_track else piece)

    def _piece_tail(self) -> tuple[int, ...]:
        return (self.num_pitches,) if self.one_track else (self.num_pitches, self.num_tracks)

    def finish(self, values: np.ndarray) -> np.ndarray | float:
        """The per-track `values` as the caller's result type: `[track]` floats, or one float."""
        values = np.asarray(values, dtype=np.float64)
        return float(values[0]) if self.one_track else values


_SHAPES = (
    "an array [batch, time, pitch, track], [batch, time, pitch] or [time, pitch], or a list of "
    "pieces that are all [time, pitch, track] or all [time, pitch]"
)


def _check_dtype(array: np.ndarray, name: str) -> None:
    if array.dtype.kind not in "biuf":
        raise SpecError(f"{name} must hold bool, integer or float values, got dtype {array.dtype}")


def _binarize(array: np.ndarray) -> np.ndarray:
    """A C-contiguous bool copy (or view) of `array`: nonzero, or > 0.5 for floats."""
    if array.dtype.kind == "b":
        return np.ascontiguousarray(array)
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array > 0.5)
    return np.ascontiguousarray(array != 0)


def _parse(roll: RollLike, name: str = "roll") -> _Rolls:
    """Checks the shape of a metric input (see the module docstring) and wraps it."""
    if isinstance(roll, Sequence) and not isinstance(roll, (str, bytes)):
        if len(roll) == 0:
            raise SpecError(f"`{name}` is an empty list of pieces; pass at least one piece")
        first = np.asarray(roll[0])
        if first.ndim not in (2, 3):
            raise SpecError(
                f"`{name}` must be {_SHAPES}; piece 0 has shape {first.shape} "
                "(a list of batches is not accepted: concatenate them or pass one 4-D array)"
            )
        _check_dtype(first, f"piece 0 of `{name}`")
        one_track = first.ndim == 2
        return _Rolls(roll, first.shape[1], 1 if one_track else first.shape[2], one_track, True)
    array = np.asarray(roll)
    if array.ndim not in (2, 3, 4):
        raise SpecError(f"`{name}` must be {_SHAPES}, got shape {array.shape}")
    _check_dtype(array, f"`{name}`")
    one_track = array.ndim < 4
    if array.ndim == 2:
        array = array[None]
    if one_track:
        array = array[..., None]
    return _Rolls(array, array.shape[2], array.shape[3], one_track, False)


def _pooled(rolls: _Rolls, stats: Callable[[np.ndarray], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Sums the per-chunk statistics `stats(chunk)` over every chunk of `rolls`."""
    total: tuple[np.ndarray, ...] | None = None
    for chunk in rolls.chunks():
        part = stats(chunk)
        total = part if total is None else tuple(a + b for a, b in zip(total, part, strict=True))
    assert total is not None  # chunks() yields at least one chunk
    return total


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`numerator / denominator` as float64, NaN where the denominator is 0, without warnings."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


# ---------------------------------------------------------------------------------------- building blocks
def _count_per_track(cells: np.ndarray) -> np.ndarray:
    """Number of on cells of a C-contiguous bool array `[..., pitch, track]` per track, int64 `[track]`."""
    num_tracks = cells.shape[-1]
    if cells.size == 0:
        return np.zeros(num_tracks, np.int64)
    columns = cells.view(np.uint8).reshape(-1, cells.shape[-2] * num_tracks)
    per_column = np.add.reduce(columns, axis=0, dtype=np.uint32)  # rows per chunk stay far below 2**32
    return per_column.reshape(-1, num_tracks).sum(axis=0, dtype=np.int64)


def _onsets(x: np.ndarray) -> np.ndarray:
    """Note starts of a bool roll `[batch, time, pitch, track]`: on, and off (or the piece start) before."""
    onsets = np.empty_like(x)
    onsets[:, :1] = x[:, :1]
    np.greater(x[:, 1:], x[:, :-1], out=onsets[:, 1:])
    return onsets


def _bar_pitch_counts(x: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """Active steps of each pitch in each complete bar, `[batch, bar, pitch, track]` (uint16/uint32)."""
    batch, time, pitches, tracks = x.shape
    bars = time // steps_per_bar
    cells = x[:, : bars * steps_per_bar].reshape(batch, bars, steps_per_bar, pitches, tracks)
    dtype = np.uint16 if steps_per_bar < 2**16 else np.uint32
    return np.add.reduce(cells.view(np.uint8), axis=2, dtype=dtype)


def _fold_octaves(counts: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """Sums pitch counts `[..., pitch, track]` into pitch classes `[..., 12, track]` (int64; C = 0)."""
    shift = lowest_pitch % 12
    pitches = counts.shape[-2]
    after = -(shift + pitches) % 12
    padded = np.pad(counts, [(0, 0)] * (counts.ndim - 2) + [(shift, after), (0, 0)])
    octaves = padded.reshape(*counts.shape[:-2], (shift + pitches + after) // 12, 12, counts.shape[-1])
    return octaves.sum(axis=-3, dtype=np.int64)


def _tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """Harte et al. (2006)'s 6 x 12 map of pitch classes onto the circles of fifths, minor and major thirds."""
    angles = np.arange(12) * np.array([[7 / 6], [3 / 2], [2 / 3]]) * np.pi
    radii = np.array([[r1], [r2], [r3]])
    return np.stack([radii * np.sin(angles), radii * np.cos(angles)], axis=1).reshape(6, 12)


_TONAL_MATRIX = _tonal_matrix()


def _drum_pattern_mask(steps_per_bar: int, tolerance: float, beats_per_bar: int) -> np.ndarray:
    """Weight of each step of a bar for `drum_pattern_rate`, float64 `[steps_per_bar]`."""
    if steps_per_bar % (4 * beats_per_bar) == 0:
        spacing = steps_per_bar // (4 * beats_per_bar)  # 16th notes
    elif steps_per_bar % (2 * beats_per_bar) == 0:
        spacing = steps_per_bar // (2 * beats_per_bar)  # 8th notes
    else:
        raise SpecError(
            f"drum_pattern_rate needs a bar of {beats_per_bar} beats to have an 8th- or 16th-note grid: "
            f"`steps_per_bar` must be a multiple of {2 * beats_per_bar}, got {steps_per_bar}"
        )
    mask = np.zeros(steps_per_bar)
    if spacing > 2:
        mask[1::spacing] = tolerance
        mask[spacing - 1 :: spacing] = tolerance
    mask[::spacing] = 1.0
    return mask


# ---------------------------------------------------------------------------------------- per-chunk statistics
def _bar_stats(counts: np.ndarray, lowest_pitch: int) -> dict[str, np.ndarray]:
    """Per-track sums over bars from `_bar_pitch_counts`: bars, empty bars, UP and UPC totals."""
    used = counts > 0
    pitches_used = used.sum(axis=2)  # [batch, bar, track]
    classes_used = (_fold_octaves(counts, lowest_pitch) > 0).sum(axis=2)
    nonempty = pitches_used > 0
    bars = np.full(counts.shape[-1], counts.shape[0] * counts.shape[1], np.int64)
    return {
        "bars": bars,
        "empty": bars - nonempty.sum(axis=(0, 1)),
        "nonempty": nonempty.sum(axis=(0, 1)),
        "pitches": pitches_used.sum(axis=(0, 1)),
        "classes": classes_used.sum(axis=(0, 1)),
    }


def _tonal_stats(chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count over bars of the tonal distance of each track pair, `[track, track]` each.

    Args:
        chroma: Active steps per pitch class, `[batch, bar, 12, track]`.
    """
    totals = chroma.sum(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(totals > 0, chroma / totals, 0.0)
    centroid = np.zeros((*chroma.shape[:2], 6, chroma.shape[-1]))
    for pitch_class in range(12):  # a fixed summation order: identical tracks give identical centroids
        centroid += _TONAL_MATRIX[:, pitch_class, None] * normalised[:, :, pitch_class, None, :]
    difference = centroid[..., :, None] - centroid[..., None, :]  # [batch, bar, 6, track, track]
    distance = np.sqrt(np.sum(difference**2, axis=2))
    nonempty = totals[:, :, 0] > 0  # [batch, bar, track]
    both = nonempty[..., :, None] & nonempty[..., None, :]
    return np.where(both, distance, 0.0).sum(axis=(0, 1)), both.sum(axis=(0, 1))


def _qualified_stats(x: np.ndarray, onsets: np.ndarray, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-track numbers of notes lasting at least `min_length` steps, and of all notes."""
    starts = x.shape[1] - min_length + 1  # a qualified note starts at one of the first `starts` steps
    if starts <= 0:
        return np.zeros(x.shape[-1], np.int64), _count_per_track(onsets)
    qualified = onsets[:, :starts].copy()
    for offset in range(1, min_length):
        np.logical_and(qualified, x[:, offset : offset + starts], out=qualified)
    return _count_per_track(qualified), _count_per_track(onsets)


def _polyphonic_stats(x: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-track numbers of steps with more than `threshold` pitches on, and of all steps."""
    if x.shape[2] < 256:
        sounding = np.einsum("btpk->btk", x.view(np.uint8))  # uint8 cannot overflow below 256 pitches
    else:
        sounding = x.sum(axis=2)
    steps = np.full(x.shape[-1], x.shape[0] * x.shape[1], np.int64)
    return (sounding > threshold).sum(axis=(0, 1), dtype=np.int64), steps


def _drum_stats(onsets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-track mask-weighted and plain numbers of onsets in complete bars."""
    steps_per_bar = len(mask)
    bars = onsets.shape[1] // steps_per_bar
    if bars == 0 or onsets.shape[0] == 0:
        return np.zeros(onsets.shape[-1]), np.zeros(onsets.shape[-1], np.int64)
    in_bars = onsets[:, : bars * steps_per_bar].view(np.uint8)
    per_step = np.add.reduce(in_bars, axis=0, dtype=np.uint32).sum(axis=1, dtype=np.int64)  # [time, track]
    per_position = per_step.reshape(bars, steps_per_bar, -1).sum(axis=0)  # [step in bar, track]
    return mask @ per_position, per_position.sum(axis=0)


def _scale_matrix(mode: str) -> np.ndarray:
    """`[tonic, pitch class]`: 1 where the pitch class is in the scale `mode` on that tonic."""
    if mode not in SCALES:
        raise SpecError(f"`mode` must be one of {sorted(SCALES)}, got {mode!r}")
    steps = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12
    return np.isin(steps, SCALES[mode]).astype(np.int64)


def _in_scale_stats(x: np.ndarray, lowest_pitch: int, tonic: int | None, scale: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-track numbers of in-scale note-steps (best tonic per piece if `tonic` is None) and of all."""
    counts = np.add.reduce(x.view(np.uint8), axis=1, dtype=np.uint32)  # [batch, pitch, track]
    chroma = _fold_octaves(counts, lowest_pitch)  # [batch, 12, track]
    in_scale = np.einsum("sc,bck->bsk", scale, chroma)  # [batch, tonic, track]
    best = in_scale.max(axis=1) if tonic is None else in_scale[:, tonic]
    return best.sum(axis=0), chroma.sum(axis=(0, 1))


# ---------------------------------------------------------------------------------------- public metrics
def empty_bar_rate(roll: RollLike, steps_per_bar: int) -> np.ndarray | float:
    """Fraction of bars in which no note sounds (MuseGAN's EB, as a fraction rather than %).

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring.
        steps_per_bar: Time steps per bar. A trailing incomplete bar of a piece is ignored.

    Returns:
        `[track]` float64 for a multi-track input, else a float; NaN when there is no complete bar.

    Raises:
        SpecError: for a bad shape, dtype or `steps_per_bar`.
    """
    rolls = _parse(roll)
    steps_per_bar = check_int(steps_per_bar, "steps_per_bar", 1, error=SpecError)

    def stats(x):
        bar = _bar_stats(_bar_pitch_counts(x, steps_per_bar), 0)
        return bar["empty"], bar["bars"]

    return rolls.finish(_ratio(*_pooled(rolls, stats)))


def used_pitches(roll: RollLike, steps_per_bar: int) -> np.ndarray | float:
    """Mean number of distinct pitches per non-empty bar (UP; MuseGAN's "pitches used").

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring.
        steps_per_bar: Time steps per bar. A trailing incomplete bar of a piece is ignored.

    Returns:
        `[track]` float64 for a multi-track input, else a float: a count per bar, NaN when no
        complete bar has a note.

    Raises:
        SpecError: for a bad shape, dtype or `steps_per_bar`.
    """
    rolls = _parse(roll)
    steps_per_bar = check_int(steps_per_bar, "steps_per_bar", 1, error=SpecError)

    def stats(x):
        bar = _bar_stats(_bar_pitch_counts(x, steps_per_bar), 0)
        return bar["pitches"], bar["nonempty"]

    return rolls.finish(_ratio(*_pooled(rolls, stats)))


def used_pitch_classes(roll: RollLike, steps_per_bar: int, lowest_pitch: int = 0) -> np.ndarray | float:
    """Mean number of distinct pitch classes (0 to 12) per non-empty bar (MuseGAN's UPC).

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring.
        steps_per_bar: Time steps per bar. A trailing incomplete bar of a piece is ignored.
        lowest_pitch: MIDI pitch of pitch index 0 (pitch class `(lowest_pitch + index) % 12`).

    Returns:
        `[track]` float64 for a multi-track input, else a float: a count per bar, NaN when no
        complete bar has a note.

    Raises:
        SpecError: for a bad shape, dtype, `steps_per_bar` or `lowest_pitch`.
    """
    rolls = _parse(roll)
    steps_per_bar = check_int(steps_per_bar, "steps_per_bar", 1, error=SpecError)
    lowest_pitch = check_int(lowest_pitch, "lowest_pitch", 0, error=SpecError)

    def stats(x):
        bar = _bar_stats(_bar_pitch_counts(x, steps_per_bar), lowest_pitch)
        return bar["classes"], bar["nonempty"]

    return rolls.finish(_ratio(*_pooled(rolls, stats)))


def qualified_note_rate(roll: RollLike, min_length: int = 3) -> np.ndarray | float:
    """Fraction of notes lasting at least `min_length` steps (MuseGAN's QN, as a fraction).

    A note is a maximal run of consecutive on steps of one pitch within one piece: a pitch that is
    struck again after a rest (on, off, on) makes two notes; a note held across a bar line is one
    note (notes are not cut at bar lines, unlike MuseGAN's per-bar code). Pooled: qualified notes
    of all pieces over notes of all pieces. The default 3 is MuseGAN's, a 32nd note at 24 steps
    per beat; `musical_metrics` scales it with the resolution.

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring.
        min_length: Shortest qualified note, in time steps (>= 1).

    Returns:
        `[track]` float64 for a multi-track input, else a float; NaN when there is no note.

    Raises:
        SpecError: for a bad shape, dtype or `min_length`.
    """
    rolls = _parse(roll)
    min_length = check_int(min_length, "min_length", 1, error=SpecError)
    return rolls.finish(_ratio(*_pooled(rolls, lambda x: _qualified_stats(x, _onsets(x), min_length))))


def polyphonic_rate(roll: RollLike, threshold: int = 2) -> np.ndarray | float:
    """Fraction of time steps in which more than `threshold` pitches sound (PP).

    With the default 2 this is the MuseGAN paper's "more than two pitches" (MuseGAN's first code
    release counted `>= threshold`; pypianoroll 1.0.4 and MuseGAN's later code count
    `> threshold`, as here). Every step of every piece counts, trailing partial bars included.

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring.
        threshold: A step is polyphonic when strictly more pitches than this are on (>= 0).

    Returns:
        `[track]` float64 for a multi-track input, else a float; NaN when there is no time step.

    Raises:
        SpecError: for a bad shape, dtype or `threshold`.
    """
    rolls = _parse(roll)
    threshold = check_int(threshold, "threshold", 0, error=SpecError)
    return rolls.finish(_ratio(*_pooled(rolls, lambda x: _polyphonic_stats(x, threshold))))


def drum_pattern_rate(
    roll: RollLike, steps_per_bar: int, tolerance: float = 0.1, beats_per_bar: int = 4
) -> np.ndarray | float:
    """Share of drum notes on the 16th-note grid of the bar (MuseGAN's DP, as a fraction).

    Each note onset (a step where a pitch turns on) counts with the weight of its position in the
    bar: 1 on a grid position, `tolerance` one step before or after one when grid positions are
    more than 2 steps apart (as MuseGAN's mask), 0 elsewhere. DP = weighted onsets / onsets, over
    the complete bars of all pieces. The grid has 16th notes (which include the 8ths) when
    `steps_per_bar` is a multiple of `4 * beats_per_bar`, else 8th notes when it is a multiple of
    `2 * beats_per_bar`. At 48 steps per 4/4 bar the grid is every 3 steps and each step off it
    weighs `tolerance`; at 16 steps per bar every step is on the grid.

    Differences from MuseGAN: onsets are counted, not active cells (its later code; a held cymbal
    would count once per step), the mask is anchored at the bar start (its first release took the
    best of 6 shifts), any resolution with such a grid works (not only 8 sizes), and at 2 steps
    per grid position the step between weighs 0 (MuseGAN: `tolerance`).

    Args:
        roll: Binary drum piano-roll(s); shapes and pooling as in the module docstring.
        steps_per_bar: Time steps per bar. A trailing incomplete bar of a piece is ignored.
        tolerance: Weight of the steps next to a grid position, in [0, 1].
        beats_per_bar: Quarter-note beats per bar (4 for 4/4).

    Returns:
        `[track]` float64 for a multi-track input, else a float; NaN when no complete bar has an
        onset.

    Raises:
        SpecError: for a bad shape or dtype, a bar without an 8th-note grid, or a bad `tolerance`.
    """
    rolls = _parse(roll)
    steps_per_bar = check_int(steps_per_bar, "steps_per_bar", 1, error=SpecError)
    beats_per_bar = check_int(beats_per_bar, "beats_per_bar", 1, error=SpecError)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)) or not 0 <= tolerance <= 1:
        raise SpecError(f"`tolerance` must be between 0 and 1, got {tolerance!r}")
    mask = _drum_pattern_mask(steps_per_bar, float(tolerance), beats_per_bar)
    return rolls.finish(_ratio(*_pooled(rolls, lambda x: _drum_stats(_onsets(x), mask))))


def tonal_distance(roll: RollLike, steps_per_bar: int, lowest_pitch: int = 0) -> np.ndarray:
    """Tonal distance between every pair of tracks (MuseGAN's TD, "harmonicity").

    In each bar, each track's chroma (its active steps per pitch class, L1-normalised) is mapped
    onto Harte, Sandler & Gasser (2006)'s 6-D tonal centroid: the circles of fifths (angle
    `7 pi / 6` per semitone, radius 1), minor thirds (`3 pi / 2`, radius 1) and major thirds
    (`2 pi / 3`, radius 0.5). TD of two tracks is the Euclidean distance of their centroids,
    averaged over the complete bars in which both tracks have a note (MuseGAN's code averages per
    beat instead). Identical tracks are exactly 0 apart; a pitch class against the one a fifth
    above (C against G) is `sqrt(19/4 - sqrt(3))` = 1.7372; against the tritone (C against F#),
    `2 sqrt(2)`. The distance does not change when both tracks are transposed together, so
    `lowest_pitch` only names the pitch classes.

    Args:
        roll: Binary multi-track piano-roll(s): `[batch, time, pitch, track]`, or a sequence of
            `[time, pitch, track]` pieces.
        steps_per_bar: Time steps per bar. A trailing incomplete bar of a piece is ignored.
        lowest_pitch: MIDI pitch of pitch index 0.

    Returns:
        Symmetric float64 `[track, track]`. Entry `(i, j)` is NaN when no complete bar has notes
        in both tracks; the diagonal is 0 (NaN for a track without notes).

    Raises:
        SpecError: for one-track input (no track axis), a bad shape or dtype, or bad arguments.
    """
    rolls = _parse(roll)
    if rolls.one_track:
        raise SpecError(
            "tonal_distance compares tracks: `roll` must be [batch, time, pitch, track] or a list of "
            "[time, pitch, track] pieces (stack two tracks on the last axis to compare them)"
        )
    steps_per_bar = check_int(steps_per_bar, "steps_per_bar", 1, error=SpecError)
    lowest_pitch = check_int(lowest_pitch, "lowest_pitch", 0, error=SpecError)

    def stats(x):
        return _tonal_stats(_fold_octaves(_bar_pitch_counts(x, steps_per_bar), lowest_pitch))

    return _ratio(*_pooled(rolls, stats))


def in_scale_rate(
    roll: RollLike, lowest_pitch: int = 0, tonic: int | None = None, mode: str = "major"
) -> np.ndarray | float:
    """Fraction of active note-steps (on cells) whose pitch class lies in a scale (IS).

    With a `tonic`, the scale is fixed (`tonic=0, mode="major"` is C major, MuseGAN's scale mask).
    With `tonic=None`, each piece (and, for multi-track input, each track of each piece) is scored
    against the best of the 12 transpositions of the scale, as muspy's "scale consistency".
    The counts are then pooled over pieces. Since natural minor scales are the major scales of
    their relative majors, `mode` only matters with a fixed `tonic`.

    Args:
        roll: Binary piano-roll(s); shapes and pooling as in the module docstring. Every step
            counts, trailing partial bars included.
        lowest_pitch: MIDI pitch of pitch index 0 (pitch class `(lowest_pitch + index) % 12`).
        tonic: Pitch class of the tonic, 0 (C) to 11 (B), or None for the best per piece.
        mode: `"major"` or `"minor"` (natural minor).

    Returns:
        `[track]` float64 for a multi-track input, else a float; NaN when there is no note.

    Raises:
        SpecError: for a bad shape, dtype or argument.
    """
    rolls = _parse(roll)
    lowest_pitch = check_int(lowest_pitch, "lowest_pitch", 0, error=SpecError)
    if tonic is not None:
        tonic = check_int(tonic, "tonic", 0, 11, error=SpecError)
    scale = _scale_matrix(mode)
    return rolls.finish(_ratio(*_pooled(rolls, lambda x: _in_scale_stats(x, lowest_pitch, tonic, scale))))


def frame_precision_recall_f1(
    predicted: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Frame-level precision, recall and F1 of a predicted roll against a target, micro-averaged.

    Over all cells (steps, pitches, tracks) not masked out: precision = TP / (TP + FP), recall =
    TP / (TP + FN), F1 = 2 P R / (P + R) = 2 TP / (2 TP + FP + FN). (The original MultINN reported
    precision as recall.) Conventions where a ratio is 0 / 0: when neither roll has an on cell,
    silence was predicted perfectly and all three are 1.0; otherwise precision is 0 when nothing
    was predicted, recall is 0 when there was nothing to find, and F1 is 0 whenever TP is 0.
    (`multinn.metrics.FrameMetrics` agrees except that it gives 0 in the all-silent case and counts
    a probability of exactly 0.5 as on.)

    Args:
        predicted: Predicted roll of any shape, e.g. `[batch, time, pitch, track]`; bool/int
            (nonzero is on) or float (> 0.5 is on, so probabilities can be passed).
        target: True roll, same shape.
        mask: Optional `[batch, time]` (the first two axes of `predicted`), read like a roll:
            nonzero (> 0.5 for floats) marks a real step; the other steps (padding) are left out.

    Returns:
        `(precision, recall, f1)` as floats in [0, 1].

    Raises:
        SpecError: when the shapes do not match or a dtype is not numeric.
    """
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise SpecError(f"`predicted` has shape {predicted.shape} but `target` has shape {target.shape}")
    _check_dtype(predicted, "`predicted`")
    _check_dtype(target, "`target`")
    predicted_on, target_on = _binarize(predicted), _binarize(target)
    if mask is not None:
        mask = np.asarray(mask)
        if predicted.ndim < 2 or mask.shape != predicted.shape[:2]:
            raise SpecError(
                f"`mask` must have the shape of the first two axes [batch, time] of the rolls "
                f"{predicted.shape}, got {mask.shape}"
            )
        _check_dtype(mask, "`mask`")
        real = _binarize(mask).reshape(mask.shape + (1,) * (predicted.ndim - 2))
        predicted_on, target_on = predicted_on & real, target_on & real
    true_positives = int(np.count_nonzero(predicted_on & target_on))
    false_positives = int(np.count_nonzero(predicted_on)) - true_positives
    false_negatives = int(np.count_nonzero(target_on)) - true_positives
    if true_positives + false_positives + false_negatives == 0:
        return 1.0, 1.0, 1.0
    predicted_count, target_count = true_positives + false_positives, true_positives + false_negatives
    precision = true_positives / predicted_count if predicted_count else 0.0
    recall = true_positives / target_count if target_count else 0.0
    f1 = 2 * true_positives / (2 * true_positives + false_positives + false_negatives)
    return float(precision), float(recall), float(f1)


# ---------------------------------------------------------------------------------------- all at once
def _drum_flags(spec: PianorollSpec, drum_tracks: Iterable[int | str] | None) -> np.ndarray:
    """Bool `[track]`: which tracks are drums (the spec's `is_drum`, or the named/indexed tracks)."""
    if drum_tracks is None:
        return np.array([track.is_drum for track in spec.tracks], dtype=bool)
    if isinstance(drum_tracks, (str, int)):
        drum_tracks = [drum_tracks]
    flags = np.zeros(spec.num_tracks, dtype=bool)
    for track in drum_tracks:
        if isinstance(track, str):
            flags[spec.track_index(track)] = True
        else:
            flags[check_int(track, "drum_tracks[...]", 0, spec.num_tracks - 1, error=SpecError)] = True
    return flags


def default_min_length(steps_per_beat: int) -> int:
    """The shortest qualified note in `musical_metrics`: a 32nd note, `max(1, ceil(steps_per_beat / 8))`.

    MuseGAN's 3 steps at 24 steps per beat; 2 at LPD-5's 12 (1 step is a 48th note there), 1 at
    JSB's 4 (a 16th note is already longer than a 32nd).
    """
    return max(1, -(-int(steps_per_beat) // 8))


def musical_metrics(
    roll: RollLike, spec: PianorollSpec, drum_tracks: Iterable[int | str] | None = None
) -> dict[str, np.ndarray]:
    """Every metric of this module, per track, for rolls described by a `PianorollSpec`.

    One pass over the data computes all of them (faster than calling each function). Drum tracks
    get EB and DP; the pitched metrics (UP, UPC, QN, PP, IS, TD) are NaN for them, and DP is NaN
    for pitched tracks, and for drums too when the bar has no 8th-note grid (e.g. 3 steps per
    beat). Settings: bars of `spec.steps_per_bar`, pitch classes from `spec.lowest_pitch`, QN's
    `min_length` from `default_min_length(spec.steps_per_beat)` (a 32nd note), PP's threshold 2,
    IS against the best major scale per piece and track, DP tolerance 0.1.

    Args:
        roll: `[batch, time, pitch, track]`, or a sequence (list, tuple, `PianorollDataset`) of
            `[time, pitch, track]` pieces, with the spec's pitches and tracks.
        spec: The layout of the rolls.
        drum_tracks: Names or indices of the drum tracks; None takes the spec's `is_drum`.

    Returns:
        A dict in `METRIC_INFO` order: each key -> float64 `[track]`, and `"tonal_distance"` ->
        `[track, track]` with NaN rows and columns for drum tracks.

    Raises:
        SpecError: when the rolls do not fit the spec, or for an unknown drum track.

    Example:
    ```python
    from multinn.datasets import load
    test = load("bach-satb", split="test", path="Jsb16thSeparated.json")
    metrics = musical_metrics(test, test.spec)
    metrics["used_pitch_classes"]  # array([...]) one value per voice
    ```
    """
    rolls = _parse(roll)
    if rolls.one_track or (rolls.num_pitches, rolls.num_tracks) != (spec.num_pitches, spec.num_tracks):
        shape = "no track axis" if rolls.one_track else f"{rolls.num_pitches} pitches, {rolls.num_tracks} tracks"
        raise SpecError(
            f"musical_metrics needs [batch, time, pitch, track] rolls or [time, pitch, track] pieces with the "
            f"spec's {spec.num_pitches} pitches and {spec.num_tracks} tracks {list(spec.track_names)}; got {shape}"
        )
    is_drum = _drum_flags(spec, drum_tracks)
    steps_per_bar, lowest_pitch = spec.steps_per_bar, spec.lowest_pitch
    min_length = default_min_length(spec.steps_per_beat)
    try:
        drum_mask = _drum_pattern_mask(steps_per_bar, 0.1, spec.beats_per_bar) if is_drum.any() else None
    except SpecError:
        drum_mask = None
    scale = _scale_matrix("major")

    def stats(x):
        counts = _bar_pitch_counts(x, steps_per_bar)
        bar = _bar_stats(counts, lowest_pitch)
        onsets = _onsets(x)
        drums = _drum_stats(onsets, drum_mask) if drum_mask is not None else (np.zeros(x.shape[-1]),) * 2
        return (
            bar["empty"],
            bar["bars"],
            bar["pitches"],
            bar["nonempty"],
            bar["classes"],
            *_qualified_stats(x, onsets, min_length),
            *_polyphonic_stats(x, 2),
            *_in_scale_stats(x, lowest_pitch, None, scale),
            *drums,
            *_tonal_stats(_fold_octaves(counts, lowest_pitch)),
        )

    (
        empty,
        bars,
        pitches,
        nonempty,
        classes,
        qualified,
        notes,
        poly,
        steps,
        in_scale,
        cells,
        on_grid,
        onsets,
        td_sum,
        td_count,
    ) = _pooled(rolls, stats)
    pitched = ~is_drum
    nan_unless = lambda keep, values: np.where(keep, values, np.nan)  # noqa: E731
    tonal = _ratio(td_sum, td_count)
    tonal[is_drum, :] = np.nan
    tonal[:, is_drum] = np.nan
    return {
        "empty_bar_rate": _ratio(empty, bars),
        "used_pitches": nan_unless(pitched, _ratio(pitches, nonempty)),
        "used_pitch_classes": nan_unless(pitched, _ratio(classes, nonempty)),
        "qualified_note_rate": nan_unless(pitched, _ratio(qualified, notes)),
        "polyphonic_rate": nan_unless(pitched, _ratio(poly, steps)),
        "in_scale_rate": nan_unless(pitched, _ratio(in_scale, cells)),
        "drum_pattern_rate": nan_unless(is_drum & (drum_mask is not None), _ratio(on_grid, onsets)),
        "tonal_distance": tonal,
    }
