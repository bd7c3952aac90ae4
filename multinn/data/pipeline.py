"""The `tf.data` input pipeline: crops, transposition, padding and masks, built from sparse pieces.

`make_tf_dataset` feeds a `PianorollDataset` held in memory, or streams a `ShardedSplit` from its
shard files. Both paths build every example with `example_builder` and batch with
`batch_examples`, so they give the same crops, shifts and masks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from multinn.data.sharded_dataset import ShardedSplit, read_shard
from multinn.errors import DatasetError
from multinn.utils.checks import check_positive_int, is_int

if TYPE_CHECKING:
    import tensorflow as tf

    from multinn.data.pianoroll_dataset import PianorollDataset
    from multinn.data.pianoroll_spec import PianorollSpec

ALIGNMENTS = ("step", "beat", "bar")


def check_pipeline_arguments(
    batch_size: Any, crop_beats: Any, align: Any, transpose: Any, pad_to_longest: bool = False
) -> None:
    """Raise a `DatasetError` naming the first out-of-range pipeline argument.

    Args:
        batch_size: Must be a positive integer.
        crop_beats: A positive integer or `None`.
        align: One of `ALIGNMENTS`.
        transpose: An integer number of semitones in `0..127`.
        pad_to_longest: Whole pieces only: `crop_beats` must then be `None`.

    Raises:
        DatasetError: An argument is out of range.
    """
    check_positive_int(batch_size, "batch_size", error=DatasetError)
    check_positive_int(crop_beats, "crop_beats", error=DatasetError, allow_none=True)
    if align not in ALIGNMENTS:
        raise DatasetError(f"align must be one of {list(ALIGNMENTS)}, got {align!r}")
    if not is_int(transpose) or not 0 <= transpose <= 127:
        raise DatasetError(f"transpose must be an integer number of semitones in 0..127, got {transpose!r}")
    if pad_to_longest and crop_beats is not None:
        raise DatasetError("pad_to_longest pads whole pieces; it cannot be used with crop_beats")


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
    dataset: PianorollDataset | ShardedSplit,
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
    pad_to_longest: bool = False,
    **streaming: Any,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `(pianoroll, mask)` batches for training and evaluation.

    Pieces stay sparse until the map step builds each example with `tf.scatter_nd`, in parallel
    and in graph, so memory holds the coordinates, not dense rolls.

    A split of a `multinn.data.ShardedDataset` (`shards["train"]`) is streamed from its shard
    files, with the examples of an in-memory dataset (the same crop, transposition, padding and
    mask code): with `shuffle=False` and the same seed they are identical to
    `make_tf_dataset(split.load(), ...)`. The stream: the shard files (this input pipeline's, see
    below) -> seeded shuffle of the files -> `interleave` reading `cycle_length` shards in
    parallel (`tf.numpy_function`; each shard's size and SHA-256 are checked) -> a seeded shuffle
    buffer of `shuffle_buffer` sparse pieces -> examples -> batches -> `prefetch`. Memory holds
    about `2 * cycle_length` shards plus the buffer, whatever the dataset size. Without `repeat`
    the dataset knows its exact number of batches (Keras then knows the epoch length).

    Per-worker input (sharded splits): with `input_context` (as
    `strategy.distribute_datasets_from_function` passes it) or `num_shards`/`index`, the stream
    reads only every `num_shards`-th file from `index` (`Dataset.shard` on the file list, before
    shuffling), so workers read disjoint files that together cover the split; tf.data's own
    auto-sharding is turned off. `batch_size` is then the per-replica batch:
    `input_context.get_per_replica_batch_size(GLOBAL)`.

    Args:
        dataset: The pieces: a `PianorollDataset`, or a `ShardedSplit` (streamed).
        batch_size: Examples per batch.
        crop_beats: Length of random crops in beats. Pieces shorter than a crop are padded
            (mask 0). `None` keeps whole pieces, padded to the longest one of each batch.
        align: Where crops may start: every `"step"`, `"beat"` (default) or `"bar"`.
        transpose: Largest random transposition in semitones, drawn uniformly per example
            from `[-transpose, transpose]` narrowed so that no note leaves the pitch range;
            all pitched tracks move together, drum tracks never move. 0 turns it off.
        shuffle: Shuffle the pieces (again each epoch); a sharded split shuffles its files and
            pieces. Without it, pieces come in order (a sharded split's in manifest order).
        seed: Seed of shuffling, crops and transpositions; the same seed gives the same
            sequence of epochs. `None` draws a new one.
        repeat: Repeat forever (use with `steps_per_epoch`; advised for multi-worker training
            from shards, where workers may hold different numbers of pieces).
        drop_remainder: Drop a last, smaller batch.
        prefetch: Prefetch batches in the background.
        pad_to_longest: Pad every batch to the longest piece of the dataset (whole pieces only;
            for a sharded split with `max_pieces`, to the longest of its shards). With one padded
            length for all batches, the Keras `Mean` metrics (which average each example over its
            padded steps before weighting) give the exact average over real steps: an NLL that
            does not depend on the batch size or on how pieces share batches.
        **streaming: Options of a sharded split only: `shuffle_buffer` (pieces in the shuffle
            buffer, default 1024), `cycle_length` (shard files read and interleaved at once,
            default 4), `input_context` (a `tf.distribute.InputContext`: read this input
            pipeline's files), `num_shards` and `index` (instead of `input_context`: the number
            of input pipelines and this one's index in `0..num_shards - 1`), `verify` (check the
            SHA-256 digest of each shard read, default `True`).

    Returns:
        A dataset of `(pianoroll, mask)`: float32 `[batch, time, pitch, track]` and float32
        `[batch, time]` (1 for real steps, 0 for padding).

    Raises:
        DatasetError: The dataset has no piece, an argument is out of range, a streaming option
            is given for an in-memory dataset, or a sharded split has fewer shard files than
            input pipelines. A shard that fails its checks while streaming raises a TensorFlow
            error whose message names the file.
    """
    sharded = isinstance(dataset, ShardedSplit)
    if streaming and not sharded:
        raise DatasetError(f"unexpected argument(s) {sorted(streaming)} for an in-memory dataset")
    import tensorflow as tf

    check_pipeline_arguments(batch_size, crop_beats, align, transpose, pad_to_longest)
    if sharded:
        pieces, num_shards, index = _shard_pieces(dataset, shuffle=shuffle, seed=seed, repeat=repeat, **streaming)
        piece_fn, longest = None, dataset.longest
    else:
        pieces, piece_fn = _memory_pieces(dataset, shuffle=shuffle, seed=seed, repeat=repeat)
        num_shards, index, longest = 1, 0, int(dataset.lengths.max())
    batches = batch_examples(
        pieces,
        dataset.spec,
        batch_size,
        piece_fn=piece_fn,
        crop_beats=crop_beats,
        align=align,
        transpose=transpose,
        seed=seed,
        drop_remainder=drop_remainder,
        prefetch=False,
    )
    if sharded and not repeat:  # the exact number of batches: Keras then knows the epoch length
        examples = dataset.num_examples(num_shards, index)
        count = examples // batch_size if drop_remainder else -(-examples // batch_size)
        batches = batches.apply(tf.data.experimental.assert_cardinality(count))
    if pad_to_longest:

        def pad(pianoroll, mask):
            extra = longest - tf.shape(pianoroll)[1]
            return tf.pad(pianoroll, [[0, 0], [0, extra], [0, 0], [0, 0]]), tf.pad(mask, [[0, 0], [0, extra]])

        batches = batches.map(pad)
    if num_shards > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        batches = batches.with_options(options)
    return batches.prefetch(tf.data.AUTOTUNE) if prefetch else batches


