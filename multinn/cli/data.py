"""`multinn data prepare PATH | info NAME`: datasets to caches or shard files, and dataset facts."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import click

from multinn.cli.common import SPEC_NAMES, format_bytes, load_spec, stderr_console, stdout_console
from multinn.cli.mapping import mapping_options, parse_maps, summary_table
from multinn.errors import MultinnError

SPLITS = ("train", "valid", "test")
SHARDS = "shards"
"""The `--data` name of a shard directory (`multinn data prepare --shards DIR`)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kb|mb|gb|pieces?)\s*$", re.IGNORECASE)
_UNITS = {"kb": 2**10, "mb": 2**20, "gb": 2**30}


def parse_shard_size(ctx: click.Context, param: click.Parameter, value: str) -> dict:
    """Click callback: `"64MB"` -> `{"max_shard_bytes": 67108864}`, `"500pieces"` -> `{"max_shard_pieces": 500}`.

    Sizes count the coordinates in memory (12 bytes per active cell); KB, MB, GB are powers of 1024.
    """
    match = _SIZE.match(str(value))
    if not match:
        raise click.BadParameter(f"expected a size like 64MB, 512KB, 1GB or a count like 500pieces; got {value!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit.startswith("piece"):
        if number < 1 or number != int(number):
            raise click.BadParameter(f"expected a positive whole number of pieces, got {value!r}")
        return {"max_shard_pieces": int(number)}
    size = int(number * _UNITS[unit])
    if size < 1:
        raise click.BadParameter(f"expected a positive size, got {value!r}")
    return {"max_shard_bytes": size}


def shard_table(title: str, shards):
    """A rich table of a `ShardedDataset`: pieces, frames, notes, shard files and bytes per split."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("split", "pieces", "frames", "notes", "longest", "shard files", "size on disk"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split in shards.splits:
        info = shards.manifest["splits"][split]
        size = sum(s["bytes"] for s in info["shards"])
        table.add_row(
            split,
            f"{info['pieces']:,}",
            f"{info['frames']:,}",
            f"{info['notes']:,}",
            f"{info['longest']:,}",
            f"{len(info['shards']):,}",
            format_bytes(size),
        )
    return table


def _counted(pieces, total: int, description: str):
    """Yield from `pieces`, advancing a progress bar on stderr (shown in a terminal only)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = stderr_console()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        for piece in pieces:
            yield piece
            progress.advance(task)


def split_table(title: str, splits: dict):
    """A rich table: pieces, frames, notes, longest piece, pitch range used, notes per track."""
    import numpy as np
    from rich.table import Table

    spec = next(iter(splits.values())).spec
    table = Table(title=title)
    for column in ("split", "pieces", "frames", "notes", "longest", "pitches used", *spec.track_names):
        table.add_column(column, justify="left" if column in ("split", "pitches used") else "right")
    for split, ds in splits.items():
        pitches = ds.coords[:, 1] + spec.lowest_pitch if len(ds.coords) else np.zeros(0, int)
        used = f"{pitches.min()}..{pitches.max()}" if len(pitches) else "-"
        per_track = np.bincount(ds.coords[:, 2], minlength=spec.num_tracks) if len(ds.coords) else [0] * spec.num_tracks
        longest = int(ds.lengths.max()) if len(ds) else 0
        table.add_row(
            split,
            f"{len(ds):,}",
            f"{ds.num_frames:,}",
            f"{ds.num_notes:,}",
            f"{longest:,}",
            used,
            *(f"{int(n):,}" for n in per_track),
        )
    return table


def spec_line(spec) -> str:
    tracks = ", ".join(f"{t.name} ({'drums' if t.is_drum else f'program {t.program}'})" for t in spec.tracks)
    return (
        f"spec: {spec.steps_per_beat} steps per beat, {spec.beats_per_bar} beats per bar, pitches "
        f"{spec.lowest_pitch}..{spec.highest_pitch} ({spec.num_pitches}), tracks: {tracks}"
    )


@click.group()
def data() -> None:
    """Prepare MIDI folders as datasets and describe datasets."""


@data.command()
@click.argument("path", type=click.Path())
@click.option(
    "--data",
    "name",
    default="midi-folder",
    show_default=True,
    metavar="NAME",
    help="What PATH holds: midi-folder (a folder of MIDI files), lpd5 (an LPD-5 .npz), jsb-chorales, bach-satb.",
)
@click.option(
    "--spec",
    "spec_value",
    metavar="|".join(SPEC_NAMES) + "|FILE.json",
    help="The tracks and pitch range to read the data into [default: the dataset's; lpd5 for MIDI folders].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write train.npz, valid.npz, test.npz and spec.json there.",
)
@click.option(
    "--shards",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write the splits as shard files and manifest.json there, for streaming (lpd5: in bounded memory).",
)
@click.option(
    "--shard-size",
    default="16MB",
    show_default=True,
    callback=parse_shard_size,
    metavar="SIZE",
    help="Shard size: coordinates in memory (16MB, 512KB; 12 bytes per note) or a piece count (500pieces).",
)
@click.option("--overwrite", is_flag=True, help="Replace shards already in the --shards directory.")
@mapping_options(allow_drop=False)
def prepare(
    path: str,
    name: str,
    spec_value: str | None,
    out: Path | None,
    shards: Path | None,
    shard_size: dict,
    overwrite: bool,
    maps: tuple[str, ...],
    out_of_range: str,
) -> None:
    """Read a dataset into train/valid/test splits: cached under $MULTINN_HOME, optionally
    written as .npz files (--out) or as shards for streaming (--shards).

    PATH is a folder of MIDI files by default: a folder with train/, valid/, test/ subfolders
    keeps them; otherwise files are split 80/10/10 by a hash of their path. Files that cannot be
    read are skipped and listed. With --data lpd5 --shards DIR, the LPD-5 .npz is read in chunks
    and written shard by shard, never whole, and is not cached.

    \b
    Examples:
      multinn data prepare my_midis/ --out prepared/
      multinn data prepare lpd5.npz --data lpd5 --shards lpd5-shards/ --shard-size 16MB
      multinn train --data shards --data-file lpd5-shards/ --out runs/lpd5
    """
    from rich.table import Table

    from multinn import datasets

    info = datasets.get_dataset_info(name)
    spec = load_spec(spec_value) if spec_value else info.spec
    console = stdout_console()
    if name == "lpd5" and shards is not None:
        if out is not None:
            raise MultinnError(
                "--data lpd5 --shards streams the file without loading it whole, so it cannot also write --out; "
                "run `multinn data prepare` twice"
            )
        _stream_lpd5_shards(path, spec, shards, shard_size, overwrite, console)
        return
    options = {}
    if info.path_kind == "folder":  # MIDI files: where their parts go
        options = {"out_of_range": out_of_range, **({"mapping": parse_maps(maps), "auto": True} if maps else {})}
    elif maps or out_of_range != "drop":
        raise MultinnError(f"--map and --out-of-range apply to MIDI folders, not to --data {name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped files are reported below
        splits = datasets.load(name, split=None, path=path, spec=spec, **options)
    meta = next(iter(splits.values())).metadata
    skipped = meta.get("skipped") or []
    if info.path_kind == "folder":
        title = f"{path}: {meta.get('files', '?')} MIDI files, {len(skipped)} skipped"
    else:
        title = f"{path}: {info.description}"
    console.print(split_table(title, splits))
    console.print(spec_line(spec))
    if meta.get("parts"):
        console.print(summary_table(meta["parts"], "where the parts of the files went"))
    if skipped:
        table = Table(title="skipped files")
        table.add_column("file")
        table.add_column("reason", overflow="fold")
        for file, reason in skipped:
            table.add_row(file, reason)
        console.print(table)
    if out:
        from multinn.utils.io import all_or_none

        names = [f"{split}.npz" for split in splits] + ["spec.json"]
        with all_or_none([out / name for name in names]) as staged:  # all four files or none
            for ds, path in zip(splits.values(), staged[:-1], strict=True):
                ds.save(path)
            spec.save(staged[-1])
        console.print(f"wrote {out}/train.npz, valid.npz, test.npz, spec.json")
    if shards is not None:
        from multinn.data import write_shards

        written = write_shards(splits, shards, name=name, overwrite=overwrite, **shard_size)
        console.print(shard_table(f"{shards}: shards of {name}", written))
        console.print(f"train with: multinn train --data {SHARDS} --data-file {shards}")
        return
    console.print(
        f"cached; train with: multinn train --data {name} --data-file {path}"
        + ("" if not spec_value else f" --spec {spec_value}")
    )


def _stream_lpd5_shards(path: str, spec, shards: Path, shard_size: dict, overwrite: bool, console) -> None:
    """`prepare --data lpd5 --shards`: stream the .npz into shards, one chunk and one shard per split at a time."""
    from multinn.data import write_shards
    from multinn.datasets.lpd5 import stream_lpd5

    stream = stream_lpd5(path, spec)
    pieces = _counted(stream, len(stream), f"writing {len(stream):,} pieces")
    metadata = {"source": str(Path(path).resolve()), "source_shape": list(stream.shape)}
    written = write_shards(
        pieces,
        shards,
        spec=spec,
        name="lpd5",
        splits=stream.SPLITS,
        metadata=metadata,
        overwrite=overwrite,
        **shard_size,
    )
    console.print(shard_table(f"{shards}: shards of {path} (lpd5, {stream.num_notes:,} notes)", written))
    console.print(spec_line(spec))
    console.print(f"train with: multinn train --data {SHARDS} --data-file {shards}")


@data.command()
@click.argument("name")
@click.option("--data-file", type=click.Path(), help="Local file or folder of the dataset (else downloaded).")
@click.option("--spec", "spec_value", metavar="|".join(SPEC_NAMES) + "|FILE.json", help="Read the data into this spec.")
def info(name: str, data_file: str | None, spec_value: str | None) -> None:
    """Splits, pieces, frames, pitch range and tracks of a dataset."""
    from multinn import datasets

    if name == SHARDS:
        from multinn.data import ShardedDataset

        if not data_file:
            raise MultinnError("`data info shards` needs --data-file DIR (written by `multinn data prepare --shards`)")
        sharded = ShardedDataset(data_file)
        console = stdout_console()
        console.print(shard_table(f"{sharded.directory}: shards of {sharded.name or '?'}", sharded))
        console.print(spec_line(sharded.spec))
        return
    entry = datasets.get_dataset_info(name)
    spec = load_spec(spec_value) if spec_value else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = datasets.load(name, split=None, path=data_file, spec=spec)
    console = stdout_console()
    console.print(split_table(f"{name}: {entry.description}", splits))
    console.print(spec_line(next(iter(splits.values())).spec))
