"""`hf://` presets, offline: a Hugging Face cache filled by a fake upload, `HF_HUB_OFFLINE`, tampering."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multinn.data import PianorollSpec, TrackSpec
from multinn.models import MultINNComposer
from multinn.presets import (
    MANIFEST_FILE,
    PRESET_FILES,
    PresetError,
    load_pretrained,
    model_card,
    save_preset,
    upload_preset,
)
from multinn.presets.hub import parse_handle

huggingface_hub = pytest.importorskip("huggingface_hub", reason="the hub extra (huggingface_hub) is not installed")
hub_constants = pytest.importorskip("huggingface_hub.constants")

TINY = PianorollSpec(2, 60, 63, [TrackSpec("Lead"), TrackSpec("Bass", 33)])
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_preset(directory: Path) -> Path:
    model = MultINNComposer(TINY, rnn_units=[6], num_hidden=4, seed=1, in_frame=True)
    metadata = {
        "dataset": "bach-satb",
        "split": "train",
        "commands": ["multinn train --mode composer --in-frame --data bach-satb --out runs/x"],
        "epochs": 3,
        "best_epoch": 2,
        "stopped_early": True,
        "metrics": {"test": {"nll": 3.25, "nll_lead": 1.5, "nll_bass": 1.75}},
    }
    return save_preset(model, directory, metadata=metadata)


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: an upload lands in a Hugging Face cache layout
    (`models--owner--name/refs/main`, `snapshots/<commit>/...`), as a later download would leave it."""

    cache: Path = None
    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=False, exist_ok=False):
        FakeHub.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, repo_id, folder_path, revision=None, commit_message=""):
        FakeHub.calls.append(("upload_folder", repo_id, sorted(os.listdir(folder_path)), commit_message))
        repo = FakeHub.cache / ("models--" + repo_id.replace("/", "--"))
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / (revision or "main")).write_text(COMMIT)
        shutil.copytree(folder_path, repo / "snapshots" / COMMIT, dirs_exist_ok=True)
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{COMMIT}"})()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline, and the fake Hub client for uploads."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    FakeHub.cache, FakeHub.calls = cache, []
    return cache


def test_parse_handle():
    assert parse_handle("hf://me/bach-satb") == ("me/bach-satb", None)
    assert parse_handle("hf://me/bach.satb_2@v1.0") == ("me/bach.satb_2", "v1.0")
    for bad in ("hf://me", "hf://me/x/y", "hf://../x", "hf://me/x@", "hf:///x", "me/x"):
        with pytest.raises(PresetError):
            parse_handle(bad)


def test_upload_then_load_round_trip_offline(hub_cache, tmp_path):
    preset = tiny_preset(tmp_path / "preset")
    before = sorted(os.listdir(preset))
    url = upload_preset(preset, "hf://me/tiny-harmoniser", private=True)
    assert url == f"https://huggingface.co/me/tiny-harmoniser/commit/{COMMIT}"
    assert FakeHub.calls[0] == ("create_repo", "me/tiny-harmoniser", True, True)
    assert FakeHub.calls[1][2] == sorted([*PRESET_FILES, MANIFEST_FILE, "README.md"])
    assert sorted(os.listdir(preset)) == before  # the card went into a copy
    model = load_pretrained("hf://me/tiny-harmoniser")
    original = load_pretrained(preset)
    assert model.in_frame and model.spec == TINY
    rolls = (np.random.default_rng(0).random((2, 5, 4, 2)) < 0.3).astype("float32")
    np.testing.assert_array_equal(model.log_prob(rolls), original.log_prob(rolls))


def test_a_tampered_cached_file_is_refused(hub_cache, tmp_path):
    upload_preset(tiny_preset(tmp_path / "preset"), "hf://me/tiny")
    weights = hub_cache / "models--me--tiny" / "snapshots" / COMMIT / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PresetError, match=r"hf://me/tiny/model.weights.h5: SHA-256 digest does not match.*delete it"):
        load_pretrained("hf://me/tiny")


def test_offline_without_a_cached_copy_and_not_a_preset(hub_cache, tmp_path):
    with pytest.raises(PresetError, match="hf://me/absent: not in the Hugging Face cache"):
        load_pretrained("hf://me/absent")
    folder = hub_cache / "models--me--notes" / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("not a preset")
    (hub_cache / "models--me--notes" / "refs").mkdir()
    (hub_cache / "models--me--notes" / "refs" / "main").write_text(COMMIT)
    with pytest.raises(PresetError, match="hf://me/notes: not a multinn preset repository"):
        load_pretrained("hf://me/notes")


def test_model_card_says_what_it_plays_the_data_licence_commands_and_metrics(tmp_path):
    card = model_card(tiny_preset(tmp_path / "preset"), "hf://me/tiny")
    assert card.startswith("---\nlibrary_name: multinn\n")
    assert "MultINN **composer with in-frame conditioning** mode" in card
    assert "It plays 2 tracks: Lead, Bass." in card
    assert "public-domain compositions" in card
    assert "multinn train --mode composer --in-frame --data bach-satb --out runs/x" in card
    assert "Test NLL: **3.250** nats per time step" in card and "| bass | 1.750 |" in card
    assert 'multinn.load_pretrained("hf://me/tiny")' in card


def test_cli_samples_from_a_cached_hub_preset_offline(tmp_path):
    # A fresh process with the user's environment variables: HF_HUB_CACHE and HF_HUB_OFFLINE=1.
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--me--tiny" / "snapshots" / COMMIT
    shutil.copytree(tiny_preset(tmp_path / "preset"), snapshot)
    (cache / "models--me--tiny" / "refs").mkdir()
    (cache / "models--me--tiny" / "refs" / "main").write_text(COMMIT)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "MULTINN_HOME": str(tmp_path / "home")}
    out = tmp_path / "s.mid"
    args = ["sample", "--preset", "hf://me/tiny", "--steps", "8", "--seed", "0", "--out", str(out)]
    result = subprocess.run([sys.executable, "-m", "multinn", *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "wrote" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "multinn", "sample", "--preset", "hf://me/other", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    expected = "Error: hf://me/other: not in the Hugging Face cache, and the Hub cannot be reached"
    assert missing.stderr.strip().splitlines() == [expected + " (offline, or HF_HUB_OFFLINE=1)"]
