import itertools

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats

from multinn.layers import RBMLayer, rbm_layer
from multinn.layers.rbm_layer import EXACT_MAX_UNITS, exact_is_cheaper
from tests.layers.layer_test_case import compiled, run_layer_test, value_and_gradients

ALL_VISIBLE = np.array(list(itertools.product([0, 1], repeat=8)), dtype="float32")  # [256, 8]
ALL_HIDDEN = np.array(list(itertools.product([0, 1], repeat=6)), dtype="float32")  # [64, 6]


def make_rbm(num_visible=8, num_hidden=6, seed=3, **kwargs):
    """An RBM with large random weights and biases, so that its distribution is far from uniform."""
    keras.utils.set_random_seed(seed)
    return RBMLayer(
        num_visible,
        num_hidden,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
        bias_initializer=keras.initializers.RandomNormal(stddev=1.0),
        seed=seed,
        **kwargs,
    )


def numpy_log_partition(rbm, visible_bias=None, hidden_bias=None):
    """Brute force in float64: log sum_{v, h} exp(-E(v, h)) over all 2**8 * 2**6 states."""
    W = np.asarray(rbm.kernel, np.float64)
    b = np.asarray(rbm.visible_bias if visible_bias is None else visible_bias, np.float64)
    c = np.asarray(rbm.hidden_bias if hidden_bias is None else hidden_bias, np.float64)
    v, h = ALL_VISIBLE.astype(np.float64), ALL_HIDDEN.astype(np.float64)
    minus_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ W @ h.T
    return scipy.special.logsumexp(minus_energy)


def numpy_free_energy(rbm, v):
    """`F(v) = -log sum_h exp(-E(v, h))` in float64, by enumeration of the 2**6 hidden states."""
    W, b, c = (np.asarray(w, np.float64) for w in (rbm.kernel, rbm.visible_bias, rbm.hidden_bias))
    v = np.asarray(v, np.float64)
    minus_energy = (v @ b)[:, None] + (ALL_HIDDEN @ c)[None, :] + v @ W @ ALL_HIDDEN.T
    return -scipy.special.logsumexp(minus_energy, axis=1)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_layer_basics(tmp_path):
    x = (np.random.default_rng(0).random((8, 8)) < 0.3).astype("float32")
    run_layer_test(
        RBMLayer,
        {"num_visible": 8, "num_hidden": 6, "cd_steps": 2, "seed": 1},
        input_data=x,
        expected_output_shape=(8,),
        loss_fn=lambda layer, x: layer.cd_loss(x),
        output_fn=lambda layer, x: layer.log_prob(x, method="exact"),
        tmp_path=tmp_path,
        expected_output=numpy_free_energy,
        expected_num_trainable_weights=3,
        expected_num_seed_generators=1,
    )


def test_persistent_layer_basics(tmp_path):
    x = (np.random.default_rng(0).random((8, 8)) < 0.3).astype("float32")
    run_layer_test(
        RBMLayer,
        {"num_visible": 8, "num_hidden": 6, "persistent": True, "num_chains": 16, "seed": 1},
        input_data=x,
        expected_output_shape=(8,),
        loss_fn=lambda layer, x: layer.cd_loss(x),
        output_fn=lambda layer, x: layer.free_energy(x),
        tmp_path=tmp_path,
        expected_output=numpy_free_energy,
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=1,  # the persistent chains
        expected_num_seed_generators=1,
    )


def test_free_energy_matches_numpy():
    rbm = make_rbm()
    np.testing.assert_allclose(
        to_numpy(rbm.free_energy(ALL_VISIBLE)), numpy_free_energy(rbm, ALL_VISIBLE), rtol=1e-5, atol=1e-5
    )


def test_exact_log_partition_matches_brute_force():
    rbm = make_rbm()
    assert float(rbm.log_partition("exact")) == pytest.approx(numpy_log_partition(rbm), abs=1e-4)
    # More visible than hidden units and the other way round enumerate different sides.
    wide = make_rbm(num_visible=6, num_hidden=8)
    W, b, c = (np.asarray(w, np.float64) for w in (wide.kernel, wide.visible_bias, wide.hidden_bias))
    minus_energy = (ALL_HIDDEN @ b)[:, None] + (ALL_VISIBLE @ c)[None, :] + ALL_HIDDEN @ W @ ALL_VISIBLE.T
    assert float(wide.log_partition("exact")) == pytest.approx(scipy.special.logsumexp(minus_energy), abs=1e-4)


