"""In-frame conditioning (`in_frame=True`) of the per-track modes: exact likelihood in every track
order, generation that hears the fixed tracks' current notes, saving, errors."""

import itertools

import keras
import numpy as np
import pytest

from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.errors import SpecError
from multinn.models import MODES, MultINNComposer, MultINNJamming, MultINNJoint
from tests.models.model_test_case import ESTIMATOR_BIASES, RBM_OPTIONS, SMALL, TINY, random_rolls, run_model_test

THREE = PianorollSpec(1, 60, 60, [TrackSpec("A"), TrackSpec("B"), TrackSpec("C")])
"""Three tracks of one pitch: every order of the tracks and every roll of a few steps can be enumerated."""

CONFIGS = {
    "composer-nade": ("composer", {"generator": "nade"}),
    "jamming-nade": ("jamming", {"generator": "nade"}),
    "jamming-rbm": ("jamming", {"generator": "rbm", "generator_options": RBM_OPTIONS}),
    "feedback-dense-nade": ("feedback", {"generator": "nade", "feedback_units": [5]}),
    "feedback-rnn-rbm": ("feedback", {"generator": "rbm", "feedback": "rnn", "feedback_units": [5]}),
    "composer-nade-encoded": ("composer", {"generator": "nade", "in_frame_units": 8}),
    "jamming-rbm-encoded": ("jamming", {"generator": "rbm", "generator_options": RBM_OPTIONS, "in_frame_units": 8}),
}


def make(name, spec=THREE, scale=1.5, seed=0, **overrides):
    """An in-frame model with large random weights (far from uniform, the tracks strongly coupled)."""
    mode, kwargs = CONFIGS[name]
    model = MODES[mode](spec, **{**SMALL, **kwargs, "in_frame": True, **overrides})
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(0.0, scale, w.shape).astype("float32"))
    return model


def all_rolls(spec, steps):
    units = steps * spec.num_pitches * spec.num_tracks
    bits = np.array(list(itertools.product([0, 1], repeat=units)), "float32")
    return bits.reshape(-1, steps, spec.num_pitches, spec.num_tracks)


@pytest.mark.parametrize("name", CONFIGS)
def test_probabilities_sum_to_one_over_every_piece_in_every_track_order(name):
    model = make(name)
    rolls = all_rolls(THREE, 2)  # 64 pieces
    by_order = {}
    for order in itertools.permutations(range(3)):
        log_p = model.log_prob(rolls, batch_size=64, track_order=order).astype(np.float64)
        assert np.log(np.exp(log_p).sum()) == pytest.approx(0.0, abs=1e-4), order
        assert log_p.std() > 0.5  # far from uniform: the check is not trivially met
        by_order[order] = log_p
    # The orders are different factorisations: the likelihoods of single pieces differ.
    assert np.abs(by_order[(0, 1, 2)] - by_order[(2, 1, 0)]).max() > 0.1


def test_tiny_two_pitch_spec_sums_to_one_in_both_orders():
    model = make("composer-nade", spec=TINY, seed=1)
    rolls = all_rolls(TINY, 2)  # 256 pieces of 2 steps x 2 pitches x 2 tracks
    for order in (["Lead", "Bass"], ["Bass", "Lead"]):
        log_p = model.log_prob(rolls, batch_size=256, track_order=order).astype(np.float64)
        assert np.log(np.exp(log_p).sum()) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("name", ["composer-nade", "jamming-rbm", "feedback-dense-nade", "composer-nade-encoded"])
