"""Damaged presets are refused through the CLI: `multinn sample --model DIR` exits with status 2,
prints one `Error: ...` line naming the file and the problem, and writes nothing.

Each kind of damage is applied to a fresh copy of a tiny preset made once per module. "resealed"
kinds also rewrite `manifest.json` to match the damaged files (what someone who edits a preset by
hand and re-seals it produces), so the checks behind the manifest are exercised too: the record in
the weights file (class, spec, weight shapes), the weights' arrays, and finite values.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import h5py
import numpy as np
import pytest

from multinn import presets
from multinn.cli.common import format_bytes
from multinn.models import MultINNJoint
from multinn.presets import (
    MANIFEST_FILE,
    PRESET_FILES,
    PresetInfo,
    PresetSource,
    download_preset,
    get_preset_info,
    save_preset,
)
from tests.cli.conftest import invoke
from tests.presets.preset_test import TINY, make_old_preset, tiny_model, write_manifest_as_is
from tests.presets.registry_test import _archive

WEIGHTS, CONFIG, METADATA = "model.weights.h5", "config.json", "metadata.json"
DIGEST = "SHA-256 digest does not match the preset's manifest.json (the file is damaged or was changed)"
SIZE = r"\d+ bytes, but the preset's manifest.json records \d+ \(the file is truncated, damaged or was changed\)"
RESEAL = r"; write it again \(save_preset, multinn train\) or, if you changed it on purpose, re-seal it with "


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The tiny preset (`tiny`) and two others: wider LSTMs (`wider`) and another spec, same shapes (`faster`)."""
    root = tmp_path_factory.mktemp("made")
    save_preset(tiny_model(), root / "tiny", {"dataset": "toy"})
    save_preset(MultINNJoint(TINY, rnn_units=[7], num_hidden=4, seed=2), root / "wider")
    save_preset(MultINNJoint(TINY.replace(steps_per_beat=4), rnn_units=[6], num_hidden=4, seed=3), root / "faster")
    return root


# ------------------------------------------------------------------ damage helpers
def flip(path, positions):
    data = bytearray(path.read_bytes())
    for i in positions:
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def data_offset(path, name="generator/lstms/lstm/cell/vars/0"):
    """Where the float32 values of one weight array lie in the file (h5py reads them without complaint)."""
    with h5py.File(path) as f:
        return f[name].id.get_offset()


def truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)  # in place
    path.write_text(json.dumps(data, indent=2) + "\n")


def resealed(damage):
    def apply(directory, made):
        damage(directory, made)
        write_manifest_as_is(directory)

    return apply


def _flip_in_data(d, _):
    offset = data_offset(d / WEIGHTS)
    flip(d / WEIGHTS, range(offset + 1, offset + 400, 4))  # 100 mantissa bytes: finite, wrong values
    with h5py.File(d / WEIGHTS) as f:  # still a valid HDF5 file that h5py loads happily
        assert np.isfinite(f["generator/lstms/lstm/cell/vars/0"][()]).all()


def _nan_in_data(d, _):
    offset = data_offset(d / WEIGHTS)
    data = bytearray((d / WEIGHTS).read_bytes())
    data[offset + 8 : offset + 16] = np.array([np.nan, np.inf], "<f4").tobytes()
    (d / WEIGHTS).write_bytes(bytes(data))


def _strip_record(d, _):
    with h5py.File(d / WEIGHTS, "r+") as f:
        for name in list(f.attrs):
            del f.attrs[name]


def _delete_group(d, _):
    with h5py.File(d / WEIGHTS, "r+") as f:
        del f["generator/heads/container/dense_1"]  # Keras alone would skip it with a warning


def _garbage(d, _):
    (d / WEIGHTS).write_bytes(np.random.default_rng(1).bytes((d / WEIGHTS).stat().st_size))


def _weights_of(other):
    return lambda d, made: shutil.copyfile(made / other / WEIGHTS, d / WEIGHTS)


def _config(change):
    return lambda d, _: edit_json(d / CONFIG, change)


def _spec(change):
    return lambda d, _: edit_json(d / CONFIG, lambda c: change(c["config"]["spec"]))


def _manifest(change):
    return lambda d, _: edit_json(d / MANIFEST_FILE, change)


def _entry(name, **values):
    return _manifest(lambda m: m["files"][name].update(values))