def test_exact_log_partition_with_external_biases():
    rbm = make_rbm()
    rng = np.random.default_rng(1)
    visible_bias = rng.normal(size=(3, 8)).astype("float32")
    hidden_bias = rng.normal(size=(3, 6)).astype("float32")
    log_z = to_numpy(rbm.log_partition("exact", visible_bias, hidden_bias))
    assert log_z.shape == (3,)
    for i in range(3):
        assert log_z[i] == pytest.approx(numpy_log_partition(rbm, visible_bias[i], hidden_bias[i]), abs=1e-4)


def test_ais_is_close_to_exact():
    rbm = make_rbm()
    exact = float(rbm.log_partition("exact"))
    ais = compiled(lambda: rbm.log_partition("ais", num_chains=100, num_temperatures=1000))
    assert abs(float(ais()) - exact) < 0.05
    rng = np.random.default_rng(2)
    visible_bias = rng.normal(size=(2, 8)).astype("float32")
    hidden_bias = rng.normal(size=(2, 6)).astype("float32")
    ais_batch = compiled(
        lambda: rbm.log_partition("ais", visible_bias, hidden_bias, num_chains=100, num_temperatures=1000)
    )
    exact_batch = to_numpy(rbm.log_partition("exact", visible_bias, hidden_bias))
    np.testing.assert_allclose(to_numpy(ais_batch()), exact_batch, atol=0.05)


def test_ais_in_chunks_is_close_to_exact(monkeypatch):
    # 100 chains per partition function and 400 rows per chunk: 10 partition functions run in
    # 3 chunks of 4 (two of them padding), one loop iteration each.
    monkeypatch.setattr(rbm_layer, "AIS_CHUNK_ROWS", 400)
    rbm = make_rbm()
    rng = np.random.default_rng(4)
    visible_bias = rng.normal(size=(10, 8)).astype("float32")
    hidden_bias = rng.normal(size=(10, 6)).astype("float32")
    ais = compiled(lambda: rbm.log_partition("ais", visible_bias, hidden_bias, num_chains=100, num_temperatures=1000))
    estimate = to_numpy(ais())
    assert estimate.shape == (10,)
    np.testing.assert_allclose(estimate, to_numpy(rbm.log_partition("exact", visible_bias, hidden_bias)), atol=0.05)


def test_log_prob_sums_to_one():
    rbm = make_rbm()
    assert np.exp(to_numpy(rbm.log_prob(ALL_VISIBLE))).sum() == pytest.approx(1.0, abs=1e-4)
    visible_bias = np.tile(np.random.default_rng(3).normal(size=(1, 8)), (256, 1)).astype("float32")
    with_bias = to_numpy(rbm.log_prob(ALL_VISIBLE, visible_bias=visible_bias))
    assert np.exp(with_bias).sum() == pytest.approx(1.0, abs=1e-4)
    assert np.abs(with_bias - to_numpy(rbm.log_prob(ALL_VISIBLE))).max() > 0.1


