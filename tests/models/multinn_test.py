import itertools

import keras
import numpy as np
import pytest

from multinn import datasets
from multinn.data import make_tf_dataset
from multinn.errors import SpecError
from multinn.models import MODES, MultINNComposer, MultINNFeedback, MultINNJoint
from tests.models.model_test_case import RBM_OPTIONS, SMALL, TINY

# (mode, constructor arguments): every mode with each generator it supports.
CONFIGS = {
    "joint-nade": ("joint", {"generator": "nade"}),
    "joint-rbm": ("joint", {"generator": "rbm"}),
    "joint-dbn-nade": ("joint", {"generator": "nade", "encoder": "dbn", "encoder_units": [3]}),
    "composer-nade": ("composer", {"generator": "nade"}),
    "jamming-nade": ("jamming", {"generator": "nade"}),
    "jamming-rbm": ("jamming", {"generator": "rbm"}),
    "feedback-dense-nade": ("feedback", {"generator": "nade", "feedback": "dense", "feedback_units": [5]}),
    "feedback-rnn-rbm": ("feedback", {"generator": "rbm", "feedback": "rnn", "feedback_units": [5]}),
}


def make(name, spec=TINY, **overrides):
    mode, kwargs = CONFIGS[name]
    kwargs = {**SMALL, **kwargs, **overrides}
    if kwargs["generator"] == "rbm":
        kwargs.setdefault("generator_options", RBM_OPTIONS)
    return MODES[mode](spec, **kwargs)


