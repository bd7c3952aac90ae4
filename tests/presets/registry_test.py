import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest

import multinn
from multinn import presets
from multinn.errors import ChecksumError, DatasetError
from multinn.presets import (
    DEFAULT_PRESET,
    PRESET_FILES,
    PresetError,
    PresetInfo,
    PresetSource,
    download_preset,
    get_preset_info,
    list_presets,
    load_pretrained,
    read_metadata,
    save_preset,
    verify_manifest,
)
from tests.presets.preset_test import SEALED_FILES, tiny_model

BUNDLED_LIMIT = 15 * 1024 * 1024


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_bundled_presets_are_complete_and_small():
    names = list_presets()
    assert len(names) >= 5 and DEFAULT_PRESET in names
    bundled = [n for n in names if get_preset_info(n).bundled]
    assert sorted(
        p.name for p in presets.registry.BUNDLED_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")
    ) == sorted(bundled)
    modes = set()
    total = 0
    for name in bundled:
        directory = get_preset_info(name).local_dir()
        assert sorted(p.name for p in directory.iterdir()) == SEALED_FILES, name
        verify_manifest(directory)
        meta = read_metadata(directory)
        for key in ("dataset", "split", "command", "metrics", "date", "multinn_version", "params", "epochs", "mode"):
            assert key in meta, (name, key)
        assert meta["command"].startswith("multinn train ") and meta["split"] == "train"
        assert np.isfinite(meta["metrics"]["test"]["nll"]) and np.isfinite(meta["metrics"]["valid"]["nll"])
        modes.add(meta["mode"] if meta["dataset"] == "bach-satb" else None)
        total += (directory / "model.weights.h5").stat().st_size
    assert {"joint", "composer", "jamming", "feedback"} <= modes
    assert total <= BUNDLED_LIMIT
    assert read_metadata(get_preset_info(DEFAULT_PRESET).local_dir())["tracks"] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert any(read_metadata(get_preset_info(n).local_dir())["dataset"] == "jsb-chorales" for n in bundled)


@pytest.mark.parametrize("name", [n for n in presets.PRESETS if presets.PRESETS[n].bundled])
def test_every_bundled_preset_loads_and_generates(name):
    model = load_pretrained(name)
    assert model.count_params() == read_metadata(get_preset_info(name).local_dir())["params"]
    rolls = model.generate(8, batch_size=2, seed=0, jit_compile=False)
    assert rolls.dtype == bool and rolls.shape == (2, 8, model.spec.num_pitches, model.spec.num_tracks)


def test_unknown_names_list_the_close_ones():
    with pytest.raises(PresetError, match=r"unknown preset 'bach-satb-compose'; did you mean 'bach-satb-composer'"):
        load_pretrained("bach-satb-compose")
    with pytest.raises(PresetError, match=r"unknown preset 'zzz' \(known: bach-satb-composer, "):
        multinn.load_pretrained("zzz")
    with pytest.raises(PresetError, match="no such preset directory"):
        load_pretrained("./no/such/dir")


def _archive(directory, kind, folder="preset", files=SEALED_FILES):
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as zf:
            for name in files:
                zf.write(directory / name, f"{folder}/{name}")
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            for name in files:
                tf.add(directory / name, arcname=name)
    return buffer.getvalue()


