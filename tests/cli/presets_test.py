import hashlib

from multinn import presets
from multinn.presets import PresetInfo, PresetSource, list_presets
from tests.cli.conftest import assert_user_error, invoke
from tests.presets.preset_test import tiny_model
from tests.presets.registry_test import _archive, files_under


def test_presets_list_and_info():
    result = invoke("presets", "list")
    assert result.exit_code == 0, result.output
    names = list_presets()
    assert len(names) >= 5
    for name in names:
        assert name in result.stdout
    assert "bundled" in result.stdout

    result = invoke("presets", "info", "jsb-chorales-rnn-nade")
    assert result.exit_code == 0, result.output
    assert "trained with: multinn train " in result.stdout and '"test"' in result.stdout

    result = invoke("presets", "download", "jsb-chorales-rnn-nade")
    assert result.exit_code == 0 and "bundled with the package, nothing to download" in result.stdout


def test_presets_download_a_remote_preset(http_server, multinn_home, monkeypatch, tmp_path):
    root, url, hits = http_server
    data = _archive(presets.save_preset(tiny_model(), tmp_path / "made", {"dataset": "toy"}), "zip")
    (root / "toy.zip").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(
        presets.PRESETS, "toy", PresetInfo("toy", "a toy", PresetSource(url + "toy.zip", "toy.zip", digest, len(data)))
    )
    result = invoke("presets", "info", "toy")
    assert result.exit_code == 0 and "not downloaded yet" in result.stdout
    assert "remote" in invoke("presets", "list").stdout
    result = invoke("presets", "download", "toy")
    assert result.exit_code == 0, result.output
    assert "downloaded and verified" in result.stdout
    assert (multinn_home / "presets" / "toy" / "model.weights.h5").is_file()
    assert "cached" in invoke("presets", "list").stdout

    (root / "bad.zip").write_bytes(data[:-5] + b"12345")
    monkeypatch.setitem(
        presets.PRESETS, "bad", PresetInfo("bad", "corrupt", PresetSource(url + "bad.zip", "bad.zip", digest))
    )
    assert_user_error(invoke("presets", "download", "bad"), "bad.zip downloaded from")
    assert not (multinn_home / "presets" / "bad").exists()
    assert [f for f in files_under(multinn_home / "presets") if not f.startswith("toy/")] == []


def test_presets_user_errors():
    assert_user_error(invoke("presets", "info", "bach-satb-jam"), "did you mean 'bach-satb-jamming'")
    assert_user_error(invoke("presets", "download", "nope"), "unknown preset 'nope'")
