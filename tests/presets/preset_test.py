import json

import h5py
import numpy as np
import pytest

import multinn
from multinn.data import PianorollSpec, TrackSpec
from multinn.errors import SpecError
from multinn.models import MultINNFeedback, MultINNJoint
from multinn.presets import PRESET_FILES, PresetError, load_pretrained, read_metadata, save_preset

TINY = PianorollSpec(2, 60, 63, [TrackSpec("Lead"), TrackSpec("Bass", 33)])


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
    assert sorted(p.name for p in directory.iterdir()) == sorted(PRESET_FILES)
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
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted(PRESET_FILES)  # no temporary files left


def test_damaged_presets_are_clear_errors(tmp_path):
    with pytest.raises(PresetError, match="no such preset directory"):
        load_pretrained(tmp_path / "absent")
    directory = save_preset(tiny_model(), tmp_path / "p")
    (directory / "model.weights.h5").unlink()
    with pytest.raises(PresetError, match="not a complete preset, missing model.weights.h5"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "q")
    config = json.loads((directory / "config.json").read_text())
    config["config"]["spec"]["lowest_pitch"] = 200
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(SpecError, match=r"config.json: `lowest_pitch` must be between 0 and 127, got 200"):
        load_pretrained(directory)

    (directory / "config.json").write_text("{not json")
    with pytest.raises(PresetError, match="config.json: not valid JSON"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "r")
    (directory / "model.weights.h5").write_bytes(b"garbage")
    with pytest.raises(PresetError, match="model.weights.h5: cannot load the weights"):
        load_pretrained(directory)

    directory = save_preset(tiny_model(), tmp_path / "s")
    config = json.loads((directory / "config.json").read_text())
    config["config"]["rnn_units"] = [7]  # weights of another size
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="cannot load the weights"):
        load_pretrained(directory)
