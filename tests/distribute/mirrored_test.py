"""`MirroredStrategy` over 2 logical CPU devices: one epoch equals the single-device epoch with the
same global batches (losses, metrics and weights), with and without global-norm clipping, with a
NADE generator under a Pass or a DBN encoder; an RBM model's exact evaluation is the same too."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("mirrored_step.py")


@pytest.fixture(scope="module")
def mirrored_run():
    """The JSON printed by `mirrored_step.py`, run in its own process (the logical devices must
    be configured before TensorFlow starts)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    result = subprocess.run([sys.executable, str(HELPER)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_two_replicas_on_one_cpu(mirrored_run):
    assert mirrored_run["replicas"] == 2


@pytest.mark.parametrize("case", ["clipping", "no_clipping", "dbn_encoder"])
def test_a_mirrored_epoch_is_the_single_device_epoch(mirrored_run, case):
    run = mirrored_run[case]
    single, mirrored = run["single"], run["mirrored"]
    for key in single:  # loss, nll (training), and eval_loss, eval_nll (evaluation) when run
        assert mirrored[key] == pytest.approx(single[key], abs=1e-5), key
    assert run["moved"] > 0.05  # the weights did move (SGD, learning rate 0.5) ...
    assert run["weight_difference"] < 1e-5  # ... and to the same place


def test_clipping_was_active(mirrored_run):
    # The first global batch's gradient norm exceeds clip_norm = 0.5, so the clipped global
    # gradient differs from the sum of clipped per-replica gradients: only clipping after the
    # all-reduce gives the single-device weights.
    assert mirrored_run["clipping"]["gradient_norm"] > 1.0
    assert set(mirrored_run["clipping"]["single"]) == {"loss", "nll", "eval_loss", "eval_nll"}


def test_a_mirrored_rbm_evaluation_is_the_single_device_one(mirrored_run):
    run = mirrored_run["rbm_generator"]
    single, mirrored = run["single"], run["mirrored"]
    # The NLL (exact log Z); the loss is the CD-k surrogate, whose Gibbs chains are random.
    assert single["eval_nll"] > 0
    assert mirrored["eval_nll"] == pytest.approx(single["eval_nll"], abs=1e-5)
