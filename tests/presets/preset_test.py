import json

import h5py
import numpy as np
import pytest

import multinn
from multinn.data import PianorollSpec, TrackSpec
from multinn.errors import SpecError
from multinn.models import MultINNFeedback, MultINNJoint
from multinn.presets import (
    MANIFEST_FILE,
    PRESET_FILES,
    PresetError,
    load_pretrained,
    read_metadata,
    read_weights_record,
    save_preset,
    seal_preset,
    verify_preset,
)
from multinn.utils.io import sha256_file

TINY = PianorollSpec(2, 60, 63, [TrackSpec("Lead"), TrackSpec("Bass", 33)])
SEALED_FILES = sorted([*PRESET_FILES, MANIFEST_FILE])


def tiny_model(cls=MultINNJoint, **kwargs):
    return cls(TINY, rnn_units=[6], num_hidden=4, seed=1, **kwargs)


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model(MultINNFeedback, feedback="rnn", feedback_units=[3])
    model.compile()
    model.fit(np.zeros((2, 3, 4, 2), "float32"), epochs=1, verbose=0)  # the optimizer has state now
    rolls = (np.random.default_rng(0).random((2, 5, 4, 2)) < 0.4).astype("float32")
    expected = model.log_prob(rolls)
    directory = save_preset(
        model, tmp_path / "p", {"dataset": "toy", "split": "train", "metrics": {"test": {"nll": 1.5}}}
    )
    assert sorted(p.name for p in directory.iterdir()) == SEALED_FILES
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    assert manifest == {
        "format": 1,
        "files": {
            name: {"sha256": sha256_file(directory / name), "size": (directory / name).stat().st_size}
            for name in PRESET_FILES
        },
    }
    assert verify_preset(directory) == manifest
    record = read_weights_record(directory / "model.weights.h5")
    assert record == {
        "format": 1,
        "class_name": "MultINNFeedback",
        "spec": TINY.to_dict(),
        "weight_shapes": [list(w.shape) for w in model.weights],
    }
    meta = read_metadata(directory)
    assert meta["dataset"] == "toy" and meta["metrics"]["test"]["nll"] == 1.5
    assert meta["mode"] == "feedback" and meta["generator"] == "nade" and meta["params"] == model.count_params()
    assert (
        meta["multinn_version"] == multinn.__version__
        and meta["date"][:2] == "20"
        and meta["tracks"] == ["Lead", "Bass"]
    )
    config = json.loads((directory / "config.json").read_text())
    assert config["class_name"] == "MultINNFeedback" and config["config"]["spec"] == TINY.to_dict()
    assert "compile_config" not in config  # a preset carries no optimizer
    with h5py.File(directory / "model.weights.h5") as weights:
        assert "optimizer" not in weights

    loaded = load_pretrained(directory)
    assert type(loaded) is MultINNFeedback and loaded.spec == TINY
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.log_prob(rolls), expected, rtol=1e-6)
    assert loaded.optimizer is not None  # compiled: evaluate works
    assert loaded.evaluate(rolls, np.ones((2, 5), "float32"), verbose=0, return_dict=True)["nll"] > 0
    assert multinn.load_pretrained is load_pretrained  # lazy top-level alias


def test_save_preset_replaces_an_existing_preset(tmp_path):
    save_preset(tiny_model(), tmp_path / "p", {"dataset": "a"})
    save_preset(tiny_model(), tmp_path / "p", {"dataset": "b"})
    assert read_metadata(tmp_path / "p")["dataset"] == "b"
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == SEALED_FILES  # no temporary files left
    verify_preset(tmp_path / "p")


def write_manifest_as_is(directory):
    """A manifest that matches the files as they are now: what someone re-sealing an edit by hand writes."""
    files = {
        name: {"sha256": sha256_file(directory / name), "size": (directory / name).stat().st_size}
        for name in PRESET_FILES
    }
    (directory / MANIFEST_FILE).write_text(json.dumps({"format": 1, "files": files}))


def make_old_preset(directory, model=None):
    """A preset as an earlier multinn wrote it: no manifest, no record in the weights file."""
    save_preset(model or tiny_model(), directory)
    (directory / MANIFEST_FILE).unlink()
    with h5py.File(directory / "model.weights.h5", "r+") as f:
        for name in list(f.attrs):
            del f.attrs[name]
    return directory


def edit_config(directory, change):
    config = json.loads((directory / "config.json").read_text())
    change(config)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")  # as save_preset writes it


def test_damaged_presets_are_clear_errors(tmp_path):
    with pytest.raises(PresetError, match="no such preset directory"):
        load_pretrained(tmp_path / "absent")
    directory = save_preset(tiny_model(), tmp_path / "p")
    (directory / "model.weights.h5").unlink()
    with pytest.raises(PresetError, match="not a complete preset, missing model.weights.h5"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "q")
    edit_config(directory, lambda c: c["config"]["spec"].update(lowest_pitch=200))
    with pytest.raises(PresetError, match=r"q/config.json: \d+ bytes, but the preset's manifest.json records \d+"):
        load_pretrained(directory)  # checked before anything is parsed
    write_manifest_as_is(directory)
    with pytest.raises(SpecError, match=r"config.json: `lowest_pitch` must be between 0 and 127, got 200"):
        load_pretrained(directory)

    (directory / "config.json").write_text("{not json")
    write_manifest_as_is(directory)
    with pytest.raises(PresetError, match="config.json: not valid JSON"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "r")
    (directory / "model.weights.h5").write_bytes(b"garbage")
    with pytest.raises(PresetError, match=r"r/model.weights.h5: 7 bytes, but the preset's manifest.json records \d+"):
        load_pretrained(directory)
    write_manifest_as_is(directory)
    with pytest.raises(PresetError, match="model.weights.h5: not a readable HDF5 weights file"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "s")
    edit_config(directory, lambda c: c["config"].update(rnn_units=[7]))  # weights of another size
    write_manifest_as_is(directory)
    with pytest.raises(PresetError, match=r"weight lstm_0/lstm_cell/kernel has shape \(8, 24\), but the model "):
        load_pretrained(directory)


