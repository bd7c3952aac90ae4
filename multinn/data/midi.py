"""MIDI <-> piano-roll conversion, with explicit or program-family track mapping.

`read_midi` decodes Standard MIDI Files with a scanner of its own (`_read_smf`: the events mido
would read, without an object per event); `write_midi` writes with mido.

Time is quantised on the beat grid of the file (ticks per beat), so tempo changes do not move
notes off the grid: a note starting at tick `t` starts at step `round(t * steps_per_beat /
ticks_per_beat)`. A binary piano-roll does not tell a held note from a repeated one, so
`write_midi` writes each run of consecutive active steps as one note, and `read_midi` of that
file gives back the same roll exactly.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import io
import operator
import os
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import MidiError, SpecError
from multinn.utils.io import atomic_write

DRUM_CHANNEL = 9
"""MIDI channel (0-based) reserved for percussion in General MIDI."""

DEFAULT_MAX_STEPS = 100_000
"""Longest piece `read_midi` accepts by default (35 minutes at 120 bpm and 24 steps per beat)."""

Selector = int | str | range
TrackMapping = Mapping[str, Selector | Sequence[Selector]]

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
    """Resolves a MIDI instrument to a spec track index (or None: dropped)."""

    def __init__(self, spec: PianorollSpec, mapping: TrackMapping | None, fallback: str | None):
        self.spec = spec
        self.explicit = None
        if mapping is not None:
            if not isinstance(mapping, Mapping):
                raise SpecError(f"`mapping` must map track names to selectors, got {type(mapping).__name__}")
            self.explicit = [(spec.track_index(name), _normalise_selectors(name, sel)) for name, sel in mapping.items()]
        pitched = [i for i, t in enumerate(spec.tracks) if not t.is_drum]
        if fallback is None and mapping is None and len(pitched) == 1:
            self.fallback = pitched[0]
        else:
            self.fallback = None if fallback is None else spec.track_index(fallback)

    def __call__(self, inst: Instrument) -> int | None:
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


@dataclasses.dataclass
class _MidiContents:
    """What `read_midi` takes from a Standard MIDI File (see `_read_smf`).

    Attributes:
        format: The header's format (0, 1 or 2; not checked).
        ticks_per_beat: The header's time division (1-32767).
        notes: int64 `[num_notes, 4]`, rows `(start tick, stop tick, pitch, instrument id)` in
            the order the notes end (track by track, the notes never switched off last, by
            channel and pitch in order of first use).
        instruments: `instruments[id]` is the instrument of the notes of that id.
        end_tick: The end of the longest track.
        track_names: The name of each track: its first non-empty track_name event, else "".
        tempos: `(tick, microseconds per beat)` of every set_tempo event, by tick (at one tick,
            in file order): `tempos[0]` is the file's first tempo.
        time_signatures: `(tick, numerator, denominator, clocks per click, notated 32nd notes
            per beat)` of every time_signature event, by tick (at one tick, in file order).
    """

    format: int
    ticks_per_beat: int
    notes: np.ndarray
    instruments: list[Instrument]
    end_tick: int
    track_names: list[str]
    tempos: list[tuple[int, int]]
    time_signatures: list[tuple[int, int, int, int, int]]


def _load_midi_file(path: str) -> _MidiContents:
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
    return _read_smf(data, path)


def _corrupt(path: str, detail: str) -> MidiError:
    return MidiError(f"{path}: corrupt or truncated MIDI file ({detail})")


def _read_smf(data: bytes, path: str) -> _MidiContents:
    """Scan a Standard MIDI File (`data`, starting with b"MThd") for what `read_midi` needs.

    The header chunk gives the format, the number of tracks and the time division; then come
    that many MTrk chunks (chunks of other types are skipped, bytes after the last track are
    ignored). Each track is decoded as mido 1.3.3 decodes it, without building an object per
    event, up to the end of its chunk (events after end_of_track count): variable-length delta
    times, running status (kept across meta events; a sysex or system message becomes the
    running status, as in mido), channel messages (data bytes 0-127), sysex events, system
    common and real-time messages, and meta events. Of the meta events, track_name (decoded as
    latin-1, mido's default), set_tempo and time_signature are kept, the others skipped.

    Where mido differs: it rejects chunks of unknown types, drops the delta time of meta events
    of types it does not know, reads variable-length quantities of more than 4 bytes (an error
    here, as in the MIDI file standard), rejects malformed meta events of the types skipped here
    (key signature, SMPTE offset, ...), sysex events with data bytes above 127 or of more than
    1,000,000 bytes, and reads a track count of 32,768 or more as negative (no track).

    Notes pair as `read_midi` documents: a note-off (or a note-on of velocity 0) ends the
    earliest note still on at its channel and pitch in its track (first in, first out); a note
    never switched off ends with its track. A note's instrument is its track's name (the first
    non-empty one seen so far), its channel and the program of that channel when it starts.

    Raises:
        MidiError: The file is truncated or corrupt (naming the track and the byte where the
            problem lies), or its time division is not in ticks per beat.
    """
    size = len(data)
    header_length = int.from_bytes(data[4:8], "big")
    if size < 14:
        raise _corrupt(path, "file is truncated")
    if size < 8 + header_length:
        raise _corrupt(path, f"header chunk of {header_length} bytes runs past the end of the file ({size} bytes)")
    if header_length < 6:
        raise _corrupt(path, f"header chunk of {header_length} bytes, 6 expected")
    file_format, num_tracks, division = struct.unpack_from(">HHh", data, 8)
    if division <= 0:
        raise MidiError(f"{path}: unsupported time division {division!r} (SMPTE or zero ticks per beat)")

    instrument_ids: dict[tuple[str, int, int], int] = {}  # (track name, channel, program) -> id
    notes = array.array("q")  # flat int64: start tick, stop tick, pitch, instrument id, start tick, ...
    tempos: list[tuple[int, int]] = []
    signatures: list[tuple[int, int, int, int, int]] = []
    track_names: list[str] = []
    end_tick = 0
    pos = 8 + header_length
    while len(track_names) < num_tracks:
        number = len(track_names) + 1
        if pos + 8 > size:
            if pos == size:
                raise _corrupt(path, f"file ends after {number - 1} of its {num_tracks} tracks")
            raise _corrupt(path, f"file ends inside the chunk header of track {number}, at byte {pos}")
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "big")
        start, pos = pos + 8, pos + 8 + length
        if pos > size:
            what = f"track {number}" if kind == b"MTrk" else f"chunk {kind!r} before track {number}"
            raise _corrupt(
                path, f"{what} ({length} bytes from byte {start}) runs past the end of the file ({size} bytes)"
            )
        if kind == b"MTrk":
            tick, name = _scan_track(data[start:pos], start, number, path, instrument_ids, notes, tempos, signatures)
            end_tick = max(end_tick, tick)
            track_names.append(name)
    tempos.sort(key=operator.itemgetter(0))  # stable: at one tick, in file order
    signatures.sort(key=operator.itemgetter(0))
    return _MidiContents(
        format=file_format,
        ticks_per_beat=division,
        notes=np.frombuffer(notes, dtype=np.int64).reshape(-1, 4),
        instruments=[Instrument(*key) for key in instrument_ids],
        end_tick=end_tick,
        track_names=track_names,
        tempos=tempos,
        time_signatures=signatures,
    )


class _Malformed(Exception):
    """A malformed event in a track (the message says what), for `_scan_track` to report."""


def _varlen(track: bytes, pos: int) -> tuple[int, int]:
    """The variable-length quantity at `track[pos]` (1-4 bytes) and the position after it."""
    value = 0
    for i in range(pos, pos + 4):
        byte = track[i]
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            return value, i + 1
    raise _Malformed("variable-length quantity of over 4 bytes")


_NO_STATUS = 0x100
"""`last` of `_scan_track` before the first status byte of a track."""

_SYSTEM_DATA_BYTES = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
"""Data bytes of the system common and real-time messages (0xF4, 0xF5, 0xF9 and 0xFD are undefined)."""


def _scan_track(
    track: bytes,
    offset: int,
    number: int,
    path: str,
    instrument_ids: dict[tuple[str, int, int], int],
    notes: array.array,
    tempos: list[tuple[int, int]],
    signatures: list[tuple[int, int, int, int, int]],
) -> tuple[int, str]:
    """Decode the MTrk chunk body `track` (at byte `offset` of the file; track `number`, from 1)
    as `_read_smf` says, adding its notes to `notes`, its set_tempo and time_signature events to
    `tempos` and `signatures`; returns the track's end tick and name.

    One pass over the bytes by index, the common events first: a read past the end of `track`
    raises IndexError, which becomes the MidiError of a track ending inside an event. Ticks
    cannot overflow int64: an event adds less than 2**28 / 5 ticks per byte it takes (a delta
    time of 4 bytes, then one byte at least), in a chunk of less than 2**32 bytes.
    """
    n = len(track)
    pos = tick = at = 0  # at: where the event being decoded starts
    last = _NO_STATUS  # the running status
    name = ""
    programs = [0] * 16
    current = [-1] * 0xA0  # [0x90 + channel]: id of (name, channel, programs[channel]); -1: to look up
    active: dict[int, collections.deque] = {}  # (0x90 + channel) << 7 | pitch -> (start tick, id) of notes on
    get, add, deque = active.get, notes.extend, collections.deque
    try:
        while pos < n:
            at = pos
            byte = track[pos]  # the delta time, inline for its usual 1 or 2 bytes
            pos += 1
            if byte < 0x80:
                tick += byte
            else:
                value = byte & 0x7F
                byte = track[pos]
                pos += 1
                value = value << 7 | byte & 0x7F
                if byte >= 0x80:
                    byte = track[pos]
                    pos += 1
                    value = value << 7 | byte & 0x7F
                    if byte >= 0x80:
                        byte = track[pos]
                        pos += 1
                        value = value << 7 | byte & 0x7F
                        if byte >= 0x80:
                            raise _Malformed("variable-length quantity of over 4 bytes")
                tick += value

            status = track[pos]
            if status >= 0x80:
                pos += 1
                if status != 0xFF:  # meta events leave the running status alone
                    last = status
            elif last < 0xF0:
                status = last  # running status: `track[pos]` is the first data byte
            elif last == _NO_STATUS:
                raise _Malformed("running status with no previous status")
            else:  # running status after a sysex or system message, as mido reads it
                status = last
                if status == 0xF0 or status == 0xF7:
                    pos += 1  # mido drops the data byte and reads a sysex event
                elif not _SYSTEM_DATA_BYTES[status]:
                    raise _Malformed(f"data byte after system message 0x{status:X}")

            if status < 0xF0:
                kind = status & 0xF0
                if kind == 0x90:
                    pitch = track[pos]
                    velocity = track[pos + 1]
                    pos += 2
                    if (pitch | velocity) >= 0x80:
                        raise _Malformed("data byte above 127")
                    if velocity:
                        instrument = current[status]
                        if instrument < 0:
                            channel = status & 0x0F
                            instrument = instrument_ids.setdefault(
                                (name, channel, programs[channel]), len(instrument_ids)
                            )
                            current[status] = instrument
                        started = get(status << 7 | pitch)
                        if started is None:
                            started = active[status << 7 | pitch] = deque()
                        started.append((tick, instrument))
                    else:
                        started = get(status << 7 | pitch)
                        if started:
                            start, instrument = started.popleft()
                            add((start, tick, pitch, instrument))
                elif kind == 0x80:
                    pitch = track[pos]
                    velocity = track[pos + 1]
                    pos += 2
                    if (pitch | velocity) >= 0x80:
                        raise _Malformed("data byte above 127")
                    started = get((status + 0x10) << 7 | pitch)
                    if started:
                        start, instrument = started.popleft()
                        add((start, tick, pitch, instrument))
                elif kind == 0xC0 or kind == 0xD0:  # program_change, aftertouch
                    value = track[pos]
                    pos += 1
                    if value >= 0x80:
                        raise _Malformed("data byte above 127")
                    if kind == 0xC0:
                        programs[status & 0x0F] = value
                        current[status - 0x30] = -1
                else:  # 0xA0 polytouch, 0xB0 control_change, 0xE0 pitchwheel
                    if (track[pos] | track[pos + 1]) >= 0x80:
                        raise _Malformed("data byte above 127")
                    pos += 2
            elif status == 0xFF:  # meta event: type, length, data
                meta = track[pos]
                length, pos = _varlen(track, pos + 1)
                begin = pos
                pos += length
                if pos > n:
                    raise IndexError
                if meta == 0x03:  # track_name
                    if not name:
                        name = track[begin:pos].decode("latin-1")
                        if name:
                            current = [-1] * 0xA0
                elif meta == 0x51:  # set_tempo
                    if length < 3:
                        raise _Malformed(f"set_tempo of {length} bytes")
                    tempos.append((tick, int.from_bytes(track[begin : begin + 3], "big")))
                elif meta == 0x58:  # time_signature
                    if length < 4:
                        raise _Malformed(f"time_signature of {length} bytes")
                    numerator, exponent, clocks, notated = track[begin : begin + 4]
                    signatures.append((tick, numerator, 2**exponent, clocks, notated))
            elif status == 0xF0 or status == 0xF7:  # sysex event: length, data
                length, pos = _varlen(track, pos)
                pos += length
                if pos > n:
                    raise IndexError
            else:  # system common or real-time message
                count = _SYSTEM_DATA_BYTES.get(status)
                if count is None:
                    raise _Malformed(f"undefined status byte 0x{status:X}")
                if count and (track[pos] | track[pos + count - 1]) >= 0x80:
                    raise _Malformed("data byte above 127")
                pos += count
    except IndexError:
        raise _corrupt(path, f"track {number} ends inside the event at byte {offset + at}") from None
    except _Malformed as exc:
        raise _corrupt(path, f"track {number}: {exc} in the event at byte {offset + at}") from None
    for key, started in active.items():
        pitch = key & 0x7F
        for start, instrument in started:
            add((start, tick, pitch, instrument))
    return tick, name


def _fill_roll(roll: np.ndarray, start: np.ndarray, stop: np.ndarray, row: np.ndarray, track: np.ndarray) -> None:
    """Set `roll[start[i]:stop[i], row[i], track[i]]` for every note `i`, whatever the notes' durations.

    The notes of each cell (pitch row, track) are merged into disjoint intervals that do not
    touch (sorted by start, a running maximum of the stops); each interval then marks its first
    step +1 and the step after it -1 in the roll's bytes, and a cumulative sum over time turns the
    marks into 0/1.

    Args:
        roll: A new all-False bool array `[time, pitch, track]`.
        start: First step of each note.
        stop: Step after the last step of each note (greater than `start`, at most the roll's length).
        row: Pitch row of each note.
        track: Track index of each note.
    """
    if len(start) == 0:
        return
    num_steps = roll.shape[0]
    cell = row * roll.shape[2] + track
    order = np.lexsort((start, cell))
    cell, start, stop = cell[order], start[order], stop[order]
    offset = cell * (num_steps + 1)  # lifts each cell above the ones before: one running maximum serves all cells
    reach = np.maximum.accumulate(offset + stop) - offset  # furthest stop so far in the note's cell
    begins = np.ones(len(cell), dtype=bool)
    begins[1:] = (cell[1:] != cell[:-1]) | (start[1:] > reach[:-1])
    first = np.flatnonzero(begins)
    last = np.append(first[1:], len(cell)) - 1
    cell, start, stop = cell[first], start[first], reach[last]
    marks = roll.view(np.int8).reshape(num_steps, -1)
    marks[start, cell] = 1
    inside = stop < num_steps
    marks[stop[inside], cell[inside]] = -1
    np.cumsum(marks, axis=0, dtype=np.int8, out=marks)


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

    Overlapping notes of one pitch and channel pair first in, first out, and a note never
    switched off ends with its MIDI track. Time and memory grow with the file's size and the
    roll's, not with the notes' durations.

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
        Bool array `[time, pitch, track]` of at least one step (and the `MidiReport` if asked
        for).

    Raises:
        MidiError: The file is missing, empty, not MIDI, corrupt, truncated, holds no notes, is
            longer than `max_steps`, or holds no time step (every note dropped and the file ends
            before half a step).
        SpecError: `mapping` names a track the spec lacks, or is malformed.
    """
    path = os.fspath(path)
    mapper = _Mapper(spec, mapping, fallback)
    contents = _load_midi_file(path)
    tpb, spb = contents.ticks_per_beat, spec.steps_per_beat
    notes, instruments, end_tick = contents.notes, contents.instruments, contents.end_tick

    def to_step(tick):  # an int or an int64 array
        return (2 * tick * spb + tpb) // (2 * tpb)  # round half up, exact integer arithmetic

    if len(notes) == 0:
        raise MidiError(f"{path}: contains no notes")
    start_tick, stop_tick, pitch, instrument = notes.T
    track_of = np.array([-1 if (index := mapper(inst)) is None else index for inst in instruments], dtype=np.int64)
    track = track_of[instrument]
    mapped = track >= 0
    in_range = (spec.lowest_pitch <= pitch) & (pitch <= spec.highest_pitch)
    kept = mapped & in_range

    report = MidiReport(path=path, track_notes={t.name: 0 for t in spec.tracks})
    unmapped = instrument[~mapped]
    counts = np.bincount(unmapped, minlength=len(instruments))
    report.unmapped = len(unmapped)
    report.unmapped_instruments = [
        f"{instruments[i].describe()}: {counts[i]} notes" for i in dict.fromkeys(unmapped.tolist())
    ]  # in the order of each instrument's first dropped note
    report.out_of_range = int(np.count_nonzero(mapped & ~in_range))
    report.num_notes = int(np.count_nonzero(kept))

    # A kept note lasts at least one step, and no note stops after the file's end.
    num_steps = to_step(end_tick)
    if report.num_notes:
        num_steps = max(num_steps, to_step(int(start_tick[kept].max())) + 1)
    if num_steps == 0:
        raise MidiError(
            f"{path}: holds no time steps (every note dropped, out of the spec's range or unmapped, and the file "
            f"ends at tick {end_tick}, before half a step)"
        )
    if num_steps > max_steps:
        raise MidiError(
            f"{path}: {num_steps} steps at {spb} steps per beat is longer than max_steps={max_steps} "
            "(corrupt timing? pass a larger max_steps to read it anyway)"
        )
    roll = np.zeros((num_steps, spec.num_pitches, spec.num_tracks), dtype=bool)
    start = to_step(start_tick[kept])  # no int64 overflow: every tick rounds to a step of the roll
    stop = np.maximum(to_step(stop_tick[kept]), start + 1)
    _fill_roll(roll, start, stop, pitch[kept] - spec.lowest_pitch, track[kept])
    for t, n in zip(spec.tracks, np.bincount(track[kept], minlength=spec.num_tracks).tolist(), strict=True):
        report.track_notes[t.name] += n
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
        MidiError: `roll` has no time steps or is not binary, or `tempo`/`velocity` are out of
            range.
    """
    import mido

    path = os.fspath(path)
    spec.check_roll(roll, batched=False)
    roll = np.asarray(roll)
    if roll.shape[0] == 0:
        raise MidiError(f"cannot write {path}: the piano-roll has no time steps")
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
    for k, (track, channel) in enumerate(zip(spec.tracks, _channels(spec), strict=True)):
        change = np.diff(np.pad(roll[:, :, k], ((1, 1), (0, 0))).astype(np.int8), axis=0)  # +1 on, -1 off
        steps, rows = np.nonzero(change)
        on = change[steps, rows] > 0
        order = np.lexsort((on, steps))  # by time; at one time, note-offs before note-ons
        messages = [mido.MetaMessage("track_name", name=track.name, time=0)]
        if not track.is_drum:
            messages.append(mido.Message("program_change", channel=channel, program=track.program, time=0))
        last = 0
        for step, row, is_on in zip(steps[order].tolist(), rows[order].tolist(), on[order].tolist(), strict=True):
            tick = step * ticks_per_step
            messages.append(
                mido.Message(
                    "note_on" if is_on else "note_off",
                    channel=channel,
                    note=row + spec.lowest_pitch,
                    velocity=velocity if is_on else 0,
                    time=tick - last,
                )
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