def test_a_track_hears_the_current_frame_of_the_tracks_before_it_only(name):
    model = make(name, seed=2)
    rolls, _ = random_rolls(THREE, batch=3, time=5, seed=4)
    order = ["B", "C", "A"]  # B first, A last

    def terms(x):
        out = model.teacher_forced(x, track_order=order)
        return keras.ops.convert_to_numpy(out["track_log_prob"])

    base = terms(rolls)
    changed = rolls.copy()
    changed[:, 2, :, 1] = 1 - changed[:, 2, :, 1]  # B at step 2
    after = terms(changed)
    np.testing.assert_allclose(after[:, :2], base[:, :2], atol=1e-7)  # the past does not see the change
    assert np.abs(after[:, 2, [2, 0]] - base[:, 2, [2, 0]]).min() > 1e-6  # C and A hear B's current note
    changed = rolls.copy()
    changed[:, 2, :, 0] = 1 - changed[:, 2, :, 0]  # A (last) at step 2
    after = terms(changed)
    np.testing.assert_allclose(after[:, 2, [1, 2]], base[:, 2, [1, 2]], atol=1e-7)  # B and C do not hear A


def _conditional(model, fixed: int, order):
    """`p(free tracks | fixed track on)` at step 0 and the free tracks' marginal, from the model's
    own likelihood: the free tracks' terms with `order` (fixed first: the conditional; fixed last:
    the marginal, what a model that does not hear the fixed track would draw)."""
    free = [k for k in range(3) if k != fixed]
    states = np.zeros((4, 1, 1, 3), "float32")
    states[:, 0, 0, fixed] = 1.0
    for j, (a, b) in enumerate(itertools.product([0, 1], repeat=2)):
        states[j, 0, 0, free] = a, b
    track_log_p = keras.ops.convert_to_numpy(model.teacher_forced(states, track_order=order)["track_log_prob"])
    return np.exp(track_log_p[:, 0, free].sum(-1).astype(np.float64))


def _chi_square(counts, probs):
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("name", ["composer-nade", "jamming-rbm", "composer-nade-encoded"])
@pytest.mark.parametrize("fixed", [0, 2])
def test_generation_draws_the_free_tracks_from_their_exact_conditional_given_any_fixed_track(name, fixed):
    options = {"generator_options": {**RBM_OPTIONS, "gibbs_steps": 40}} if name.endswith("rbm") else {}
    model = make(name, scale=2.0, seed=3, **options)
    free = [k for k in range(3) if k != fixed]
    conditional = _conditional(model, fixed, [fixed, *free])
    marginal = _conditional(model, fixed, [*free, fixed])
    assert conditional.sum() == pytest.approx(1.0, abs=1e-5) and marginal.sum() == pytest.approx(1.0, abs=1e-5)
    n = 4000
    samples = model.generate(1, batch_size=n, fixed_tracks={fixed: np.ones((1, 1))}, seed=7)
    assert samples[:, 0, 0, fixed].all()  # the fixed track comes back unchanged
    codes = 2 * samples[:, 0, 0, free[0]].astype(int) + samples[:, 0, 0, free[1]].astype(int)
    counts = np.bincount(codes, minlength=4)
    # chi-square with 3 degrees of freedom: 16.3 is its 0.999 quantile
    assert _chi_square(counts, conditional) < 16.3, (counts / n, conditional)
    # The test can fail: the free tracks' marginal is far from these samples.
    assert _chi_square(counts, marginal) > 50.0, (counts / n, marginal)


@pytest.mark.parametrize("name", ["composer-nade", "jamming-nade", "feedback-dense-nade"])
def test_compiled_generation_matches_the_teacher_forced_model_in_its_order(name):
    spec = PianorollSpec(1, 60, 63, [TrackSpec("A"), TrackSpec("B"), TrackSpec("C", 48)])
    model = make(name, spec=spec, scale=1.0, seed=4, rnn_units=[16], num_hidden=8)
    rng = np.random.default_rng(0)
    melody = rng.random((10, 4)) < 0.3
    rolls = model.generate(10, batch_size=3, temperature=0.0, fixed_tracks={"C": melody})
    np.testing.assert_array_equal(rolls[..., 2], np.broadcast_to(melody, (3, 10, 4)))
    probs = keras.ops.convert_to_numpy(model.teacher_forced(rolls.astype("float32"), track_order=["C"])["probs"])
    np.testing.assert_array_equal(probs[..., :2] >= 0.5, rolls[..., :2])
    # No fixed track: the spec's order.
    rolls = model.generate(10, batch_size=3, temperature=0.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(rolls.astype("float32"))) >= 0.5, rolls)
    # An explicit order with the fixed track first gives the same as the default one.
    again = model.generate(10, batch_size=3, temperature=0.0, fixed_tracks={"C": melody}, track_order=["C", "A"])
    np.testing.assert_array_equal(again, model.generate(10, batch_size=3, temperature=0.0, fixed_tracks={"C": melody}))


