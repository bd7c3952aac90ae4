"""`multinn data prepare DIR | info NAME`: MIDI folders to cached datasets, and dataset facts."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from multinn.cli.common import SPEC_NAMES, load_spec, stdout_console

SPLITS = ("train", "valid", "test")


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
        table.add_row(split, f"{len(ds):,}", f"{ds.num_frames:,}", f"{ds.num_notes:,}", f"{longest:,}", used,
                      *(f"{int(n):,}" for n in per_track))  # fmt: skip
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
@click.argument("folder", type=click.Path())
@click.option(
    "--spec",
    "spec_value",
    default="lpd5",
    show_default=True,
    metavar="|".join(SPEC_NAMES) + "|FILE.json",
    help="The tracks and pitch range to read the MIDI files into.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write train.npz, valid.npz, test.npz and spec.json there.",
)
def prepare(folder: str, spec_value: str, out: Path | None) -> None:
    """Read a folder of MIDI files into train/valid/test splits, cached under $MULTINN_HOME.

    A folder with train/, valid/, test/ subfolders keeps them; otherwise files are split
    80/10/10 by a hash of their path. Files that cannot be read are skipped and listed.
    Train on the result with: multinn train --data midi-folder --data-file FOLDER.
    """
    from rich.table import Table

    from multinn import datasets

    spec = load_spec(spec_value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped files are reported below
        splits = datasets.load("midi-folder", split=None, path=folder, spec=spec)
    console = stdout_console()
    meta = next(iter(splits.values())).metadata
    skipped = meta.get("skipped") or []
    console.print(split_table(f"{folder}: {meta.get('files', '?')} MIDI files, {len(skipped)} skipped", splits))
    console.print(spec_line(spec))
    if skipped:
        table = Table(title="skipped files")
        table.add_column("file")
        table.add_column("reason", overflow="fold")
        for path, reason in skipped:
            table.add_row(path, reason)
        console.print(table)
    if out:
        for split, ds in splits.items():
            ds.save(out / f"{split}.npz")
        spec.save(out / "spec.json")
        console.print(f"wrote {out}/train.npz, valid.npz, test.npz, spec.json")
    console.print(f"cached; train with: multinn train --data midi-folder --data-file {folder}"
                  + ("" if spec_value == "lpd5" else f" --spec {spec_value}"))  # fmt: skip


@data.command()
@click.argument("name")
@click.option("--data-file", type=click.Path(), help="Local file or folder of the dataset (else downloaded).")
@click.option("--spec", "spec_value", metavar="|".join(SPEC_NAMES) + "|FILE.json", help="Read the data into this spec.")
def info(name: str, data_file: str | None, spec_value: str | None) -> None:
    """Splits, pieces, frames, pitch range and tracks of a dataset."""
    from multinn import datasets

    entry = datasets.get_dataset_info(name)
    spec = load_spec(spec_value) if spec_value else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = datasets.load(name, split=None, path=data_file, spec=spec)
    console = stdout_console()
    console.print(split_table(f"{name}: {entry.description}", splits))
    console.print(spec_line(next(iter(splits.values())).spec))
