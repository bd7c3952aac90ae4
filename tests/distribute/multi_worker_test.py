"""`multinn train --strategy multi-worker` with 2 worker processes on 127.0.0.1 (TF_CONFIG): from
in-memory data (every worker reads all of it) and from shard files (each worker reads its own)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from multinn import datasets
from multinn.cli.evaluate import evaluation_pipeline
from multinn.data import ShardedDataset, make_tf_dataset, write_shards
from multinn.presets import load_pretrained

TIMEOUT = 420  # seconds for the whole run; the workers are killed after that


def free_ports(count: int) -> list[int]:
    """Ports the system has free now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def train_command(data: list[str], out) -> list[str]:
    return [
        sys.executable,
        "-m",
        "multinn",
        "train",
        "--strategy",
        "multi-worker",
        "--mode",
        "joint",
        *data,
        "--rnn-units",
        "8",
        "--num-hidden",
        "4",
        "--batch-size",
        "4",
        "--crop-beats",
        "4",
        "--epochs",
        "2",
        "--sample-every",
        "2",
        "--out",
        str(out),
    ]


def run_two_workers(data: list[str], root):
    """Both workers' (return code, output) and their --out directories (one per worker, as on two
    machines without a shared filesystem)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    outs = [root / "chief-out", root / "worker1-out"]
    processes = []
    for index, out in enumerate(outs):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TF_CPP_MIN_LOG_LEVEL="2",
            # One thread per worker: two TensorFlow processes on a small CPU otherwise starve the
            # coordination service's heartbeats.
            TF_NUM_INTRAOP_THREADS="1",
            TF_NUM_INTEROP_THREADS="1",
        )
        processes.append(
            subprocess.Popen(
                train_command(data, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    results = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=TIMEOUT)
            results.append((process.returncode, output))
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        outputs = [process.communicate()[0][-2000:] for process in processes]
        pytest.fail(f"the workers did not finish in {TIMEOUT} s:\n" + "\n---\n".join(outputs))
    return results, outs


def check_run(results, chief_out, worker_out, valid, train_steps):
    """Both workers finished 2 epochs, only the chief wrote, and its preset and last checkpoint
    score on one device the validation NLLs the run recorded."""
    import keras

    import multinn.models  # noqa: F401  (registers the classes load_model looks up)

    (chief_rc, chief_output), (worker_rc, worker_output) = results
    assert chief_rc == 0, chief_output[-3000:]
    assert worker_rc == 0, worker_output[-3000:]
    for output in (chief_output, worker_output):
        assert "epoch 1/2" in output and "epoch 2/2" in output
    assert "preset written to" in chief_output
    assert "worker 1 done; the chief writes the run to its --out" in worker_output
    assert not worker_out.exists()  # the non-chief wrote nothing (its temporary directory is gone)
    state = json.loads((chief_out / "state.json").read_text())
    for path in (state["checkpoint"]["file"], state["best"]["file"], "preset/config.json", "samples/epoch-0002.mid"):
        assert (chief_out / path).is_file(), path
    assert any((chief_out / "logs").rglob("events.out.tfevents.*"))
    assert state["completed_epochs"] == 2 and len(state["history"]["val_nll"]) == 2
    assert state["options"]["strategy"] == "multi-worker"

    # The preset (the best epoch's weights): the valid NLL the chief recorded at the end.
    preset = load_pretrained(chief_out / "preset")
    logs = preset.evaluate(evaluation_pipeline(valid, 4), return_dict=True, verbose=0)
    assert logs["nll"] == pytest.approx(state["metrics"]["valid"]["nll"], abs=1e-4)
    # The last checkpoint (epoch 2, optimizer included): the val_nll of epoch 2, same pipeline as fit.
    last = keras.saving.load_model(chief_out / state["checkpoint"]["file"])
    assert int(last.optimizer.iterations) == train_steps
    logs = last.evaluate(make_tf_dataset(valid, 4, shuffle=False), return_dict=True, verbose=0)
    assert logs["nll"] == pytest.approx(state["history"]["val_nll"][-1], abs=1e-4)


def test_two_workers_train_from_memory(bach_satb_path, tmp_path):
    data = ["--data", "bach-satb", "--data-file", str(bach_satb_path), "--max-pieces", "6"]
    results, (chief_out, worker_out) = run_two_workers(data, tmp_path)
    valid = datasets.load("bach-satb", split="valid", path=bach_satb_path).subset(range(6))
    check_run(results, chief_out, worker_out, valid, train_steps=4)  # 2 epochs of 2 global batches (6 pieces, batch 4)


def test_two_workers_train_each_from_its_own_shard_files(bach_satb_path, tmp_path):
    splits = datasets.load("bach-satb", split=None, path=bach_satb_path)
    splits = {name: split.subset(range(6)) for name, split in splits.items()}
    shards = write_shards(splits, tmp_path / "shards", max_shard_pieces=2)  # 3 files per split
    data = ["--data", "shards", "--data-file", str(shards.directory)]
    results, (chief_out, worker_out) = run_two_workers(data, tmp_path)
    outputs = [output for _, output in results]
    # Worker i streams every 2nd train file from file i: disjoint files covering the split.
    files = "train-00000-of-00003.npz, train-00002-of-00003.npz"
    assert f"input pipeline 1 of 2 streams 2 of 3 train shard files: {files}" in outputs[0]
    assert "input pipeline 2 of 2 streams 1 of 3 train shard files: train-00001-of-00003.npz" in outputs[1]
    valid = ShardedDataset(shards.directory).load("valid")
    check_run(results, chief_out, worker_out, valid, train_steps=4)  # 2 epochs of ceil(6 / 4) steps
