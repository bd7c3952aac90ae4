import json

import keras
import numpy as np
import pytest

from multinn.generators import RNNNADE, RNNRBM, RNNMultiNADE
from tests.layers.layer_test_case import value_and_gradients

GENERATORS = {
    "nade": lambda: RNNNADE(input_dim=5, num_visible=6, num_hidden=4, rnn_units=[7, 3], seed=1),
    "multi-nade": lambda: RNNMultiNADE(input_dim=5, num_visible=[2, 4], num_hidden=[3, 5], rnn_units=[7], seed=1),
    "rbm": lambda: RNNRBM(input_dim=5, num_visible=6, num_hidden=4, rnn_units=[7], seed=1),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_sequence_and_step_apis_agree(name):
    generator = GENERATORS[name]()
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 5, 5)).astype("float32")
    targets = (rng.random((3, 5, 6)) < 0.5).astype("float32")
    sequence = keras.ops.convert_to_numpy(generator.rnn_outputs(inputs))
    states = generator.initial_state(3)
    for t in range(5):
        output, states = generator.step(inputs[:, t], states)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(output), sequence[:, t], atol=1e-5)
    per_step = keras.ops.convert_to_numpy(generator.step_log_probs(inputs, targets))
    assert per_step.shape == (3, 5, generator.num_parts)
    flat = generator.frame_log_prob(sequence.reshape(15, -1), targets.reshape(15, 6))
    np.testing.assert_allclose(per_step.reshape(15, -1), keras.ops.convert_to_numpy(flat), atol=1e-4)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], "float32")
    total = keras.ops.convert_to_numpy(generator.log_prob(inputs, targets, mask))
    np.testing.assert_allclose(total, (per_step.sum(-1) * mask).sum(-1), atol=1e-4)


@pytest.mark.parametrize("name", ["nade", "multi-nade"])
def test_nade_scores_are_the_chain_rule_terms(name):
    generator = GENERATORS[name]()
    rng = np.random.default_rng(1)
    outputs = rng.normal(size=(8, generator.output_dim)).astype("float32")
    frames = (rng.random((8, 6)) < 0.5).astype("float32")
    scores = generator.frame_scores(outputs, frames)
    dim_terms = keras.ops.convert_to_numpy(scores["dim_log_prob"])
    probs = keras.ops.convert_to_numpy(scores["probs"])
    np.testing.assert_allclose(dim_terms, np.log(np.where(frames > 0, probs, 1 - probs)), atol=1e-5)
    log_p = keras.ops.convert_to_numpy(generator.frame_log_prob(outputs, frames)).sum(-1)
    np.testing.assert_allclose(dim_terms.sum(-1), log_p, atol=1e-4)


@pytest.mark.parametrize("name", GENERATORS)
def test_config_round_trip(name):
    generator = GENERATORS[name]()
    config = generator.get_config()
    revived = type(generator).from_config(config)
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    assert [w.shape for w in revived.weights] == [w.shape for w in generator.weights]


def test_rbm_pretraining_starts_the_heads_at_the_pretrained_rbm():
    rng = np.random.default_rng(2)
    prototypes = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], "float32")
    frames = prototypes[rng.integers(0, 3, 600)]
    generator = RNNRBM(input_dim=3, num_visible=6, num_hidden=8, rnn_units=[4], seed=3)
    history = generator.pretrain_on_frames(frames, epochs=15, batch_size=20, learning_rate=0.1)
    errors = history["reconstruction_error"]
    assert len(errors) == len(history["loss"]) == 15
    assert errors[-1] < 0.5 * errors[0]
    visible_head, hidden_head = generator.heads[0]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(visible_head.bias), keras.ops.convert_to_numpy(generator.rbm.visible_bias)
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(hidden_head.bias), keras.ops.convert_to_numpy(generator.rbm.hidden_bias)
    )


def test_rbm_frame_loss_of_padded_frames_equals_the_loss_of_the_real_frames():
    # The weighted CD surrogate equals the surrogate of the real frames alone (boolean-mask
    # selection) on the same Gibbs chains; padded frames get no gradient.
    generator = GENERATORS["rbm"]()
    rng = np.random.default_rng(3)
    outputs = keras.Variable(rng.normal(size=(8, generator.output_dim)).astype("float32"))
    frames = (rng.random((8, 6)) < 0.5).astype("float32")
    mask = np.array([1, 1, 0, 1, 0, 0, 1, 1], "float32")
    rbm, state = generator.rbm, generator.rbm.seed_generator.state
    saved = keras.ops.convert_to_numpy(state)
    ((visible, hidden),) = [[keras.ops.convert_to_numpy(b) for b in biases] for biases in generator.biases(outputs)]
    chains = keras.ops.convert_to_numpy(rbm.gibbs(frames, generator.cd_steps, visible, hidden))
    keep = mask > 0
    expected = np.mean(keras.ops.convert_to_numpy(rbm.free_energy(frames[keep], visible[keep], hidden[keep])))
    expected -= np.mean(keras.ops.convert_to_numpy(rbm.free_energy(chains[keep], visible[keep], hidden[keep])))
    state.assign(saved)
    loss, (grad,) = value_and_gradients(
        lambda: generator.frame_loss(outputs, frames, mask, scores={}), [outputs], state=[state]
    )
    assert float(loss) == pytest.approx(float(expected), rel=1e-6, abs=1e-6)
    assert np.all(grad[~keep] == 0.0) and np.abs(grad[keep]).min() > 0.0
    zero_loss, _ = value_and_gradients(
        lambda: generator.frame_loss(outputs, frames, np.zeros(8, "float32"), scores={}), [outputs], state=[state]
    )
    assert float(zero_loss) == 0.0


def test_nade_hand_gradient_reaches_the_nades():
    for generator in (
        RNNNADE(input_dim=5, num_visible=6, num_hidden=4, nade_hand_gradient=False),
        RNNMultiNADE(input_dim=5, num_visible=[2, 4], num_hidden=3, nade_hand_gradient=False),
    ):
        assert [nade.hand_gradient for nade in generator.estimators] == [False] * generator.num_parts
        config = generator.get_config()
        assert config["nade_hand_gradient"] is False
        del config["nade_hand_gradient"]  # a config saved before the argument existed
        assert all(nade.hand_gradient for nade in type(generator).from_config(config).estimators)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`rnn_units`: expected at least one layer size"):
        RNNNADE(4, 4, rnn_units=[])
    with pytest.raises(ValueError, match="`dropout`: expected a rate in"):
        RNNNADE(4, 4, dropout=1.5)
    with pytest.raises(ValueError, match="`num_hidden`: expected 2 sizes"):
        RNNMultiNADE(4, [2, 2], num_hidden=[3, 3, 3])
