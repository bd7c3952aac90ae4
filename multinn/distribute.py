"""Distributed training on TensorFlow's `tf.distribute` engine, and mixed precision.

The same model and the same `multinn train` run on one device, on several devices of one
machine (`MirroredStrategy`) or on several machines (`MultiWorkerMirroredStrategy`, configured by
the `TF_CONFIG` environment variable). Build the model and compile it inside the strategy's
scope; `fit` then splits every batch over the replicas:

>>> strategy = multinn.distribute.get_strategy("mirrored")
>>> with strategy.scope():
...     model = multinn.models.MultINNComposer(spec, rnn_units=[128])
...     model.compile(optimizer=keras.optimizers.Adam(1e-3))
>>> model.fit(make_tf_dataset(train, batch_size=64), epochs=10)  # 64 = the GLOBAL batch

The batch size of the dataset is the global batch: each of `strategy.num_replicas_in_sync`
replicas gets `batch_size / num_replicas_in_sync` examples per step, and one step updates the
weights exactly as one device would with the whole global batch (see `MultINN.train_step`).

Only the chief of a multi-worker run writes files (checkpoints, logs, samples, the preset);
the other workers run the same code against a temporary directory that is deleted afterwards
(`chief_directory`), the standard Keras multi-worker recipe. See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multinn.choices import AUTO_SHARD_POLICIES, PRECISIONS, STRATEGIES
from multinn.errors import MultinnError

if TYPE_CHECKING:
    import tensorflow as tf


def read_tf_config(value: str | None = None) -> dict[str, Any]:
    """The cluster of a multi-worker run: the `TF_CONFIG` JSON, parsed and checked.

    `TF_CONFIG` names every task of the cluster and the task of this process, e.g. on the
    second of two machines:

        {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}

    Args:
        value: The JSON text; `None` reads the `TF_CONFIG` environment variable.

    Returns:
        The parsed dict, with `cluster` (job name -> list of `host:port`) and `task`
        (`type`, `index`).

    Raises:
        MultinnError: `TF_CONFIG` is missing, not JSON, or does not describe this task in its
            cluster.
    """
    if value is None:
        value = os.environ.get("TF_CONFIG")
    if not value or not value.strip():
        raise MultinnError(
            "multi-worker training needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}} '
            "(see docs/distributed.md); it is not set"
        )
    try:
        config = json.loads(value)
    except json.JSONDecodeError as exc:
        raise MultinnError(f"TF_CONFIG is not valid JSON ({exc}): {value!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise MultinnError(f"TF_CONFIG needs a non-empty 'cluster' object of job name -> addresses, got {value!r}")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise MultinnError(
                f"TF_CONFIG cluster job {job!r} must be a non-empty list of 'host:port', got {addresses!r}"
            )
        for address in addresses:
            if not isinstance(address, str) or ":" not in address or not address.rsplit(":", 1)[1].isdigit():
                raise MultinnError(f"TF_CONFIG cluster job {job!r}: expected 'host:port', got {address!r}")
    if not set(cluster) & {"worker", "chief"}:
        raise MultinnError(f"TF_CONFIG cluster needs a 'worker' (or 'chief') job, got jobs {sorted(cluster)}")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise MultinnError(f"TF_CONFIG needs a 'task' object with 'type' and 'index', got {task!r}")
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise MultinnError(f"TF_CONFIG task type {task_type!r} is not a job of the cluster {sorted(cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise MultinnError(
            f"TF_CONFIG task index {index!r} is out of range for the {len(cluster[task_type])} {task_type!r} task(s)"
        )
    return config


def get_strategy(strategy: str | tf.distribute.Strategy | None = "default") -> tf.distribute.Strategy:
    """A `tf.distribute.Strategy` from its name, or the strategy itself.

    Args:
        strategy: A strategy object (returned as is), or one of `STRATEGIES`:
            `"default"` (`None` too): TensorFlow's default strategy, one device;
            `"mirrored"`: `tf.distribute.MirroredStrategy()`, one replica per GPU of this
            machine (the CPU when there is none);
            `"multi-worker"`: `tf.distribute.MultiWorkerMirroredStrategy()`, one replica per
            device of every worker listed in `TF_CONFIG` (checked with `read_tf_config`). Create
            it at program start, before other TensorFlow work.

    Returns:
        The strategy. Build and compile models inside `with strategy.scope():`.

    Raises:
        MultinnError: An unknown name, or a bad `TF_CONFIG` for `"multi-worker"`.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy is None or strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multi-worker":
        read_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MultinnError(f"unknown distribution strategy {strategy!r}; expected one of {list(STRATEGIES)}")


