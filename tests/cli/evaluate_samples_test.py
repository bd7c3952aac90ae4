import json
import math

import numpy as np
import pytest

from multinn import datasets
from multinn.metrics.musical import musical_metrics
from multinn.metrics.sample_metrics import compare_metrics, evaluate_samples, relative_gap
from multinn.presets import load_pretrained
from tests.cli.conftest import assert_user_error, invoke

PRESET = "bach-satb-composer"


def test_relative_gap_by_hand():
    assert relative_gap(3.0, 2.0) == 0.5
    assert relative_gap(1.0, 2.0) == -0.5
    assert relative_gap(-1.0, -2.0) == 0.5  # relative to |data|
    assert relative_gap(0.0, 0.0) == 0.0
    assert math.isnan(relative_gap(1.0, 0.0))
    assert math.isnan(relative_gap(math.nan, 1.0))


def test_compare_metrics_of_the_data_with_itself_has_no_gap(bach_satb_path):
    test = datasets.load("bach-satb", split="test", path=bach_satb_path).subset(range(6))
    report = compare_metrics(list(test), test, test.spec)
    assert list(report["tracks"]) == ["Soprano", "Alto", "Tenor", "Bass"]
    assert set(report["tonal_distance"]) == {
        "Soprano/Alto",
        "Soprano/Tenor",
        "Soprano/Bass",
        "Alto/Tenor",
        "Alto/Bass",
        "Tenor/Bass",
    }
    expected = musical_metrics(list(test), test.spec)
    for k, rows in enumerate(report["tracks"].values()):
        assert "drum_pattern_rate" not in rows  # not defined for pitched voices
        for key, row in rows.items():
            assert row["samples"] == row["data"] == pytest.approx(float(expected[key][k]))
            assert row["gap"] == 0.0
    assert report["mean_abs_gap"] == 0.0
    json.dumps(report, allow_nan=False)  # JSON-safe


def test_compare_metrics_gap_by_hand(bach_satb_path):
    test = datasets.load("bach-satb", split="test", path=bach_satb_path).subset(range(4))
    silent_bass = [piece.copy() for piece in test]
    for piece in silent_bass:
        piece[..., 3] = False
    report = compare_metrics(silent_bass, test, test.spec)
    bass = report["tracks"]["Bass"]
    assert bass["empty_bar_rate"]["samples"] == 1.0
    data_eb = bass["empty_bar_rate"]["data"]
    if data_eb == 0:
        assert bass["empty_bar_rate"]["gap"] is None  # relative to 0: undefined
    else:
        assert bass["empty_bar_rate"]["gap"] == pytest.approx((1 - data_eb) / data_eb)
    assert bass["used_pitch_classes"]["samples"] is None  # no non-empty bar
    assert report["tracks"]["Soprano"]["used_pitch_classes"]["gap"] == 0.0  # untouched voices agree
    assert report["tonal_distance"]["Soprano/Bass"]["samples"] is None


def test_evaluate_samples_python(bach_satb_path):
    model = load_pretrained(PRESET)
    test = datasets.load("bach-satb", split="test", path=bach_satb_path).subset(range(8))
    report = evaluate_samples(model, test, num_samples=3, num_steps=32, seed=1, batch_size=2)
    assert (report["num_samples"], report["num_steps"], report["data_pieces"], report["seed"]) == (3, 32, 8, 1)
    again = evaluate_samples(model, test, num_samples=3, num_steps=32, seed=1, batch_size=2)
    assert again == report  # seeded: the same samples
    samples = np.concatenate([model.generate(32, batch_size=2, seed=1), model.generate(32, batch_size=1, seed=2)])
    assert report["tracks"] == compare_metrics(samples, test, test.spec)["tracks"]
    with pytest.raises(ValueError, match="num_samples"):
        evaluate_samples(model, test, num_samples=0)


def test_evaluate_samples_cli(bach_satb_path, tmp_path):
    result = invoke(
        "evaluate",
        "--preset",
        PRESET,
        "--data",
        "bach-satb",
        "--data-file",
        bach_satb_path,
        "--split",
        "test",
        "--max-pieces",
        "6",
        "--samples",
        "2",
        "--steps",
        "64",
        "--no-nll",
        "--json",
        tmp_path / "m.json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert "nll" not in report and report["pieces"] == 6
    musical = report["musical"]
    assert musical["num_samples"] == 2 and musical["num_steps"] == 64
    test = datasets.load("bach-satb", split="test", path=bach_satb_path).subset(range(6))
    expected = musical_metrics(list(test), test.spec)
    assert musical["tracks"]["Alto"]["used_pitch_classes"]["data"] == pytest.approx(
        float(expected["used_pitch_classes"][1])
    )
    for words in ("Soprano", "Bass", "UPC", "Tenor/Bass", "mean |gap|"):
        assert words in result.stdout


def test_evaluate_samples_user_errors(bach_satb_path):
    base = ("evaluate", "--preset", PRESET, "--data", "bach-satb", "--data-file", bach_satb_path)
    assert_user_error(invoke(*base, "--no-nll"), "--no-nll leaves nothing to evaluate: add --samples N")
    assert_user_error(invoke(*base, "--steps", "8"), "--steps sets the length of samples: add --samples N")
