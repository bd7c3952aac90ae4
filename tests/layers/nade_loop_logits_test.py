"""`multinn.backend.nade_loop_logits`: the NADE kernel behind the backend seam, on the current backend."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from multinn.backend import nade_loop_logits, nade_segment_logits
from tests.layers.layer_test_case import value_and_gradients

NAMES = ["x", "encoder_state", "kernel", "decoder_kernel"]


def kernel_arguments(batch=5, num_visible=10, num_hidden=6, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.random((batch, num_visible)) < 0.4).astype("float32"),
        rng.normal(size=(batch, num_hidden)).astype("float32"),
        rng.normal(size=(num_visible, num_hidden)).astype("float32"),
        rng.normal(size=(num_hidden, num_visible)).astype("float32"),
    ], rng.normal(size=(batch, num_visible)).astype("float32")


def loss_of(weights, hand_gradient=True):
    """`f(x, c, W, V) = sum(weights * softplus(logits))`: a non-linear scalar of all the logits."""
    return lambda *args: keras.ops.sum(weights * keras.ops.softplus(nade_loop_logits(*args, hand_gradient)))


def gradients(loss, arrays, jit=False):
    variables = [keras.Variable(a) for a in arrays]
    return value_and_gradients(lambda: loss(*variables), variables, jit=jit)


def assert_matches_finite_differences(loss, arrays, grads, names=NAMES, eps=1e-2, rtol=1e-2, directions=2):
    """Central differences of `loss` along random unit directions against `<grad, direction>`, for
    the arguments in `names`."""
    rng = np.random.default_rng(1)
    for name, array, grad in zip(NAMES, arrays, grads, strict=True):
        if name not in names:
            continue
        for _ in range(directions):
            direction = rng.normal(size=array.shape).astype("float32")
            direction /= np.linalg.norm(direction)
            shifted = [[a + sign * eps * direction if a is array else a for a in arrays] for sign in (1, -1)]
            plus, minus = (float(keras.ops.convert_to_numpy(loss(*args))) for args in shifted)
            expected = (plus - minus) / (2 * eps)
            assert float(np.sum(grad * direction)) == pytest.approx(expected, rel=rtol, abs=1e-4), name


def test_values_equal_the_keras_ops_loop():
    arrays, _ = kernel_arguments()
    hand = keras.ops.convert_to_numpy(nade_loop_logits(*arrays))
    auto = keras.ops.convert_to_numpy(nade_loop_logits(*arrays, hand_gradient=False))
    assert hand.shape == (5, 10)
    np.testing.assert_allclose(hand, auto, rtol=1e-6, atol=1e-6)
    # logit_d = sigmoid(c + sum_{j<d} x_j W_j) . V[:, d], in float64 NumPy.
    x, c, w, v = (a.astype(np.float64) for a in arrays)
    inclusive = np.cumsum(x[:, :, None] * w[None], axis=1)  # sum_{j<=d} x_j W_j: [batch, D, H]
    prefix = c[:, None, :] + np.concatenate([np.zeros_like(inclusive[:, :1]), inclusive[:, :-1]], axis=1)
    np.testing.assert_allclose(hand, np.einsum("bdh,hd->bd", 1 / (1 + np.exp(-prefix)), v), rtol=1e-5, atol=1e-5)


@pytest.fixture
def loop_only(monkeypatch):
    """The hand-gradient kernel's loop for every batch (no segments): the tests of its gradient
    with respect to `x`, which the segment form treats as data."""
    import multinn.backend

    monkeypatch.setattr(multinn.backend, "SEGMENT_BUCKETS", ())


def test_gradient_matches_finite_differences(loop_only):
    arrays, weights = kernel_arguments()
    _, grads = gradients(loss_of(weights), arrays)
    assert_matches_finite_differences(loss_of(weights), arrays, grads)


def test_finite_differences_catch_a_sign_error_in_one_step(loop_only):
    # The check has power: a sign error in one step of the backward loop (here: in the gradient of
    # one column of V, out of 10) fails it.
    arrays, weights = kernel_arguments()
    _, grads = gradients(loss_of(weights), arrays)
    wrong = [g.copy() for g in grads]
    wrong[3][:, 4] *= -1.0
    with pytest.raises(AssertionError, match="decoder_kernel"):
        assert_matches_finite_differences(loss_of(weights), arrays, wrong, names=["decoder_kernel"])


@pytest.mark.parametrize("num_visible, num_hidden, jit", [(10, 6, False), (10, 6, True), (252, 64, False)])
def test_gradient_equals_autodiff(num_visible, num_hidden, jit, loop_only):
    arrays, weights = kernel_arguments(7, num_visible, num_hidden, seed=num_visible)
    arrays[2:] = [a * 0.3 for a in arrays[2:]]  # keep the logits of 252 dimensions in a useful range
    hand_value, hand = gradients(loss_of(weights), arrays, jit=jit)
    # The reference runs without XLA: TensorFlow's XLA cannot differentiate a keras.ops loop.
    auto_value, auto = gradients(loss_of(weights, hand_gradient=False), arrays)
    assert float(hand_value) == pytest.approx(float(auto_value), rel=1e-6)
    for name, a, b in zip(NAMES, hand, auto, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max(), err_msg=name)


def run_python(code, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_jax_backend_never_imports_tensorflow():
    pytest.importorskip("jax")
    code = (
        "import sys, numpy as np\n"
        "from multinn.backend import nade_loop_logits\n"
        "from multinn.layers import NADELayer\n"
        "x = np.zeros((2, 5), 'float32')\n"
        "nade_loop_logits(x, np.zeros((2, 3), 'float32'), np.ones((5, 3), 'float32'), np.ones((3, 5), 'float32'))\n"
        "NADELayer(5, 3).log_prob(x)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    assert run_python(code, "jax").strip() == "False"


def test_imports_without_jax():
    code = (
        "import sys\n"
        "sys.modules['jax'] = None  # `import jax` raises ImportError, as without JAX installed\n"
        "import numpy as np\n"
        "from multinn.layers import NADELayer\n"
        "print(float(NADELayer(5, 3).log_prob(np.zeros((1, 5), 'float32'))[0]) < 0)\n"
    )
    assert run_python(code, "tensorflow").strip().splitlines()[-1] == "True"


def test_other_backends_run_the_keras_ops_fallbacks():
    # The numpy backend has no kernel module: NADE's loop and the RBM's in-loop random draws run
    # their keras.ops / NumPy forms, with the same results as the vectorised NADE and a seeded RBM.
    code = (
        "import numpy as np\n"
        "from multinn.layers import NADELayer, RBMLayer\n"
        "x = (np.random.default_rng(0).random((4, 10)) < 0.3).astype('float32')\n"
        "loop = NADELayer(10, 5, seed=1)\n"
        "vectorized = NADELayer(10, 5, implementation='vectorized')\n"
        "vectorized.set_weights(loop.get_weights())\n"
        "print(np.abs(np.asarray(loop.log_prob(x)) - np.asarray(vectorized.log_prob(x))).max() < 1e-5)\n"
        "rbm, twin = RBMLayer(10, 4, seed=1), RBMLayer(10, 4, seed=1)\n"
        "twin.set_weights(rbm.get_weights())\n"
        "first = np.asarray(rbm.sample(batch_size=3, steps=5))\n"
        "second = np.asarray(twin.sample(batch_size=3, steps=5))\n"
        "print(np.array_equal(first, second), set(np.unique(first)) <= {0, 1})\n"
    )
    assert run_python(code, "numpy").split() == ["True", "True", "True"]


def frames_with_active_units(batch, num_visible, most_active, seed=0):
    """Binary frames `[batch, D]` with 0..`most_active` active units each (exactly `most_active` in the first)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, num_visible), "float32")
    for row in range(batch):
        count = most_active if row == 0 else int(rng.integers(0, most_active + 1))
        x[row, rng.choice(num_visible, count, replace=False)] = 1.0
    return x


