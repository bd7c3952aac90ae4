import itertools

import keras
import numpy as np
import pytest
import scipy.stats

from multinn.layers import NADELayer
from tests.layers.layer_test_case import LossModel, compiled, run_layer_test, value_and_gradients

ALL_FRAMES_10 = np.array(list(itertools.product([0, 1], repeat=10)), dtype="float32")  # [1024, 10]


def make_nade(implementation="loop", num_visible=10, num_hidden=7, seed=3):
    """A NADE with large random weights and biases, so that its distribution is far from uniform."""
    keras.utils.set_random_seed(seed)
    return NADELayer(
        num_visible,
        num_hidden,
        implementation=implementation,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
        bias_initializer=keras.initializers.RandomNormal(stddev=1.0),
        seed=seed,
    )


def numpy_log_prob(nade, x, encoder_bias=None, decoder_bias=None):
    """The textbook formula in float64, one dimension at a time."""
    W, V = np.asarray(nade.encoder_kernel, np.float64), np.asarray(nade.decoder_kernel, np.float64)
    c = np.asarray(nade.encoder_bias if encoder_bias is None else encoder_bias, np.float64)
    b = np.asarray(nade.decoder_bias if decoder_bias is None else decoder_bias, np.float64)
    x = np.asarray(x, np.float64)
    acc = np.broadcast_to(c, (len(x), W.shape[1])).copy()
    b = np.broadcast_to(b, x.shape)
    log_p = np.zeros(len(x))
    for d in range(x.shape[1]):
        p = 1.0 / (1.0 + np.exp(-(b[:, d] + (1.0 / (1.0 + np.exp(-acc))) @ V[:, d])))
        log_p += np.where(x[:, d] == 1, np.log(p), np.log1p(-p))
        acc += x[:, d : d + 1] * W[d]
    return log_p


def test_layer_basics(tmp_path):
    x = (np.random.default_rng(0).random((8, 10)) < 0.3).astype("float32")
    run_layer_test(
        NADELayer,
        {"num_visible": 10, "num_hidden": 6, "seed": 1},
        input_data=x,
        expected_output_shape=(8,),
        loss_fn=lambda layer, x: -keras.ops.mean(layer.log_prob(x)),
        output_fn=lambda layer, x: layer.log_prob(x),
        tmp_path=tmp_path,
        expected_output=numpy_log_prob,
        expected_num_trainable_weights=4,
        expected_num_seed_generators=1,
    )


@pytest.mark.parametrize("implementation", ["loop", "vectorized"])
def test_log_prob_matches_numpy_reference(implementation):
    nade = make_nade(implementation)
    log_p = keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10))
    assert log_p.shape == (1024,)
    np.testing.assert_allclose(log_p, numpy_log_prob(nade, ALL_FRAMES_10), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("implementation", ["loop", "vectorized"])
def test_log_prob_sums_to_one(implementation):
    nade = make_nade(implementation)
    total = np.exp(keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10)).astype(np.float64)).sum()
    assert abs(total - 1.0) < 1e-4


@pytest.mark.parametrize("implementation", ["loop", "vectorized"])
def test_log_prob_sums_to_one_with_external_biases(implementation):
    nade = make_nade(implementation)
    rng = np.random.default_rng(1)
    for _ in range(3):  # three random conditionings, each a distribution over all 1,024 frames
        encoder_bias = np.tile(rng.normal(size=(1, 7)) * 2, (1024, 1)).astype("float32")
        decoder_bias = np.tile(rng.normal(size=(1, 10)) * 2, (1024, 1)).astype("float32")
        log_p = keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10, encoder_bias, decoder_bias))
        assert abs(np.exp(log_p.astype(np.float64)).sum() - 1.0) < 1e-4
        np.testing.assert_allclose(
            log_p, numpy_log_prob(nade, ALL_FRAMES_10, encoder_bias, decoder_bias), rtol=1e-5, atol=1e-5
        )
        own = keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10))
        assert np.abs(own - log_p).max() > 0.1  # the external biases are really used


