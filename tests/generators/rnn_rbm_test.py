import numpy as np
from keras import ops

from multinn.generators import RNNRBM
from tests.generators.generator_test_case import random_sequences, run_generator_test


def test_generator_basics(tmp_path):
    inputs, targets = random_sequences(input_dim=5, units=6)
    run_generator_test(
        RNNRBM,
        {"input_dim": 5, "num_visible": 6, "num_hidden": 4, "rnn_units": [7], "cd_steps": 2, "seed": 1},
        inputs,
        targets,
        tmp_path,
        expected_num_trainable_weights=10,  # the LSTM's 3, the RBM's 3, 2 Dense heads x 2
        expected_num_seed_generators=2,  # the LSTM cell, the RBM (no dropout)
        unchanged_weights=["*rbm/visible_bias", "*rbm/hidden_bias"],  # the heads give the biases
    )


def test_pseudo_log_prob_is_the_sum_of_the_exact_conditionals():
    generator = RNNRBM(input_dim=5, num_visible=6, num_hidden=4, rnn_units=[7], seed=2)
    rng = np.random.default_rng(3)
    outputs = rng.normal(size=(9, 7)).astype("float32")
    frames = (rng.random((9, 6)) < 0.4).astype("float32")
    scores = generator.frame_scores(outputs, frames, likelihood=False, predictions=True)
    ((visible, hidden),) = generator.biases(outputs)
    free_energy = lambda v: ops.convert_to_numpy(generator.rbm.free_energy(v, visible, hidden))  # noqa: E731
    expected = np.zeros(9)
    for d in range(6):
        flipped = frames.copy()
        flipped[:, d] = 1.0 - flipped[:, d]
        # p(v_d | v_-d) = exp(-F(v)) / (exp(-F(v)) + exp(-F(v with v_d flipped)))
        expected += -np.logaddexp(0.0, free_energy(frames) - free_energy(flipped))
    np.testing.assert_allclose(ops.convert_to_numpy(scores["pseudo_log_prob"])[:, 0], expected, rtol=1e-5, atol=1e-5)
    assert "log_prob" not in scores


def test_likelihood_is_exact_where_enumerating_costs_less_than_ais():
    small = RNNRBM(input_dim=3, num_visible=16, num_hidden=12, rnn_units=[4])
    large = RNNRBM(input_dim=3, num_visible=16, num_hidden=16, rnn_units=[4])
    assert small.likelihood_is_exact and not large.likelihood_is_exact
    crude = RNNRBM(input_dim=3, num_visible=16, num_hidden=12, rnn_units=[4], ais_chains=2, ais_temperatures=10)
    assert not crude.likelihood_is_exact  # 2**12 * 16 terms cost more than 2 x 10 Gibbs steps
