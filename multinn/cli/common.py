"""Helpers shared by the commands: consoles, option parsing, model and spec resolution.

Nothing here imports TensorFlow, Keras or NumPy at module level: `multinn --help` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from multinn.errors import MultinnError


def stdout_console():
    """The console for results (tables, summaries); 120 columns wide when not a terminal (pipes, logs)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=120)
    return console


def stderr_console():
    """The console for progress bars, notes and warnings (errors go through `main.fail`)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=True, highlight=False, soft_wrap=True, width=120)
    return console


VERBOSE_ENV = "MULTINN_VERBOSE"
"""Set to 1 (or pass `multinn --verbose`) to see TensorFlow's own log lines."""


def verbose() -> bool:
    """Whether TensorFlow's own log lines are shown (`multinn --verbose` or `MULTINN_VERBOSE=1`)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def configure_tensorflow_logging() -> None:
    """Choose the backend and TensorFlow's C++ log level before anything imports TensorFlow: only
    fatal errors unless verbose (a user's own `TF_CPP_MIN_LOG_LEVEL` wins)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


_TENSORFLOW_STARTED: bool | None = None
"""None: nothing started; False: Keras on a backend other than TensorFlow; True: TensorFlow too."""


def quiet_tensorflow(tensorflow: bool = False) -> None:
    """Import Keras (and TensorFlow, its default backend) and find the devices without their
    start-up chatter on the terminal. With another `KERAS_BACKEND` (JAX), TensorFlow is imported
    only if `tensorflow` (a command that needs `tf.data`), so `multinn sample` never imports it.

    TensorFlow's C++ core writes lines to file descriptor 2 before its log level applies (absl's
    "All log messages before absl::InitializeLog()", oneDNN and CUDA notes, `cuInit` failures on
    machines without a GPU). They are written to a temporary file instead, which is shown if the
    import fails. Verbose (`multinn --verbose`, `MULTINN_VERBOSE=1`): nothing is hidden.
    """
    global _TENSORFLOW_STARTED
    configure_tensorflow_logging()
    tensorflow = tensorflow or os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    if _TENSORFLOW_STARTED in (True, tensorflow):  # started already, with TensorFlow if it is needed
        return

    def start() -> None:
        import keras  # noqa: F401  (imports the backend)

        if tensorflow:
            import tensorflow as tf

            tf.config.list_physical_devices()  # initialises the platforms (the cuInit line)

    if verbose():
        start()
        _TENSORFLOW_STARTED = tensorflow
        return
    import logging
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            start()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    for name in ("tensorflow", "absl"):  # Python-side warnings of TensorFlow (e.g. retracing notes)
        logging.getLogger(name).setLevel(logging.ERROR)
    _TENSORFLOW_STARTED = tensorflow


def parse_units(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """Click callback: `"128,64"` -> `[128, 64]` (positive integers)."""
    if value is None:
        return None
    try:
        units = [int(v) for v in str(value).replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated positive integers, e.g. 128,64; got {value!r}") from None
    if not units or any(u < 1 for u in units):
        raise click.BadParameter(f"expected comma-separated positive integers, e.g. 128,64; got {value!r}")
    return units


SPEC_NAMES = ("lpd5", "bach-satb", "jsb-chorales")


def load_spec(value: str):
    """A spec by dataset name (`lpd5`, `bach-satb`, `jsb-chorales`) or from a JSON file."""
    from multinn.data import PianorollSpec
    from multinn.datasets import get_dataset_info

    if value in SPEC_NAMES:
        return get_dataset_info(value).spec
    return PianorollSpec.load(value)


def model_source(preset: str | None, model_dir: str | None, default: str | None = None) -> str:
    """What `--preset` / `--model` name: a preset name or a directory (exactly one of them)."""
    if preset and model_dir:
        raise MultinnError("give --preset or --model, not both")
    if model_dir:
        path = Path(model_dir)
        if (path / "preset").is_dir() and not (path / "config.json").is_file():
            return str(path / "preset")  # a `multinn train --out` directory
        return str(path)
    if preset:
        return preset
    if default is None:
        raise MultinnError("give --preset NAME or --model DIR")
    return default


def model_options(default: str | None = None):
    """Decorator adding `--preset NAME` and `--model DIR` (parameter `model_dir`); resolve them
    with `model_source`. `default` names the preset used when neither is given (help text only)."""
    preset_help = "A preset name (see `multinn presets list`) or hf://OWNER/NAME" + (
        f" [default: {default}]." if default else "."
    )

    def decorate(command):
        command = click.option(
            "--model",
            "model_dir",
            type=click.Path(),
            metavar="DIR",
            help="A preset directory, or a `multinn train --out` directory.",
        )(command)
        return click.option("--preset", metavar="NAME", help=preset_help)(command)

    return decorate


def load_model(source: str):
    """Load a model by preset name or from a directory (unknown names fail before TensorFlow loads)."""
    quiet_tensorflow()
    from multinn.presets import load_pretrained

    return load_pretrained(source)


def format_bytes(size: int) -> str:
    """`1536` -> `"1.5 KB"`."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
