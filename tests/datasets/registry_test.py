import hashlib
import json
import shutil

import numpy as np
import pytest

from multinn import datasets
from multinn.datasets import DatasetInfo, DataSource, load
from multinn.errors import ChecksumError, DatasetError, SpecError


def test_jsb_chorales_counts(jsb_quarter_path):
    splits = load("jsb-chorales", split=None, path=jsb_quarter_path)
    assert {s: len(d) for s, d in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    assert {s: d.num_frames for s, d in splits.items()} == {"train": 13807, "valid": 4602, "test": 4725}
    train = splits["train"]
    assert train.spec.num_pitches == 88 and train.spec.num_tracks == 1
    assert (train.spec.lowest_pitch, train.spec.highest_pitch) == (21, 108)
    first = json.loads(jsb_quarter_path.read_text())["train"][0]
    roll = train[0]
    assert roll.shape == (len(first), 88, 1)
    assert [sorted(np.flatnonzero(frame[:, 0]) + 21) for frame in roll] == [sorted(set(f)) for f in first]


def test_bach_satb_counts(bach_satb_path):
    splits = load("bach-satb", split=None, path=bach_satb_path)
    assert {s: len(d) for s, d in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    assert {s: d.num_frames for s, d in splits.items()} == {"train": 55228, "valid": 18408, "test": 18900}
    train = splits["train"]
    assert train.spec.track_names == ("Soprano", "Alto", "Tenor", "Bass")
    first = json.loads(bach_satb_path.read_text())["train"][0]
    roll = train[0]
    for t in (0, 4, len(first) - 1):
        for voice, pitch in enumerate(first[t]):
            column = roll[t, :, voice]
            assert column.sum() == (pitch != -1)
            if pitch != -1:
                assert column[pitch - 36]
    assert roll.sum(axis=1).max() == 1  # one pitch per voice per step


def test_cache_is_written_reused_and_rebuilt_when_damaged(bach_satb_path, multinn_home, monkeypatch):
    first = load("bach-satb", split="valid", path=bach_satb_path)
    caches = sorted((multinn_home / "datasets").glob("bach-satb-*.npz"))
    assert [c.name.split("-")[2] for c in caches] == ["test", "train", "valid"]
    calls = []
    reader = datasets.DATASETS["bach-satb"].reader
    monkeypatch.setitem(
        datasets.DATASETS,
        "bach-satb",
        datasets.DatasetInfo(
            **{**datasets.DATASETS["bach-satb"].__dict__, "reader": lambda *a: calls.append(a) or reader(*a)}
        ),
    )
    again = load("bach-satb", split="valid", path=bach_satb_path)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(again.coords, first.coords)
    caches[2].write_bytes(caches[2].read_bytes()[:100])  # a half-written cache is never trusted
    rebuilt = load("bach-satb", split="valid", path=bach_satb_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(rebuilt.coords, first.coords)
    load("bach-satb", split="valid", path=bach_satb_path, cache=False)
    assert len(calls) == 2
    assert not list((multinn_home / "datasets").glob(".*.tmp"))


def test_spec_override_must_fit(bach_satb_path, jsb_quarter_path):
    narrow = datasets.BACH_SATB_SPEC.replace(lowest_pitch=40)
    with pytest.raises(
        SpecError,
        match=r"Jsb16thSeparated.json: train piece \d+, frame \d+: pitch 3\d lies outside the spec's range 40..84",
    ):
        load("bach-satb", path=bach_satb_path, spec=narrow)
    with pytest.raises(SpecError, match="bach-satb has 4 tracks .* but the spec has 1"):
        load("bach-satb", path=bach_satb_path, spec=datasets.JSB_CHORALES_SPEC)
    with pytest.raises(SpecError, match="jsb-chorales has 1 track, but the spec has 4"):
        load("jsb-chorales", path=jsb_quarter_path, spec=datasets.BACH_SATB_SPEC)
    wide = datasets.BACH_SATB_SPEC.replace(lowest_pitch=30, highest_pitch=90)
    assert load("bach-satb", split="test", path=bach_satb_path, spec=wide)[0].shape[1:] == (61, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", r"expected a JSON object with keys \['train', 'valid', 'test'\], got list"),
        ('{"train": [], "valid": [], "test": []}', "'train' must be a non-empty list of pieces"),
        (
            '{"train": [[[60, 64]]], "valid": [[]], "test": [[[60]]]}',
            "valid piece 0: expected a non-empty list of frames",
        ),
        (
            '{"train": [[[60, "C"]]], "valid": [[[60]]], "test": [[[60]]]}',
            r"train piece 0, frame 0: expected a list of MIDI pitches, got \[60, 'C'\]",
        ),
    ],
)
def test_malformed_json_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load("jsb-chorales", path=tmp_path / "bad.json")
    assert "bad.json" in str(info.value)


def test_bach_satb_frames_need_four_voices(tmp_path):
    (tmp_path / "satb.json").write_text(
        '{"train": [[[60, 55, 48]]], "valid": [[[60, 55, 48, 40]]], "test": [[[60, 55, 48, 40]]]}'
    )
    with pytest.raises(DatasetError, match=r"satb.json: train piece 0, frame 0: expected 4 voices"):
        load("bach-satb", path=tmp_path / "satb.json")


def test_registry_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'jsb-chorale'; did you mean 'jsb-chorales'"):
        load("jsb-chorale")
    with pytest.raises(DatasetError, match="unknown split 'validation'"):
        load("jsb-chorales", split="validation")
    with pytest.raises(DatasetError, match=r"unknown option\(s\) \['mapping'\] for dataset 'bach-satb'; it takes none"):
        load("bach-satb", mapping={})
    with pytest.raises(DatasetError, match="dataset 'lpd5' cannot be downloaded: pass path="):
        load("lpd5")
    with pytest.raises(DatasetError, match="missing.json: no such file"):
        load("jsb-chorales", path=tmp_path / "missing.json")
    with pytest.raises(DatasetError, match="needs a folder"):
        load("midi-folder", path=tmp_path / "missing")
    assert datasets.list_datasets() == ["bach-satb", "jsb-chorales", "lpd5", "midi-folder"]


def test_registry_entries_declare_their_sources():
    for name in ("jsb-chorales", "bach-satb"):
        source = datasets.get_dataset_info(name).source
        assert source.url.startswith("https://") and source.url.endswith(source.filename)
        assert source.size > 0 and len(source.sha256) == 64


def _register_remote(monkeypatch, base_url, sha256, size):
    monkeypatch.setitem(
        datasets.DATASETS,
        "jsb-remote",
        DatasetInfo(
            "jsb-remote",
            "test entry",
            datasets.read_jsb_chorales,
            datasets.JSB_CHORALES_SPEC,
            DataSource(base_url + "jsb-chorales-quarter.json", "jsb-chorales-quarter.json", size, sha256),
        ),
    )


def test_download_with_the_right_hash(http_server, jsb_quarter_path, multinn_home, monkeypatch):
    root, url, hits = http_server
    shutil.copy(jsb_quarter_path, root / "jsb-chorales-quarter.json")
    digest = datasets.get_dataset_info("jsb-chorales").source.sha256
    assert hashlib.sha256(jsb_quarter_path.read_bytes()).hexdigest() == digest
    _register_remote(monkeypatch, url, digest, jsb_quarter_path.stat().st_size)
    test = load("jsb-remote", split="test")
    assert len(test) == 77 and test.num_frames == 4725
    assert (multinn_home / "downloads" / "jsb-chorales-quarter.json").read_bytes() == jsb_quarter_path.read_bytes()
    assert [p.name for p in (multinn_home / "downloads").iterdir()] == ["jsb-chorales-quarter.json"]
    assert len(hits) == 1
    load("jsb-remote", split="valid", cache=False)
    assert len(hits) == 1  # the verified download is reused


def test_download_with_a_wrong_hash_keeps_nothing(http_server, jsb_quarter_path, multinn_home, monkeypatch):
    root, url, hits = http_server
    data = jsb_quarter_path.read_bytes()
    (root / "jsb-chorales-quarter.json").write_bytes(data[:-10])  # corrupted on the server
    _register_remote(monkeypatch, url, hashlib.sha256(data).hexdigest(), len(data))
    with pytest.raises(
        ChecksumError,
        match="jsb-chorales-quarter.json downloaded from http://127.0.0.1:.* SHA-256 digest is not the expected",
    ):
        load("jsb-remote")
    assert list((multinn_home / "downloads").iterdir()) == []
    assert not (multinn_home / "datasets").exists()


def test_a_tampered_cached_download_is_fetched_again(http_server, jsb_quarter_path, multinn_home, monkeypatch):
    root, url, hits = http_server
    shutil.copy(jsb_quarter_path, root / "jsb-chorales-quarter.json")
    _register_remote(monkeypatch, url, hashlib.sha256(jsb_quarter_path.read_bytes()).hexdigest(), 0)
    (multinn_home / "downloads").mkdir(parents=True)
    (multinn_home / "downloads" / "jsb-chorales-quarter.json").write_text(
        '{"train": [[[60]]], "valid": [[[60]]], "test": [[[60]]]}'
    )
    assert len(load("jsb-remote", split="train", cache=False)) == 229
    assert len(hits) == 1


def test_unreachable_server_is_a_dataset_error(multinn_home, monkeypatch):
    _register_remote(monkeypatch, "http://127.0.0.1:9/", "0" * 64, 1)
    with pytest.raises(DatasetError, match="cannot download jsb-chorales-quarter.json from http://127.0.0.1:9/"):
        load("jsb-remote")
    assert list((multinn_home / "downloads").iterdir()) == []
