"""Shared checks for the generators of `multinn.generators` (keras-hub style): one call per generator
test, on TensorFlow and on JAX."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import ops

from multinn.generators import RNNEstimator
from tests.layers.layer_test_case import assert_config_round_trip, assert_fit_step_trains, assert_weight_counts


@keras.saving.register_keras_serializable(package="multinn_tests")
class GeneratorModel(keras.Model):
    """A model around one generator: `call` gives its RNN outputs for `[batch, time, input_dim]`
    inputs, and the loss of `fit(inputs, targets)` is its training loss on the target frames
    `[batch, time, units]`, so that `fit` trains the generator and `.keras` saves it."""

    def __init__(self, generator: RNNEstimator, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.built = True  # the generator builds its weights on construction

    def call(self, inputs, training: bool = False):
        return self.generator.rnn_outputs(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        outputs = ops.reshape(y_pred, (-1, self.generator.output_dim))
        frames = ops.reshape(ops.cast(y, "float32"), (-1, self.generator.num_units))
        scores = self.generator.frame_scores(outputs, frames, likelihood=False)
        return self.generator.frame_loss(outputs, frames, ops.ones(ops.shape(frames)[:1]), scores)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"generator": keras.saving.serialize_keras_object(self.generator)})
        return config

    @classmethod
    def from_config(cls, config: dict) -> GeneratorModel:
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        return cls(**config)


def random_sequences(
    batch: int = 4, time: int = 5, input_dim: int = 5, units: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 RNN inputs `[batch, time, input_dim]` and binary target frames `[batch, time, units]`."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(batch, time, input_dim)).astype("float32")
    return inputs, (rng.random((batch, time, units)) < 0.5).astype("float32")


def run_generator_test(
    generator_cls: type[RNNEstimator],
    init_kwargs: dict,
    inputs: np.ndarray,
    targets: np.ndarray,
    tmp_path: Path,
    expected_num_trainable_weights: int = 0,
    expected_num_non_trainable_weights: int = 0,
    expected_num_seed_generators: int = 0,
    unchanged_weights: Sequence[str] = (),
) -> None:
    """Weight counts, config round trip, `log_prob`, step-by-step sampling, one `fit` step, `.keras`
    save/load giving the identical `log_prob`.

    Args:
        generator_cls: the generator class.
        init_kwargs: constructor arguments.
        inputs: `[batch, time, input_dim]`, the RNN's inputs.
        targets: binary frames `[batch, time, units]`.
        tmp_path: a directory for the saved model.
        expected_num_trainable_weights: `len(generator.trainable_weights)`.
        expected_num_non_trainable_weights: `len(generator.non_trainable_weights)`.
        expected_num_seed_generators: the `SeedGenerator`s of the generator and its sublayers.
        unchanged_weights: `fnmatch` patterns of the paths of the trainable weights that the
            training loss does not reach (e.g. an estimator's own biases, which the heads'
            conditional biases replace): they must stay unchanged in the `fit` step, all others move.
    """
    generator = generator_cls(**init_kwargs)
    assert_weight_counts(
        generator, expected_num_trainable_weights, expected_num_non_trainable_weights, expected_num_seed_generators
    )
    assert_config_round_trip(generator)
    batch, time = targets.shape[:2]
    assert generator.num_units == targets.shape[-1]

    # Sequence log-likelihood: [batch] nats, finite.
    log_p = generator.log_prob(inputs, targets)
    assert tuple(log_p.shape) == (batch,)
    assert keras.backend.standardize_dtype(log_p.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(log_p)))

    # Sampling, one step at a time: binary float32 frames [batch, units]; a seed fixes them.
    states = generator.initial_state(batch)
    for t in range(time):
        outputs, states = generator.step(inputs[:, t], states)
        frame = generator.sample_frame(outputs)
        assert tuple(frame.shape) == (batch, generator.num_units)
        assert keras.backend.standardize_dtype(frame.dtype) == "float32"
        assert set(np.unique(keras.ops.convert_to_numpy(frame))) <= {0.0, 1.0}
    seed = generator.estimators[0].seed_generator.next()  # a [2] seed, as `MultINN.generate` draws it
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(generator.sample_frame(outputs, seed=seed)),
        keras.ops.convert_to_numpy(generator.sample_frame(outputs, seed=seed)),
    )

    # One fit step: finite loss; every weight the loss reaches moves.
    model = GeneratorModel(generator)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    assert_fit_step_trains(model, generator.trainable_weights, unchanged_weights, x=inputs, y=targets, batch_size=batch)

    # .keras save/load gives the identical log-likelihood.
    path = tmp_path / "generator.keras"
    model.save(path)
    loaded = keras.saving.load_model(path).generator
    assert type(loaded) is generator_cls
    assert loaded.get_config() == generator.get_config()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.log_prob(inputs, targets)),
        keras.ops.convert_to_numpy(generator.log_prob(inputs, targets)),
    )
