"""What the commands that read MIDI files share: `--map`, `--out-of-range`, `--allow-drop`, and the
tables of where each part of a file went (`read_midi`'s `MidiReport`).

Nothing here imports TensorFlow, Keras or NumPy at module level.
"""

from __future__ import annotations

import click

from multinn.errors import MultinnError

OUT_OF_RANGE = ("drop", "fold")


def mapping_options(allow_drop: bool = True):
    """Decorator adding `--map SELECTOR=TRACK` (repeatable; parameter `maps`), `--out-of-range
    drop|fold` and, with `allow_drop`, `--allow-drop`."""

    def decorate(command):
        if allow_drop:
            command = click.option(
                "--allow-drop",
                is_flag=True,
                help="Use a MIDI file even if more than half of its notes are dropped (unmapped or out of range).",
            )(command)
        command = click.option(
            "--out-of-range",
            type=click.Choice(OUT_OF_RANGE),
            default="drop",
            show_default=True,
            help="Notes outside the model's pitch range: drop them (counted), or fold them by octaves into it.",
        )(command)
        return click.option(
            "--map",
            "maps",
            multiple=True,
            metavar="SELECTOR=TRACK",
            help="Put a part of the MIDI files on a track (repeatable). SELECTOR: a MIDI track name (or "
            "name:NAME), program:N, program:N-M, channel:N (1-16) or drums; e.g. --map 'Violin I=Soprano'. "
            "Parts no --map names are placed automatically (name, drums, family, pitch order).",
        )(command)

    return decorate


def parse_maps(maps) -> dict | None:
    """`--map` values as a `read_midi` mapping (`None` when none is given)."""
    from multinn.data import parse_mapping

    return parse_mapping(maps) if maps else None


def parts_table(report, what: str | None = None):
    """A rich table of where each part of one file went: part, channel, program, notes, tracks,
    kept, dropped, folded, rule; titled `what` (default: the file), the notes kept and the
    file's tempo and time signature."""
    from rich.table import Table

    from multinn.data import program_family

    total = report.num_notes + report.dropped
    frame = []
    if report.tempo is not None:
        frame.append(f"{report.tempo:g} bpm")
    if report.time_signature:
        frame.append("{}/{}".format(*report.time_signature))
    title = f"{what or report.path}: {report.num_notes:,} of {total:,} notes kept"
    table = Table(title=title + (f" ({', '.join(frame)})" if frame else ""))
    for column, justify in (
        ("part", "left"),
        ("channel", "right"),
        ("program", "left"),
        ("notes", "right"),
        ("-> track", "left"),
        ("kept", "right"),
        ("dropped", "right"),
        ("folded", "right"),
        ("rule", "left"),
    ):
        table.add_column(column, justify=justify)
    for part in report.parts:
        program = "drums" if part.is_drum else f"{part.program} {program_family(part.program)}"
        table.add_row(
            part.name or "(unnamed)",
            str(part.channel),
            program,
            f"{part.notes:,}",
            ", ".join(part.tracks) or "-",
            f"{part.kept:,}",
            f"{part.dropped:,}" if part.dropped else "",
            f"{part.folded:,}" if part.folded else "",
            part.rule,
        )
    return table


def summary_table(rows: list[dict], title: str):
    """A rich table of where the parts of many files went (rows of `multinn.data.summarise_parts`)."""
    from rich.table import Table

    table = Table(title=title)
    for column, justify in (
        ("-> track", "left"),
        ("rule", "left"),
        ("parts", "right"),
        ("notes", "right"),
        ("kept", "right"),
        ("dropped", "right"),
        ("folded", "right"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(
            ", ".join(row["tracks"]) or "-",
            row["rule"],
            f"{row['parts']:,}",
            f"{row['notes']:,}",
            f"{row['kept']:,}",
            f"{row['dropped']:,}" if row["dropped"] else "",
            f"{row['folded']:,}" if row["folded"] else "",
        )
    return table


def check_drops(what: str, kept: int, dropped: int, allow_drop: bool) -> None:
    """Refuse a file that loses more than half its notes, unless `allow_drop`."""
    total = kept + dropped
    if dropped * 2 > total and not allow_drop:
        raise MultinnError(
            f"{what}: {dropped:,} of {total:,} notes would be dropped (unmapped or out of the model's range); "
            "place parts with --map SELECTOR=TRACK, fold notes with --out-of-range fold, or pass --allow-drop"
        )
