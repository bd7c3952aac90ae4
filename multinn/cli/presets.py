"""`multinn presets list | info NAME | download NAME`."""

from __future__ import annotations

import json

import click

from multinn.cli.common import format_bytes, stdout_console


@click.group()
def presets() -> None:
    """List, describe and download pretrained models."""


@presets.command("list")
def list_command() -> None:
    """Every registered preset, with what its metadata records."""
    from rich import box
    from rich.table import Table

    from multinn.presets import DEFAULT_PRESET, get_preset_info, list_presets, preset_summary

    table = Table(box=box.SIMPLE_HEAD, caption="* default of `multinn sample`; NLL: nats per time step, test split",
                  title="multinn presets")  # fmt: skip
    for column in ("name", "mode", "generator", "params", "test NLL", "size", "source"):
        table.add_column(column, justify="right" if column in ("params", "test NLL", "size") else "left", no_wrap=True)
    for name in list_presets():
        row = preset_summary(get_preset_info(name))
        nll = row["test_nll"]
        table.add_row(
            name + (" *" if name == DEFAULT_PRESET else ""), row["mode"], row["generator"],
            f"{row['params']:,}" if row["params"] else "", f"{nll:.3f}" if nll is not None else "",
            format_bytes(row["size"]) if row["size"] else "", row["source"],
        )  # fmt: skip
    stdout_console().print(table)


@presets.command()
@click.argument("name")
def info(name: str) -> None:
    """A preset's description, location and metadata (training command, metrics, versions)."""
    from rich.syntax import Syntax

    from multinn.presets import PRESETS, read_metadata, resolve_preset

    console = stdout_console()
    entry = PRESETS.get(name)
    if entry is not None and not entry.is_available():
        console.print(f"[bold]{name}[/]: {entry.description}")
        console.print(f"remote: {entry.source.url} ({format_bytes(entry.source.size)}, sha256 {entry.source.sha256})")
        console.print(f"not downloaded yet: multinn presets download {name}")
        return
    directory = resolve_preset(name)
    meta = read_metadata(directory)
    console.print(f"[bold]{name}[/]: {entry.description if entry else 'local preset'}")
    console.print(f"directory: {directory}")
    if meta.get("command"):
        console.print(f"trained with: {meta['command']}")
    console.print(Syntax(json.dumps(meta, indent=2), "json", word_wrap=True))


@presets.command()
@click.argument("name")
def download(name: str) -> None:
    """Fetch a remote preset into the cache ($MULTINN_HOME/presets), checking its SHA-256."""
    from multinn.presets import download_preset, get_preset_info

    entry = get_preset_info(name)
    directory = download_preset(name)
    where = "bundled with the package, nothing to download" if entry.bundled else "downloaded and verified"
    stdout_console().print(f"{name}: {where}: {directory}")
