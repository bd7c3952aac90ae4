"""MIDI reading benchmark: `read_midi` on two pathological files crafted with mido.

Both files have 480 ticks per beat and are read into the LPD-5 spec (12 steps per beat, pitches
24-107, tracks Drums/Piano/Guitar/Bass/Strings) with its family mapping and no fallback, so notes
are mapped, merged, dropped as out of range and dropped as unmapped:

- `long-notes.mid`: 952 MIDI tracks of one channel each (channel `k % 16`, program
  `8 * (k % 16)`: one per General MIDI family, channel 10 drums), each holding 2 notes on every
  pitch 24-107 (159,936 notes): the first from a random tick in [0, 96,000) to a random tick in
  [1,900,000, 1,940,000), the second from 1 to 4,799 ticks later to a random tick in
  [3,744,000, 3,840,000) (8,000 beats, 96,000 steps). Each note lasts ~47,000 steps.
- `overlapping-notes.mid`: one MIDI track of 8 blocks, one after the other, each on one
  channel, program and pitch (`OVERLAP_BLOCKS`: piano, guitar, bass, ensemble, drums, piano out
  of range, and two unmapped instruments, one of them out of range too); a block is a
  program_change, then 40,000 note_on messages of its pitch one tick apart, then their 40,000
  note-offs one tick apart, so 40,000 notes of one pitch and channel are on at once (320,000
  notes, 640,000 ticks, 16,000 steps).

Note-offs are note_on messages of velocity 0, so running status keeps a message at 3-4 bytes.
Each file is read in a fresh subprocess, `--repeat` times, three ways: `read_midi`; its scan of
the file alone (`_read_smf` of `multinn/data/midi.py`, which decodes the events and pairs the
notes; absent from implementations older than it); and `mido.MidiFile` alone (what `read_midi`
parsed with before). The table shows the best time and the largest peak memory (the
subprocess's `ru_maxrss`) of each.

Usage: python benchmarks/midi_read.py [--implementation FILE] [--repeat 3] [--workdir DIR]
`--implementation` reads with the `read_midi` of another copy of `multinn/data/midi.py` (e.g.
`git show HEAD~1:multinn/data/midi.py > /tmp/midi_old.py`), to compare versions.
Prints a table; numbers go in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS_PER_BEAT = 480
LONG_TRACKS, LONG_END = 952, 3_840_000
OVERLAP_NOTES = 40_000
OVERLAP_BLOCKS = ((0, 0, 60), (1, 8, 64), (2, 24, 52), (3, 33, 40), (4, 48, 72), (5, 40, 20), (6, 0, 120), (9, 0, 38))
"""(channel, program, pitch) of the blocks of `overlapping-notes.mid`."""


def _note_track(channel: int, program: int, name: str, events: list[tuple[int, int, int]]):
    """A mido track on one channel: its name, program, then `(tick, velocity, pitch)` note_on events in time order
    (velocity 0, a note-off, before a note-on at one tick)."""
    import mido

    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    last = 0
    for tick, velocity, pitch in sorted(events):
        track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity, time=tick - last))
        last = tick
    return track


def write_long_notes(path: Path, seed: int = 0) -> int:
    """Write `long-notes.mid` (see the module docstring); returns its number of notes."""
    import mido

    rng = random.Random(seed)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    notes = 0
    for k in range(LONG_TRACKS):
        events = []
        for pitch in range(24, 108):
            start, middle = rng.randrange(96_000), rng.randrange(1_900_000, 1_940_000)
            restart, end = middle + rng.randrange(1, 4800), rng.randrange(LONG_END - 96_000, LONG_END)
            events += [(start, 90, pitch), (middle, 0, pitch), (restart, 90, pitch), (end, 0, pitch)]
            notes += 2
        channel = k % 16
        midi.tracks.append(_note_track(channel, 8 * channel, f"track {k}", events))
    midi.save(path)
    return notes


def write_overlapping_notes(path: Path) -> int:
    """Write `overlapping-notes.mid` (see the module docstring); returns its number of notes."""
    import mido

    track = mido.MidiTrack([mido.MetaMessage("track_name", name="overlaps", time=0)])
    for channel, program, pitch in OVERLAP_BLOCKS:
        track.append(mido.Message("program_change", channel=channel, program=program, time=int(channel > 0)))
        for velocity in (90, 0):
            for i in range(OVERLAP_NOTES):
                track.append(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity, time=int(i > 0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(path)
    return len(OVERLAP_BLOCKS) * OVERLAP_NOTES


FILES = {"long-notes.mid": write_long_notes, "overlapping-notes.mid": write_overlapping_notes}


def write_files(folder: Path) -> None:
    """Subprocess: write both files into `folder`; print JSON with their numbers of notes."""
    print(json.dumps({name: write(folder / name) for name, write in FILES.items()}))


def load_read_midi(implementation: str | None):
    """`read_midi` of `multinn.data.midi`, or of the module file `implementation`."""
    if implementation is None:
        from multinn.data import read_midi

        return read_midi
    spec = importlib.util.spec_from_file_location("midi_under_test", implementation)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.read_midi


def worker(path: str, implementation: str | None, mode: str) -> None:
    """Subprocess: read `path` once (`mode`: "read" with `read_midi`, "scan" with its `_read_smf` alone, "mido" with
    `mido.MidiFile` alone); print JSON with the seconds, steps and the RSS before (null seconds: no `_read_smf`)."""
    import resource

    import mido

    from multinn.datasets import LPD5_SPEC

    read_midi = load_read_midi(implementation)
    read_smf = sys.modules[read_midi.__module__].__dict__.get("_read_smf")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start, steps = time.perf_counter(), None
    if mode == "mido":
        mido.MidiFile(file=io.BytesIO(Path(path).read_bytes()))  # as read_midi parsed before its own scanner
    elif mode == "scan":
        if read_smf is None:
            print(json.dumps({"seconds": None, "steps": None, "rss_before": before}))
            return
        read_smf(Path(path).read_bytes(), path)
    else:
        steps = read_midi(path, LPD5_SPEC).shape[0]
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "steps": steps, "rss_before": before}))


def run(args: list[str]) -> dict:
    """Run a subprocess of this script; its JSON result plus its peak RSS (`ru_maxrss` via `os.wait4`)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(args)} failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "rss": usage.ru_maxrss * 1024}


