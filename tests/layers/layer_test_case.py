"""Shared checks for the layers of `multinn.layers` (keras-hub style): one call per layer test
(`run_layer_test`), the checks it shares with the generator and model helpers (weight counts,
config round trip, a `fit` step), and the two backend-specific pieces the tests need, behind
backend-neutral helpers (`compiled`, `value_and_gradients`), so that every test runs on TensorFlow
and on JAX."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np


class LossModel(keras.Model):
    """A model whose only loss is `loss_fn(layer, inputs)`: one `fit` step trains `layer` alone."""

    def __init__(self, layer: keras.layers.Layer, loss_fn: Callable) -> None:
        super().__init__()
        self.layer = layer
        self.loss_fn = loss_fn

    def call(self, inputs):
        loss = self.loss_fn(self.layer, inputs)
        self.add_loss(loss)
        return loss


def seed_generators(layer: keras.layers.Layer) -> list:
    """The `keras.random.SeedGenerator`s of `layer` and all its sublayers, each once."""
    found = {}
    for sublayer in layer._flatten_layers(include_self=True):
        for generator in sublayer._seed_generators:
            found.setdefault(id(generator), generator)
    return list(found.values())


def assert_weight_counts(
    layer: keras.layers.Layer, num_trainable: int, num_non_trainable: int, num_seed_generators: int
) -> None:
    """`layer` (a layer or model) has these numbers of trainable and non-trainable weights and seed generators."""
    counts = (len(layer.trainable_weights), len(layer.non_trainable_weights), len(seed_generators(layer)))
    assert counts == (num_trainable, num_non_trainable, num_seed_generators), (
        f"(trainable weights, non-trainable weights, seed generators) of {layer.name}: expected "
        f"{(num_trainable, num_non_trainable, num_seed_generators)}, got {counts}"
    )


def assert_config_round_trip(layer: keras.layers.Layer) -> None:
    """`from_config(get_config())` gives the same config, equal as JSON, and weights of the same shapes,
    directly and through Keras (de)serialisation by registered name."""
    config = layer.get_config()
    expected = json.dumps(config, sort_keys=True)
    direct = type(layer).from_config(config)
    by_name = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    for revived in (direct, by_name):
        assert type(revived) is type(layer)
        assert json.dumps(revived.get_config(), sort_keys=True) == expected
        assert [tuple(w.shape) for w in revived.weights] == [tuple(w.shape) for w in layer.weights]


def assert_fit_step_trains(
    model: keras.Model, weights: Sequence, unchanged_weights: Sequence[str] = (), **fit_kwargs
) -> dict:
    """One `model.fit(**fit_kwargs)` step: its loss is finite, and every one of `weights` moves except
    those whose `path` matches a pattern (`fnmatch`) of `unchanged_weights`, which must stay as they
    were (weights the loss does not reach). Returns the fit's `History.history`."""
    before = [keras.ops.convert_to_numpy(w) for w in weights]
    history = model.fit(epochs=1, verbose=0, **fit_kwargs).history
    assert np.isfinite(history["loss"][0])
    for old, weight in zip(before, weights, strict=True):
        moved = not np.array_equal(old, keras.ops.convert_to_numpy(weight))
        unchanged = any(fnmatch.fnmatch(weight.path, pattern) for pattern in unchanged_weights)
        assert moved != unchanged, f"weight {weight.path} {'changed' if moved else 'did not change'} in a fit step"
    return history


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict,
    input_data: np.ndarray,
    expected_output_shape: tuple,
    loss_fn: Callable,
    output_fn: Callable,
    tmp_path: Path,
    expected_output: np.ndarray | Callable | None = None,
    expected_num_trainable_weights: int = 0,
    expected_num_non_trainable_weights: int = 0,
    expected_num_seed_generators: int = 0,
) -> None:
    """Weight counts, config round trip, symbolic and eager call (shape, dtype, values), one `fit`
    step, `.keras` save/load.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: a batch of inputs `[batch, ...]`.
        expected_output_shape: the shape of `layer(input_data)`.
        loss_fn: `loss_fn(layer, x) -> scalar`, minimised by the `fit` step.
        output_fn: `output_fn(layer, x) -> array`, which must be identical after save/load
            (e.g. the log-likelihood).
        tmp_path: a directory for the saved model.
        expected_output: the values of `layer(input_data)` (to `rtol=atol=1e-5`): an array, or
            `fn(layer, x) -> array`, a NumPy reference computed from the layer's weights (their
            random initial values differ between backends); `None`: values not checked.
        expected_num_trainable_weights: `len(layer.trainable_weights)`.
        expected_num_non_trainable_weights: `len(layer.non_trainable_weights)`.
        expected_num_seed_generators: the `SeedGenerator`s of the layer and its sublayers.
    """
    layer = layer_cls(**init_kwargs)
    assert_weight_counts(
        layer, expected_num_trainable_weights, expected_num_non_trainable_weights, expected_num_seed_generators
    )
    assert_config_round_trip(layer)

    # Eager and symbolic call.
    output = layer(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape)
    assert keras.backend.standardize_dtype(output.dtype) == layer.compute_dtype
    if expected_output is not None:
        expected = expected_output(layer, input_data) if callable(expected_output) else expected_output
        np.testing.assert_allclose(keras.ops.convert_to_numpy(output), expected, rtol=1e-5, atol=1e-5)
    symbolic = layer(keras.Input(shape=input_data.shape[1:]))
    assert tuple(symbolic.shape) == (None, *expected_output_shape[1:])

    # One fit step: finite loss; the trainable weights move.
    trained = layer_cls(**init_kwargs)
    model = LossModel(trained, loss_fn)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    assert_fit_step_trains(model, trained.trainable_weights, x=input_data, batch_size=len(input_data))

    # .keras save/load gives identical outputs.
    inputs = keras.Input(shape=input_data.shape[1:])
    saved = keras.Model(inputs, layer(inputs))
    path = tmp_path / "layer.keras"
    keras.saving.save_model(saved, path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(input_data, verbose=0), saved.predict(input_data, verbose=0))
    loaded_layer = loaded.layers[-1]
    assert type(loaded_layer) is layer_cls
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(output_fn(loaded_layer, input_data)),
        keras.ops.convert_to_numpy(output_fn(layer, input_data)),
    )