def test_implementations_agree():
    loop, vectorized = make_nade("loop", 30, 16), make_nade("vectorized", 30, 16)
    rng = np.random.default_rng(2)
    x = (rng.random((64, 30)) < 0.3).astype("float32")
    encoder_bias = rng.normal(size=(64, 16)).astype("float32")
    decoder_bias = rng.normal(size=(64, 30)).astype("float32")
    for biases in [(None, None), (encoder_bias, decoder_bias)]:
        np.testing.assert_allclose(loop.log_prob(x, *biases), vectorized.log_prob(x, *biases), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            loop.conditionals(x, *biases), vectorized.conditionals(x, *biases), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("implementation", ["loop", "vectorized"])
def test_conditionals_agree_with_log_prob(implementation):
    nade = make_nade(implementation)
    cond = keras.ops.convert_to_numpy(nade.conditionals(ALL_FRAMES_10)).astype(np.float64)
    assert cond.shape == (1024, 10)
    # log p(x) is the sum of the teacher-forced conditionals' log-likelihoods.
    x = ALL_FRAMES_10
    from_cond = np.sum(x * np.log(cond) + (1 - x) * np.log1p(-cond), axis=1)
    np.testing.assert_allclose(from_cond, keras.ops.convert_to_numpy(nade.log_prob(x)), atol=1e-4)
    # p(x_d = 1 | x_<d) by brute-force marginalisation of exp(log_prob) over all frames.
    p = np.exp(keras.ops.convert_to_numpy(nade.log_prob(x)).astype(np.float64))
    for frame in [0, 341, 700, 1023]:
        for d in [0, 4, 9]:
            prefix = np.all(x[:, :d] == x[frame, :d], axis=1)
            expected = p[prefix & (x[:, d] == 1)].sum() / p[prefix].sum()
            assert cond[frame, d] == pytest.approx(expected, abs=1e-5)
    # The logits give the same likelihood through the stable softplus form.
    logits = keras.ops.convert_to_numpy(nade.conditional_logits(x)).astype(np.float64)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), cond, atol=1e-6)
    from_logits = -np.sum(np.logaddexp(0, (1 - 2 * x) * logits), axis=1)
    np.testing.assert_allclose(from_logits, keras.ops.convert_to_numpy(nade.log_prob(x)), atol=1e-4)


def chi_square_p_value(samples, log_p):
    """Goodness of fit of binary samples [n, 10] to exp(log_p) over all 1,024 frames (cells with
    expected counts < 5 pooled)."""
    codes = samples.astype(np.int64) @ (1 << np.arange(9, -1, -1))  # row index in ALL_FRAMES_10
    observed = np.bincount(codes, minlength=1024).astype(np.float64)
    expected = np.exp(log_p.astype(np.float64))
    expected *= len(samples) / expected.sum()
    small = expected < 5
    observed = np.append(observed[~small], observed[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    return scipy.stats.chisquare(observed, expected).pvalue


def test_sample_frequencies_match_log_prob():
    nade = make_nade()
    samples, sample_log_p = nade.sample(batch_size=20_000)
    samples = keras.ops.convert_to_numpy(samples)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    log_p = keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10))
    assert chi_square_p_value(samples, log_p) > 1e-3
    # The returned log-likelihoods are those of the model.
    np.testing.assert_allclose(sample_log_p, nade.log_prob(samples), atol=1e-5)
    # The test has power: samples at another temperature are rejected.
    hot, _ = nade.sample(batch_size=20_000, temperature=2.0)
    assert chi_square_p_value(keras.ops.convert_to_numpy(hot), log_p) < 1e-6


def test_sample_with_external_biases_compiled():
    nade = make_nade()
    rng = np.random.default_rng(3)
    encoder_bias = np.tile(rng.normal(size=(1, 7)), (20_000, 1)).astype("float32")
    decoder_bias = np.tile(rng.normal(size=(1, 10)), (20_000, 1)).astype("float32")
    sample = compiled(lambda e, d, t: nade.sample(e, d, temperature=t))
    samples, _ = sample(encoder_bias, decoder_bias, keras.ops.convert_to_tensor(1.0))  # a tensor temperature
    log_p = keras.ops.convert_to_numpy(nade.log_prob(ALL_FRAMES_10, encoder_bias[:1024], decoder_bias[:1024]))
    assert chi_square_p_value(keras.ops.convert_to_numpy(samples), log_p) > 1e-3


def test_same_seed_same_samples():
    nade = make_nade()
    twin = NADELayer.from_config(nade.get_config())
    twin.set_weights(nade.get_weights())
    first, _ = nade.sample(batch_size=50)
    np.testing.assert_array_equal(first, twin.sample(batch_size=50)[0])
    assert not np.array_equal(first, nade.sample(batch_size=50)[0])  # the generator moves on
    other = NADELayer.from_config({**nade.get_config(), "seed": 4})
    other.set_weights(nade.get_weights())
    assert not np.array_equal(first, other.sample(batch_size=50)[0])


