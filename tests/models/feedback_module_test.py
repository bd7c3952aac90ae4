import keras
import numpy as np
import pytest

from multinn.models.feedback_module import FeedbackModule
from tests.layers.layer_test_case import run_layer_test


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_feedback(module, x):
    """The feedback of a sequence `[batch, time, input_dim]` in float64: a stack of tanh Dense layers,
    or of LSTMs (Keras's gate order i, f, c, o; zero initial states)."""
    x = np.asarray(x, np.float64)
    for layer in module.stack:
        weights = [np.asarray(w, np.float64) for w in layer.weights]
        if module.kind == "dense":
            kernel, bias = weights
            x = np.tanh(x @ kernel + bias)
            continue
        kernel, recurrent_kernel, bias = weights
        h = c = np.zeros((len(x), layer.units))
        steps = []
        for t in range(x.shape[1]):
            i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            steps.append(h)
        x = np.stack(steps, axis=1)
    return x


@pytest.mark.parametrize(("kind", "num_trainable", "num_seed_generators"), [("dense", 4, 0), ("rnn", 6, 2)])
def test_layer_basics(kind, num_trainable, num_seed_generators, tmp_path):
    x = (np.random.default_rng(0).random((4, 5, 6)) < 0.4).astype("float32")
    run_layer_test(
        FeedbackModule,
        {"input_dim": 6, "kind": kind, "units": [5, 3]},
        input_data=x,
        expected_output_shape=(4, 5, 3),
        loss_fn=lambda layer, x: keras.ops.mean(keras.ops.square(layer(x) - 0.5)),
        output_fn=lambda layer, x: layer(x),
        tmp_path=tmp_path,
        expected_output=numpy_feedback,
        expected_num_trainable_weights=num_trainable,
        expected_num_seed_generators=num_seed_generators,  # the LSTM cells'
    )


@pytest.mark.parametrize("kind", ["dense", "rnn"])
def test_steps_agree_with_the_sequence(kind):
    module = FeedbackModule(6, kind, [5, 3])
    x = np.random.default_rng(1).normal(size=(4, 5, 6)).astype("float32")
    sequence = keras.ops.convert_to_numpy(module(x))
    states = module.initial_state(4)
    if kind == "dense":
        assert states == []
    else:
        assert [[tuple(s.shape) for s in state] for state in states] == [[(4, 5), (4, 5)], [(4, 3), (4, 3)]]
    for t in range(5):
        output, states = module.step(x[:, t], states)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(output), sequence[:, t], atol=1e-5)
    assert module.output_dim == 3


def test_dense_feedback_reads_one_step_and_rnn_feedback_the_whole_past():
    module = FeedbackModule(6, "dense", [3])
    x = np.random.default_rng(2).normal(size=(2, 5, 6)).astype("float32")
    changed = x.copy()
    changed[:, 2] += 1.0
    diff = np.abs(keras.ops.convert_to_numpy(module(changed)) - keras.ops.convert_to_numpy(module(x))).max(axis=(0, 2))
    assert diff[2] > 0 and np.all(diff[[0, 1, 3, 4]] == 0)
    rnn = FeedbackModule(6, "rnn", [3])
    diff = np.abs(keras.ops.convert_to_numpy(rnn(changed)) - keras.ops.convert_to_numpy(rnn(x))).max(axis=(0, 2))
    assert np.all(diff[:2] == 0) and np.all(diff[2:] > 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_dim": 6, "kind": "attention"}, "`kind`: expected one of"),
        ({"input_dim": 0}, "expected a positive integer, got 0"),
        ({"input_dim": 6, "units": []}, "`units`: expected at least one layer size"),
        ({"input_dim": 6, "units": [4, -1]}, "expected a positive integer, got -1"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeedbackModule(**kwargs)