def compiled(fn: Callable) -> Callable:
    """`fn` as one compiled program: `tf.function` on TensorFlow; on JAX `fn` itself, whose
    `keras.ops` loops compile on their own (`jax.jit` of a function that advances a layer's
    `SeedGenerator` would leak tracers into the layer's variables)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def value_and_gradients(
    fn: Callable, variables: Sequence, state: Sequence = (), jit: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """`fn()` and its gradients with respect to `variables`, on the current backend.

    Args:
        fn: a function of no arguments returning a scalar; it reads `variables` (Keras variables,
            e.g. layer weights or `keras.Variable` inputs).
        variables: the variables to differentiate with respect to.
        state: further variables that `fn` may assign (seed generators, persistent chains): on
            JAX, `fn` runs statelessly and their new values are assigned afterwards, as Keras's
            trainer does.
        jit: compile with XLA (`tf.function(jit_compile=True)` / `jax.jit`); otherwise
            `tf.function` without XLA, or JAX's op-by-op dispatch.

    Returns:
        `(value, gradients)` as NumPy arrays, one gradient per variable.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def run():
            with tf.GradientTape() as tape:
                value = fn()
            return value, tape.gradient(value, list(variables))

        value, grads = tf.function(run, jit_compile=jit)()
        return np.asarray(value), [np.asarray(tf.convert_to_tensor(g)) for g in grads]

    import jax

    def pure(values, state_values):
        mapping = [*zip(variables, values, strict=True), *zip(state, state_values, strict=True)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            value = fn()
        return value, [scope.get_current_value(v) for v in state]

    run = jax.value_and_grad(pure, has_aux=True)
    (value, new_state), grads = (jax.jit(run) if jit else run)([v.value for v in variables], [v.value for v in state])
    for variable, new_value in zip(state, new_state, strict=True):
        variable.assign(new_value)
    return np.asarray(value), [np.asarray(g) for g in grads]