def test_temperature_zero_thresholds_at_one_half():
    nade = make_nade()
    encoder_bias = np.random.default_rng(4).normal(size=(32, 7)).astype("float32")
    x, log_p = nade.sample(encoder_bias=encoder_bias, temperature=0.0)
    np.testing.assert_array_equal(x, nade.sample(encoder_bias=encoder_bias, temperature=0.0)[0])
    cond = keras.ops.convert_to_numpy(nade.conditionals(x, encoder_bias))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(x), (cond > 0.5).astype("float32"))
    np.testing.assert_allclose(log_p, nade.log_prob(x, encoder_bias), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_visible": 0, "num_hidden": 3}, "expected a positive integer, got 0"),
        ({"num_visible": 3, "num_hidden": 2.5}, "expected a positive integer, got 2.5"),
        ({"num_visible": 3, "num_hidden": 2, "implementation": "fast"}, "got 'fast'"),
        ({"num_visible": 3, "num_hidden": 2, "hand_gradient": "yes"}, "`hand_gradient`: expected a bool, got 'yes'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NADELayer(**kwargs)


def test_wrong_input_size():
    with pytest.raises(ValueError, match=r"num_visible=10, got shape \(None, 12\)"):
        NADELayer(10, 4).build((None, 12))
    with pytest.raises(ValueError, match="expected a number >= 0, got -1"):
        NADELayer(10, 4).sample(temperature=-1.0)


def test_configs_without_hand_gradient_load_with_the_default():
    config = NADELayer(10, 4, hand_gradient=False).get_config()
    assert config["hand_gradient"] is False
    del config["hand_gradient"]  # a config saved before the argument existed
    assert NADELayer.from_config(config).hand_gradient is True


def twins(num_visible, num_hidden, seed=2):
    """A NADE with the hand-written gradient and one differentiated by autodiff, with the same weights."""
    hand = NADELayer(num_visible, num_hidden, bias_initializer="random_normal", seed=seed)
    auto = NADELayer.from_config({**hand.get_config(), "hand_gradient": False})
    auto.set_weights(hand.get_weights())
    return hand, auto


def assert_gradients_match(hand, auto, names):
    for name, a, b in zip(names, hand, auto, strict=True):
        assert np.abs(b).max() > 1e-3, name  # every gradient is non-trivial
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max(), err_msg=name)


@pytest.mark.parametrize("num_visible, num_hidden, jit", [(10, 6, False), (10, 6, True), (252, 64, False)])
def test_hand_written_gradient_equals_autodiff(num_visible, num_hidden, jit, monkeypatch):
    # The backend's kernel (tf.custom_gradient / jax.custom_vjp) against the backend's autodiff of
    # the keras.ops loop, through the layer: gradients of x, both external biases, both kernels.
    # The loop for every batch (the segment form, which gives the frames no gradient, has its
    # own tests in nade_loop_logits_test.py).
    import multinn.backend

    monkeypatch.setattr(multinn.backend, "SEGMENT_BUCKETS", ())
    rng = np.random.default_rng(num_visible)
    batch = 7
    x = keras.Variable((rng.random((batch, num_visible)) < 0.3).astype("float32"))
    encoder_bias = keras.Variable(rng.normal(size=(batch, num_hidden)).astype("float32"))
    decoder_bias = keras.Variable(rng.normal(size=(batch, num_visible)).astype("float32"))
    weights = rng.normal(size=(batch, num_visible)).astype("float32")
    results = []
    for nade in twins(num_visible, num_hidden):

        def loss(nade=nade):
            logits = nade.conditional_logits(x, encoder_bias, decoder_bias)
            return keras.ops.sum(weights * logits) + keras.ops.sum(nade.log_prob(x, encoder_bias, decoder_bias))

        variables = [x, encoder_bias, decoder_bias, nade.encoder_kernel, nade.decoder_kernel]
        # The reference runs without XLA: TensorFlow's XLA cannot differentiate a keras.ops loop.
        results.append(value_and_gradients(loss, variables, jit=jit and nade.hand_gradient))
    (hand_loss, hand), (auto_loss, auto) = results
    assert float(hand_loss) == pytest.approx(float(auto_loss), rel=1e-6)
    assert_gradients_match(hand, auto, ["x", "encoder_bias", "decoder_bias", "encoder_kernel", "decoder_kernel"])


def test_hand_written_gradient_of_the_own_biases():
    # Without external biases the [H] encoder bias is broadcast over the batch: its gradient sums.
    x = (np.random.default_rng(0).random((6, 8)) < 0.4).astype("float32")
    grads = [
        value_and_gradients(lambda nade=nade: -keras.ops.mean(nade.log_prob(x)), nade.trainable_variables)[1]
        for nade in twins(8, 5, seed=3)
    ]
    assert len(grads[0]) == 4
    assert_gradients_match(*grads, ["encoder_kernel", "decoder_kernel", "encoder_bias", "decoder_bias"])


def test_hand_written_gradient_in_a_fit_step():
    # One SGD step of Keras's trainer (compiled: tf.function on TensorFlow, jax.jit on JAX) moves
    # both twins' weights alike.
    x = (np.random.default_rng(1).random((16, 12)) < 0.3).astype("float32")
    moved = []
    for nade in twins(12, 6):
        model = LossModel(nade, lambda layer, x: -keras.ops.mean(layer.log_prob(x)))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        before = [keras.ops.convert_to_numpy(w) for w in nade.trainable_weights]
        model.fit(x, epochs=1, batch_size=16, verbose=0)
        moved.append([keras.ops.convert_to_numpy(w) - b for w, b in zip(nade.trainable_weights, before, strict=True)])
    assert_gradients_match(*moved, ["encoder_kernel", "decoder_kernel", "encoder_bias", "decoder_bias"])