def best(args: list[str], repeat: int) -> dict:
    """`run` `repeat` times: the JSON result of the fastest run, with the largest peak RSS of all."""
    runs = [run(args) for _ in range(repeat)]
    return {**min(runs, key=lambda r: r["seconds"] or 0), "rss": max(r["rss"] for r in runs)}


def timing(result: dict, memory: bool = True) -> str:
    """`best`'s seconds (and peak RSS, in parentheses), or "-" where the implementation has no such step."""
    if result["seconds"] is None:
        return "-"
    return f"{result['seconds']:.2f} s" + (f" ({result['rss'] / 1e6:,.0f} MB)" if memory else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--implementation", help="Read with the read_midi of this midi.py file instead.")
    parser.add_argument("--repeat", type=int, default=3, help="Subprocesses per measurement (best time is shown).")
    parser.add_argument("--workdir", type=Path, help="Where the files go (default: a temporary folder, removed).")
    parser.add_argument("--write-files", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("read", "scan", "mido"), default="read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_files:
        return write_files(Path(args.write_files))
    if args.worker:
        return worker(args.worker, args.implementation, args.mode)

    from rich.console import Console
    from rich.table import Table

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="multinn-midi-read-"))
    workdir.mkdir(parents=True, exist_ok=True)
    implementation = args.implementation or "multinn/data/midi.py"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    table = Table(title=f"read_midi of pathological files, {implementation} ({machine}, {time.strftime('%Y-%m-%d')})")
    columns = ("file", "size", "notes", "steps", "read_midi", "peak RSS", "_read_smf alone", "mido.MidiFile alone")
    for column in columns:
        table.add_column(column, justify="left" if column == "file" else "right")
    try:
        # Crafting the files takes memory, and a child's ru_maxrss starts from its parent's: craft them in a child.
        crafted = run([sys.executable, __file__, "--write-files", str(workdir)])
        for name in FILES:
            path, notes = workdir / name, crafted[name]
            command = [sys.executable, __file__, "--worker", str(path)]
            if args.implementation:
                command += ["--implementation", args.implementation]
            read, scan, parse = (best([*command, "--mode", mode], args.repeat) for mode in ("read", "scan", "mido"))
            table.add_row(
                name,
                f"{path.stat().st_size / 1e6:.2f} MB",
                f"{notes:,}",
                f"{read['steps']:,}",
                timing(read, memory=False),
                f"{read['rss'] / 1e6:,.0f} MB",
                timing(scan),
                timing(parse),
            )
        console = Console()
        if not console.is_terminal:
            console.width = 160
        console.print(table)
        print(f"RSS of a worker before reading (Python, numpy, multinn, mido): {read['rss_before'] / 1e6:,.0f} MB")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
