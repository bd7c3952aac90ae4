"""`multinn` click group and its error handling."""

from __future__ import annotations

import click

from multinn.errors import MultinnError


def fail(message: str) -> None:
    """Print one styled error line on stderr and exit with status 2 (a user error)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]Error:[/] {escape(message)}")
    raise SystemExit(2)


class MultinnGroup(click.Group):
    """A click group that turns `MultinnError` into one clear line and exit status 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault("multinn.argv", list(args))  # the command as typed, for preset metadata
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MultinnError as exc:
            fail(str(exc))


@click.group(cls=MultinnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="multinn", prog_name="multinn")
@click.option("--verbose", is_flag=True, help="Also show TensorFlow's own log lines (or set MULTINN_VERBOSE=1).")
def main(verbose: bool) -> None:
    """multinn: multi-track polyphonic music generation (MultINN on Keras 3).

    Sample music from bundled models, train the four MultINN modes on your own MIDI or on
    JSB Chorales / LPD-5, and evaluate them.
    """
    import os

    from multinn.cli.common import VERBOSE_ENV, configure_tensorflow_logging

    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    configure_tensorflow_logging()


def _register() -> None:
    from multinn.cli.data import data
    from multinn.cli.evaluate import evaluate
    from multinn.cli.presets import presets
    from multinn.cli.render import render
    from multinn.cli.sample import sample
    from multinn.cli.train import train

    for command in (sample, train, evaluate, presets, data, render):
        main.add_command(command)


_register()
