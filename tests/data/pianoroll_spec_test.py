import json

import numpy as np
import pytest

from multinn.data import PianorollSpec, TrackSpec
from multinn.datasets import BACH_SATB_SPEC, JSB_CHORALES_SPEC, LPD5_SPEC
from multinn.errors import MultinnError, SpecError


def make_spec(**changes):
    config = dict(
        steps_per_beat=4, lowest_pitch=36, highest_pitch=84, tracks=[TrackSpec("Melody", 73), TrackSpec("Kit", 0, True)]
    )
    config.update(changes)
    return PianorollSpec(**config)


def test_properties():
    spec = make_spec()
    assert spec.num_pitches == 49
    assert spec.num_tracks == 2
    assert spec.track_names == ("Melody", "Kit")
    assert spec.steps_per_bar == 16
    assert spec.track_index("kit") == 1
    assert isinstance(spec.tracks, tuple)


@pytest.mark.parametrize("spec", [make_spec(), JSB_CHORALES_SPEC, BACH_SATB_SPEC, LPD5_SPEC])
def test_json_round_trip(spec, tmp_path):
    assert PianorollSpec.from_json(spec.to_json()) == spec
    assert PianorollSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    spec.save(tmp_path / "spec.json")
    assert PianorollSpec.load(tmp_path / "spec.json") == spec


def test_tracks_from_dicts():
    spec = make_spec(tracks=[{"name": "Bass", "program": 33}])
    assert spec.tracks == (TrackSpec("Bass", 33, False),)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps_per_beat": 0}, "`steps_per_beat` must be between 1 and 960, got 0"),
        ({"steps_per_beat": 2.5}, "`steps_per_beat` must be an integer, got 2.5"),
        ({"lowest_pitch": -1}, "`lowest_pitch` must be between 0 and 127, got -1"),
        ({"highest_pitch": 128}, "`highest_pitch` must be between 0 and 127, got 128"),
        ({"lowest_pitch": 60, "highest_pitch": 59}, "must not be below `lowest_pitch` (60)"),
        ({"tracks": []}, "at least one track"),
        ({"tracks": "Piano"}, "sequence of TrackSpec"),
        ({"tracks": [TrackSpec("A"), TrackSpec("A")]}, "duplicate(s) ['A']"),
        ({"tracks": [{"name": "A", "programme": 1}]}, "unknown track field(s) ['programme']"),
        ({"beats_per_bar": 0}, "`beats_per_bar` must be between 1 and 64"),
    ],
)
def test_invalid_specs_raise_clear_errors(changes, message):
    with pytest.raises(SpecError) as info:
        make_spec(**changes)
    assert message in str(info.value)
    assert isinstance(info.value, MultinnError)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": ""}, "non-empty string"),
        ({"name": "A", "program": 128}, "between 0 and 127, got 128"),
        ({"name": "A", "program": True}, "must be an integer"),
        ({"name": "A", "is_drum": "yes"}, "must be a boolean"),
    ],
)
def test_invalid_tracks(kwargs, message):
    with pytest.raises(SpecError, match=message):
        TrackSpec(**kwargs)


def test_from_dict_errors(tmp_path):
    with pytest.raises(SpecError, match=r"missing field\(s\) \['tracks'\]"):
        PianorollSpec.from_dict({"steps_per_beat": 1, "lowest_pitch": 0, "highest_pitch": 1})
    with pytest.raises(SpecError, match=r"unknown spec field\(s\) \['resolution'\]"):
        PianorollSpec.from_dict({**make_spec().to_dict(), "resolution": 24})
    with pytest.raises(SpecError, match="not valid JSON"):
        PianorollSpec.from_json("{")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(SpecError, match="bad.json: a spec must be a mapping"):
        PianorollSpec.load(tmp_path / "bad.json")
    with pytest.raises(SpecError, match="cannot read spec file"):
        PianorollSpec.load(tmp_path / "missing.json")


def test_check_roll_and_compatibility():
    spec = make_spec()
    spec.check_roll(np.zeros((5, 49, 2)))
    spec.check_roll(np.zeros((3, 5, 49, 2)), batched=True)
    with pytest.raises(SpecError, match=r"has 48 pitches and 2 tracks .* expects 49 pitches \(36..84\)"):
        spec.check_roll(np.zeros((5, 48, 2)))
    with pytest.raises(SpecError, match=r"must have shape \[batch, time, pitch, track\], got shape \(5, 49, 2\)"):
        spec.check_roll(np.zeros((5, 49, 2)), batched=True)
    spec.check_compatible(make_spec())
    with pytest.raises(SpecError, match="steps_per_beat 4 != 12; lowest_pitch 36 != 24"):
        spec.check_compatible(make_spec(steps_per_beat=12, lowest_pitch=24), what="model")
    assert spec.replace(highest_pitch=83).num_pitches == 48
    with pytest.raises(SpecError, match="no track named 'Bass'; the tracks are \\['Melody', 'Kit'\\]"):
        spec.track_index("Bass")
