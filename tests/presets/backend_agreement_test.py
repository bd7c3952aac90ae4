"""The bundled presets score the same music on TensorFlow and on JAX, and sample on JAX."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from multinn import datasets
from multinn.presets import PRESETS, load_pretrained, read_metadata

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install 'multinn[jax]')"
)

PIECES, STEPS = 3, 48
"""The first pieces of each preset's test split, cut to this many steps (whole ones take minutes on JAX)."""

SCORE = """
import json, sys
import numpy as np
import multinn
rolls = {name: np.load(path) for name, path in json.loads(sys.argv[1]).items()}
print(json.dumps({name: multinn.load_pretrained(name).log_prob(x).tolist() for name, x in rolls.items()}))
"""


def test_bundled_presets_score_alike_on_both_backends(tmp_path, jsb_quarter_path, bach_satb_path):
    files = {"jsb-chorales": jsb_quarter_path, "bach-satb": bach_satb_path}
    names = sorted(name for name, info in PRESETS.items() if info.bundled)
    rolls, tensorflow = {}, {}
    for name in names:
        dataset = read_metadata(load_pretrained_dir(name))["dataset"]
        test = datasets.load(dataset, split="test", path=files[dataset])
        x = np.stack([test[i][:STEPS] for i in range(PIECES)]).astype("float32")
        rolls[name] = str(tmp_path / f"{name}.npy")
        np.save(rolls[name], x)
        tensorflow[name] = load_pretrained(name).log_prob(x)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", SCORE, json.dumps(rolls)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jax = json.loads(result.stdout.strip().splitlines()[-1])
    for name in names:
        # nats per step: within 1e-4 of each other (the bound)
        np.testing.assert_allclose(np.asarray(jax[name]) / STEPS, tensorflow[name] / STEPS, atol=1e-4, err_msg=name)


def test_multinn_sample_writes_a_midi_file_on_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = tmp_path / "jax.mid"
    code = (
        "import sys\nfrom multinn.cli import main\n"
        "try:\n    main(['sample', '--seed', '0', '--beats', '8', '--out', sys.argv[1]])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print(sorted(m for m in ('tensorflow', 'jax') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "['jax']"  # TensorFlow is never imported
    assert result.stderr == ""
    from multinn.data import read_midi

    roll = read_midi(out, load_pretrained("bach-satb-composer").spec)
    assert roll.shape == (32, 49, 4) and roll.any()


def load_pretrained_dir(name):
    return PRESETS[name].local_dir()
