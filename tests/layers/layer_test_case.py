"""Shared checks for the layers of `multinn.layers` (keras-hub style): one call per layer test, and
the two backend-specific pieces the tests need, behind backend-neutral helpers (`compiled`,
`value_and_gradients`), so that every test runs on TensorFlow and on JAX."""

from __future__ import annotations

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


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict,
    input_data: np.ndarray,
    expected_output_shape: tuple,
    loss_fn: Callable,
    output_fn: Callable,
    tmp_path: Path,
) -> None:
    """Config round trip, symbolic and eager call, one `fit` step, `.keras` save/load.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: a batch of inputs `[batch, ...]`.
        expected_output_shape: the shape of `layer(input_data)`.
        loss_fn: `loss_fn(layer, x) -> scalar`, minimised by the `fit` step.
        output_fn: `output_fn(layer, x) -> array`, which must be identical after save/load
            (e.g. the log-likelihood).
        tmp_path: a directory for the saved model.
    """
    layer = layer_cls(**init_kwargs)

    # Config round trip, equal as JSON, also through Keras (de)serialisation by registered name.
    config = layer.get_config()
    revived = layer_cls.from_config(config)
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is layer_cls
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)

    # Eager and symbolic call.
    output = layer(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape)
    assert keras.backend.standardize_dtype(output.dtype) == layer.compute_dtype
    symbolic = layer(keras.Input(shape=input_data.shape[1:]))
    assert tuple(symbolic.shape) == (None, *expected_output_shape[1:])

    # One fit step: finite loss; the trainable weights move.
    trained = layer_cls(**init_kwargs)
    model = LossModel(trained, loss_fn)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    before = [keras.ops.convert_to_numpy(w) for w in trained.trainable_weights]
    history = model.fit(input_data, epochs=1, batch_size=len(input_data), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for old, new in zip(before, trained.trainable_weights, strict=True):
        new_value = keras.ops.convert_to_numpy(new)
        assert not np.array_equal(old, new_value), f"weight {new.path} did not change in a fit step"

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
