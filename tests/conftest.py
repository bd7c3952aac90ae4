"""Shared fixtures: an isolated package cache, the shared JSB data, and the `large` marker."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
JSB_DIR = SHARED_DATA / "jsb"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of test logs


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False, help="also run tests marked large")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large test: pass --run-large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def multinn_home(tmp_path, monkeypatch):
    """Every test gets its own empty `$MULTINN_HOME`, so no test reads or writes ~/.keras."""
    home = tmp_path / "multinn_home"
    monkeypatch.setenv("MULTINN_HOME", str(home))
    return home


def _shared_file(name: str) -> Path:
    path = JSB_DIR / name
    if not path.is_file():
        pytest.skip(f"shared data not found: {path} (the tests that need ../shared/data skip without it)")
    return path


@pytest.fixture
def jsb_quarter_path() -> Path:
    """`../shared/data/jsb/jsb-chorales-quarter.json` (skips when absent)."""
    return _shared_file("jsb-chorales-quarter.json")


@pytest.fixture
def bach_satb_path() -> Path:
    """`../shared/data/jsb/Jsb16thSeparated.json` (skips when absent)."""
    return _shared_file("Jsb16thSeparated.json")


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving `tmp_path / "www"`; yields (folder, base url, hits)."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/", hits
    server.shutdown()
    server.server_close()