def test_old_presets_are_refused_until_sealed(tmp_path):
    model = tiny_model()
    directory = make_old_preset(tmp_path / "old", model)
    with pytest.raises(
        PresetError,
        match=r"old: the preset has no manifest.json \(it was written by an earlier multinn, or its writing was "
        r"interrupted\), so its files cannot be verified; if its files are intact and trusted, seal it with "
        r"`multinn presets seal .*old`",
    ):
        load_pretrained(directory)
    assert not (directory / MANIFEST_FILE).exists()  # loading never seals
    weights = {n: v for n, v in _datasets(directory / "model.weights.h5").items()}
    config, metadata = (directory / "config.json").read_bytes(), (directory / "metadata.json").read_bytes()

    assert seal_preset(directory) is True
    assert sorted(p.name for p in directory.iterdir()) == SEALED_FILES
    assert (directory / "config.json").read_bytes() == config and (directory / "metadata.json").read_bytes() == metadata
    after = _datasets(directory / "model.weights.h5")
    assert after.keys() == weights.keys() and all(np.array_equal(after[n], weights[n]) for n in weights)
    assert read_weights_record(directory / "model.weights.h5")["class_name"] == "MultINNJoint"
    loaded = load_pretrained(directory)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert seal_preset(directory) is False  # already sealed: nothing written

    # a sealed preset changed afterwards is not re-sealed without --force ...
    edit_config(directory, lambda c: c["config"]["spec"].update(steps_per_beat=4))
    with pytest.raises(PresetError, match=r"config.json: SHA-256 digest does not match .*--force"):
        seal_preset(directory)
    with pytest.raises(PresetError, match="config.json: SHA-256 digest does not match the preset's manifest.json"):
        load_pretrained(directory)
    # ... and with it, the record follows the config on purpose
    assert seal_preset(directory, force=True) is True
    assert load_pretrained(directory).spec.steps_per_beat == 4
    assert read_weights_record(directory / "model.weights.h5")["spec"]["steps_per_beat"] == 4


def test_sealing_checks_the_preset_first(tmp_path):
    directory = make_old_preset(tmp_path / "sizes")
    edit_config(directory, lambda c: c["config"].update(num_hidden=5))
    with pytest.raises(
        PresetError,
        match=r"sizes/model.weights.h5: its weight arrays do not fit the model .*sizes/config.json describes \(the "
        r"file holds 11 arrays, the model has 11 weights; shapes only in the file: \(4,\), .*; only in the model: "
        r"\(5,\), .*\); it cannot be sealed$",
    ):
        seal_preset(directory)
    assert not (directory / MANIFEST_FILE).exists()

    directory = make_old_preset(tmp_path / "nan")
    with h5py.File(directory / "model.weights.h5", "r+") as f:
        f["generator/estimators/nade_layer/vars/0"][0, 0] = np.nan
    with pytest.raises(PresetError, match="weight .* holds 1 non-finite values \\(NaN or inf\\)"):
        seal_preset(directory)
    assert not (directory / MANIFEST_FILE).exists()

    directory = save_preset(tiny_model(), tmp_path / "spec")  # a record that disagrees with the config
    edit_config(directory, lambda c: c["config"]["spec"]["tracks"][0].update(name="Melody"))
    write_manifest_as_is(directory)
    with pytest.raises(
        PresetError,
        match=r"spec/model.weights.h5: the weights were written for another spec than .*spec/config.json "
        r"\(tracks: \[\{'name': 'Lead'.* in the weights, \[\{'name': 'Melody'.* in the config\)",
    ):
        seal_preset(directory)


def test_save_preset_refuses_non_finite_weights(tmp_path):
    model = tiny_model()
    model.weights[0].assign(np.full(model.weights[0].shape, np.inf, "float32"))
    with pytest.raises(PresetError, match=r"not saving a model with non-finite weights \(192 NaN or inf values in "):
        save_preset(model, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_an_interrupted_save_leaves_an_unsealed_preset(tmp_path, monkeypatch):
    from multinn.presets import preset

    directory = save_preset(tiny_model(), tmp_path / "p", {"dataset": "a"})
    real = preset._write_json

    def crash_on_metadata(path, data):
        if path.name == "metadata.json":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(preset, "_write_json", crash_on_metadata)
    with pytest.raises(KeyboardInterrupt):
        save_preset(tiny_model(MultINNFeedback), directory, {"dataset": "b"})
    monkeypatch.undo()
    with pytest.raises(PresetError, match="p: the preset has no manifest.json"):
        load_pretrained(directory)


def _datasets(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out
