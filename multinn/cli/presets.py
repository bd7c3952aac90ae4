"""`multinn presets list | info NAME | download NAME | verify [NAME|DIR]... | seal DIR | upload DIR HANDLE`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from multinn.cli.common import format_bytes, stdout_console


@click.group()
def presets() -> None:
    """List, describe, download, verify and seal pretrained models."""


@presets.command("list")
def list_command() -> None:
    """Every registered preset, with what its metadata records."""
    from rich import box
    from rich.table import Table

    from multinn.presets import DEFAULT_PRESET, get_preset_info, list_presets, preset_summary

    table = Table(
        box=box.SIMPLE_HEAD,
        caption="* default of `multinn sample`; NLL: nats per time step, test split",
        title="multinn presets",
    )
    for column in ("name", "mode", "generator", "params", "test NLL", "size", "source"):
        table.add_column(column, justify="right" if column in ("params", "test NLL", "size") else "left", no_wrap=True)
    for name in list_presets():
        row = preset_summary(get_preset_info(name))
        nll = row["test_nll"]
        table.add_row(
            name + (" *" if name == DEFAULT_PRESET else ""),
            row["mode"],
            row["generator"],
            f"{row['params']:,}" if row["params"] else "",
            f"{nll:.3f}" if nll is not None else "",
            format_bytes(row["size"]) if row["size"] else "",
            row["source"],
        )
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
    """Fetch a remote preset into the cache ($MULTINN_HOME/presets, or for hf://owner/name the
    Hugging Face cache), checking its SHA-256."""
    from multinn.presets import download_hub_preset, download_preset, get_preset_info, is_hub_handle

    if is_hub_handle(name):
        stdout_console().print(f"{name}: downloaded and verified: {download_hub_preset(name)}")
        return
    entry = get_preset_info(name)
    directory = download_preset(name)
    where = "bundled with the package, nothing to download" if entry.bundled else "downloaded and verified"
    stdout_console().print(f"{name}: {where}: {directory}")


@presets.command()
@click.argument("names", nargs=-1, metavar="[NAME|DIR]...")
def verify(names: tuple[str, ...]) -> None:
    """Check presets (names or directories) as every load does.

    Each file must match manifest.json (size and SHA-256); the class, spec and weight shapes
    recorded in model.weights.h5 must be those of config.json; the model is built, its weights
    are loaded and must be finite. Without arguments, every bundled preset and every downloaded
    one is checked.

    \b
    Examples:
      multinn presets verify
      multinn presets verify runs/satb/preset
    """
    from multinn.cli.common import stderr_console
    from multinn.errors import MultinnError
    from multinn.presets import PRESETS, list_presets, resolve_preset, verify_preset

    if not names:
        names = tuple(name for name in list_presets() if PRESETS[name].is_available())
    console, err = stdout_console(), stderr_console()
    failed = []
    for name in names:
        try:
            manifest = verify_preset(resolve_preset(name))
        except MultinnError as exc:
            if len(names) == 1:
                raise
            err.print(f"{name}: FAILED: {exc}", markup=False)
            failed.append(name)
            continue
        size = sum(entry["size"] for entry in manifest["files"].values())
        console.print(f"{name}: OK ({len(manifest['files'])} files, {format_bytes(size)}, match manifest.json)")
    if failed:
        raise MultinnError(f"{len(failed)} of {len(names)} presets failed verification: {', '.join(failed)}")


@presets.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option(
    "--force",
    is_flag=True,
    help="Also re-seal a preset whose files no longer match its manifest, or whose weights record another "
    "class or spec (for files changed on purpose; a preset that does not load is still refused).",
)
def seal(directory: Path, force: bool) -> None:
    """Seal a preset written before manifests existed, so it loads.

    The model is built from config.json and the weights are loaded into it (their arrays must be
    the model's weights, every value finite); then model.weights.h5 records the class, spec and
    weight shapes (its weight arrays are kept byte for byte) and manifest.json, written last, the
    SHA-256 digest and size of each file. Loading never seals; seal only presets whose files you
    trust, since every later load verifies against the seal.

    \b
    Examples:
      multinn presets seal runs/old/preset
      multinn presets seal runs/edited/preset --force
    """
    from multinn.presets import seal_preset

    written = seal_preset(directory, force=force)
    stdout_console().print(f"{directory}: {'sealed' if written else 'already sealed; its files match manifest.json'}")


@presets.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.argument("handle", metavar="hf://OWNER/NAME")
@click.option("--private", is_flag=True, help="Create the repository as private.")
def upload(directory: Path, handle: str, private: bool) -> None:
    """Upload a preset to the Hugging Face Hub, with a model card (README.md) from its metadata.

    The preset is verified first (as every load does); the card says what the model plays, the
    data and its licence, the training commands and the metrics. Log in first (`hf auth login`,
    or HF_TOKEN). Needs the hub extra: pip install "multinn[hub]".

    \b
    Example:
      multinn presets upload runs/satb/preset hf://me/bach-satb-harmoniser
      multinn sample --preset hf://me/bach-satb-harmoniser
    """
    from multinn.presets import upload_preset

    url = upload_preset(directory, handle, private=private)
    stdout_console().print(f"{directory}: uploaded to {handle} ({url})")