def _memory_pieces(
    dataset: PianorollDataset, *, shuffle: bool, seed: int | None, repeat: bool
) -> tuple[tf.data.Dataset, Callable[[Any], tuple[Any, Any, Any]]]:
    """The piece indices of an in-memory dataset (pieces of no time step left out), shuffled and
    repeated as asked, and the graph function from an index to `(index, cells, length)`."""
    import tensorflow as tf

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
    return indices, piece


def _shard_pieces(
    split: ShardedSplit,
    *,
    shuffle: bool,
    seed: int | None,
    repeat: bool,
    shuffle_buffer: int = 1024,
    cycle_length: int = 4,
    input_context: tf.distribute.InputContext | None = None,
    num_shards: int | None = None,
    index: int | None = None,
    verify: bool = True,
) -> tuple[tf.data.Dataset, int, int]:
    """The pieces `(index, cells, length)` of a sharded split that this input pipeline streams
    (pieces of no time step left out), and `(num_shards, index)`: see `make_tf_dataset`."""
    import tensorflow as tf

    shuffle_buffer = check_positive_int(shuffle_buffer, "shuffle_buffer", error=DatasetError)
    cycle_length = check_positive_int(cycle_length, "cycle_length", error=DatasetError)
    if input_context is not None:
        if num_shards is not None or index is not None:
            raise DatasetError("give input_context or num_shards/index, not both")
        num_shards, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    num_shards = 1 if num_shards is None else num_shards
    files = split.worker_files(num_shards, 0 if index is None else index)
    if not split.shards or not split.num_examples():
        raise DatasetError(f"{split!r} has no piece to build a tf.data pipeline from")
    if len(split.shards) < num_shards:
        raise DatasetError(
            f"split {split.split!r} has {len(split.shards)} shard file(s), fewer than the {num_shards} input "
            "pipelines; prepare smaller shards (--shard-size) so that every worker gets files"
        )

    entries = {os.fspath(split.dataset.directory / s["file"]): s for s in split.shards}

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

    paths = [os.fspath(p) for p in split.files]
    firsts = [s["first"] for s in split.shards]
    stream = tf.data.Dataset.from_tensor_slices((paths, tf.constant(firsts, tf.int64)))
    if num_shards > 1:
        stream = stream.shard(num_shards, index)
    if shuffle:
        stream = stream.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        stream = stream.repeat()
    block = 1 if shuffle else max(s["pieces"] for s in split.shards)  # in order: each file whole, in turn
    pieces = stream.interleave(
        read,
        cycle_length=min(cycle_length, len(files)),
        block_length=block,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    limit = len(split)
    pieces = pieces.filter(lambda i, cells, length: (length > 0) & (i < limit))
    if shuffle:
        pieces = pieces.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return pieces, num_shards, 0 if index is None else index
