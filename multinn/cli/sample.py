"""`multinn sample`: generate MIDI files from a preset or a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from multinn.cli.common import load_model, model_options, model_source, stderr_console, stdout_console
from multinn.cli.mapping import mapping_options, parse_maps, parts_table
from multinn.errors import MultinnError

DEFAULT_BARS = 16
"""Length of a sample when neither --steps, --beats nor a fixed track says otherwise."""
DEFAULT_TEMPO = 100.0
"""Tempo of a sample (bpm) when neither --tempo nor a primer or fixed-track file gives one."""


def numbered(path: Path, index: int, count: int) -> Path:
    """`sample.mid` for one file; `sample-1.mid` ... `sample-N.mid` for several."""
    return path if count == 1 else path.with_name(f"{path.stem}-{index + 1}{path.suffix}")


def parse_bar_span(value: str) -> tuple[int, int]:
    """`"5:8"` -> `(5, 8)`: bars 5 to 8, 1-based and inclusive (`"5"`: bar 5 alone)."""
    first, sep, last = value.partition(":")
    try:
        span = (int(first), int(last) if sep else int(first))
    except ValueError:
        raise click.BadParameter(f"expected BAR:BAR, e.g. 5:8; got {value!r}", param_hint="--infill") from None
    if span[0] < 1 or span[1] < span[0]:
        raise click.BadParameter(f"expected bars 1 <= FIRST <= LAST, e.g. 5:8; got {value!r}", param_hint="--infill")
    return span


def _hearing_note(model, fixed: list[str]) -> str:
    """What the free tracks of a per-track model hear of the fixed ones (one stderr line)."""
    free = ", ".join(t for t in model.spec.track_names if t not in fixed)
    if getattr(model, "in_frame", False):
        return f"in-frame: {free} drawn after {', '.join(fixed)}, hearing their notes at every step"
    return (
        f"note: {free} hear {', '.join(fixed)} only through the past (this {model.mode} model has no in-frame "
        "conditioning; train one with --in-frame)"
    )


def _infill(model, roll, bars: tuple[int, int], tracks, candidates: int, num: int, temperature, seed: int):
    """`num` infills of `bars` of `roll` (`MultINN.infill`, seeds `seed`, `seed + 1`, ...): `[num, T, P, K]`."""
    import numpy as np

    bar = model.spec.steps_per_bar
    start, stop = (bars[0] - 1) * bar, min(bars[1] * bar, len(roll))
    if start >= len(roll):
        raise MultinnError(
            f"--infill {bars[0]}:{bars[1]}: the primer has {len(roll)} steps = {-(-len(roll) // bar)} bar(s)"
        )
    return np.stack(
        [
            model.infill(roll, start, stop, tracks, candidates=candidates, temperature=temperature, seed=seed + i)
            for i in range(num)
        ]
    )


def read_primer(path: str, spec, mapping=None, out_of_range: str = "drop", allow_drop: bool = False):
    """A primer MIDI file as a roll `[time, pitch, track]` in the model's spec, and its `MidiReport`.

    Every part of the file is placed by `read_midi`'s rules (with `mapping` first); a file that
    keeps no note, or loses more than half of them without `allow_drop`, is a `MultinnError`.
    """
    from multinn.cli.mapping import check_drops
    from multinn.data import read_midi

    roll, report = read_midi(path, spec, mapping, out_of_range=out_of_range, return_report=True)
    check_drops(f"primer {path}", report.num_notes, report.dropped, allow_drop)
    return roll, report


def read_fixed_track(path: str, spec, track: str, mapping=None, out_of_range: str = "drop", allow_drop: bool = False):
    """The notes of `track` in a MIDI file as `[time, pitch]`, and the file's `MidiReport`.

    A file of one part (a melody) gives that part, whatever its name; a file of several parts is
    read into the model's tracks by `read_midi`'s rules (with `mapping` first), and the notes that
    land on `track` are kept: a file in the model's own layout (tracks named like the model's)
    gives its track of that name. No note on `track`, or more than half of the notes meant for it
    dropped without `allow_drop`, is a `MultinnError`.
    """
    from multinn.cli.mapping import check_drops
    from multinn.data import PianorollSpec, read_midi

    k = spec.track_index(track)
    name = spec.tracks[k].name
    what = f"--fix-track {track}={path}"
    roll, report = read_midi(path, spec, mapping, out_of_range=out_of_range, return_report=True)
    if len(report.parts) == 1:  # a melody: it is the fixed track, whatever its name or register
        single = PianorollSpec(
            spec.steps_per_beat, spec.lowest_pitch, spec.highest_pitch, (spec.tracks[k],), spec.beats_per_bar
        )
        everything = {name: ["drums" if report.parts[0].is_drum else "program:0-127"]}
        roll, report = read_midi(path, single, everything, auto=False, out_of_range=out_of_range, return_report=True)
        check_drops(what, report.num_notes, report.dropped, allow_drop)
        return roll[..., 0], report
    parts = [part for part in report.parts if name in part.tracks]
    if not parts or not roll[..., k].any():
        found = "; ".join(f"{p.name or '(unnamed)'} -> {', '.join(p.tracks) or 'unmapped'}" for p in report.parts)
        raise MultinnError(
            f"{what}: no part of the file lands on {name} ({found}); choose one with --map 'PART={name}'"
        )
    check_drops(what, sum(p.kept for p in parts), sum(p.dropped for p in parts), allow_drop)
    return roll[..., k], report


def write_outputs(
    rolls,
    spec,
    out: Path,
    plot: Path | None,
    tempo: float,
    caption: str,
    done=None,
    audio: Path | None = None,
    time_signature: tuple[int, int] | None = None,
) -> list[Path]:
    """Write each roll as a MIDI file (and a picture with `plot`, a WAV file rendered from the MIDI
    file with `audio`), numbered like `numbered`: all of them or none (`multinn.utils.io.all_or_none`).

    Returns:
        The MIDI files written.
    """
    from multinn.data import write_midi
    from multinn.utils.io import all_or_none

    count = len(rolls)
    paths = [numbered(out, i, count) for i in range(count)]
    pictures = [numbered(plot, i, count) for i in range(count)] if plot else []
    sounds = [numbered(audio, i, count) for i in range(count)] if audio else []
    with all_or_none(paths + pictures + sounds) as staged:
        for i, roll in enumerate(rolls):
            write_midi(roll, staged[i], spec, tempo=tempo, time_signature=time_signature)
            if plot:
                from multinn.plotting import plot as plot_roll

                plot_roll(roll, spec, staged[count + i], title=f"{paths[i].name} ({caption})")
            if audio:
                from multinn.audio import render_midi

                render_midi(staged[i], staged[count + len(pictures) + i])  # the tempo is the MIDI file's
            if done:
                done(i)
    return paths


def _musical_frame(reports, tempo: float | None) -> tuple[float, tuple[int, int] | None]:
    """The output's tempo (`--tempo`, else the first file's first tempo, else `DEFAULT_TEMPO`)
    and time signature (the first file's, else the spec's)."""
    first = reports[0] if reports else None
    if tempo is None:
        tempo = first.tempo if first is not None and first.tempo else DEFAULT_TEMPO
    return tempo, first.time_signature if first is not None else None


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MultinnError("--plot needs matplotlib: pip install 'multinn[plot]'") from None


def _check_audio() -> None:
    """The audio extra and the default SoundFont are there, before anything is generated."""
    from multinn.audio import check_installed, default_soundfont

    check_installed("--audio")
    default_soundfont()


@click.command()
@model_options(default="bach-satb-composer")
@click.option("--num", type=click.IntRange(1, 256), default=1, show_default=True, help="How many files to write.")
@click.option("--steps", type=click.IntRange(1), help="Steps to generate after the primer.")
@click.option(
    "--beats", type=click.IntRange(1), help="Beats to generate after the primer (steps = beats x steps per beat)."
)
@click.option(
    "--temperature",
    type=float,
    default=1.0,
    show_default=True,
    help="Sampling temperature, a finite number >= 0 (0: most likely notes, >1: wilder).",
)
@click.option("--seed", type=int, help="Random seed: the same seed writes the same files [default: random, printed].")
@click.option(
    "--primer",
    type=click.Path(),
    metavar="FILE.mid",
    help="Continue this MIDI file (its parts are placed on the model's tracks; see --map).",
)
@click.option(
    "--fix-track",
    "fixed",
    multiple=True,
    metavar="NAME=FILE.mid",
    help="Keep track NAME as played in FILE.mid and generate the others (repeatable).",
)
@click.option(
    "--infill",
    metavar="BAR:BAR",
    help="Regenerate these bars of --primer (1-based, inclusive, e.g. 5:8) and keep the rest.",
)
@click.option(
    "--infill-tracks",
    metavar="NAME,...",
    help="With --infill: regenerate only these tracks of the bars [default: all].",
)
@click.option(
    "--candidates",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="With --infill: spans drawn, one kept in proportion to how well it fits what follows.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sample.mid"),
    show_default=True,
    help="Output MIDI file; with --num N: OUT-1.mid ... OUT-N.mid.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw each sample as a piano-roll picture (needs matplotlib); numbered like --out.",
)
@click.option(
    "--audio",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.wav",
    help="Also render each sample to a WAV file with a General MIDI SoundFont (needs the audio extra); "
    "numbered like --out.",
)
@click.option(
    "--tempo",
    type=click.FloatRange(1, 400),
    help=f"Tempo of the MIDI files in bpm [default: the primer's (else the first fixed track file's), else "
    f"{DEFAULT_TEMPO:g}]; the time signature is the primer's too.",
)
@mapping_options()
def sample(
    preset,
    model_dir,
    num,
    steps,
    beats,
    temperature,
    seed,
    primer,
    fixed,
    infill,
    infill_tracks,
    candidates,
    out,
    plot,
    audio,
    tempo,
    maps,
    out_of_range,
    allow_drop,
) -> None:
    """Generate multi-track MIDI files.

    With no options, the default bundled preset writes sample.mid (four voices, 16 bars).
    The length is --steps or --beats after the primer; without either, 16 bars, or with
    --fix-track, as long as the longest fixed track. A fixed track shorter than the result
    is padded with silence, a longer one is cut (a note says so). The parts of a primer or
    fixed-track file are placed on the model's tracks by name, drums, family and pitch order
    (--map overrides); a table on stderr shows what went where.

    \b
    Examples:
      multinn sample --seed 0 --out chorale.mid --plot chorale.png --audio chorale.wav
      multinn sample --primer opening.mid --beats 32
      multinn sample --fix-track Soprano=melody.mid --out harmonised.mid
      multinn sample --primer song.mid --infill 5:8 --infill-tracks Alto,Tenor
      multinn sample --primer quartet.mid --map 'Violin I=Soprano' --out-of-range fold
    """
    import random

    from multinn.presets import DEFAULT_PRESET
    from multinn.utils.checks import check_temperature

    if steps and beats:
        raise MultinnError("give --steps or --beats, not both")
    bars = parse_bar_span(infill) if infill else None
    if infill and not primer:
        raise MultinnError("--infill regenerates bars of a --primer file: give --primer")
    if infill and (steps or beats or fixed):
        raise MultinnError("--infill keeps the primer's length and tracks: drop --steps/--beats/--fix-track")
    if infill_tracks and not infill:
        raise MultinnError("--infill-tracks needs --infill")
    check_temperature(temperature)  # before the model loads
    if plot:
        _check_matplotlib()
    if audio:
        _check_audio()
    for name in (primer, *(f.partition("=")[2] for f in fixed)):
        if name and not Path(name).is_file():
            raise MultinnError(f"{name}: no such file")
    pairs = []
    for item in fixed:
        track, sep, file = item.partition("=")
        if not sep or not track or not file:
            raise click.BadParameter(f"expected NAME=FILE.mid, got {item!r}", param_hint="--fix-track")
        pairs.append((track, file))

    mapping = parse_maps(maps)
    err = stderr_console()
    source = model_source(preset, model_dir, default=DEFAULT_PRESET)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(f"loading {source}", total=None)
        model = load_model(source)
        spec = model.spec
        for track, _ in pairs:
            spec.track_index(track)  # a track the model lacks fails before any file is read
        infill_names = [t.strip() for t in (infill_tracks or "").split(",") if t.strip()] or None
        for track in infill_names or ():
            spec.track_index(track)
        reading = dict(mapping=mapping, out_of_range=out_of_range, allow_drop=allow_drop)
        frames = []  # the reports of the files read, primer first: the output keeps their tempo
        primer_roll = None
        if primer:
            primer_roll, report = read_primer(primer, spec, **reading)
            progress.console.print(parts_table(report, f"primer {primer}"))
            frames.append(report)
        primer_steps = 0 if primer_roll is None else len(primer_roll)
        fixed_rolls = {}
        for track, file in pairs:
            roll, report = read_fixed_track(file, spec, track, **reading)
            name = spec.tracks[spec.track_index(track)].name
            progress.console.print(parts_table(report, f"--fix-track {name}={file}"))
            fixed_rolls[name] = roll
            frames.append(report)
        tempo, time_signature = _musical_frame(frames, tempo)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
            err.print(f"seed {seed} (pass --seed {seed} to write the same files again)")
        if bars is not None:
            total = len(primer_roll)
            progress.update(task, description=f"infilling bars {infill} ({num} x {candidates} candidates)")
            rolls = _infill(model, primer_roll, bars, infill_names, candidates, num, temperature, seed)
            described = f"{source}, infill {infill}, seed {seed}"
        else:
            if steps is None:
                if beats:
                    steps = beats * spec.steps_per_beat
                elif fixed_rolls and max(len(r) for r in fixed_rolls.values()) > primer_steps:
                    steps = max(len(r) for r in fixed_rolls.values()) - primer_steps
                else:
                    steps = DEFAULT_BARS * spec.steps_per_bar
            total = primer_steps + steps
            model.check_generation(total, num, temperature)  # before any array of that length exists
            import numpy as np

            for name, roll in fixed_rolls.items():
                if len(roll) != total:
                    what = "padded with silence" if len(roll) < total else "cut"
                    err.print(f"note: fixed track {name} ({len(roll)} steps) {what} to {total} steps")
                    fixed_rolls[name] = np.pad(roll, ((0, max(0, total - len(roll))), (0, 0)))[:total]
            if fixed_rolls and model.mode != "joint":
                err.print(_hearing_note(model, list(fixed_rolls)))
            progress.update(task, description=f"generating {num} x {steps} steps", total=1, completed=0)
            rolls = model.generate(
                steps,
                primer=primer_roll,
                batch_size=num,
                temperature=temperature,
                fixed_tracks=fixed_rolls or None,
                seed=seed,
            )
            described = f"{source}, seed {seed}"
        progress.update(task, description=f"writing {num} file(s)", total=num, completed=0)
        written = write_outputs(
            rolls,
            spec,
            out,
            plot,
            tempo,
            described,
            lambda i: progress.update(task, completed=i + 1),
            audio=audio,
            time_signature=time_signature,
        )

    console = stdout_console()
    beats_total = total / spec.steps_per_beat
    tracks = f"{spec.num_tracks} tracks: {', '.join(spec.track_names)}"
    for path in written:
        console.print(f"wrote {path}  ({tracks}; {total} steps = {beats_total:g} beats)")
    if plot:
        console.print(f"plots: {', '.join(str(numbered(plot, i, num)) for i in range(num))}")
    if audio:
        console.print(f"audio: {', '.join(str(numbered(audio, i, num)) for i in range(num))}")