def task_of(strategy: tf.distribute.Strategy | None = None) -> tuple[str | None, int | None]:
    """`(task type, task index)` of this process in a multi-worker cluster; `(None, None)` otherwise.

    Args:
        strategy: The strategy; `None`: the current one (`tf.distribute.get_strategy()`).
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def num_workers(strategy: tf.distribute.Strategy | None = None) -> int:
    """Machines (input pipelines) of a multi-worker run: its `"chief"` and `"worker"` tasks; 1 otherwise.

    Args:
        strategy: The strategy; `None`: the current one (`tf.distribute.get_strategy()`).
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    if task_of(strategy)[0] is None:
        return 1
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return max(1, sum(len(cluster.get(kind, ())) for kind in ("chief", "worker")))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the outputs of a run: always, except on the non-chief workers
    of a multi-worker run.

    The chief is the `"chief"` task when the cluster has one, else worker 0.

    Args:
        strategy: The strategy; `None`: the current one (`tf.distribute.get_strategy()`).
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    task_type, task_id = task_of(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


@contextlib.contextmanager
def chief_directory(path: str | os.PathLike, strategy: tf.distribute.Strategy | None = None) -> Iterator[Path]:
    """The directory this process writes its outputs to: `path` on the chief, a fresh temporary
    directory (deleted on exit) on every other worker.

    Every worker must run the same saving code, because saving a model reads distributed
    variables (collective operations all workers join), but only the chief's files are kept:

    >>> with chief_directory(out, strategy) as write_dir:
    ...     model.fit(..., callbacks=[keras.callbacks.ModelCheckpoint(write_dir / "last.keras")])

    Args:
        path: The output directory of the run (not created here).
        strategy: The strategy; `None`: the current one.

    Yields:
        `Path(path)` on the chief, else the temporary directory.
    """
    if is_chief(strategy):
        yield Path(path)
        return
    task_type, task_id = task_of(strategy)
    temporary = Path(tempfile.mkdtemp(prefix=f"multinn-{task_type}{task_id}-"))
    try:
        yield temporary
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def with_auto_shard_policy(dataset: tf.data.Dataset, policy: str = "data") -> tf.data.Dataset:
    """`dataset` with a `tf.data` auto-shard policy for multi-worker input, unless it has one.

    A `MultiWorkerMirroredStrategy` shards every dataset `fit` and `evaluate` get over the
    workers. In-memory pipelines (like `make_tf_dataset`'s) have no files to shard, so `"data"`
    is right for them: every worker builds the same, identically seeded global batches and
    keeps its own replicas' share of each, so that the workers together see each batch exactly
    once. A dataset whose policy was set already (e.g. `"file"` for a sharded-file pipeline) is
    returned unchanged. Single-machine strategies ignore the policy.

    Args:
        dataset: A `tf.data.Dataset` (anything else is returned as is).
        policy: One of `AUTO_SHARD_POLICIES`.

    Returns:
        The dataset, with its options set.

    Raises:
        MultinnError: An unknown policy.
    """
    import tensorflow as tf

    if policy not in AUTO_SHARD_POLICIES:
        raise MultinnError(f"unknown auto-shard policy {policy!r}; expected one of {list(AUTO_SHARD_POLICIES)}")
    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    shard = tf.data.experimental.AutoShardPolicy
    if dataset.options().experimental_distribute.auto_shard_policy != shard.AUTO:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(shard, policy.upper())
    return dataset.with_options(options)


def replica_batch_size(global_batch_size: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """Examples per replica and step for a global batch: `global_batch_size / num_replicas_in_sync`.

    Args:
        global_batch_size: The batch of the dataset (all replicas together).
        strategy: The strategy; `None`: the current one.

    Returns:
        The per-replica batch.

    Raises:
        MultinnError: The global batch does not split evenly over the replicas.
    """
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise MultinnError(
            f"the global batch size {global_batch_size} does not split evenly over {replicas} replicas; "
            f"use a multiple of {replicas}"
        )
    return global_batch_size // replicas


def precision_policy(name: str | None = "auto") -> str:
    """The Keras dtype-policy name for a precision choice.

    Args:
        name: `"auto"` (`None` too): `"mixed_float16"` when TensorFlow sees a GPU (with loss
            scaling, added by `compile`), else `"mixed_bfloat16"` (CPUs and TPUs; no loss
            scaling needed); or one of `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`.

    Returns:
        The policy name, for `dtype=` of a model or `keras.mixed_precision.set_dtype_policy`.

    Raises:
        MultinnError: An unknown name.
    """
    if name is None or name == "auto":
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    if name not in PRECISIONS:
        raise MultinnError(f"unknown precision {name!r}; expected one of {list(PRECISIONS)}")
    return name
