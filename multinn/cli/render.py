"""`multinn render IN.mid OUT.wav`: a MIDI file rendered to a WAV file with a General MIDI SoundFont."""

from __future__ import annotations

from pathlib import Path

import click

from multinn.cli.common import stdout_console
from multinn.errors import MultinnError


@click.command()
@click.argument("midi", metavar="IN.mid", type=click.Path(path_type=Path))
@click.argument("wav", metavar="OUT.wav", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--soundfont",
    type=click.Path(path_type=Path),
    metavar="FILE.sf2",
    help="SoundFont 2 file to play with [default: TimGM6mb.sf2, shipped with pretty_midi].",
)
@click.option(
    "--sample-rate",
    type=click.IntRange(8000, 192000),
    default=44100,
    show_default=True,
    help="Frames per second of the WAV file (48000: the synthesizer's own rate, no resampling).",
)
def render(midi: Path, wav: Path, soundfont: Path | None, sample_rate: int) -> None:
    """Render a MIDI file to a 16-bit stereo WAV file (needs the audio extra).

    Each channel plays its General MIDI program, channel 10 the drum kit; the tempo is the
    file's. The WAV lasts as long as the MIDI file plus the release tail of its last notes
    (at most 4 s).

    \b
    Examples:
      multinn sample --seed 0 --out chorale.mid && multinn render chorale.mid chorale.wav
      multinn render song.mid song.wav --soundfont FluidR3_GM.sf2 --sample-rate 48000
    """
    from multinn.audio import check_installed, render_midi

    check_installed("multinn render")
    if not midi.is_file():
        raise MultinnError(f"{midi}: no such file")
    if soundfont is not None and not soundfont.is_file():
        raise MultinnError(f"{soundfont}: no such SoundFont file")
    result = render_midi(midi, wav, soundfont=soundfont, sample_rate=sample_rate)
    stdout_console().print(f"wrote {result.path} ({result.duration:.1f} s, {result.sample_rate} Hz)")
