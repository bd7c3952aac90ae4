"""MIDI <-> piano-roll conversion (on mido), with explicit or program-family track mapping.

Time is quantised on the beat grid of the file (ticks per beat), so tempo changes do not move
notes off the grid: a note starting at tick `t` starts at step `round(t * steps_per_beat /
ticks_per_beat)`. A binary piano-roll does not tell a held note from a repeated one, so
`write_midi` writes each run of consecutive active steps as one note, and `read_midi` of that
file gives back the same roll exactly.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import MidiError, SpecError
from multinn.utils.io import atomic_write

DRUM_CHANNEL = 9
"""MIDI channel (0-based) reserved for percussion in General MIDI."""

DEFAULT_MAX_STEPS = 100_000
"""Longest piece `read_midi` accepts by default (35 minutes at 120 bpm and 24 steps per beat)."""

Selector = Union[int, str, range]
TrackMapping = Mapping[str, Union[Selector, Sequence[Selector]]]

GM_FAMILIES = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive", "Sound Effects",
)  # fmt: skip
"""The 16 General MIDI program families; program `p` belongs to family `p // 8`."""


def program_family(program: int) -> str:
    """General MIDI family name of a program number (0-127), e.g. 33 -> "Bass"."""
    return GM_FAMILIES[int(program) // 8]


@dataclasses.dataclass(frozen=True)
class Instrument:
    """One instrument found in a MIDI file: notes of one MIDI track, channel and program."""

    track_name: str
    channel: int
    program: int

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL

    def describe(self) -> str:
        kind = "drums" if self.is_drum else f"program {self.program} ({program_family(self.program)})"
        name = f"{self.track_name!r}, " if self.track_name else ""
        return f"{name}{kind}, channel {self.channel + 1}"


@dataclasses.dataclass
class MidiReport:
    """What `read_midi` kept and dropped.

    Attributes:
        path: The file read.
        num_notes: Notes placed in the roll.
        out_of_range: Notes dropped because their pitch lies outside the spec's range.
        unmapped: Notes dropped because their instrument maps to no track of the spec.
        unmapped_instruments: Descriptions of the instruments whose notes were dropped.
        track_notes: Notes placed per spec track.
    """

    path: str
    num_notes: int = 0
    out_of_range: int = 0
    unmapped: int = 0
    unmapped_instruments: list[str] = dataclasses.field(default_factory=list)
    track_notes: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.out_of_range + self.unmapped


class _Mapper:
    """Resolves MIDI instruments to spec track indices (or None: dropped)."""

    def __init__(self, spec: PianorollSpec, mapping: TrackMapping | None, fallback: str | None):
        self.spec = spec
        self.explicit = None
        if mapping is not None:
            if not isinstance(mapping, Mapping):
                raise SpecError(f"`mapping` must map track names to selectors, got {type(mapping).__name__}")
            self.explicit = [
                (spec.track_index(name), _normalise_selectors(name, sel)) for name, sel in mapping.items()
            ]
        pitched = [i for i, t in enumerate(spec.tracks) if not t.is_drum]
        if fallback is None and mapping is None and len(pitched) == 1:
            self.fallback = pitched[0]
        else:
            self.fallback = None if fallback is None else spec.track_index(fallback)
        self._cache: dict[Instrument, int | None] = {}

    def __call__(self, instrument: Instrument) -> int | None:
        if instrument not in self._cache:
            self._cache[instrument] = self._resolve(instrument)
        return self._cache[instrument]

    def _resolve(self, inst: Instrument) -> int | None:
        tracks = self.spec.tracks
        if self.explicit is not None:
            for index, selectors in self.explicit:
                if any(_matches(sel, inst) for sel in selectors):
                    return index
            return self.fallback
        name = inst.track_name.strip().lower()
        for i, track in enumerate(tracks):
            if name and track.name.lower() == name and track.is_drum == inst.is_drum:
                return i
        for i, track in enumerate(tracks):
            if inst.is_drum and track.is_drum:
                return i
            if not inst.is_drum and not track.is_drum and track.program // 8 == inst.program // 8:
                return i
        return None if inst.is_drum else self.fallback


def _normalise_selectors(name: str, selectors) -> list[Selector]:
    if isinstance(selectors, (int, str, range)) and not isinstance(selectors, bool):
        selectors = [selectors]
    out = []
    for sel in selectors:
        if isinstance(sel, bool) or not isinstance(sel, (int, str, range, np.integer)):
            raise SpecError(
                f"mapping for track {name!r}: a selector must be a program number, a range of programs, "
                f"'drums' or a MIDI track name, got {sel!r}"
            )
        if isinstance(sel, (int, np.integer)) and not 0 <= int(sel) <= 127:
            raise SpecError(f"mapping for track {name!r}: program must be 0-127, got {sel}")
        out.append(int(sel) if isinstance(sel, np.integer) else sel)
    return out


def _matches(selector: Selector, inst: Instrument) -> bool:
    if isinstance(selector, str):
        if selector.lower() == "drums":
            return inst.is_drum
        return selector.strip().lower() == inst.track_name.strip().lower()
    if inst.is_drum:
        return False
    if isinstance(selector, range):
        return inst.program in selector
    return inst.program == selector


def _load_midi_file(path: str):
    import mido

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise MidiError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MidiError(f"{path}: is a directory, not a MIDI file") from None
    except OSError as exc:
        raise MidiError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise MidiError(f"{path}: file is empty")
    if not data.startswith(b"MThd"):
        raise MidiError(f"{path}: not a MIDI file (no 'MThd' header)")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises many types (EOFError, OSError, ValueError, KeyError...)
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, EOFError):
            detail = "file is truncated"
        raise MidiError(f"{path}: corrupt or truncated MIDI file ({detail})") from None
    tpb = midi.ticks_per_beat
    if not isinstance(tpb, int) or tpb <= 0 or tpb >= 0x8000:
        raise MidiError(f"{path}: unsupported time division {tpb!r} (SMPTE or zero ticks per beat)")
    return midi


def read_midi(
    path: str | os.PathLike,
    spec: PianorollSpec,
    mapping: TrackMapping | None = None,
    *,
    fallback: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    return_report: bool = False,
) -> np.ndarray | tuple[np.ndarray, MidiReport]:
    """Read a MIDI file into a binary piano-roll laid out by `spec`.

    Instruments are mapped to the spec's tracks, several instruments landing on one track are
    merged (logical or), and notes outside the spec's pitch range are dropped and counted.

    With `mapping=None` an instrument goes to: the spec track of the same name (the MIDI track
    name, as `write_midi` writes it); else, for drums (channel 10), the first drum track; else
    the first pitched track of the same General MIDI family (program // 8: Piano, Guitar, Bass,
    Strings, ...); else `fallback`. With one pitched track and no mapping, every pitched
    instrument lands on it. LPD-5's rule is the family mapping with `fallback="Strings"`.

    Args:
        path: The MIDI file.
        spec: The piano-roll layout to read into.
        mapping: Optional explicit mapping `{spec track name: selector or [selectors]}`; a
            selector is a program number, a `range` of programs, `"drums"`, or a MIDI track name
            (case-insensitive). Instruments no selector matches go to `fallback`.
        fallback: Spec track for instruments nothing else claims; `None` drops them (counted).
        max_steps: Longest piece accepted, a guard against corrupt timing that would otherwise
            ask for gigabytes.
        return_report: Also return a `MidiReport` of kept and dropped notes.

    Returns:
        Bool array `[time, pitch, track]` (and the `MidiReport` if asked for).

    Raises:
        MidiError: The file is missing, empty, not MIDI, corrupt, truncated, holds no notes, or
            is longer than `max_steps`.
        SpecError: `mapping` names a track the spec lacks, or is malformed.
    """
    path = os.fspath(path)
    mapper = _Mapper(spec, mapping, fallback)
    midi = _load_midi_file(path)
    tpb, spb = midi.ticks_per_beat, spec.steps_per_beat
    report = MidiReport(path=path, track_notes={t.name: 0 for t in spec.tracks})

    def to_step(tick: int) -> int:
        return (2 * tick * spb + tpb) // (2 * tpb)  # round half up, exact integer arithmetic

    notes: list[tuple[int, int, int, Instrument]] = []  # (start tick, stop tick, pitch, instrument)
    unmapped: dict[Instrument, int] = {}
    end_tick = 0
    total_notes = 0
    for midi_track in midi.tracks:
        tick = 0
        track_name = ""
        programs = [0] * 16
        active: dict[tuple[int, int], list[tuple[int, Instrument]]] = {}
        for msg in midi_track:
            tick += msg.time
            kind = msg.type
            if kind == "track_name" and not track_name:
                track_name = msg.name
            elif kind == "program_change":
                programs[msg.channel] = msg.program
            elif kind == "note_on" and msg.velocity > 0:
                inst = Instrument(track_name, msg.channel, programs[msg.channel])
                active.setdefault((msg.channel, msg.note), []).append((tick, inst))
            elif kind == "note_off" or kind == "note_on":
                started = active.get((msg.channel, msg.note))
                if started:
                    start, inst = started.pop(0)
                    notes.append((start, tick, msg.note, inst))
        end_tick = max(end_tick, tick)
        for (_, pitch), started in active.items():  # notes never switched off end with the track
            for start, inst in started:
                notes.append((start, tick, pitch, inst))

    rows: list[tuple[int, int, int, int]] = []
    for start_tick, stop_tick, pitch, inst in notes:
        total_notes += 1
        index = mapper(inst)
        if index is None:
            unmapped[inst] = unmapped.get(inst, 0) + 1
            continue
        if not spec.lowest_pitch <= pitch <= spec.highest_pitch:
            report.out_of_range += 1
            continue
        start = to_step(start_tick)
        rows.append((index, pitch - spec.lowest_pitch, start, max(to_step(stop_tick), start + 1)))
    if total_notes == 0:
        raise MidiError(f"{path}: contains no notes")
    num_steps = max([to_step(end_tick)] + [r[3] for r in rows])
    if num_steps > max_steps:
        raise MidiError(
            f"{path}: {num_steps} steps at {spb} steps per beat is longer than max_steps={max_steps} "
            "(corrupt timing? pass a larger max_steps to read it anyway)"
        )
    roll = np.zeros((num_steps, spec.num_pitches, spec.num_tracks), dtype=bool)
    for index, row, start, stop in rows:
        roll[start:stop, row, index] = True
        report.track_notes[spec.tracks[index].name] += 1
    report.num_notes = len(rows)
    report.unmapped = sum(unmapped.values())
    report.unmapped_instruments = [f"{inst.describe()}: {n} notes" for inst, n in unmapped.items()]
    return (roll, report) if return_report else roll


def _ticks_per_beat(steps_per_beat: int) -> int:
    return steps_per_beat * max(1, 480 // steps_per_beat)


def _channels(spec: PianorollSpec) -> list[int]:
    pitched = [c for c in range(16) if c != DRUM_CHANNEL]
    out, n = [], 0
    for track in spec.tracks:
        if track.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(pitched[n % len(pitched)])
            n += 1
    return out


def write_midi(
    roll: np.ndarray,
    path: str | os.PathLike,
    spec: PianorollSpec,
    tempo: float = 120.0,
    *,
    velocity: int = 100,
) -> None:
    """Write a binary piano-roll as a multi-track MIDI file (type 1), atomically.

    Each spec track becomes one MIDI track carrying the track's name, its program and, for drum
    tracks, MIDI channel 10. Each run of consecutive active steps of a pitch becomes one note.
    The file's end is the roll's last step, so trailing silence survives a round trip.

    Args:
        roll: Binary array `[time, pitch, track]` (bool, or numbers that are all 0 or 1).
        path: Output file; written through a temporary file, so an error never leaves half a file.
        spec: The layout of `roll`.
        tempo: Tempo in quarter-note beats per minute.
        velocity: Note-on velocity, 1-127.

    Raises:
        SpecError: `roll` does not have the spec's shape.
        MidiError: `roll` is not binary, or `tempo`/`velocity` are out of range.
    """
    import mido

    path = os.fspath(path)
    spec.check_roll(roll, batched=False)
    roll = np.asarray(roll)
    if roll.dtype != bool:
        if not np.isin(roll, (0, 1)).all():
            raise MidiError(f"cannot write {path}: the piano-roll must be binary (0/1 or bool)")
        roll = roll.astype(bool)
    if not (np.isfinite(tempo) and tempo > 0):
        raise MidiError(f"cannot write {path}: tempo must be a positive number of bpm, got {tempo}")
    if not 1 <= int(velocity) <= 127:
        raise MidiError(f"cannot write {path}: velocity must be 1-127, got {velocity}")

    tpb = _ticks_per_beat(spec.steps_per_beat)
    ticks_per_step = tpb // spec.steps_per_beat
    end_tick = roll.shape[0] * ticks_per_step
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0),
            mido.MetaMessage("time_signature", numerator=spec.beats_per_bar, denominator=4, time=0),
            mido.MetaMessage("end_of_track", time=end_tick),
        ]
    )
    midi.tracks.append(conductor)
    for k, (track, channel) in enumerate(zip(spec.tracks, _channels(spec))):
        change = np.diff(np.pad(roll[:, :, k], ((1, 1), (0, 0))).astype(np.int8), axis=0)  # +1 on, -1 off
        steps, rows = np.nonzero(change)
        on = change[steps, rows] > 0
        order = np.lexsort((on, steps))  # by time; at one time, note-offs before note-ons
        messages = [mido.MetaMessage("track_name", name=track.name, time=0)]
        if not track.is_drum:
            messages.append(mido.Message("program_change", channel=channel, program=track.program, time=0))
        last = 0
        for step, row, is_on in zip(steps[order].tolist(), rows[order].tolist(), on[order].tolist()):
            tick = step * ticks_per_step
            messages.append(
                mido.Message(
                    "note_on" if is_on else "note_off", channel=channel, note=row + spec.lowest_pitch,
                    velocity=velocity if is_on else 0, time=tick - last,
                )  # fmt: skip
            )
            last = tick
        messages.append(mido.MetaMessage("end_of_track", time=end_tick - last))
        midi.tracks.append(mido.MidiTrack(messages))

    buffer = io.BytesIO()
    midi.save(file=buffer)
    try:
        with atomic_write(path) as f:
            f.write(buffer.getvalue())
    except OSError as exc:
        raise MidiError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_midis(
    paths: Iterable[str | os.PathLike], spec: PianorollSpec, **kwargs
) -> tuple[list[np.ndarray], list[str], list[tuple[str, str]]]:
    """Read many MIDI files, keeping the good ones.

    Args:
        paths: MIDI files.
        spec: Layout to read into.
        **kwargs: Passed to `read_midi` (mapping, fallback, max_steps).

    Returns:
        `(rolls, kept_paths, skipped)`, where `skipped` lists `(path, reason)` for each file that
        could not be read or kept no note after mapping.
    """
    rolls, kept, skipped = [], [], []
    for path in paths:
        path = os.fspath(path)
        try:
            roll, report = read_midi(path, spec, return_report=True, **kwargs)
        except MidiError as exc:
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        if report.num_notes == 0:
            skipped.append((path, f"all {report.dropped} notes dropped (out of the spec's range or unmapped)"))
            continue
        rolls.append(roll)
        kept.append(path)
    return rolls, kept, skipped
