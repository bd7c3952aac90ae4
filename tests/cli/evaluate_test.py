import json

import pytest

from multinn.presets import get_preset_info, read_metadata
from tests.cli.conftest import assert_user_error, invoke

JSB_PRESET = "jsb-chorales-rnn-nade"


def test_evaluate_reproduces_the_recorded_test_nll(jsb_quarter_path, tmp_path):
    recorded = read_metadata(get_preset_info(JSB_PRESET).local_dir())["metrics"]["test"]["nll"]
    result = invoke(
        "evaluate",
        "--preset",
        JSB_PRESET,
        "--data",
        "jsb-chorales",
        "--data-file",
        jsb_quarter_path,
        "--split",
        "test",
        "--json",
        tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["nll"] == pytest.approx(recorded, abs=0.01)
    assert report["recorded_nll"] == recorded
    assert report["pieces"] == 77 and report["frames"] == 4725 and report["split"] == "test"
    assert set(report["nll_per_track"]) == {"Chorale"} and report["nll_per_track"]["Chorale"] == pytest.approx(
        report["nll"], rel=1e-5
    )
    assert 0 < report["frame_f1"] < 1
    assert "NLL (nats/step)" in result.stdout and f"{report['nll']:.4f}" in result.stdout
    assert "NLL recorded in the preset" in result.stdout


def test_evaluate_a_four_track_preset_per_track(bach_satb_path):
    result = invoke(
        "evaluate",
        "--preset",
        "bach-satb-joint",
        "--data",
        "bach-satb",
        "--data-file",
        bach_satb_path,
        "--split",
        "valid",
        "--max-pieces",
        "4",
    )
    assert result.exit_code == 0, result.output
    for track in ("Soprano", "Alto", "Tenor", "Bass"):
        assert f"NLL {track}" in result.stdout


def test_evaluate_user_errors(jsb_quarter_path, tmp_path):
    assert_user_error(
        invoke("evaluate", "--preset", "bach-satb-composer", "--data", "jsb-chorales", "--data-file", jsb_quarter_path),
        "the jsb-chorales data spec does not match: steps_per_beat 4 != 1",
    )
    assert_user_error(invoke("evaluate", "--preset", "nope", "--data", "jsb-chorales"), "unknown preset 'nope'")
    assert_user_error(invoke("evaluate", "--data", "jsb-chorales"), "give --preset NAME or --model DIR")
    assert_user_error(
        invoke("evaluate", "--preset", JSB_PRESET, "--data", "jsb-chorales", "--data-file", tmp_path / "x.json"),
        "x.json: no such file",
    )
