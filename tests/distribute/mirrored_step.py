"""Run by mirrored_test.py in a fresh process: split the CPU into 2 logical devices, then train tiny
models (a Feedback NADE model, a DBN-encoded Composer, a Jamming RBM model) with `MirroredStrategy`
and on one device from the same weights, and print JSON.

The logical devices must be configured before TensorFlow initialises its devices, which is why
this runs in its own process.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from multinn.data import PianorollSpec, TrackSpec  # noqa: E402
from multinn.models import MultINNComposer, MultINNFeedback, MultINNJamming  # noqa: E402

SPEC = PianorollSpec(1, 60, 65, [TrackSpec("Lead"), TrackSpec("Bass", 33)])  # 2 tracks x 6 pitches


def batches(num_pieces: int, batch_size: int) -> tf.data.Dataset:
    """Fixed pieces of 7 steps; pieces 2 and 3 are padded (mask 0), so the replicas' parts of a
    batch hold different numbers of real steps."""
    rng = np.random.default_rng(0)
    x = (rng.random((num_pieces, 7, 6, 2)) < 0.3).astype("float32")
    mask = np.ones((num_pieces, 7), "float32")
    mask[2, 3:] = 0
    mask[3, 5:] = 0
    return tf.data.Dataset.from_tensor_slices((x, mask)).batch(batch_size)


def compiled(model, run_eagerly: bool):
    # Plain SGD: the update is proportional to the gradient, so a wrongly scaled or wrongly
    # clipped gradient shows in the weights (Adam's first step would hide the scale).
    model.compile(optimizer=keras.optimizers.SGD(0.5), run_eagerly=run_eagerly)
    return model


def feedback(clip_norm, run_eagerly: bool = False):
    model = MultINNFeedback(SPEC, rnn_units=[8], num_hidden=4, feedback_units=[5], dropout=0.0, clip_norm=clip_norm)
    return compiled(model, run_eagerly)


def dbn_composer(clip_norm, run_eagerly: bool = False):
    """A DBN encoder (3 units per track, as after pre-training: frozen) under a NADE generator."""
    model = MultINNComposer(
        SPEC, encoder="dbn", encoder_units=[3], rnn_units=[8], num_hidden=4, dropout=0.0, clip_norm=clip_norm, seed=1
    )
    return compiled(model, run_eagerly)


def rbm_jamming(clip_norm, run_eagerly: bool = False):
    """RBM generators of 4 hidden units: their evaluation likelihood is exact (enumerated log Z)."""
    model = MultINNJamming(SPEC, generator="rbm", rnn_units=[8], num_hidden=4, dropout=0.0, clip_norm=clip_norm, seed=1)
    return compiled(model, run_eagerly)


def compare(strategy, clip_norm, data: tf.data.Dataset, evaluate: bool, make=feedback, train: bool = True) -> dict:
    """One epoch over `data` (`train`; else evaluation only) on one device and under `strategy`,
    from the same weights."""
    single = make(clip_norm, run_eagerly=True)  # the reference; eager saves tracing time
    start = single.get_weights()
    # The global norm of the first step's gradient (one device, global batch), to show whether
    # clipping is active.
    x, mask = next(iter(data))
    with tf.GradientTape() as tape:
        loss = single.data_loss(single.teacher_forced(x, training=True), mask)
    grads = tape.gradient(loss, single.trainable_variables)
    norm = float(tf.linalg.global_norm([g for g in grads if g is not None]))
    with strategy.scope():
        mirrored = make(clip_norm)
    mirrored.set_weights(start)
    out = {"gradient_norm": norm}
    for name, model in (("single", single), ("mirrored", mirrored)):
        out[name] = {}
        if train:
            logs = model.fit(data, epochs=1, verbose=0).history
            out[name] = {"loss": logs["loss"][0], "nll": logs["nll"][0]}
        if evaluate:
            logs = model.evaluate(data, verbose=0, return_dict=True)
            out[name].update(eval_loss=logs["loss"], eval_nll=logs["nll"])
    out["moved"] = max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), start, strict=True))
    out["weight_difference"] = max(
        float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), mirrored.get_weights(), strict=True)
    )
    return out


def main() -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {
        "replicas": strategy.num_replicas_in_sync,
        # 7 pieces in batches of 3, 3 and 1: the first batches split 2 + 1 over the replicas, the
        # last one leaves the second replica empty.
        "clipping": compare(strategy, 0.5, batches(7, 3), evaluate=True),
        "no_clipping": compare(strategy, None, batches(4, 4), evaluate=False),
        "dbn_encoder": compare(strategy, 0.5, batches(7, 3), evaluate=True, make=dbn_composer),
        # CD-k training samples Gibbs chains: replicas draw other random numbers than one device,
        # so only the (exact) evaluation is compared.
        "rbm_generator": compare(strategy, None, batches(7, 3), evaluate=True, make=rbm_jamming, train=False),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
