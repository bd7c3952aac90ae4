import subprocess
import sys

from multinn.choices import MODES as MODE_NAMES
from multinn.cli import main
from multinn.models import MODES
from tests.cli.conftest import invoke

COMMANDS = [
    ["sample"],
    ["train"],
    ["evaluate"],
    ["presets"],
    ["presets", "list"],
    ["presets", "info"],
    ["presets", "download"],
    ["presets", "verify"],
    ["presets", "seal"],
    ["data"],
    ["data", "prepare"],
    ["data", "info"],
    ["render"],
]


def test_subcommand_help_and_presets_list_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from multinn.cli import main\n"
        f"for args in {COMMANDS!r}:\n"
        "    try:\n        main([*args, '--help'])\n    except SystemExit as e:\n        assert e.code == 0, args\n"
        "try:\n    main(['presets', 'list'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'mido', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_every_command_is_listed_and_documented():
    assert sorted(main.commands) == ["data", "evaluate", "presets", "render", "sample", "train"]
    for args in COMMANDS:
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage: multinn" in result.output
    assert "--max-pieces" not in invoke("train", "--help").output  # a hidden option for tests


def test_train_modes_match_the_model_registry():
    assert set(MODE_NAMES) == set(MODES)
