"""`multinn sample`: generate MIDI files from a preset or a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from multinn.cli.common import load_model, model_options, model_source, stderr_console, stdout_console
from multinn.errors import MultinnError

DEFAULT_BARS = 16
"""Length of a sample when neither --steps, --beats nor a fixed track says otherwise."""


def numbered(path: Path, index: int, count: int) -> Path:
    """`sample.mid` for one file; `sample-1.mid` ... `sample-N.mid` for several."""
    return path if count == 1 else path.with_name(f"{path.stem}-{index + 1}{path.suffix}")


def read_primer(path: str, spec):
    """A primer MIDI file as a roll `[time, pitch, track]` in the model's spec; notes that the
    spec cannot hold (unmapped instruments, pitches out of range) are a `SpecError`."""
    from multinn.data import read_midi
    from multinn.errors import SpecError

    roll, report = read_midi(path, spec, return_report=True)
    if report.unmapped:
        raise SpecError(
            f"primer {path}: {report.unmapped} note(s) of {', '.join(report.unmapped_instruments)} map to none of the "
            f"model's tracks {list(spec.track_names)} (name the MIDI tracks like them, or use --fix-track)"
        )
    if report.out_of_range:
        raise SpecError(
            f"primer {path}: {report.out_of_range} note(s) lie outside the model's pitch range "
            f"{spec.lowest_pitch}..{spec.highest_pitch}"
        )
    return roll


def read_fixed_track(path: str, spec, track: str):
    """The notes of `track` in a MIDI file as `[time, pitch]`: its MIDI track of that name or, in
    a file with one instrument, that instrument."""
    from multinn.data import PianorollSpec, read_midi
    from multinn.errors import SpecError

    k = spec.track_index(track)
    name = spec.tracks[k].name
    single = PianorollSpec(
        spec.steps_per_beat, spec.lowest_pitch, spec.highest_pitch, (spec.tracks[k],), spec.beats_per_bar
    )
    roll, report = read_midi(path, single, mapping={name: name}, return_report=True)
    if report.num_notes + report.out_of_range == 0:  # no MIDI track of that name
        if len(report.unmapped_instruments) != 1:
            found = "; ".join(report.unmapped_instruments)
            raise SpecError(
                f"--fix-track {track}={path}: the file has no MIDI track named {name!r} and "
                f"{len(report.unmapped_instruments)} instruments ({found}); pass a file with one instrument"
            )
        roll, report = read_midi(path, single, mapping={name: [range(128), "drums"]}, return_report=True)
    if report.out_of_range:
        raise SpecError(
            f"--fix-track {track}={path}: {report.out_of_range} note(s) lie outside the model's pitch range "
            f"{spec.lowest_pitch}..{spec.highest_pitch}"
        )
    return roll[..., 0]


def write_outputs(
    rolls, spec, out: Path, plot: Path | None, tempo: float, caption: str, done=None, audio: Path | None = None
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
            write_midi(roll, staged[i], spec, tempo=tempo)
            if plot:
                from multinn.plotting import plot as plot_roll

                plot_roll(roll, spec, staged[count + i], title=f"{paths[i].name} ({caption})")
            if audio:
                from multinn.audio import render_midi

                render_midi(staged[i], staged[count + len(pictures) + i])  # the tempo is the MIDI file's
            if done:
                done(i)
    return paths


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
    help="Continue this MIDI file (its tracks must map onto the model's).",
)
@click.option(
    "--fix-track",
    "fixed",
    multiple=True,
    metavar="NAME=FILE.mid",
    help="Keep track NAME as played in FILE.mid and generate the others (repeatable).",
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
    "--tempo", type=click.FloatRange(1, 400), default=100.0, show_default=True, help="Tempo of the MIDI files (bpm)."
)
def sample(preset, model_dir, num, steps, beats, temperature, seed, primer, fixed, out, plot, audio, tempo) -> None:
    """Generate multi-track MIDI files.

    With no options, the default bundled preset writes sample.mid (four voices, 16 bars).
    The length is --steps or --beats after the primer; without either, 16 bars, or with
    --fix-track, as long as the longest fixed track. A fixed track shorter than the result
    is padded with silence, a longer one is cut (a note says so).

    \b
    Examples:
      multinn sample --seed 0 --out chorale.mid --plot chorale.png --audio chorale.wav
      multinn sample --primer opening.mid --beats 32
      multinn sample --fix-track Soprano=melody.mid --out harmonised.mid
    """
    import random

    from multinn.presets import DEFAULT_PRESET
    from multinn.utils.checks import check_temperature

    if steps and beats:
        raise MultinnError("give --steps or --beats, not both")
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

    err = stderr_console()
    source = model_source(preset, model_dir, default=DEFAULT_PRESET)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=err, transient=True, disable=not err.is_terminal)  # fmt: skip
    with progress:
        task = progress.add_task(f"loading {source}", total=None)
        model = load_model(source)
        spec = model.spec
        for track, _ in pairs:
            spec.track_index(track)  # a track the model lacks fails before any file is read
        primer_roll = read_primer(primer, spec) if primer else None
        primer_steps = 0 if primer_roll is None else len(primer_roll)
        fixed_rolls = {spec.tracks[spec.track_index(t)].name: read_fixed_track(f, spec, t) for t, f in pairs}
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
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
            err.print(f"seed {seed} (pass --seed {seed} to write the same files again)")
        progress.update(task, description=f"generating {num} x {steps} steps", total=1, completed=0)
        rolls = model.generate(steps, primer=primer_roll, batch_size=num, temperature=temperature,
                               fixed_tracks=fixed_rolls or None, seed=seed)  # fmt: skip
        progress.update(task, description=f"writing {num} file(s)", total=num, completed=0)
        written = write_outputs(rolls, spec, out, plot, tempo, f"{source}, seed {seed}",
                                lambda i: progress.update(task, completed=i + 1), audio=audio)  # fmt: skip

    console = stdout_console()
    beats_total = total / spec.steps_per_beat
    tracks = f"{spec.num_tracks} tracks: {', '.join(spec.track_names)}"
    for path in written:
        console.print(f"wrote {path}  ({tracks}; {total} steps = {beats_total:g} beats)")
    if plot:
        console.print(f"plots: {', '.join(str(numbered(plot, i, num)) for i in range(num))}")
    if audio:
        console.print(f"audio: {', '.join(str(numbered(audio, i, num)) for i in range(num))}")