def seed_state(rbm):
    return keras.ops.convert_to_numpy(rbm.seed_generator.state)


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_loss_gradient_is_the_cd_k_update(persistent):
    rbm = make_rbm(cd_steps=3, persistent=persistent, num_chains=20)
    rng = np.random.default_rng(4)
    v0 = (rng.random((20, 8)) < 0.4).astype("float32")
    if persistent:
        rbm.persistent_chain.assign((rng.random((20, 8)) < 0.5).astype("float32"))
    start = keras.ops.convert_to_numpy(rbm.persistent_chain) if persistent else v0
    state = seed_state(rbm)
    vk = to_numpy(rbm.gibbs(start, 3))  # the chain cd_loss will run, with the same random numbers
    rbm.seed_generator.state.assign(state)
    weights = [rbm.kernel, rbm.visible_bias, rbm.hidden_bias]
    _, grads = value_and_gradients(lambda: rbm.cd_loss(v0), weights, state=rbm.non_trainable_variables)
    if persistent:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(rbm.persistent_chain), vk)
    W, b, c = (np.asarray(w, np.float64) for w in weights)
    v0 = v0.astype(np.float64)
    h0, hk = sigmoid(v0 @ W + c), sigmoid(vk @ W + c)
    n = len(v0)
    # Textbook CD-k: dW = <v h>_data - <v h>_model (hidden probabilities), db = <v>_0 - <v>_k, dc = <h>_0 - <h>_k.
    np.testing.assert_allclose(grads[0], -(v0.T @ h0 / n - vk.T @ hk / len(vk)), atol=1e-5)
    np.testing.assert_allclose(grads[1], -(v0.mean(0) - vk.mean(0)), atol=1e-5)
    np.testing.assert_allclose(grads[2], -(h0.mean(0) - hk.mean(0)), atol=1e-5)
    assert not np.array_equal(vk, v0)


def test_cd_loss_gradient_reaches_external_biases():
    rbm = make_rbm(cd_steps=1)
    rng = np.random.default_rng(5)
    v0 = (rng.random((4, 8)) < 0.4).astype("float32")
    visible_bias = keras.Variable(rng.normal(size=(4, 8)).astype("float32"))
    hidden_bias = keras.Variable(rng.normal(size=(4, 6)).astype("float32"))
    state = seed_state(rbm)
    vk = to_numpy(rbm.gibbs(v0, 1, visible_bias, hidden_bias))
    rbm.seed_generator.state.assign(state)
    _, (grad_b, grad_c) = value_and_gradients(
        lambda: rbm.cd_loss(v0, visible_bias, hidden_bias),
        [visible_bias, hidden_bias],
        state=[rbm.seed_generator.state],
    )
    W = np.asarray(rbm.kernel, np.float64)
    c = keras.ops.convert_to_numpy(hidden_bias).astype(np.float64)
    np.testing.assert_allclose(grad_b, -(v0 - vk) / 4, atol=1e-6)
    np.testing.assert_allclose(grad_c, -(sigmoid(v0 @ W + c) - sigmoid(vk @ W + c)) / 4, atol=1e-6)


def test_cd_loss_sample_weight_is_a_weighted_mean():
    rbm = make_rbm(cd_steps=2)
    rng = np.random.default_rng(6)
    v0 = (rng.random((6, 8)) < 0.4).astype("float32")
    visible_bias = keras.Variable(rng.normal(size=(6, 8)).astype("float32"))
    hidden_bias = keras.Variable(rng.normal(size=(6, 6)).astype("float32"))
    sample_weight = np.array([1.0, 0.0, 2.0, 0.5, 0.0, 1.0], "float32")
    state = seed_state(rbm)
    vk = rbm.gibbs(v0, 2, visible_bias, hidden_bias)
    positive = to_numpy(rbm.free_energy(v0, visible_bias, hidden_bias))
    negative = to_numpy(rbm.free_energy(vk, visible_bias, hidden_bias))
    rbm.seed_generator.state.assign(state)
    loss, (grad_b, grad_c) = value_and_gradients(
        lambda: rbm.cd_loss(v0, visible_bias, hidden_bias, sample_weight=sample_weight),
        [visible_bias, hidden_bias],
        state=[rbm.seed_generator.state],
    )
    expected = np.sum(sample_weight * (positive - negative)) / sample_weight.sum()
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # Frames of weight 0 get no gradient; the others their weighted CD statistics.
    vk = to_numpy(vk)
    share = (sample_weight / sample_weight.sum())[:, None]
    np.testing.assert_allclose(grad_b, -(v0 - vk) * share, atol=1e-6)
    assert np.all(grad_c[sample_weight == 0] == 0.0)
    # All-zero weights: a zero loss and zero gradients, not NaN.
    rbm.seed_generator.state.assign(state)
    loss, grads = value_and_gradients(
        lambda: rbm.cd_loss(v0, visible_bias, hidden_bias, sample_weight=np.zeros(6, "float32")),
        [visible_bias, hidden_bias, rbm.kernel],
        state=[rbm.seed_generator.state],
    )
    assert float(loss) == 0.0
    assert all(np.all(g == 0.0) for g in grads)