@pytest.mark.parametrize(
    ("cls", "kwargs", "num_trainable"),
    [
        (MultINNComposer, {"generator": "nade"}, 19),
        (MultINNJamming, {"generator": "rbm", "generator_options": RBM_OPTIONS}, 20),
        (MultINNComposer, {"generator": "nade", "in_frame_units": 8}, 21),  # and the context encoder's 2
    ],
    ids=["composer-nade", "jamming-rbm", "composer-nade-encoded"],
)
def test_model_basics(cls, kwargs, num_trainable, tmp_path):
    rolls, mask = random_rolls()
    per_track = {MultINNComposer: 3, MultINNJamming: 4}[cls]
    run_model_test(
        cls,
        {"spec": TINY, **SMALL, **kwargs, "in_frame": True},
        rolls,
        mask,
        tmp_path,
        expected_num_trainable_weights=num_trainable,
        expected_num_seed_generators=per_track + 1,  # and the random track orders of training
        unchanged_weights=ESTIMATOR_BIASES,
    )
    model = cls(TINY, **SMALL, **kwargs, in_frame=True)
    assert model.get_config()["in_frame"] is True
    assert model.context_dim == kwargs.get("in_frame_units", (2 + 1) * 2)
    plain = {k: v for k, v in kwargs.items() if k != "in_frame_units"}
    assert cls(TINY, **SMALL, **plain).get_config()["in_frame"] is False


def test_training_draws_a_random_order_for_every_frame():
    model = make("composer-nade", seed=5)
    rolls, _ = random_rolls(THREE, batch=2, time=50, seed=1)
    fixed = [keras.ops.convert_to_numpy(model.teacher_forced(rolls, track_order=o)["loss_terms"]) for o in [None]]
    trained = keras.ops.convert_to_numpy(model.teacher_forced(rolls, training=True)["loss_terms"])
    orders = {
        o: keras.ops.convert_to_numpy(model.teacher_forced(rolls, track_order=o)["loss_terms"])
        for o in itertools.permutations(range(3))
    }
    # Every frame's training loss is its loss in one of the six orders, and several orders occur.
    which = np.stack([np.isclose(trained, v, atol=1e-4) for v in orders.values()], -1)
    assert which.any(-1).all()
    assert (which.sum(axis=(0, 1)) > 0).sum() >= 4
    assert not np.allclose(trained, fixed[0])


def test_errors():
    with pytest.raises(ValueError, match="Joint mode has no in-frame option"):
        MultINNJoint(TINY, **SMALL, in_frame=True)
    with pytest.raises(ValueError, match="`in_frame`: expected True or False"):
        MultINNComposer(TINY, **SMALL, in_frame="yes")
    with pytest.raises(ValueError, match="`in_frame_units` needs `in_frame=True`"):
        MultINNComposer(TINY, **SMALL, in_frame_units=8)
    model = make("composer-nade")
    with pytest.raises(SpecError, match="names a track twice"):
        model.log_prob(all_rolls(THREE, 1), track_order=["A", "A"])
    with pytest.raises(SpecError, match="unknown track|no track"):
        model.log_prob(all_rolls(THREE, 1), track_order=["Lead"])
    with pytest.raises(SpecError, match=r"the fixed tracks \(C\) must come first"):
        model.generate(2, fixed_tracks={"C": np.ones((2, 1))}, track_order=["A", "C"])
    plain = MultINNComposer(THREE, **SMALL)
    with pytest.raises(SpecError, match="only a model with in-frame conditioning"):
        plain.generate(2, track_order=["B"])
