import numpy as np
import pytest
from keras import ops

from multinn.errors import SpecError
from multinn.models import MultINNComposer, MultINNJoint
from tests.models.model_test_case import SMALL, TINY


def scrambled(cls, seed=0, scale=1.5, **kwargs):
    model = cls(TINY, **{**SMALL, **kwargs})
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:  # far from uniform: the candidates' weights differ
        w.assign(rng.normal(0.0, scale, w.shape).astype("float32"))
    return model


def piece(steps=8, seed=0):
    return np.random.default_rng(seed).random((steps, TINY.num_pitches, TINY.num_tracks)) < 0.4


@pytest.mark.parametrize("cls", [MultINNComposer, MultINNJoint])
def test_infill_keeps_every_cell_outside_the_span(cls):
    model, roll = scrambled(cls), piece()
    result = model.infill(roll, 2, 5, candidates=4, seed=0)
    assert result.dtype == bool and result.shape == roll.shape
    np.testing.assert_array_equal(result[:2], roll[:2])
    np.testing.assert_array_equal(result[5:], roll[5:])
    # Only the Lead track: the Bass is kept everywhere, the Lead outside the span.
    lead = model.infill(roll, 2, 5, tracks=["Lead"], candidates=4, seed=1)
    np.testing.assert_array_equal(lead[..., 1], roll[..., 1])
    np.testing.assert_array_equal(lead[:2, :, 0], roll[:2, :, 0])
    np.testing.assert_array_equal(lead[5:, :, 0], roll[5:, :, 0])
    # The same seed gives the same infill.
    np.testing.assert_array_equal(model.infill(roll, 2, 5, candidates=4, seed=0), result)


@pytest.mark.parametrize("cls", [MultINNComposer, MultINNJoint])
def test_infill_weighs_candidates_by_the_likelihood_of_what_is_kept(cls):
    model, roll = scrambled(cls, seed=2, scale=1.0), piece(steps=16, seed=3)
    result, candidates, log_w, index = model.infill(
        roll, 3, 6, tracks=[1], candidates=16, seed=4, return_candidates=True
    )
    assert candidates.shape == (16, *roll.shape) and log_w.shape == (16,)
    np.testing.assert_array_equal(result, candidates[index])
    # The weights: the kept cells' log-likelihood from the span's start on (the kept Lead track
    # in the span, everything after it), from the teacher-forced per-track terms.
    track_log_prob = ops.convert_to_numpy(model.teacher_forced(candidates.astype("float32"))["track_log_prob"])
    keep = np.zeros((16, 2))
    keep[3:6, 0] = 1.0
    keep[6:] = 1.0
    np.testing.assert_allclose(log_w, (track_log_prob * keep).sum(axis=(1, 2)), rtol=1e-5, atol=1e-4)
    assert np.ptp(log_w) > 0.5  # the candidates differ in how well they fit the kept future
    # Resampling favours the candidates that fit: over seeds, the chosen one's weight is above
    # the candidates' mean.
    chosen, means = [], []
    for seed in range(8):
        _, _, log_w, index = model.infill(roll, 3, 6, tracks=[1], candidates=16, seed=seed, return_candidates=True)
        chosen.append(log_w[index])
        means.append(log_w.mean())
    assert np.mean(chosen) > np.mean(means)


def test_in_frame_infill_draws_the_span_hearing_the_kept_tracks_and_weighs_in_that_order():
    model, roll = scrambled(MultINNComposer, seed=5, scale=1.0, in_frame=True), piece(steps=12, seed=6)
    result, candidates, log_w, index = model.infill(
        roll, 3, 7, tracks=["Lead"], candidates=8, seed=0, return_candidates=True
    )
    np.testing.assert_array_equal(result[..., 1], roll[..., 1])  # the kept Bass
    np.testing.assert_array_equal(result[:3], roll[:3])
    np.testing.assert_array_equal(result[7:], roll[7:])
    # The kept Bass goes first in the track order, in the draws and in the weights.
    forced = model.teacher_forced(candidates.astype("float32"), track_order=["Bass"])
    keep = np.zeros((12, 2))
    keep[3:7, 1] = 1.0
    keep[7:] = 1.0
    expected = (ops.convert_to_numpy(forced["track_log_prob"]) * keep).sum(axis=(1, 2))
    np.testing.assert_allclose(log_w, expected, rtol=1e-5, atol=1e-4)
    spec_order = ops.convert_to_numpy(model.teacher_forced(candidates.astype("float32"))["track_log_prob"])
    assert np.abs((spec_order * keep).sum(axis=(1, 2)) - log_w).max() > 1e-3  # the order matters


def test_infill_errors():
    model, roll = scrambled(MultINNComposer), piece()
    with pytest.raises(SpecError, match=r"infill span 5:5 must satisfy 0 <= start < stop <= 8"):
        model.infill(roll, 5, 5)
    with pytest.raises(SpecError, match=r"infill span 2:9"):
        model.infill(roll, 2, 9)
    with pytest.raises(SpecError, match="no track named 'Tenor'"):
        model.infill(roll, 2, 4, tracks=["Tenor"])
