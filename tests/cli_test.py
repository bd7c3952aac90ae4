import subprocess
import sys

import click
from click.testing import CliRunner

import multinn
from multinn.cli import main
from multinn.cli.main import MultinnGroup
from multinn.errors import DatasetError


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"multinn, version {multinn.__version__}"
    assert multinn.__version__ != "0+unknown"  # installed: read from the package metadata


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from multinn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'mido', 'numpy') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_import_multinn_is_light():
    code = "import sys, multinn; print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "multinn", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Usage: multinn" in out


def test_user_errors_print_one_line_and_exit_2():
    @click.group(cls=MultinnGroup)
    def group():
        pass

    @group.command()
    def boom():
        raise DatasetError("unknown dataset 'x'")

    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: unknown dataset 'x'"
