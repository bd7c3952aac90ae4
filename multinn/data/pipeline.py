"""The `tf.data` input pipeline: crops, transposition, padding and masks, built from sparse pieces.

`make_tf_dataset` feeds a `PianorollDataset` held in memory; `multinn.data.ShardedDataset`
streams the same examples from shard files. Both build every example with `example_builder`
and batch with `batch_examples`, so the two paths give the same crops, shifts and masks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from multinn.errors import DatasetError

if TYPE_CHECKING:
    import tensorflow as tf

    from multinn.data.pianoroll_dataset import PianorollDataset
    from multinn.data.pianoroll_spec import PianorollSpec

ALIGNMENTS = ("step", "beat", "bar")


def check_pipeline_arguments(batch_size: Any, crop_beats: Any, align: Any, transpose: Any) -> None:
    """Raise a `DatasetError` naming the first out-of-range pipeline argument.

    Args:
        batch_size: Must be a positive integer.
        crop_beats: A positive integer or `None`.
        align: One of `ALIGNMENTS`.
        transpose: An integer number of semitones in `0..127`.

    Raises:
        DatasetError: An argument is out of range.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DatasetError(f"batch_size must be a positive integer, got {batch_size!r}")
    if crop_beats is not None and (
        isinstance(crop_beats, bool) or not isinstance(crop_beats, (int, np.integer)) or crop_beats < 1
    ):
        raise DatasetError(f"crop_beats must be a positive integer or None, got {crop_beats!r}")
    if align not in ALIGNMENTS:
        raise DatasetError(f"align must be one of {list(ALIGNMENTS)}, got {align!r}")
    if isinstance(transpose, bool) or not isinstance(transpose, (int, np.integer)) or not 0 <= transpose <= 127:
        raise DatasetError(f"transpose must be an integer number of semitones in 0..127, got {transpose!r}")


def example_builder(
    spec: PianorollSpec, *, crop_beats: int | None = None, align: str = "beat", transpose: int = 0
) -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
    """The graph function that turns one sparse piece into one `(pianoroll, mask)` example.

    Args:
        spec: The layout of the pieces.
        crop_beats: Crop length in beats, or `None` for the whole piece.
        align: Where crops may start: every `"step"`, `"beat"` or `"bar"`.
        transpose: Largest random transposition in semitones (0: none).

    Returns:
        `build(cells, length, seeds)`: `cells` int32 `[n, 3]` of `(time, pitch, track)`, `length`
        int64 steps, `seeds` int `[2, 2]` stateless seeds (crop start, shift); returns float32
        `[time, pitch, track]` and float32 `[time]` (1 for real steps, 0 for padding).
    """
    import tensorflow as tf

    num_pitches, num_tracks = spec.num_pitches, spec.num_tracks
    crop = None if crop_beats is None else int(crop_beats) * spec.steps_per_beat
    unit = {"step": 1, "beat": spec.steps_per_beat, "bar": spec.steps_per_bar}[align]
    is_drum = tf.constant([t.is_drum for t in spec.tracks])

    def build(cells, length, seeds):
        if crop is None:
            start, steps, valid = tf.constant(0, tf.int64), length, length
        else:
            num_starts = tf.maximum(length - crop, 0) // unit + 1
            start = tf.random.stateless_uniform([], seeds[0], 0, num_starts, dtype=tf.int64) * unit
            steps, valid = tf.constant(crop, tf.int64), tf.minimum(length - start, crop)
            time = tf.cast(cells[:, 0], tf.int64)
            cells = tf.boolean_mask(cells, (time >= start) & (time < start + crop))
            cells = cells - tf.stack([tf.cast(start, tf.int32), 0, 0])
        if transpose:
            pitched = tf.logical_not(tf.gather(is_drum, cells[:, 2]))
            pitches = tf.boolean_mask(cells[:, 1], pitched)
            lowest = tf.reduce_min(tf.concat([pitches, [num_pitches]], 0))  # num_pitches if none
            highest = tf.reduce_max(tf.concat([pitches, [-1]], 0))  # -1 if none
            low = tf.maximum(-transpose, -lowest)
            high = tf.minimum(transpose, num_pitches - 1 - highest)
            shift = tf.random.stateless_uniform([], seeds[1], low, high + 1, dtype=tf.int32)
            zero = tf.zeros_like(cells[:, 1])
            cells = cells + tf.stack([zero, tf.where(pitched, shift, zero), zero], axis=1)
        shape = tf.stack([tf.cast(steps, tf.int32), num_pitches, num_tracks])
        roll = tf.scatter_nd(cells, tf.ones([tf.shape(cells)[0]], tf.float32), shape)
        mask = tf.cast(tf.range(steps) < valid, tf.float32)
        return tf.minimum(roll, 1.0), mask

    return build


