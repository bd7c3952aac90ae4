"""`multinn.distribute`: TF_CONFIG checks, strategies by name, the chief, chief-only writing, sharding."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from multinn import distribute
from multinn.backend.tensorflow import _Share
from multinn.errors import MultinnError

CLUSTER = {"worker": ["host1:2222", "host2:2222"]}


def tf_config(task_type="worker", index=0, cluster=CLUSTER) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def cluster_strategy(task_type: str, task_id: int, cluster=CLUSTER):
    """A stand-in for a multi-worker strategy: what `task_of` and `is_chief` read of one."""
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
    )
    return SimpleNamespace(cluster_resolver=resolver, num_replicas_in_sync=2 * len(cluster.get("worker", [])))


def test_read_tf_config_parses_a_valid_cluster():
    config = distribute.read_tf_config(tf_config(index=1))
    assert config["cluster"] == CLUSTER and config["task"] == {"type": "worker", "index": 1}


def test_read_tf_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config(index=0))
    assert distribute.read_tf_config()["task"]["index"] == 0
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(MultinnError, match="needs the TF_CONFIG environment variable.*it is not set"):
        distribute.read_tf_config()


@pytest.mark.parametrize(
    "value, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), "needs a non-empty 'cluster' object"),
        (tf_config(cluster={"worker": []}), "non-empty list of 'host:port'"),
        (tf_config(cluster={"worker": ["host1"]}), "expected 'host:port', got 'host1'"),
        (tf_config(task_type="ps", cluster={"ps": ["h:1"]}), "needs a 'worker' (or 'chief') job"),
        (json.dumps({"cluster": CLUSTER}), "needs a 'task' object with 'type' and 'index'"),
        (tf_config(task_type="chief"), "task type 'chief' is not a job of the cluster"),
        (tf_config(index=2), "task index 2 is out of range for the 2 'worker' task(s)"),
        (tf_config(index="0"), "task index '0' is out of range"),
    ],
)
def test_read_tf_config_names_what_is_wrong(value, message):
    with pytest.raises(MultinnError) as info:
        distribute.read_tf_config(value)
    assert message in str(info.value)


def test_get_strategy_by_name_or_object(monkeypatch):
    default = distribute.get_strategy("default")
    assert default is tf.distribute.get_strategy() and distribute.get_strategy(None) is default
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert distribute.get_strategy(mirrored) is mirrored
    with pytest.raises(MultinnError, match="unknown distribution strategy 'horovod'; expected one of"):
        distribute.get_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(MultinnError, match="TF_CONFIG"):  # checked before TensorFlow is asked
        distribute.get_strategy("multi-worker")


def test_the_chief_is_worker_0_or_the_chief_task():
    assert distribute.is_chief(tf.distribute.get_strategy())
    assert distribute.task_of(tf.distribute.get_strategy()) == (None, None)
    assert distribute.is_chief(cluster_strategy("worker", 0))
    assert not distribute.is_chief(cluster_strategy("worker", 1))
    with_chief = {"chief": ["host0:2222"], **CLUSTER}
    assert distribute.is_chief(cluster_strategy("chief", 0, with_chief))
    assert not distribute.is_chief(cluster_strategy("worker", 0, with_chief))
    assert distribute.task_of(cluster_strategy("worker", 1)) == ("worker", 1)


def test_only_the_chief_writes_to_the_output_directory(tmp_path):
    out = tmp_path / "run"
    with distribute.chief_directory(out, cluster_strategy("worker", 0)) as directory:
        assert directory == out
    with distribute.chief_directory(out, cluster_strategy("worker", 1)) as directory:
        assert directory != out and directory.is_dir() and directory.name.startswith("multinn-worker1-")
        (directory / "checkpoints").mkdir()
        (directory / "checkpoints" / "last.keras").write_bytes(b"x")
    assert not directory.exists() and not out.exists()


def test_the_global_batch_must_split_evenly_over_the_replicas():
    assert distribute.replica_batch_size(64, cluster_strategy("worker", 0)) == 16  # 2 workers x 2 replicas
    assert distribute.replica_batch_size(5, tf.distribute.get_strategy()) == 5
    with pytest.raises(MultinnError, match="global batch size 6 does not split evenly over 4 replicas"):
        distribute.replica_batch_size(6, cluster_strategy("worker", 0))


def test_in_memory_datasets_are_sharded_by_data_unless_a_policy_was_chosen():
    policy = tf.data.experimental.AutoShardPolicy
    dataset = tf.data.Dataset.range(4)
    sharded = distribute.with_auto_shard_policy(dataset)
    assert sharded.options().experimental_distribute.auto_shard_policy == policy.DATA
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.FILE
    chosen = dataset.with_options(options)
    assert distribute.with_auto_shard_policy(chosen) is chosen
    assert distribute.with_auto_shard_policy([1, 2]) == [1, 2]
    with pytest.raises(MultinnError, match="unknown auto-shard policy 'rows'"):
        distribute.with_auto_shard_policy(dataset, "rows")


def test_precision_policy_names():
    expected = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    assert distribute.precision_policy() == distribute.precision_policy("auto") == expected
    assert distribute.precision_policy("mixed_float16") == "mixed_float16"
    with pytest.raises(MultinnError, match="unknown precision 'fp8'"):
        distribute.precision_policy("fp8")


def test_a_replica_minimises_its_share_of_the_global_mean_loss():
    # A global batch of 10 real steps, 4 of them on this replica, whose mean loss is 2.5: its
    # part of the global mean is 2.5 * 4 / 10, and the loss it records is that times 2 replicas.
    share = _Share(np.float32(4.0), np.float32(10.0), 2)
    assert float(share.of(np.float32(2.5))) == pytest.approx(1.0)
    assert float(share.global_loss(np.float32(2.5))) == pytest.approx(2.0)
    # A replica with an empty part of a last batch adds 0, even when its mean is NaN (an RBM's
    # contrastive-divergence loss over no frame).
    assert float(_Share(np.float32(0.0), np.float32(3.0), 2).of(np.float32("nan"))) == 0.0