def test_persistent_rejects_external_biases():
    rbm = make_rbm(persistent=True)
    with pytest.raises(ValueError, match="persistent chains use the layer's own biases"):
        rbm.cd_loss(ALL_VISIBLE[:4], visible_bias=np.zeros((4, 8), "float32"))


def test_gibbs_samples_follow_the_model():
    rbm = make_rbm()
    samples = to_numpy(compiled(lambda: rbm.sample(batch_size=20_000, steps=50))())
    codes = samples.astype(np.int64) @ (1 << np.arange(7, -1, -1))
    observed = np.bincount(codes, minlength=256).astype(np.float64)
    expected = np.exp(to_numpy(rbm.log_prob(ALL_VISIBLE)))
    expected *= 20_000 / expected.sum()
    small = expected < 5
    observed = np.append(observed[~small], observed[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3


def test_same_seed_same_samples():
    rbm = make_rbm()
    twin = RBMLayer.from_config(rbm.get_config())
    twin.set_weights(rbm.get_weights())
    first = rbm.sample(batch_size=30, steps=5)
    np.testing.assert_array_equal(first, twin.sample(batch_size=30, steps=5))
    assert not np.array_equal(first, rbm.sample(batch_size=30, steps=5))


def test_exact_is_cheaper_weighs_enumeration_against_the_ais_budget():
    # 2**u * o softplus terms against 2 * chains * temperatures * (V + H) unit draws.
    assert exact_is_cheaper(30, 10, 8, 50)  # 30,720 <= 32,000
    assert not exact_is_cheaper(30, 11, 8, 50)  # 61,440 > 32,800
    assert exact_is_cheaper(16, 12, 32, 500) and not exact_is_cheaper(16, 16, 32, 500)  # RNN-RBM's budget
    # Never above EXACT_MAX_UNITS, whatever the budget.
    assert exact_is_cheaper(EXACT_MAX_UNITS, 40, 10**6, 10**6)
    assert not exact_is_cheaper(EXACT_MAX_UNITS + 1, 40, 10**6, 10**6)


def test_log_prob_with_external_biases_enumerates_when_it_is_cheaper_than_ais():
    rng = np.random.default_rng(7)
    v = (rng.random((2, 30)) < 0.3).astype("float32")
    for num_hidden in (10, 11):
        rbm = make_rbm(num_visible=30, num_hidden=num_hidden)
        biases = rng.normal(size=(2, 30)).astype("float32"), rng.normal(size=(2, num_hidden)).astype("float32")
        exact = to_numpy(rbm.log_prob(v, *biases, method="exact"))
        auto = to_numpy(rbm.log_prob(v, *biases, num_chains=8, num_temperatures=50))  # a crude AIS, when AIS
        assert rbm.log_prob_is_exact(True, 8, 50) == (num_hidden == 10)
        if num_hidden == 10:
            np.testing.assert_array_equal(auto, exact)
        else:
            assert np.abs(auto - exact).max() > 1e-3
    # With the own biases (one partition function) the limit is EXACT_MAX_UNITS, whatever the budget.
    rbm = make_rbm(num_visible=30, num_hidden=11)
    assert rbm.log_prob_is_exact(external=False, num_chains=1, num_temperatures=1)
    np.testing.assert_array_equal(to_numpy(rbm.log_prob(v)), to_numpy(rbm.log_prob(v, method="exact")))


def test_pretrain_learns_the_frames():
    rng = np.random.default_rng(8)
    prototypes = np.array([[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]], "float32")
    frames = prototypes[rng.integers(0, 3, 600)]
    rbm = RBMLayer(8, 6, seed=1)
    history = rbm.pretrain(frames, epochs=10, batch_size=20)
    assert set(history) == {"loss", "reconstruction_error"} and len(history["loss"]) == 10
    errors = history["reconstruction_error"]
    assert errors[-1] < 0.5 * errors[0]
    reconstruction = to_numpy(rbm.visible_probs(rbm.hidden_probs(frames)))
    assert float(np.mean((reconstruction - frames) ** 2)) == pytest.approx(errors[-1], abs=0.02)
    with pytest.raises(ValueError, match=r"expected frames of shape \[num_frames, 8\], got \(4, 7\)"):
        rbm.pretrain(np.zeros((4, 7), "float32"))


def test_init_visible_bias_from_frequencies():
    rbm = make_rbm()
    frames = np.zeros((10, 8), "float32")
    frames[:3, 0] = 1  # p = 0.3
    frames[:, 1] = 1  # p = 1, clipped to 1 - 1e-3
    rbm.init_visible_bias(frames)
    expected = np.full(8, np.log(1e-3 / (1 - 1e-3)))
    expected[0], expected[1] = np.log(0.3 / 0.7), np.log((1 - 1e-3) / 1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rbm.visible_bias), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"expected frames of shape \[num_frames, 8\], got \(10, 7\)"):
        rbm.init_visible_bias(frames[:, :7])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_visible": -1, "num_hidden": 3}, "expected a positive integer, got -1"),
        ({"num_visible": 3, "num_hidden": 2, "cd_steps": 0}, "expected a positive integer, got 0"),
        ({"num_visible": 3, "num_hidden": 2, "persistent": "yes"}, "expected a bool, got 'yes'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RBMLayer(**kwargs)


def test_invalid_log_partition_arguments():
    with pytest.raises(ValueError, match="expected 'exact' or 'ais', got 'mcmc'"):
        make_rbm().log_partition("mcmc")
    with pytest.raises(ValueError, match="min\\(num_visible, num_hidden\\) = 21 > 20: use method='ais'"):
        RBMLayer(30, 21).log_partition("exact")


def test_gibbs_temperature():
    rbm = make_rbm()
    v0 = (np.random.default_rng(5).random((4, 8)) < 0.5).astype("float32")
    # Temperature 0: deterministic half-steps, computed by hand.
    W, b, c = to_numpy(rbm.kernel), to_numpy(rbm.visible_bias), to_numpy(rbm.hidden_bias)
    v = v0.astype(np.float64)
    for _ in range(3):
        h = (v @ W + c > 0).astype(np.float64)
        v = (h @ W.T + b > 0).astype(np.float64)
    np.testing.assert_array_equal(to_numpy(rbm.gibbs(v0, 3, temperature=0.0)), v)
    # A very high temperature makes every unit a fair coin.
    hot = to_numpy(rbm.sample(batch_size=4000, steps=2, temperature=1e4))
    np.testing.assert_allclose(hot.mean(axis=0), 0.5, atol=0.04)
    with pytest.raises(ValueError, match="`temperature`: expected a number >= 0, got -1"):
        rbm.gibbs(v0, 1, temperature=-1)


@pytest.mark.parametrize("chunk_elements", [2**22, 48])  # one call; chunks of 2 frames (the last one padded)
def test_conditional_logits_are_the_exact_conditionals(chunk_elements, monkeypatch):
    # p(v_d = 1 | v_-d) = exp(-F(v with v_d = 1)) / sum over v_d of exp(-F(v)), by free energies.
    monkeypatch.setattr(rbm_layer, "CONDITIONAL_CHUNK_ELEMENTS", chunk_elements)
    rbm = RBMLayer(6, 4, seed=0)
    rng = np.random.default_rng(0)
    rbm.set_weights([w + rng.normal(size=w.shape).astype("float32") for w in rbm.get_weights()])
    v = (rng.random((5, 6)) < 0.4).astype("float32")
    visible, hidden = rng.normal(size=(5, 6)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    for biases in ((None, None), (visible, hidden)):
        logits = keras.ops.convert_to_numpy(rbm.conditional_logits(v, *biases))
        for d in range(6):
            on, off = v.copy(), v.copy()
            on[:, d], off[:, d] = 1.0, 0.0
            f_on, f_off = (keras.ops.convert_to_numpy(rbm.free_energy(x, *biases)) for x in (on, off))
            np.testing.assert_allclose(logits[:, d], f_off - f_on, rtol=1e-5, atol=1e-5)
