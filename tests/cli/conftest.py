"""Helpers of the CLI tests: invoking `multinn` in-process and checking user errors."""

from __future__ import annotations

import mido
import pytest
from click.testing import CliRunner

from multinn.cli import main


def invoke(*args):
    """Run `multinn ARGS` with click's CliRunner (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="multinn")


def assert_user_error(result, fragment: str) -> None:
    """Exit status 2, one `Error: ...` line on stderr naming `fragment`, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def chorale_midi(tmp_path, bach_satb_path):
    """The first bach-satb test chorale as a 4-track MIDI file (tracks Soprano, Alto, Tenor, Bass)."""
    from multinn import datasets
    from multinn.data import write_midi

    test = datasets.load("bach-satb", split="test", path=bach_satb_path)
    path = tmp_path / "chorale.mid"
    write_midi(test[0], path, test.spec)
    return path, test[0]


def write_one_instrument(path, notes, program=0, name="Melody", ticks_per_step=120):
    """A type-1 MIDI file with one instrument; `notes` is a list of (pitch, start step, steps)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    events = []
    for pitch, start, length in notes:
        events.append((start * ticks_per_step, 1, mido.Message("note_on", note=pitch, velocity=90)))
        events.append(((start + length) * ticks_per_step, 0, mido.Message("note_off", note=pitch, velocity=0)))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name), mido.Message("program_change", program=program)])
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    midi.tracks.append(track)
    midi.save(path)
    return path
