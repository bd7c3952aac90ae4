"""Shared checks for the MultINN modes of `multinn.models` (keras-hub style): one call per model
test, on TensorFlow and on JAX, and the tiny spec and sizes the model tests share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from multinn.data import PianorollSpec, TrackSpec
from multinn.models.multinn import MultINN, metric_name
from tests.layers.layer_test_case import assert_config_round_trip, assert_fit_step_trains, assert_weight_counts

TINY = PianorollSpec(1, 60, 61, [TrackSpec("Lead"), TrackSpec("Bass", 33)])
"""Two tracks of two pitches: every piece of a few steps can be enumerated."""
SMALL = {"rnn_units": [8], "num_hidden": 4, "seed": 3}
"""Constructor arguments of a small model."""
RBM_OPTIONS = {"ais_chains": 8, "ais_temperatures": 100}
"""`generator_options` of a small RNN-RBM (on TINY its partition functions are enumerated exactly)."""
ESTIMATOR_BIASES = ["*nade_*/encoder_bias", "*nade_*/decoder_bias", "*rbm/visible_bias", "*rbm/hidden_bias"]
"""Paths of the generators' estimators' own biases: the heads' conditional biases replace them, so
no loss reaches them (`unchanged_weights` of `run_model_test`)."""


def random_rolls(spec: PianorollSpec = TINY, batch: int = 4, time: int = 6, seed: int = 0):
    """Binary float32 pieces `[batch, time, pitch, track]` and their mask `[batch, time]` (the
    pieces after the first end early: their last steps are padding)."""
    rng = np.random.default_rng(seed)
    rolls = (rng.random((batch, time, spec.num_pitches, spec.num_tracks)) < 0.4).astype("float32")
    lengths = time - np.arange(batch) % time
    return rolls, (np.arange(time)[None, :] < lengths[:, None]).astype("float32")


def run_model_test(
    model_cls: type[MultINN],
    init_kwargs: dict,
    rolls: np.ndarray,
    mask: np.ndarray,
    tmp_path: Path,
    expected_num_trainable_weights: int = 0,
    expected_num_non_trainable_weights: int = 0,
    expected_num_seed_generators: int = 0,
    unchanged_weights: Sequence[str] = (),
    per_track_log_prob: bool = True,
    num_steps: int = 8,
) -> None:
    """Weight counts, config round trip, the teacher-forced outputs and `log_prob`, one `fit` step,
    `generate`, `.keras` save/load giving the identical `log_prob`, samples and optimizer state.

    Args:
        model_cls: the mode's class.
        init_kwargs: constructor arguments (with `spec`).
        rolls: binary pieces `[batch, time, pitch, track]`.
        mask: `[batch, time]`, 1 for real steps.
        tmp_path: a directory for the saved model.
        expected_num_trainable_weights: `len(model.trainable_weights)`.
        expected_num_non_trainable_weights: `len(model.non_trainable_weights)`.
        expected_num_seed_generators: the `SeedGenerator`s of the model's layers.
        unchanged_weights: `fnmatch` patterns of the paths of the trainable weights that the
            training loss does not reach (e.g. `ESTIMATOR_BIASES`): they must stay unchanged in the
            `fit` step, all others move.
        per_track_log_prob: whether the likelihood splits into tracks (`track_log_prob` and the
            `nll_<track>` metrics); one RBM over all tracks' units does not split.
        num_steps: steps to generate.
    """
    model = model_cls(**init_kwargs)
    assert_weight_counts(
        model, expected_num_trainable_weights, expected_num_non_trainable_weights, expected_num_seed_generators
    )
    assert_config_round_trip(model)
    batch, time, num_pitches, num_tracks = rolls.shape

    # model(x) and predict: the note probabilities.
    probs = keras.ops.convert_to_numpy(model(rolls))
    assert probs.shape == (batch, time, num_pitches, num_tracks) and probs.dtype == np.float32
    np.testing.assert_allclose(model.predict(rolls, verbose=0), probs, rtol=1e-6, atol=1e-6)

    # The teacher-forced outputs: float32, the shapes of the docstring; the track terms add up.
    outputs = model.teacher_forced(rolls)
    shapes = {
        "probs": (batch, time, num_pitches, num_tracks),
        "loss_terms": (batch, time),
        "log_prob": (batch, time),
        "track_log_prob": (batch, time, num_tracks),
    }
    if not per_track_log_prob:
        del shapes["track_log_prob"]
    if getattr(model, "generator_type", None) == "rbm":  # RBMs: the pseudo-log-likelihood of each step
        shapes["pseudo_log_prob"] = (batch, time)
    assert set(outputs) == set(shapes)
    outputs = {key: keras.ops.convert_to_numpy(value) for key, value in outputs.items()}
    for key, shape in shapes.items():
        assert outputs[key].shape == shape and outputs[key].dtype == np.float32, key
    assert np.all((outputs["probs"] >= 0) & (outputs["probs"] <= 1))
    np.testing.assert_allclose(outputs["probs"], probs, rtol=1e-6, atol=1e-6)
    with model.step_outputs():  # what Keras's training and evaluation steps see
        assert set(model(rolls)) == set(shapes)
    if per_track_log_prob:
        np.testing.assert_allclose(outputs["track_log_prob"].sum(-1), outputs["log_prob"], rtol=1e-5, atol=1e-5)

    # log_prob: [batch] nats, the masked sum of the per-step terms.
    log_p = model.log_prob(rolls, mask)
    assert log_p.shape == (batch,) and log_p.dtype == np.float32
    np.testing.assert_allclose(log_p, (outputs["log_prob"] * mask).sum(-1), rtol=1e-5, atol=1e-5)

    # One fit step on (pianoroll, mask): finite loss; every weight the loss reaches moves.
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = assert_fit_step_trains(
        model, model.trainable_weights, unchanged_weights, x=rolls, y=mask, batch_size=batch
    )
    frame_metrics = {"frame_accuracy", "frame_f1", "frame_precision", "frame_recall"}
    # RBMs' predictions (exact conditionals) cost several CD steps: their training steps log no
    # frame metrics, their evaluation does; a NADE's come with its loss.
    assert (frame_metrics <= set(history)) == (model.generator_type != "rbm")
    assert not (frame_metrics & set(history)) or model.generator_type != "rbm"
    assert frame_metrics <= set(model.evaluate(rolls, mask, batch_size=batch, verbose=0, return_dict=True))
    # Training steps report the likelihood when it is exact (not an RBM's AIS estimate).
    assert ("nll" in history) == model.exact_likelihood
    track_metrics = {metric_name(track.name) for track in model.spec.tracks}
    if model.exact_likelihood and per_track_log_prob:
        assert track_metrics <= set(history)
    else:
        assert not track_metrics & set(history)

    # generate: bool [batch, num_steps, pitch, track]; a seed fixes the samples.
    sampled = model.generate(num_steps, batch_size=2, seed=5)
    assert sampled.dtype == bool and sampled.shape == (2, num_steps, num_pitches, num_tracks)
    np.testing.assert_array_equal(model.generate(num_steps, batch_size=2, seed=5), sampled)

    # .keras save/load: the same config, log-likelihoods, samples and optimizer state.
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is model_cls
    assert loaded.spec == model.spec
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.log_prob(rolls, mask), model.log_prob(rolls, mask))
    np.testing.assert_array_equal(loaded.generate(num_steps, batch_size=2, seed=5), sampled)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 1
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(restored))
    assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == float(
        keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    )