@pytest.mark.parametrize("most_active", [0, 1, 3, 4, 5, 20])
def test_segments_and_loop_agree_at_every_sparsity(most_active):
    # The hand-gradient kernel runs a batch by segments (GEMMs) in the smallest bucket of S >=
    # 1 + most_active (SEGMENT_BUCKETS), by the loop above: values and gradients equal autodiff's loop.
    arrays, weights = kernel_arguments(9, 24, 6, seed=most_active)
    arrays[0] = frames_with_active_units(9, 24, most_active, seed=most_active)
    arrays[2:] = [a * 0.5 for a in arrays[2:]]
    hand_value, hand = gradients(loss_of(weights), arrays)
    auto_value, auto = gradients(loss_of(weights, hand_gradient=False), arrays)
    assert float(hand_value) == pytest.approx(float(auto_value), rel=1e-6)
    # The frames are data: the segment form gives them no gradient (the loop's is tested with `loop_only`).
    for name, a, b in list(zip(NAMES, hand, auto, strict=True))[1:]:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(np.abs(b).max(), 1.0), err_msg=name)
    jit_value, _ = gradients(loss_of(weights), arrays, jit=True)  # static shapes in every branch (XLA, jax.jit)
    assert float(jit_value) == pytest.approx(float(auto_value), rel=1e-5)


def test_non_binary_frames_run_the_loop():
    # Values other than 0 and 1 have no segments: the loop runs, linear in x, as without buckets.
    arrays, weights = kernel_arguments(5, 12, 4)
    arrays[0] = frames_with_active_units(5, 12, 2) * 0.5
    value, grads = gradients(loss_of(weights), arrays)
    auto_value, auto = gradients(loss_of(weights, hand_gradient=False), arrays)
    assert float(value) == pytest.approx(float(auto_value), rel=1e-6)
    np.testing.assert_allclose(grads[0], auto[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("most_active", [0, 1, 3, 6])
def test_segment_logits_need_one_segment_more_than_the_most_active_units(most_active):
    arrays, _ = kernel_arguments(6, 16, 5, seed=most_active)
    arrays[0] = frames_with_active_units(6, 16, most_active, seed=most_active)
    loop = keras.ops.convert_to_numpy(nade_loop_logits(*arrays, hand_gradient=False))
    for num_segments in (most_active + 1, most_active + 3):
        got = keras.ops.convert_to_numpy(nade_segment_logits(*arrays, num_segments=num_segments))
        np.testing.assert_allclose(got, loop, rtol=1e-5, atol=1e-5)
    if most_active:  # one segment too few: the first frame's last segment is missing (the check has power)
        short = keras.ops.convert_to_numpy(nade_segment_logits(*arrays, num_segments=most_active))
        assert not np.allclose(short[0], loop[0], atol=1e-3)


def test_without_buckets_the_loop_runs(monkeypatch):
    import multinn.backend

    arrays, _ = kernel_arguments(5, 12, 4)
    arrays[0] = frames_with_active_units(5, 12, 2)
    expected = keras.ops.convert_to_numpy(nade_loop_logits(*arrays))
    monkeypatch.setattr(multinn.backend, "SEGMENT_BUCKETS", ())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(nade_loop_logits(*arrays)), expected, rtol=1e-5, atol=1e-6)