# Each kind: (id, apply(directory, made), regex the one error line must match after "Error: ").
KINDS = [
    # the weights file
    (
        "weights-truncated-to-half",
        lambda d, _: truncate(d / WEIGHTS, (d / WEIGHTS).stat().st_size // 2),
        rf"p/{WEIGHTS}: {SIZE}{RESEAL}",
    ),
    ("weights-truncated-to-header", lambda d, _: truncate(d / WEIGHTS, 512), rf"p/{WEIGHTS}: 512 bytes, but the "),
    (
        "weights-truncated-by-one-byte",
        lambda d, _: truncate(d / WEIGHTS, (d / WEIGHTS).stat().st_size - 1),
        rf"p/{WEIGHTS}: {SIZE}",
    ),
    ("weights-empty", lambda d, _: (d / WEIGHTS).write_bytes(b""), rf"p/{WEIGHTS}: 0 bytes, but the "),
    ("weights-flipped-signature", lambda d, _: flip(d / WEIGHTS, range(8)), rf"p/{WEIGHTS}: {re.escape(DIGEST)}"),
    (
        "weights-30-random-flips",
        lambda d, _: flip(
            d / WEIGHTS, np.random.default_rng(0).choice((d / WEIGHTS).stat().st_size, 30, replace=False)
        ),
        rf"p/{WEIGHTS}: {re.escape(DIGEST)}",
    ),
    ("weights-100-flips-in-data", _flip_in_data, rf"p/{WEIGHTS}: {re.escape(DIGEST)}"),
    (
        "weights-nan-in-data-resealed",
        resealed(_nan_in_data),
        rf"p/{WEIGHTS}: weight lstm_0/lstm_cell/kernel holds 2 non-finite values \(NaN or inf\): the file is damaged",
    ),
    ("weights-garbage", _garbage, rf"p/{WEIGHTS}: {re.escape(DIGEST)}"),
    (
        "weights-garbage-resealed",
        resealed(lambda d, _: (d / WEIGHTS).write_bytes(b"\x89HDF\r\n\x1a\n" + b"x" * 900)),
        rf"p/{WEIGHTS}: not a readable HDF5 weights file \(",
    ),
    ("weights-of-another-preset", _weights_of("wider"), rf"p/{WEIGHTS}: {SIZE}"),
    (
        "weights-of-another-preset-resealed",
        resealed(_weights_of("wider")),
        rf"p/{WEIGHTS}: weight lstm_0/lstm_cell/kernel has shape \(8, 28\), but the model .*p/{CONFIG} describes needs "
        r"\(8, 24\)",
    ),
    (
        "weights-of-another-spec-resealed",
        resealed(_weights_of("faster")),
        rf"p/{WEIGHTS}: the weights were written for another spec than .*p/{CONFIG} "
        r"\(steps_per_beat: 4 in the weights, "
        r"2 in the config\)",
    ),
    (
        "weights-without-record-resealed",
        resealed(_strip_record),
        rf"p/{WEIGHTS}: does not record the model class and spec it was written for \(written by an earlier multinn\); "
        r"if its files are intact and trusted, seal it with `multinn presets seal .*p`$",
    ),
    (
        "weights-group-deleted-resealed",
        resealed(_delete_group),
        rf"p/{WEIGHTS}: its weight arrays do not fit the model .*p/{CONFIG} describes \(the file holds 9 arrays, the "
        r"model has 11 weights; shapes only in the file: none; only in the model: \(6, 8\), \(8,\)\)",
    ),
    # config.json
    ("config-invalid-json", lambda d, _: (d / CONFIG).write_text("{not json"), rf"p/{CONFIG}: {SIZE}"),
    (
        "config-invalid-json-resealed",
        resealed(lambda d, _: (d / CONFIG).write_text("{not json")),
        rf"p/{CONFIG}: not valid JSON "
        r"\(Expecting property name enclosed in double quotes: line 1 column 2 \(char 1\)\)$",
    ),
    (
        "config-empty-resealed",
        resealed(lambda d, _: (d / CONFIG).write_text("")),
        rf"p/{CONFIG}: not valid JSON \(Expecting value",
    ),
    (
        "config-not-an-object-resealed",
        resealed(lambda d, _: (d / CONFIG).write_text("[1, 2]")),
        rf"p/{CONFIG}: expected a JSON object, got list$",
    ),
    (
        "config-without-class-name-resealed",
        resealed(lambda d, _: edit_json(d / CONFIG, lambda c: c.pop("class_name"))),
        rf"p/{CONFIG}: not a serialised Keras model \(needs 'class_name' and 'config'\)$",
    ),
    (
        "config-of-another-multinn-class-resealed",
        resealed(lambda d, _: edit_json(d / CONFIG, lambda c: c.update(class_name="MultINNJamming"))),
        rf"p/{WEIGHTS}: the weights were written for a MultINNJoint, but .*p/{CONFIG} describes a MultINNJamming",
    ),
    (
        "config-of-an-unknown-class",
        lambda d, _: edit_json(d / CONFIG, lambda c: c.update(class_name="NoSuchModel")),
        rf"p/{CONFIG}: {SIZE}",
    ),
    (
        "config-of-an-unknown-class-resealed",
        resealed(lambda d, _: edit_json(d / CONFIG, lambda c: c.update(class_name="NoSuchModel"))),
        rf"p/{WEIGHTS}: the weights were written for a MultINNJoint, but .*p/{CONFIG} describes a NoSuchModel",
    ),
    (
        "config-other-sizes-resealed",
        resealed(_config(lambda c: c["config"].update(rnn_units=[7]))),
        rf"p/{WEIGHTS}: weight lstm_0/lstm_cell/kernel has shape \(8, 24\), but the model .*p/{CONFIG} describes needs "
        r"\(8, 28\)",
    ),
    ("config-steps-per-beat", _spec(lambda s: s.update(steps_per_beat=4)), rf"p/{CONFIG}: {re.escape(DIGEST)}"),
    (
        "config-steps-per-beat-resealed",
        resealed(_spec(lambda s: s.update(steps_per_beat=4))),
        rf"p/{WEIGHTS}: the weights were written for another spec than .*p/{CONFIG} "
        r"\(steps_per_beat: 2 in the weights, "
        r"4 in the config\)",
    ),
    (
        "config-pitch-range-resealed",
        resealed(_spec(lambda s: s.update(lowest_pitch=59, highest_pitch=62))),
        r"\(lowest_pitch: 60 in the weights, 59 in the config; highest_pitch: 63 in the weights, 62 in the config\)",
    ),
    (
        "config-track-names-resealed",
        resealed(_spec(lambda s: s["tracks"][1].update(name="Cello"))),
        r"another spec than .* \(tracks: \[\{'name': 'Lead', .*\{'name': 'Bass', .* in the weights, .*'Cello'.* in the "
        r"config\)",
    ),
    (
        "config-spec-removed-resealed",
        resealed(lambda d, _: edit_json(d / CONFIG, lambda c: c["config"].pop("spec"))),
        rf"p/{CONFIG}: the model config has no 'spec'$",
    ),
    # metadata.json
    (
        "metadata-changed",
        lambda d, _: edit_json(d / METADATA, lambda m: m.update(dataset="toy!")),
        rf"p/{METADATA}: {SIZE}",
    ),
    (
        "metadata-invalid-json-resealed",
        resealed(lambda d, _: (d / METADATA).write_text("not json")),
        rf"p/{METADATA}: not valid JSON",
    ),
    # missing files
    ("config-missing", lambda d, _: (d / CONFIG).unlink(), r"p: not a complete preset, missing config.json$"),
    ("weights-missing", lambda d, _: (d / WEIGHTS).unlink(), r"p: not a complete preset, missing model.weights.h5$"),
    ("metadata-missing", lambda d, _: (d / METADATA).unlink(), r"p: not a complete preset, missing metadata.json$"),
    # manifest.json
    (
        "manifest-missing",
        lambda d, _: (d / MANIFEST_FILE).unlink(),
        r"p: the preset has no manifest.json \(it was written by an earlier multinn, or its writing was interrupted\), "
        r"so its files cannot be verified; if its files are intact and trusted, seal it with "
        r"`multinn presets seal .*p`$",
    ),
    (
        "manifest-invalid-json",
        lambda d, _: (d / MANIFEST_FILE).write_text('{"format": 1,'),
        rf"p/{MANIFEST_FILE}: not valid JSON \(.*\){RESEAL}",
    ),
    (
        "manifest-not-an-object",
        lambda d, _: (d / MANIFEST_FILE).write_text("[]"),
        rf"p/{MANIFEST_FILE}: expected a JSON object, got list{RESEAL}",
    ),
    (
        "manifest-without-files",
        lambda d, _: (d / MANIFEST_FILE).write_text('{"format": 1}'),
        rf"p/{MANIFEST_FILE}: expected an object with 'format' and 'files'",
    ),
    (
        "manifest-unknown-format",
        _manifest(lambda m: m.update(format=2)),
        rf"p/{MANIFEST_FILE}: unsupported format 2 \(this multinn reads format 1; a newer multinn may read it\)",
    ),
    ("manifest-digest-altered", _entry(CONFIG, sha256="0" * 64), rf"p/{CONFIG}: {re.escape(DIGEST)}"),
    (
        "manifest-size-altered",
        _entry(WEIGHTS, size=12),
        rf"p/{WEIGHTS}: \d+ bytes, but the preset's manifest.json "
        r"records 12",
    ),
    (
        "manifest-malformed-entry",
        _entry(METADATA, sha256="not a digest"),
        rf"p/{MANIFEST_FILE}: the entry of {METADATA} needs 'sha256' \(64 lowercase hex digits\) and 'size' \(bytes\)",
    ),
    (
        "manifest-lists-an-extra-file",
        _manifest(lambda m: m["files"].update({"notes.txt": m["files"][CONFIG]})),
        rf"p/{MANIFEST_FILE}: lists 'notes.txt', which is not a preset file \(config.json, model.weights.h5, "
        r"metadata.json\)",
    ),
    (
        "manifest-omits-a-file",
        _manifest(lambda m: m["files"].pop(METADATA)),
        rf"p/{MANIFEST_FILE}: does not list "
        rf"{METADATA}{RESEAL}",
    ),
]


def assert_refused(result, pattern, out_dir):
    """Exit status 2, exactly one output line, `Error: ...` on stderr matching `pattern`, no file written."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert result.stderr.strip() == lines[0]
    assert re.search(pattern, lines[0]), (pattern, lines[0])
    assert "Traceback" not in result.output
    assert not list(out_dir.glob("out*")), "a damaged preset wrote output"


@pytest.mark.parametrize(("apply", "pattern"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_damaged_preset_is_refused(apply, pattern, made, tmp_path):
    directory = shutil.copytree(made / "tiny", tmp_path / "p")
    apply(directory, made)
    result = invoke("sample", "--model", directory, "--steps", "4", "--seed", "0", "--out", tmp_path / "out.mid")
    assert_refused(result, pattern, tmp_path)


def test_kinds_are_distinct_and_the_undamaged_copy_samples(made, tmp_path):
    assert len({k[0] for k in KINDS}) == len(KINDS) >= 26
    directory = shutil.copytree(made / "tiny", tmp_path / "p")
    result = invoke("sample", "--model", directory, "--steps", "4", "--seed", "0", "--out", tmp_path / "out.mid")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.mid").is_file()


# ------------------------------------------------------------------ a cached remote preset
def _tamper_weights(cache):
    flip(cache / WEIGHTS, [data_offset(cache / WEIGHTS) + 2])


def _respec_and_rewrite_manifest(cache):
    edit_json(cache / CONFIG, lambda c: c["config"]["spec"].update(steps_per_beat=4))
    write_manifest_as_is(cache)


def _plant_listed_file(cache):
    (cache / "notes.txt").write_text("planted")
    edit_json(cache / MANIFEST_FILE, lambda m: m["files"].update({"notes.txt": {"sha256": "0" * 64, "size": 7}}))


CACHE_KINDS = [
    (
        "cache-weights-tampered",
        _tamper_weights,
        rf"toy-remote/{WEIGHTS}: {re.escape(DIGEST)}; delete .*toy-remote; the next load downloads a fresh copy$",
    ),
    (
        "cache-config-tampered-manifest-rewritten",
        _respec_and_rewrite_manifest,
        r"toy-remote/model.weights.h5: the weights were written for another spec than .*toy-remote/config.json "
        r"\(steps_per_beat: 2 in the weights, 4 in the config\); delete .*toy-remote; the next load downloads",
    ),
    (
        "cache-manifest-removed",
        lambda cache: (cache / MANIFEST_FILE).unlink(),
        r"toy-remote: the preset has no manifest.json .*; delete .*toy-remote; the next load downloads a fresh copy$",
    ),
    (
        "cache-extra-listed-file-planted",
        _plant_listed_file,
        rf"toy-remote/{MANIFEST_FILE}: lists 'notes.txt', which is not a preset file",
    ),
]


@pytest.mark.parametrize(("tamper", "pattern"), [k[1:] for k in CACHE_KINDS], ids=[k[0] for k in CACHE_KINDS])
def test_tampered_cached_remote_preset_is_refused(
    tamper, pattern, made, http_server, multinn_home, monkeypatch, tmp_path
):
    root, url, hits = http_server
    data = _archive(made / "tiny", "tar.gz")
    (root / "toy.tar.gz").write_bytes(data)
    source = PresetSource(url + "toy.tar.gz", "toy.tar.gz", hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setitem(presets.PRESETS, "toy-remote", PresetInfo("toy-remote", "test entry", source))  # undone after
    cache = download_preset("toy-remote")
    assert cache == multinn_home / "presets" / "toy-remote" and (cache / ".sha256").is_file()
    tamper(cache)
    result = invoke("sample", "--preset", "toy-remote", "--steps", "4", "--seed", "0", "--out", tmp_path / "out.mid")
    assert_refused(result, pattern, tmp_path)
    assert len(hits) == 1  # reported, not silently downloaded again


# ------------------------------------------------------------------ verifying and sealing
def total_size(directory):
    return format_bytes(sum((directory / name).stat().st_size for name in PRESET_FILES))


def test_presets_verify(made, tmp_path):
    result = invoke("presets", "verify", "jsb-chorales-rnn-nade", made / "tiny")
    assert result.exit_code == 0, result.output
    jsb = get_preset_info("jsb-chorales-rnn-nade").local_dir()
    assert result.stdout.splitlines() == [
        f"jsb-chorales-rnn-nade: OK (3 files, {total_size(jsb)}, match manifest.json)",
        f"{made / 'tiny'}: OK (3 files, {total_size(made / 'tiny')}, match manifest.json)",
    ]

    damaged = shutil.copytree(made / "tiny", tmp_path / "p")
    _flip_in_data(damaged, made)
    result = invoke("presets", "verify", damaged)
    assert_refused(result, rf"p/{WEIGHTS}: {re.escape(DIGEST)}", tmp_path)

    result = invoke("presets", "verify", made / "tiny", damaged)
    assert result.exit_code == 2 and result.stdout.startswith(f"{made / 'tiny'}: OK")
    assert result.stderr.splitlines()[0].startswith(f"{damaged}: FAILED: {damaged}/{WEIGHTS}: SHA-256 digest")
    assert result.stderr.splitlines()[-1] == f"Error: 1 of 2 presets failed verification: {damaged}"


def test_an_old_preset_is_sealed_once_on_purpose(tmp_path):
    directory = make_old_preset(tmp_path / "old")
    sample = ("sample", "--model", directory, "--steps", "4", "--seed", "0", "--out", tmp_path / "out.mid")
    assert_refused(
        invoke(*sample), rf"old: the preset has no manifest.json .*`multinn presets seal {directory}`$", tmp_path
    )
    assert not (directory / MANIFEST_FILE).exists()  # loading never seals

    result = invoke("presets", "seal", directory)
    assert result.exit_code == 0 and result.stdout == f"{directory}: sealed\n", result.output
    result = invoke(*sample)
    assert result.exit_code == 0 and (tmp_path / "out.mid").is_file(), result.output
    result = invoke("presets", "seal", directory)
    assert result.stdout == f"{directory}: already sealed; its files match manifest.json\n"

    edit_json(directory / CONFIG, lambda c: c["config"]["spec"]["tracks"][0].update(program=5))  # on purpose
    (tmp_path / "out.mid").unlink()
    assert_refused(invoke(*sample), rf"old/{CONFIG}: {re.escape(DIGEST)}", tmp_path)
    assert_refused(
        invoke("presets", "seal", directory),
        rf"old/{CONFIG}: {re.escape(DIGEST)}; if you changed it on purpose, re-seal it with `multinn presets seal "
        rf"{directory} --force`$",
        tmp_path,
    )
    result = invoke("presets", "seal", directory, "--force")
    assert result.exit_code == 0 and result.stdout == f"{directory}: sealed\n", result.output
    assert invoke(*sample).exit_code == 0

    (tmp_path / "out.mid").unlink()
    (directory / WEIGHTS).write_bytes(b"")  # --force does not seal a preset that does not load
    assert_refused(invoke("presets", "seal", directory, "--force"), rf"old/{WEIGHTS}: not a readable HDF5", tmp_path)
