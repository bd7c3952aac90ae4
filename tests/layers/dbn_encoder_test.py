import json
from pathlib import Path

import keras
import numpy as np
import pytest

from multinn.layers import DBNEncoder
from tests.layers.layer_test_case import LossModel, run_layer_test

JSB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "jsb"
LOWEST_PITCH, NUM_PITCHES = 36, 49  # 36..84


def bach_satb_frames(split="train", max_frames=6000):
    """Binary per-voice frames [n, 4 * 49] (soprano, alto, tenor, bass; pitches 36..84) of bach-satb."""
    path = JSB_DIR / "Jsb16thSeparated.json"
    if not path.is_file():
        pytest.skip(f"../shared/data not found: {path} is missing (the bach-satb frames of this test are read from it)")
    pieces = json.loads(path.read_text())[split]
    pitches = np.array([frame for piece in pieces for frame in piece], dtype=np.int64)[:max_frames]  # [n, 4]
    frames = np.zeros((len(pitches), 4, NUM_PITCHES), dtype="float32")
    rows, voices = np.nonzero(pitches >= 0)
    frames[rows, voices, pitches[rows, voices] - LOWEST_PITCH] = 1.0
    return frames.reshape(len(pitches), 4 * NUM_PITCHES)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_encode(encoder, x):
    """The mean-field upward pass in float64: `sigmoid(h W + c)`, one RBM after the other."""
    h = np.asarray(x, np.float64)
    for rbm in encoder.rbms:
        h = sigmoid(h @ np.asarray(rbm.kernel, np.float64) + np.asarray(rbm.hidden_bias, np.float64))
    return h


def test_layer_basics(tmp_path):
    x = (np.random.default_rng(0).random((8, 12)) < 0.3).astype("float32")
    run_layer_test(
        DBNEncoder,
        {"layer_sizes": [12, 6, 4], "seed": 1},
        input_data=x,
        expected_output_shape=(8, 4),
        loss_fn=lambda layer, x: layer.reconstruction_error(x),
        output_fn=lambda layer, x: layer.decode(layer.encode(x)),
        tmp_path=tmp_path,
        expected_output=numpy_encode,
        expected_num_trainable_weights=6,
        expected_num_seed_generators=2,
    )


def test_encode_and_decode_are_mean_field_passes():
    keras.utils.set_random_seed(0)
    encoder = DBNEncoder([12, 6, 4], kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), seed=1)
    x = (np.random.default_rng(1).random((5, 12)) < 0.3).astype("float32")
    (W1, b1, c1), (W2, b2, c2) = [
        [np.asarray(w, np.float64) for w in (rbm.kernel, rbm.visible_bias, rbm.hidden_bias)] for rbm in encoder.rbms
    ]
    code = sigmoid(sigmoid(x @ W1 + c1) @ W2 + c2)
    np.testing.assert_allclose(to_numpy(encoder.encode(x)), code, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(encoder(x)), code, rtol=1e-5)
    decoded = sigmoid(sigmoid(code @ W2.T + b2) @ W1.T + b1)
    np.testing.assert_allclose(to_numpy(encoder.decode(code)), decoded, rtol=1e-5)
    assert encoder.output_size == 4


def test_pretrain_lowers_reconstruction_error_on_bach_satb():
    frames = bach_satb_frames()
    valid = bach_satb_frames("valid", max_frames=2000)
    encoder = DBNEncoder([4 * NUM_PITCHES, 64, 32], seed=1)
    before = float(encoder.reconstruction_error(valid))
    histories = encoder.pretrain(frames, epochs=5, batch_size=32)
    assert len(histories) == 2 and all(len(h["loss"]) == 5 for h in histories)
    after = float(encoder.reconstruction_error(valid))
    # Baseline: the frame-frequency model (bias only) that pre-training starts from.
    freq = frames.mean(0)
    baseline = float(np.mean((valid - freq) ** 2))
    assert after < 0.7 * baseline < before
    assert encoder.trainable


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_pretrain_freeze_keeps_weights_in_later_training():
    frames = (np.random.default_rng(2).random((64, 12)) < 0.3).astype("float32")
    encoder = DBNEncoder([12, 6], seed=1)
    encoder.pretrain(frames, epochs=1, batch_size=32, freeze=True)
    assert not encoder.trainable and encoder.trainable_weights == []
    assert DBNEncoder.from_config(encoder.get_config()).trainable is False
    weights = [w.copy() for w in encoder.get_weights()]
    model = LossModel(encoder, lambda layer, x: layer.reconstruction_error(x))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    model.fit(frames, epochs=1, batch_size=32, verbose=0)
    for old, new in zip(weights, encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize(
    ("layer_sizes", "message"),
    [([12], r"at least two sizes, got \[12\]"), ([12, 0], "expected a positive integer, got 0"), (12, "got 12")],
)
def test_invalid_arguments(layer_sizes, message):
    with pytest.raises(ValueError, match=message):
        DBNEncoder(layer_sizes)


def test_pretrain_rejects_data_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"expected data of shape \[num_frames, 12\], got \(4, 10\)"):
        DBNEncoder([12, 6]).pretrain(np.zeros((4, 10), "float32"))