def _serve(http_server, monkeypatch, data, name="toy-remote", kind="zip"):
    """Serve `data` as the archive of a remote preset registered (for this test only) as `name`."""
    root, url, hits = http_server
    (root / f"{name}.{kind}").write_bytes(data)
    source = PresetSource(url + f"{name}.{kind}", f"{name}.{kind}", hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setitem(presets.PRESETS, name, PresetInfo(name, "test entry", source))
    return hits


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_remote_preset_is_downloaded_checked_and_cached(kind, http_server, multinn_home, monkeypatch, tmp_path):
    root, url, hits = http_server
    model = tiny_model()
    directory = save_preset(model, tmp_path / "made", {"dataset": "toy"})
    data = _archive(directory, kind)
    (root / f"toy.{kind}").write_bytes(data)
    source = PresetSource(url + f"toy.{kind}", f"toy.{kind}", hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setitem(presets.PRESETS, "toy-remote", PresetInfo("toy-remote", "test entry", source))
    assert not presets.PRESETS["toy-remote"].is_available()

    loaded = load_pretrained("toy-remote")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert files_under(multinn_home / "presets") == ["toy-remote/.sha256", *(f"toy-remote/{n}" for n in SEALED_FILES)]
    assert len(hits) == 1
    load_pretrained("toy-remote")
    assert download_preset("toy-remote") == multinn_home / "presets" / "toy-remote"
    assert len(hits) == 1  # cached: no second download


def test_corrupt_remote_preset_fails_the_hash_check_and_keeps_nothing(http_server, multinn_home, monkeypatch, tmp_path):
    root, url, hits = http_server
    data = _archive(save_preset(tiny_model(), tmp_path / "made"), "zip")
    (root / "toy.zip").write_bytes(data[:-20] + b"x" * 20)  # corrupted on the server
    source = PresetSource(url + "toy.zip", "toy.zip", hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setitem(presets.PRESETS, "toy-remote", PresetInfo("toy-remote", "test entry", source))
    with pytest.raises(
        ChecksumError, match=r"toy.zip downloaded from http://127.0.0.1:\d+/toy.zip is corrupt or has been changed"
    ):
        load_pretrained("toy-remote")
    assert len(hits) == 1
    assert files_under(multinn_home) == []


def test_archive_that_is_not_a_preset(http_server, multinn_home, monkeypatch):
    root, url, _ = http_server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("config.json", json.dumps({}))
    data = buffer.getvalue()
    (root / "bad.zip").write_bytes(data)
    source = PresetSource(url + "bad.zip", "bad.zip", hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setitem(presets.PRESETS, "bad-remote", PresetInfo("bad-remote", "test entry", source))
    with pytest.raises(
        PresetError, match="bad.zip: not a preset archive, missing model.weights.h5, metadata.json, manifest.json"
    ):
        download_preset("bad-remote")
    assert files_under(multinn_home) == []


def test_remote_archive_must_carry_a_matching_manifest(http_server, multinn_home, monkeypatch, tmp_path):
    directory = save_preset(tiny_model(), tmp_path / "made")
    _serve(http_server, monkeypatch, _archive(directory, "zip", files=PRESET_FILES), "unsealed")
    with pytest.raises(PresetError, match="unsealed.zip: not a preset archive, missing manifest.json"):
        download_preset("unsealed")

    (directory / "metadata.json").write_text("{}")  # changed after sealing, then archived
    _serve(http_server, monkeypatch, _archive(directory, "tar.gz"), "changed", "tar.gz")
    with pytest.raises(
        PresetError,
        match=r"^changed.tar.gz/metadata.json: 2 bytes, but the preset's manifest.json records \d+ \(the file is "
        r"truncated, damaged or was changed\); the archive is damaged or was changed; nothing was kept$",
    ):
        download_preset("changed")
    assert files_under(multinn_home / "presets") == []


def test_cached_remote_preset_is_verified_on_every_load(http_server, multinn_home, monkeypatch, tmp_path):
    model = tiny_model()
    hits = _serve(http_server, monkeypatch, _archive(save_preset(model, tmp_path / "made"), "zip"))
    cached = download_preset("toy-remote")
    weights = cached / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))  # tampered in the cache, after the download
    with pytest.raises(
        PresetError,
        match=r"toy-remote/model.weights.h5: SHA-256 digest does not match the preset's manifest.json \(the file is "
        r"damaged or was changed\); delete .*toy-remote; the next load downloads a fresh copy$",
    ):
        load_pretrained("toy-remote")
    assert len(hits) == 1  # no silent re-download: the damage is reported

    import shutil

    shutil.rmtree(cached)  # what the message advises
    np.testing.assert_array_equal(load_pretrained("toy-remote").get_weights()[0], model.get_weights()[0])
    assert len(hits) == 2

    (cached / ".sha256").write_text("0" * 64)  # a marker of another archive: downloaded again
    load_pretrained("toy-remote")
    assert len(hits) == 3 and (cached / ".sha256").read_text().strip() != "0" * 64


def test_unreachable_remote_preset(multinn_home, monkeypatch):
    source = PresetSource("http://127.0.0.1:9/x.zip", "x.zip", "0" * 64, 1)
    monkeypatch.setitem(presets.PRESETS, "gone", PresetInfo("gone", "test entry", source))
    with pytest.raises(DatasetError, match="cannot download x.zip from http://127.0.0.1:9/x.zip"):
        load_pretrained("gone")
    assert files_under(multinn_home) == []


def test_source_must_be_an_archive():
    with pytest.raises(ValueError, match="archive"):
        PresetSource("http://x/y.h5", "y.h5", "0" * 64)
