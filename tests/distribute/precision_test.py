"""Mixed precision: 16-bit layers, float32 likelihoods, loss scaling with clipping, saved policies."""

import keras
import numpy as np
import pytest

from multinn.data import PianorollSpec, TrackSpec
from multinn.layers import NADELayer
from multinn.models import MultINNFeedback

SPEC = PianorollSpec(1, 60, 65, [TrackSpec("Lead"), TrackSpec("Bass", 33)])  # 2 tracks x 6 pitches


def feedback(**kwargs):
    return MultINNFeedback(SPEC, rnn_units=[8], num_hidden=4, feedback_units=[5], seed=1, **kwargs)


def batch():
    rng = np.random.default_rng(0)
    x = (rng.random((4, 7, 6, 2)) < 0.3).astype("float32")
    mask = np.ones((4, 7), "float32")
    mask[2, 3:] = 0
    return x, mask


@pytest.fixture
def float32_policy():
    """Restore the global dtype policy after a test that changes it."""
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def policies(model) -> dict:
    """Dtype-policy name -> the classes of the model's layers that have it."""
    out = {}
    for layer in model._flatten_layers(include_self=False):
        out.setdefault(layer.dtype_policy.name, set()).add(type(layer).__name__)
    return out


def test_bfloat16_layers_float32_likelihood():
    reference = feedback()
    model = feedback(dtype="mixed_bfloat16")
    model.set_weights(reference.get_weights())
    layers = policies(model)
    assert {"LSTM", "Dense", "FeedbackModule", "PassEncoder"} <= layers["mixed_bfloat16"]
    assert layers["float32"] == {"NADELayer"}
    assert all(w.dtype == "float32" for w in model.weights)
    x, mask = batch()
    expected, log_p = reference.log_prob(x, mask), model.log_prob(x, mask)
    assert log_p.dtype == np.float32
    # Stated tolerance: 0.2 % of a piece's log-likelihood (pieces here: -25 to -60 nats).
    np.testing.assert_allclose(log_p, expected, rtol=2e-3)
    assert np.abs(log_p - expected).max() > 1e-5  # the LSTMs and heads did compute in bfloat16


def test_bfloat16_training_step_has_float32_finite_loss_and_metrics():
    model = feedback(dtype="mixed_bfloat16")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    nades = [layer for layer in model._flatten_layers() if isinstance(layer, NADELayer)]
    kernels = [nade.encoder_kernel for nade in nades] + [nade.decoder_kernel for nade in nades]
    lstm_kernel = model.track_generators[0].lstms[0].cell.kernel
    before = [w.numpy() for w in [*kernels, lstm_kernel]]
    logs = model.train_step(batch())
    for key in ("loss", "nll", "nll_lead", "nll_bass"):
        assert logs[key].dtype == "float32", key
        assert np.isfinite(float(logs[key])) and float(logs[key]) > 0, key
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # bfloat16: no scaling
    # Adam's first step moves every weight with a gradient by the learning rate: the float32
    # estimators' kernels and the bfloat16 LSTMs' (float32) kernels alike.
    for weight, old in zip([*kernels, lstm_kernel], before, strict=True):
        assert weight.dtype == "float32"
        assert np.abs(weight.numpy() - old).max() == pytest.approx(1e-2, rel=1e-3)
    assert model.test_step(batch())["nll"].dtype == "float32"


def test_float16_loss_scaling_clips_like_float32():
    """A float16 step (loss scaled by 2**15) with clipping on moves the weights as a float32 step."""
    x, mask = batch()
    steps = {}
    for policy in ("float32", "mixed_float16"):
        model = feedback(dtype=policy, clip_norm=0.5)
        if policy == "float32":
            start = model.get_weights()
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        model.train_step((x, mask))
        steps[policy] = model
    scaled = steps["mixed_float16"].optimizer
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer) and float(scaled.dynamic_scale) == 2.0**15
    update = max(np.abs(a - b).max() for a, b in zip(steps["float32"].get_weights(), start, strict=True))
    float32, float16 = steps["float32"].get_weights(), steps["mixed_float16"].get_weights()
    difference = max(np.abs(a - b).max() for a, b in zip(float32, float16, strict=True))
    # Clipped at 0.5 (the gradient norm here is > 1), SGD moves some weight by ~0.1; clipping the
    # scaled gradients at the unscaled threshold would move them 2**15 times less.
    assert update > 0.05
    assert difference < 0.05 * update


def test_saved_model_keeps_its_policy(tmp_path, float32_policy):
    model = feedback(dtype="mixed_bfloat16")
    x, mask = batch()
    path = tmp_path / "model.keras"
    model.save(path)
    keras.mixed_precision.set_dtype_policy("mixed_float16")  # the global policy does not matter
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert policies(loaded) == policies(model)
    np.testing.assert_array_equal(loaded.log_prob(x, mask), model.log_prob(x, mask))


def test_the_global_policy_applies_and_estimators_stay_float32(float32_policy):
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = feedback(generator="rbm")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert policies(model)["float32"] == {"RBMLayer"}
    keras.mixed_precision.set_dtype_policy("float32")
    assert feedback(dtype="mixed_float16").dtype_policy.name == "mixed_float16"  # dtype= wins


def test_a_standalone_mixed_nade_computes_in_bfloat16():
    nade = NADELayer(6, 4, dtype="mixed_bfloat16", seed=0)
    x = np.zeros((2, 6), "float32")
    assert nade(x).dtype == "bfloat16"
    assert nade.encoder_kernel.dtype == "float32"


def test_half_precision_weights_are_refused():
    with pytest.raises(ValueError, match="MultINN models keep float32 weights.*got 'bfloat16'"):
        feedback(dtype="bfloat16")