def scramble(model, seed=0):
    """Large random weights, so that the distribution is far from uniform."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(0.0, 1.5, w.shape).astype("float32"))
    return model


def all_rolls(steps=2):
    units = steps * TINY.num_pitches * TINY.num_tracks
    bits = np.array(list(itertools.product([0, 1], repeat=units)), "float32")
    return bits.reshape(-1, steps, TINY.num_pitches, TINY.num_tracks)


@pytest.mark.parametrize("name", CONFIGS)
def test_probabilities_sum_to_one_over_every_piece(name):
    model = scramble(make(name))
    log_p = model.log_prob(all_rolls(), batch_size=256)
    assert log_p.shape == (256,)
    assert np.log(np.exp(log_p.astype(np.float64)).sum()) == pytest.approx(0.0, abs=1e-4)
    assert log_p.std() > 0.5  # far from uniform: the check is not trivially met


@pytest.mark.parametrize("name", ["joint-nade", "composer-nade", "feedback-dense-nade", "jamming-rbm"])
def test_masked_steps_do_not_count_and_the_future_does_not_leak(name):
    model = scramble(make(name), seed=1)
    rng = np.random.default_rng(0)
    x = (rng.random((3, 6, 2, 2)) < 0.5).astype("float32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5], "float32")
    full = model.log_prob(x, mask)
    for i, n in enumerate([6, 4, 1]):
        assert full[i] == pytest.approx(model.log_prob(x[i, :n]), abs=1e-4)
    changed = x.copy()
    changed[:, 4:] = 1 - changed[:, 4:]
    np.testing.assert_allclose(model.log_prob(changed, mask)[1:], full[1:], atol=1e-5)


@pytest.mark.parametrize("name", ["joint-nade", "composer-nade", "jamming-nade", "feedback-dense-nade"])
def test_compiled_generation_matches_the_teacher_forced_model(name):
    model = scramble(make(name, rnn_units=[16], num_hidden=8), seed=2)
    rolls = model.generate(12, batch_size=3, temperature=0.0)
    probs = keras.ops.convert_to_numpy(model(rolls.astype("float32")))
    np.testing.assert_array_equal(probs >= 0.5, rolls)


@pytest.fixture(scope="module")
def satb(request):
    from tests.conftest import JSB_DIR

    path = JSB_DIR / "Jsb16thSeparated.json"
    if not path.is_file():
        pytest.skip(f"shared data not found: {path}")
    return {split: datasets.load("bach-satb", split=split, path=path, cache=False) for split in ("train", "valid")}


@pytest.mark.parametrize(
    "name",
    [
        "joint-nade",
        "joint-rbm",
        "composer-nade",
        "jamming-nade",
        "jamming-rbm",
        "feedback-dense-nade",
        "feedback-rnn-rbm",
    ],
)
def test_one_epoch_of_fit_lowers_validation_nll(name, satb):
    spec = datasets.BACH_SATB_SPEC
    overrides = {"rnn_units": [32], "num_hidden": 16}
    if name.endswith("rbm"):
        overrides["generator_options"] = {"ais_chains": 4, "ais_temperatures": 50}
    model = make(name, spec=spec, **overrides)
    model.validate_with_ais = True  # RBMs: the AIS estimate in validation too (default: the pseudo-NLL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # Whole batches only: one batch shape, one compiled training step.
    train = make_tf_dataset(satb["train"], 32, crop_beats=4, seed=0, drop_remainder=True)
    valid = make_tf_dataset(satb["valid"].subset(range(16)), 16, crop_beats=4, shuffle=False, seed=0)
    before = model.evaluate(valid, verbose=0, return_dict=True)  # at initialisation
    model.pretrain_generators(satb["train"].subset(range(40)), epochs=1)
    history = model.fit(train, validation_data=valid, epochs=1, verbose=0)
    after = history.history
    assert np.isfinite(after["loss"][0])
    assert after["val_nll"][0] < before["nll"]
    if name.endswith("rbm"):
        assert after["val_pseudo_nll"][0] < before["pseudo_nll"]
    assert {"val_frame_accuracy", "val_frame_f1", "val_frame_precision", "val_frame_recall"} <= set(after)
    if name == "joint-rbm":  # one RBM over all voices: its likelihood does not split into voices
        assert "val_nll_soprano" not in after
        return
    per_voice = sum(after[f"val_nll_{v}"][0] for v in ("soprano", "alto", "tenor", "bass"))
    assert per_voice == pytest.approx(after["val_nll"][0], rel=1e-4)


@pytest.mark.parametrize("name", ["composer-nade", "feedback-dense-nade", "joint-rbm"])
def test_generate_shapes_seeds_primer_and_fixed_tracks(name):
    spec = datasets.BACH_SATB_SPEC
    model = make(
        name, spec=spec, rnn_units=[16], num_hidden=8, generator_options={"gibbs_steps": 5} if "rbm" in name else None
    )
    first = model.generate(num_steps=64, batch_size=2, seed=1)
    assert first.dtype == bool and first.shape == (2, 64, 49, 4)
    np.testing.assert_array_equal(model.generate(num_steps=64, batch_size=2, seed=1), first)
    assert not np.array_equal(model.generate(num_steps=64, batch_size=2, seed=2), first)

    rng = np.random.default_rng(0)
    melody = rng.random((64, 49)) < 0.05
    fixed = model.generate(num_steps=64, batch_size=2, fixed_tracks={"Soprano": melody}, seed=3)
    np.testing.assert_array_equal(fixed[..., 0], np.broadcast_to(melody, (2, 64, 49)))

    primer = rng.random((10, 49, 4)) < 0.1
    continued = model.generate(num_steps=20, batch_size=2, primer=primer, seed=4)
    assert continued.shape == (2, 30, 49, 4)
    np.testing.assert_array_equal(continued[:, :10], np.broadcast_to(primer, (2, 10, 49, 4)))


def test_fit_works_with_the_standard_callbacks(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((16, 8, 2, 2)) < 0.3).astype("float32")
    mask = np.ones((16, 8), "float32")
    model = make("feedback-dense-nade")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    callbacks = [
        keras.callbacks.ModelCheckpoint(tmp_path / "best.keras", monitor="val_nll", mode="min", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_nll", mode="min", patience=1, restore_best_weights=True),
        keras.callbacks.TensorBoard(log_dir=tmp_path / "logs"),
        keras.callbacks.BackupAndRestore(tmp_path / "backup"),
    ]
    history = model.fit(x, mask, batch_size=8, epochs=3, validation_data=(x, mask), callbacks=callbacks, verbose=0)
    assert len(history.history["val_nll"]) >= 2
    assert (tmp_path / "best.keras").is_file()
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    best = keras.saving.load_model(tmp_path / "best.keras")
    assert best.evaluate(x, mask, verbose=0, return_dict=True)["nll"] == pytest.approx(
        min(history.history["val_nll"]), rel=1e-4
    )


def test_fit_validates_an_ais_rbm_on_its_pseudo_likelihood_and_evaluate_estimates_the_likelihood():
    rng = np.random.default_rng(1)
    x = (rng.random((8, 6, 2, 2)) < 0.3).astype("float32")
    mask = np.ones((8, 6), "float32")
    assert not make("jamming-rbm").likelihood_is_estimated  # TINY's RBMs are enumerated exactly...
    assert make("jamming-rbm").monitor == "val_nll"
    # ...unless AIS costs less than enumerating: 1 chain x 1 temperature.
    model = make("jamming-rbm", generator_options={"ais_chains": 1, "ais_temperatures": 1})
    assert model.likelihood_is_estimated and model.monitor == "val_pseudo_nll"
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    stop = keras.callbacks.EarlyStopping(monitor=model.monitor, mode="min", patience=5)
    history = model.fit(x, mask, batch_size=4, epochs=2, validation_data=(x, mask), callbacks=[stop], verbose=0)
    history = history.history
    assert "val_nll" not in history and "nll" not in history
    assert len(history["val_pseudo_nll"]) == 2 and len(history["val_frame_f1"]) == 2
    assert stop.best == min(history["val_pseudo_nll"])
    logs = model.evaluate(x, mask, verbose=0, return_dict=True)  # after fit: the likelihood again
    assert logs["nll"] > 0 and logs["pseudo_nll"] == pytest.approx(history["val_pseudo_nll"][-1], rel=1e-5)
    # The pseudo-NLL is the NLL of the conditionals p(v_d | v_-d) the frame metrics read.
    probs = model.predict(x, verbose=0)
    expected = -np.where(x > 0.5, np.log(probs), np.log1p(-probs)).sum(axis=(2, 3)).mean()
    assert logs["pseudo_nll"] == pytest.approx(expected, rel=1e-4)
    model.validate_with_ais = True
    assert model.monitor == "val_nll"
    history = model.fit(x, mask, batch_size=4, epochs=1, validation_data=(x, mask), verbose=0).history
    assert np.isfinite(history["val_nll"][0]) and "val_pseudo_nll" in history


def test_errors():
    with pytest.raises(ValueError, match="Composer mode uses RNN-MultiNADE"):
        MultINNComposer(TINY, generator="rbm")
    with pytest.raises(ValueError, match="`encoder`: expected one of"):
        MultINNJoint(TINY, encoder="cnn")
    with pytest.raises(ValueError, match="a DBN encoder needs at least one hidden size"):
        MultINNJoint(TINY, encoder="dbn")
    with pytest.raises(ValueError, match="`kind`: expected one of"):
        MultINNFeedback(TINY, feedback="attention")
    model = make("jamming-nade")
    with pytest.raises(SpecError, match="has 3 pitches and 2 tracks"):
        model.log_prob(np.zeros((1, 4, 3, 2)))
    with pytest.raises(SpecError, match="no track named 'Drums'"):
        model.generate(4, fixed_tracks={"Drums": np.zeros((4, 2))})
    with pytest.raises(SpecError, match="fixed track 'Lead' has 3 steps, but 4 steps are generated"):
        model.generate(4, fixed_tracks={"Lead": np.zeros((3, 2))})
    with pytest.raises(SpecError, match="primer has 1 pitches"):
        model.generate(4, primer=np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match="`num_steps`: expected a positive integer, got 0"):
        model.generate(0)


def test_nll_is_per_real_step_whatever_the_batching():
    model = scramble(make("composer-nade"), seed=5)
    model.compile()
    rng = np.random.default_rng(3)
    x = (rng.random((6, 9, 2, 2)) < 0.4).astype("float32")
    mask = (np.arange(9)[None, :] < np.array([9, 3, 7, 1, 5, 8])[:, None]).astype("float32")
    exact = -model.log_prob(x, mask).sum() / mask.sum()
    for batch_size in (1, 4, 6):
        assert model.evaluate(x, mask, batch_size=batch_size, verbose=0, return_dict=True)["nll"] == pytest.approx(
            exact, rel=1e-5
        )