def batch_examples(
    pieces: tf.data.Dataset,
    spec: PianorollSpec,
    batch_size: int,
    *,
    piece_fn: Callable[[Any], tuple[Any, Any, Any]] | None = None,
    crop_beats: int | None = None,
    align: str = "beat",
    transpose: int = 0,
    seed: int | None = None,
    drop_remainder: bool = False,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Examples and batches from a stream of pieces (already shuffled and repeated as wanted).

    Each piece is paired with a draw of a seeded random stream; the crop start and the
    transposition of a piece come from stateless seeds split from `(draw, index)`, so a seed
    gives the same examples for the same sequence of pieces.

    Args:
        pieces: Elements `(index, cells, length)` (int64, int32 `[n, 3]`, int64), or anything
            `piece_fn` turns into them.
        spec: The layout of the pieces.
        batch_size: Examples per batch.
        piece_fn: Graph function from an element of `pieces` to `(index, cells, length)`.
        crop_beats: Crop length in beats; `None` pads whole pieces to the longest of each batch.
        align: Where crops may start.
        transpose: Largest random transposition in semitones.
        seed: Seed of the random draws; `None` draws a new one.
        drop_remainder: Drop a last, smaller batch.
        prefetch: Prefetch batches in the background.

    Returns:
        A dataset of `(pianoroll, mask)` batches, as `make_tf_dataset` describes.
    """
    import tensorflow as tf

    build_example = example_builder(spec, crop_beats=crop_beats, align=align, transpose=transpose)
    piece_fn = piece_fn or (lambda piece: piece)

    def build(piece, draw):
        index, cells, length = piece_fn(piece)
        seeds = tf.random.experimental.stateless_split(tf.stack([draw, index]), 2)
        return build_example(cells, length, seeds)

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    examples = tf.data.Dataset.zip((pieces, draws)).map(build, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if crop_beats is None:
        shapes = ([None, spec.num_pitches, spec.num_tracks], [None])
        batches = examples.padded_batch(batch_size, padded_shapes=shapes, drop_remainder=drop_remainder)
    else:
        batches = examples.batch(batch_size, drop_remainder=drop_remainder)
    return batches.prefetch(tf.data.AUTOTUNE) if prefetch else batches


def make_tf_dataset(
    dataset: PianorollDataset,
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
    **kwargs: Any,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `(pianoroll, mask)` batches for training and evaluation.

    Pieces stay sparse until the map step builds each example with `tf.scatter_nd`, in parallel
    and in graph, so memory holds the coordinates, not dense rolls.

    Args:
        dataset: The pieces: a `PianorollDataset`, or a split of a `multinn.data.ShardedDataset`
            (`shards["train"]`), which is streamed from its shard files (`ShardedSplit.tf_dataset`,
            which also takes the `**kwargs`).
        batch_size: Examples per batch.
        crop_beats: Length of random crops in beats. Pieces shorter than a crop are padded
            (mask 0). `None` keeps whole pieces, padded to the longest one of each batch.
        align: Where crops may start: every `"step"`, `"beat"` (default) or `"bar"`.
        transpose: Largest random transposition in semitones, drawn uniformly per example
            from `[-transpose, transpose]` narrowed so that no note leaves the pitch range;
            all pitched tracks move together, drum tracks never move. 0 turns it off.
        shuffle: Shuffle the pieces (again each epoch).
        seed: Seed of shuffling, crops and transpositions; the same seed gives the same
            sequence of epochs. `None` draws a new one.
        repeat: Repeat forever (use with `steps_per_epoch`).
        drop_remainder: Drop a last, smaller batch.
        prefetch: Prefetch batches in the background.
        **kwargs: Streaming options of `ShardedSplit.tf_dataset` (sharded splits only).

    Returns:
        A dataset of `(pianoroll, mask)`: float32 `[batch, time, pitch, track]` and float32
        `[batch, time]` (1 for real steps, 0 for padding).

    Raises:
        DatasetError: The dataset has no piece, or an argument is out of range.
    """
    options = dict(
        crop_beats=crop_beats,
        align=align,
        transpose=transpose,
        shuffle=shuffle,
        seed=seed,
        repeat=repeat,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
    if hasattr(dataset, "tf_dataset"):  # a ShardedSplit: stream it
        return dataset.tf_dataset(batch_size, **options, **kwargs)
    if kwargs:
        raise DatasetError(f"unexpected argument(s) {sorted(kwargs)} for an in-memory dataset")
    import tensorflow as tf

    check_pipeline_arguments(batch_size, crop_beats, align, transpose)
    keep = np.flatnonzero(dataset.lengths > 0)
    if not len(keep):
        raise DatasetError(f"{dataset!r} has no piece to build a tf.data pipeline from")

    coords = tf.constant(dataset.coords, tf.int32)
    offsets = tf.constant(dataset.offsets, tf.int64)
    lengths = tf.constant(dataset.lengths, tf.int64)

    def piece(index):
        return index, coords[offsets[index] : offsets[index + 1]], lengths[index]

    indices = tf.data.Dataset.from_tensor_slices(tf.constant(keep, tf.int64))
    if shuffle:
        indices = indices.shuffle(len(keep), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        indices = indices.repeat()
    return batch_examples(
        indices,
        dataset.spec,
        batch_size,
        piece_fn=piece,
        crop_beats=crop_beats,
        align=align,
        transpose=transpose,
        seed=seed,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
