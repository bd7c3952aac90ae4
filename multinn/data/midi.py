"""MIDI <-> piano-roll conversion, with explicit, named, program-family or pitch-order track assignment.

`read_midi` decodes Standard MIDI Files (and RIFF-wrapped RMID files) with a scanner of its own
(`_read_smf`: the events mido would read, without an object per event); `write_midi` writes with
mido.

Time is quantised on the beat grid of the file (ticks per beat), so tempo changes do not move
notes off the grid: a note starting at tick `t` starts at step `round(t * steps_per_beat /
ticks_per_beat)`. A binary piano-roll does not tell a held note from a repeated one, so
`write_midi` writes each run of consecutive active steps as one note, and `read_midi` of that
file gives back the same roll exactly.

The parts of a file (`Instrument`: the notes of one MIDI track name, channel and program) are
assigned to the spec's tracks by the first rule that decides (`read_midi` documents them): an
explicit mapping, the track name, drums, the General MIDI family, a fallback track, and last the
pitch order, which spreads, merges or splits parts into voices so that every track gets its part.
`MidiReport.parts` says which rule placed each part where.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import heapq
import io
import math
import operator
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import MidiError, SpecError
from multinn.utils.checks import is_int
from multinn.utils.io import atomic_write

DRUM_CHANNEL = 9
"""MIDI channel (0-based) reserved for percussion in General MIDI."""

DEFAULT_MAX_STEPS = 100_000
"""Longest piece `read_midi` accepts by default (35 minutes at 120 bpm and 24 steps per beat)."""

Selector = int | str | range
TrackMapping = Mapping[str, Selector | Sequence[Selector]]

GM_FAMILIES = (
    "Piano",
    "Chromatic Percussion",
    "Organ",
    "Guitar",
    "Bass",
    "Strings",
    "Ensemble",
    "Brass",
    "Reed",
    "Pipe",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic",
    "Percussive",
    "Sound Effects",
)
"""The 16 General MIDI program families; program `p` belongs to family `p // 8`."""

RULES = (
    "mapping",
    "name",
    "drums",
    "family",
    "fallback",
    "pitch order",
    "pitch order (merged)",
    "voice split",
    "unmapped",
)
"""The rules by which `read_midi` places a part (`PartReport.rule`), in the order they are tried."""

OUT_OF_RANGE = ("drop", "fold")
"""What `read_midi` can do with notes outside the spec's pitch range."""


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


@dataclasses.dataclass(frozen=True)
class PartReport:
    """Where `read_midi` placed one part of a file (an `Instrument`), by which rule, and what it kept.

    Every note of the part is either kept or dropped: `notes == kept + dropped`. A note is
    dropped when its part maps to no track (rule "unmapped"), when its pitch lies outside the
    spec's range (with `out_of_range="drop"`), or, in a voice split, when it is an extra voice.
    A note of a split part counts as kept on the voice that holds its first step, and as dropped
    when that step gave it no voice (a later step of it may still have found one).

    Attributes:
        name: The part's MIDI track name ("" when the track has none).
        channel: Its MIDI channel, 1-16 as musicians count (10: drums).
        program: Its General MIDI program, 0-127 (as set when its notes start; 0 for drums
            without a program change).
        notes: Its number of notes in the file.
        mean_pitch: The mean MIDI pitch of its notes in the spec's range (after folding; of all
            its notes if none is): what the pitch order sorts by.
        tracks: The spec tracks it went to: one, several for a "voice split" (highest voice
            first), none when "unmapped".
        rule: One of `RULES`: "mapping", "name", "drums", "family", "fallback", "pitch order",
            "pitch order (merged)" (merged with its neighbours in pitch onto one track), "voice
            split" or "unmapped".
        kept: Notes placed in the roll.
        dropped: Notes dropped (unmapped, out of range, or extra voices).
        folded: Kept notes moved by whole octaves into the spec's range (`out_of_range="fold"`).
    """

    name: str
    channel: int
    program: int
    notes: int
    mean_pitch: float
    tracks: tuple[str, ...]
    rule: str
    kept: int
    dropped: int
    folded: int = 0

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL + 1

    def describe(self) -> str:
        """One line, e.g. `'Viola', program 41 (Strings), channel 3: 212 notes -> Tenor by pitch order, 212 kept`."""
        where = f"{', '.join(self.tracks)} by {self.rule}" if self.tracks else self.rule
        counts = [f"{self.kept} kept"] + [
            f"{n} {what}" for n, what in ((self.dropped, "dropped"), (self.folded, "folded")) if n
        ]
        part = Instrument(self.name, self.channel - 1, self.program).describe()
        return f"{part}: {self.notes} notes -> {where}, {', '.join(counts)}"

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types (`tracks` a list), plus `is_drum`."""
        return {**dataclasses.asdict(self), "tracks": list(self.tracks), "is_drum": self.is_drum}


@dataclasses.dataclass
class MidiReport:
    """What `read_midi` kept and dropped, part by part, and the file's musical frame.

    Attributes:
        path: The file read.
        num_notes: Notes placed in the roll.
        out_of_range: Notes dropped because their pitch lies outside the spec's range.
        unmapped: Notes dropped because their instrument maps to no track of the spec.
        unmapped_instruments: Descriptions of the instruments whose notes were dropped.
        track_notes: Notes placed per spec track.
        extra_voices: Notes dropped by a voice split because more notes sounded than the part
            had voices (see `PartReport`).
        folded: Notes kept after a move by whole octaves into the spec's range.
        parts: Where each part of the file went, in the order the file first plays them.
        voices: Whether the spec's pitched tracks were taken as monophonic voices.
        tempo: Tempo of the file's first set_tempo event in quarter-note beats per minute, or
            None if it has none (or a tempo of 0).
        time_signature: `(numerator, denominator)` of its first time_signature event, or None.
    """

    path: str
    num_notes: int = 0
    out_of_range: int = 0
    unmapped: int = 0
    unmapped_instruments: list[str] = dataclasses.field(default_factory=list)
    track_notes: dict[str, int] = dataclasses.field(default_factory=dict)
    extra_voices: int = 0
    folded: int = 0
    parts: list[PartReport] = dataclasses.field(default_factory=list)
    voices: bool = False
    tempo: float | None = None
    time_signature: tuple[int, int] | None = None

    @property
    def dropped(self) -> int:
        """Notes dropped, for any reason: out of range, unmapped or extra voices."""
        return self.out_of_range + self.unmapped + self.extra_voices

    def describe(self) -> str:
        """A summary line, then one indented line per part (`PartReport.describe`)."""
        total = self.num_notes + self.dropped
        why = [
            f"{n} {what}"
            for n, what in (
                (self.out_of_range, "out of range"),
                (self.unmapped, "unmapped"),
                (self.extra_voices, "extra voices"),
                (self.folded, "folded"),
            )
            if n
        ]
        frame = [f"{self.tempo:g} bpm" if self.tempo is not None else "no tempo"]
        frame.append("{}/{}".format(*self.time_signature) if self.time_signature else "no time signature")
        if self.voices:
            frame.append("tracks as voices")
        head = f"{self.path}: {self.num_notes} of {total} notes kept" + (f" ({', '.join(why)})" if why else "")
        return "\n".join([f"{head}; {', '.join(frame)}"] + [f"  {part.describe()}" for part in self.parts])

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON types (with `dropped`; `parts` as `PartReport.to_dict`)."""
        out = dataclasses.asdict(self)
        out["parts"] = [part.to_dict() for part in self.parts]
        out["time_signature"] = list(self.time_signature) if self.time_signature else None
        out["dropped"] = self.dropped
        return out


class NoNotesKeptError(MidiError):
    """`read_midi` kept no note of a file: every note was unmapped or out of range.

    Attributes:
        report: The `MidiReport` of the reading (its `parts` say which rule placed each part).
    """

    def __init__(self, message: str, report: MidiReport):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True)
class _Selector:
    """A parsed mapping selector: `kind` "program" (`value` a range), "channel" (`value` 0-based),
    "drums" or "name" (`value` the stripped, lower-case MIDI track name)."""

    kind: str
    value: Any = None

    def matches(self, inst: Instrument) -> bool:
        if self.kind == "program":
            return not inst.is_drum and inst.program in self.value
        if self.kind == "channel":
            return inst.channel == self.value
        if self.kind == "drums":
            return inst.is_drum
        return self.value == inst.track_name.strip().lower()


_SELECTOR_HELP = (
    "a program number, a range of programs, 'drums', 'program:N', 'program:N-M', 'channel:N' (1-16), "
    "'name:TRACK' or a MIDI track name"
)


def _parse_selector(name: str, sel: Any) -> _Selector:
    if isinstance(sel, bool) or not isinstance(sel, (int, str, range, np.integer)):
        raise SpecError(f"mapping for track {name!r}: a selector must be {_SELECTOR_HELP}, got {sel!r}")
    if isinstance(sel, range):
        return _Selector("program", sel)
    if not isinstance(sel, str):
        if not 0 <= int(sel) <= 127:
            raise SpecError(f"mapping for track {name!r}: program must be 0-127, got {sel}")
        return _Selector("program", range(int(sel), int(sel) + 1))
    text = sel.strip()
    kind, colon, value = text.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if text.lower() == "drums":
        return _Selector("drums")
    if colon and kind == "name":
        return _Selector("name", value.lower())
    if colon and kind == "channel":
        if not (value.isdigit() and 1 <= int(value) <= 16):
            raise SpecError(f"mapping for track {name!r}: {sel!r}: a channel must be 1-16 (10: drums)")
        return _Selector("channel", int(value) - 1)
    if colon and kind == "program":
        low, dash, high = value.partition("-")
        low, high = low.strip(), high.strip() if dash else low.strip()
        if not (low.isdigit() and high.isdigit() and 0 <= int(low) <= int(high) <= 127):
            raise SpecError(
                f"mapping for track {name!r}: {sel!r}: expected 'program:N' or 'program:N-M' with 0 <= N <= M <= 127"
            )
        return _Selector("program", range(int(low), int(high) + 1))
    return _Selector("name", text.lower())


def _normalise_selectors(name: str, selectors: Any) -> list[_Selector]:
    """The selectors of one mapping entry (one selector or a sequence of them), parsed.

    A selector is a program number (an int), a `range` of programs, or a string: "drums";
    "program:N" or "program:N-M" (programs N to M inclusive); "channel:N" (MIDI channel N, 1-16
    as musicians count, 10 being drums); "name:TRACK" (a MIDI track name, spelled out, e.g. for a
    track named "drums"); else a MIDI track name. Names compare case-insensitively, without
    surrounding spaces. Program selectors never match drum parts.

    Raises:
        SpecError: A selector of another type, or out of range.
    """
    if isinstance(selectors, (int, str, range, np.integer)) and not isinstance(selectors, bool):
        selectors = [selectors]
    if not isinstance(selectors, Iterable):
        raise SpecError(f"mapping for track {name!r}: a selector must be {_SELECTOR_HELP}, got {selectors!r}")
    return [_parse_selector(name, sel) for sel in selectors]


def parse_mapping(items: Iterable[str]) -> dict[str, list[str]]:
    """A `read_midi` mapping from command-line style `"SELECTOR=TRACK"` strings.

    Example: `parse_mapping(["Violin I=Soprano", "channel:3=Alto", "program:32-39=Bass"])` gives
    `{"Soprano": ["Violin I"], "Alto": ["channel:3"], "Bass": ["program:32-39"]}`. The string
    splits at its last "=", so a MIDI track name may hold one; selectors are parsed (and checked)
    by `read_midi`, see its `mapping` argument.

    Raises:
        SpecError: An item without "=", or with an empty selector or track.
    """
    out: dict[str, list[str]] = {}
    for item in items:
        selector, equals, track = str(item).rpartition("=")
        if not equals or not selector.strip() or not track.strip():
            raise SpecError(f"mapping {item!r}: expected SELECTOR=TRACK, e.g. 'Violin I=Soprano' or 'channel:3=Alto'")
        out.setdefault(track.strip(), []).append(selector.strip())
    return out


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
    if data.startswith(b"RIFF"):
        data = _unwrap_rmid(data, path)
    if not data.startswith(b"MThd"):
        raise MidiError(f"{path}: not a MIDI file (no 'MThd' header)")
    return _read_smf(data, path)


def _unwrap_rmid(data: bytes, path: str) -> bytes:
    """The Standard MIDI File inside a RIFF-wrapped MIDI file (RMID).

    An RMID file is b"RIFF", a 4-byte little-endian size, b"RMID", then chunks (4-byte type,
    4-byte little-endian size, data, a pad byte after data of odd size); the b"data" chunk holds
    the SMF. The RIFF size is not trusted (writers get it wrong): chunks are read up to the end
    of the file. Byte positions in later errors count from the start of the SMF.

    Raises:
        MidiError: Not of form RMID, no data chunk, a data chunk cut short or not holding an SMF.
    """
    if len(data) < 12:
        raise _corrupt(path, f"RIFF header of {len(data)} bytes, 12 expected")
    form = data[8:12]
    if form != b"RMID":
        raise MidiError(f"{path}: not a MIDI file (a RIFF file of form {form!r}, not RMID)")
    pos, size = 12, len(data)
    while pos + 8 <= size:
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        start = pos + 8
        if kind == b"data":
            if start + length > size:
                raise _corrupt(
                    path,
                    f"RMID 'data' chunk of {length} bytes from byte {start} runs past the end of the file "
                    f"({size} bytes)",
                )
            if not data.startswith(b"MThd", start):
                raise _corrupt(path, "RMID 'data' chunk holds no Standard MIDI File (no 'MThd' header)")
            return data[start : start + length]
        pos = start + length + (length & 1)
    raise _corrupt(path, "RMID file without a 'data' chunk")


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


@dataclasses.dataclass
class _Part:
    """A part of the file while `read_midi` places it: `tracks` (spec track indices) and `rule`."""

    index: int
    inst: Instrument
    notes: int
    pitch_sum: int  # of the notes in the spec's range (after folding), or of all if none is
    pitch_count: int  # how many notes `pitch_sum` adds up
    in_range: bool  # whether any note lies in the spec's range (after folding)
    tracks: tuple[int, ...] = ()
    rule: str = "unmapped"

    @property
    def mean_pitch(self) -> float:
        return self.pitch_sum / max(self.pitch_count, 1)


def _voice_layout(spec: PianorollSpec, voices: bool | None) -> bool:
    """Whether the spec's pitched tracks are monophonic voices: `voices`, or when None, inferred
    (two or more pitched tracks, no drum track, all of one program: a choir or a quartet)."""
    if voices is None:
        programs = {t.program for t in spec.tracks if not t.is_drum}
        return spec.num_tracks >= 2 and not any(t.is_drum for t in spec.tracks) and len(programs) == 1
    if not isinstance(voices, (bool, np.bool_)):
        raise SpecError(f"`voices` must be True, False or None (inferred from the spec), got {voices!r}")
    return bool(voices)


def _assign_by_rules(
    parts: list[_Part],
    spec: PianorollSpec,
    explicit: list[tuple[int, list[_Selector]]] | None,
    fallback: int | None,
    auto: bool,
) -> dict[tuple[int, ...], list[_Part]]:
    """Place each part by the rules mapping, name, drums, family and fallback (see `read_midi`),
    setting its `tracks` and `rule`; the parts left for the pitch order get the rule "pitch
    order" and no track yet, and are returned grouped by the spec tracks they share."""
    tracks = spec.tracks
    by_name: dict[tuple[str, bool], int] = {}
    for i, track in enumerate(tracks):
        by_name.setdefault((track.name.strip().lower(), track.is_drum), i)
    drums = [i for i, t in enumerate(tracks) if t.is_drum]
    pitched = [i for i, t in enumerate(tracks) if not t.is_drum]
    families: dict[int, list[int]] = {}
    for i in pitched:
        families.setdefault(tracks[i].program // 8, []).append(i)

    rest = []
    for part in parts:
        inst = part.inst
        if explicit is not None:
            index = next((i for i, selectors in explicit if any(s.matches(inst) for s in selectors)), None)
            if index is not None:
                part.tracks, part.rule = (index,), "mapping"
                continue
            if not auto:
                if fallback is not None:
                    part.tracks, part.rule = (fallback,), "fallback"
                continue
        name = inst.track_name.strip().lower()
        index = by_name.get((name, inst.is_drum)) if name else None
        if index is not None:
            part.tracks, part.rule = (index,), "name"
        else:
            rest.append(part)

    claimed = {part.tracks[0] for part in parts if part.rule in ("mapping", "name")}
    groups: dict[tuple[int, ...], list[_Part]] = {}
    for part in rest:
        if part.inst.is_drum:
            if drums:
                part.tracks, part.rule = (drums[0],), "drums"
            continue
        candidates = families.get(part.inst.program // 8, [])
        if len(candidates) == 1:
            part.tracks, part.rule = (candidates[0],), "family"
            continue
        if not candidates:
            if fallback is not None:
                part.tracks, part.rule = (fallback,), "fallback"
                continue
            candidates = pitched
        free = tuple(i for i in candidates if i not in claimed) or tuple(candidates)
        if free:
            part.rule = "pitch order"
            groups.setdefault(free, []).append(part)
    return groups


def _merge_adjacent(sums: Sequence[int], counts: Sequence[int], count: int) -> list[list[int]]:
    """Merge a sequence of parts in pitch order (`sums` and `counts`: the sum of their notes'
    pitches and their numbers of notes) into `count` clusters of neighbours: repeatedly the
    adjacent pair of clusters with the smallest gap in mean pitch (the first such pair on ties),
    a cluster's mean being the mean of all its notes. Returns the clusters in order, as lists
    of positions.

    A heap of the gaps with lazy deletion: O(n log n) for n parts. Means are `sum / count` of
    exact integers, so equal gaps compare equal.
    """
    n = len(sums)
    total, size = [int(x) for x in sums], [max(int(c), 1) for c in counts]
    members = [[i] for i in range(n)]
    after, before = list(range(1, n)) + [-1], list(range(-1, n - 1))
    version = [0] * n

    def gap(a: int, b: int) -> tuple[float, int, int, int, int]:
        return abs(total[a] / size[a] - total[b] / size[b]), a, version[a], b, version[b]

    heap = [gap(i, i + 1) for i in range(n - 1)]
    heapq.heapify(heap)
    left = n
    while left > count:
        _, a, va, b, vb = heapq.heappop(heap)
        if version[a] != va or version[b] != vb:
            continue  # a stale gap: one of its clusters has merged since
        total[a] += total[b]
        size[a] += size[b]
        members[a] += members[b]
        version[a] += 1
        version[b] = -1
        after[a] = after[b]
        if after[a] >= 0:
            before[after[a]] = a
            heapq.heappush(heap, gap(a, after[a]))
        if before[a] >= 0:
            heapq.heappush(heap, gap(before[a], a))
        left -= 1
    return [members[i] for i in range(n) if version[i] >= 0]


def _place_in_pitch_order(
    group: list[_Part], tracks: tuple[int, ...], voices: bool, polyphony: Callable[[_Part], int]
) -> None:
    """Place the parts of one group on `tracks` by pitch order (see `read_midi`), setting their
    `tracks` and `rule`; `polyphony(part)` is asked only for a voice layout with fewer parts
    than tracks.

    Parts none of whose notes lie in the spec's range take no track from the others: each goes
    to the track of the placed part nearest in mean pitch (its top track if the silent part lies
    above, else its bottom one), its notes all dropped as out of range.
    """
    group.sort(key=lambda part: (-part.mean_pitch, part.index))
    silent = [part for part in group if not part.in_range]
    if silent and len(silent) < len(group):
        sounding = [part for part in group if part.in_range]
        _place_in_pitch_order(sounding, tracks, voices, polyphony)
        for part in silent:
            near = min(sounding, key=lambda other: abs(other.mean_pitch - part.mean_pitch))  # the first on ties
            part.tracks = near.tracks[:1] if part.mean_pitch >= near.mean_pitch else near.tracks[-1:]
        return
    n, m = len(group), len(tracks)
    if n >= m:
        clusters = _merge_adjacent([p.pitch_sum for p in group], [p.pitch_count for p in group], m)
        for track, cluster in zip(tracks, clusters, strict=True):
            for i in cluster:
                group[i].tracks = (track,)
                group[i].rule = "pitch order (merged)" if len(cluster) > 1 else "pitch order"
        return
    sizes = [1] * n
    if voices:
        needs = [polyphony(part) for part in group]
        for _ in range(m - n):  # each spare track to the part with the most notes at once beyond its voices
            excess = [need - size for need, size in zip(needs, sizes, strict=True)]
            most = max(range(n), key=excess.__getitem__)
            if excess[most] <= 0:
                break
            sizes[most] += 1
    gap, first = m - sum(sizes), 0
    for i, (part, size) in enumerate(zip(group, sizes, strict=True)):
        at = first + (0 if n == 1 else (2 * i * gap + n - 1) // (2 * (n - 1)))  # round(i * gap / (n - 1)), half up
        part.tracks = tracks[at : at + size]
        part.rule = "voice split" if size > 1 else "pitch order"
        first += size


def _polyphony(cells: np.ndarray) -> int:
    """The most notes that sound at once in at least a tenth of the sounding steps of `cells`
    (bool `[time, pitch]`): a part's number of voices, deaf to the odd chord or overlap."""
    counts = np.count_nonzero(cells, axis=1)
    counts = np.sort(counts[counts > 0])
    return int(counts[len(counts) - math.ceil(len(counts) / 10)]) if len(counts) else 0


def _choose_voices(pitches: list[int], previous: list[int], k: int) -> list[int]:
    """The voices (increasing) of `j < k` pitches sounding at once (`pitches`, high to low) that
    keep the voices closest to their `previous` pitches: the order-preserving choice of the
    least total distance, the first one (upper voices first) on ties. Dynamic programming over
    (pitch, voice), O(j * k)."""
    j, inf = len(pitches), math.inf
    best = [[inf] * k for _ in range(j)]  # best[i][v]: least cost of pitches i.. with pitch i on voice v
    for i in range(j - 1, -1, -1):
        pitch, row = pitches[i], best[i]
        if i == j - 1:
            for v in range(k):
                row[v] = abs(pitch - previous[v])
        else:
            later, tail = best[i + 1], inf
            for v in range(k - 1, -1, -1):
                row[v] = abs(pitch - previous[v]) + tail
                tail = min(tail, later[v])
    chosen, v, target = [], 0, min(best[0])
    for i in range(j):
        while best[i][v] != target:
            v += 1
        chosen.append(v)
        target -= abs(pitches[i] - previous[v])
        v += 1
    return chosen


def _split_voices(
    cells: np.ndarray, k: int, note_start: np.ndarray, note_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the cells of a polyphonic part into `k` monophonic voices, by pitch rank per step.

    Only the steps where the set of sounding pitches changes are decided (a held chord keeps its
    voices). Of `j` pitches sounding, high to low: `j == k` go one to each voice; `j > k` give
    the highest `k - 1` and the lowest, the others dropped; `j < k` go to the voices that keep
    the voices closest to their last pitches (`_choose_voices`; before its first note a voice
    sits at its share of the part's range, the highest voice at its highest pitch).

    Args:
        cells: Bool `[time, pitch]`, the part's notes on the grid.
        k: Number of voices, at least 2.
        note_start: First step of each note of the part.
        note_row: Pitch row of each note.

    Returns:
        `(start, stop, row, voice, note_voice)`: the voices' cells as intervals of steps (for
        `_fill_roll`), and the voice holding each note's first step (-1: an extra voice, dropped).
    """
    num_steps, num_rows = cells.shape
    change = np.flatnonzero((cells[1:] != cells[:-1]).any(axis=1)) + 1
    starts, stops = np.concatenate(([0], change)), np.append(change, num_steps)
    frame, row = np.nonzero(cells[starts])  # by frame, rows ascending
    bounds = np.searchsorted(frame, np.arange(len(starts) + 1)).tolist()
    rows = row.tolist()
    low, high = (int(row.min()), int(row.max())) if len(rows) else (0, 0)
    scale = k - 1  # distances in units of 1 / (k - 1) semitone keep the voices' resting pitches integers
    previous = [high * scale - v * (high - low) for v in range(k)]
    out_frame, out_row, out_voice = [], [], []
    for f in range(len(starts)):
        sounding = rows[bounds[f] : bounds[f + 1]][::-1]
        j = len(sounding)
        if j == 0:
            continue
        if j >= k:
            if j > k:
                sounding = sounding[: k - 1] + sounding[-1:]
            chosen = range(k)
        else:
            chosen = _choose_voices([r * scale for r in sounding], previous, k)
        for r, v in zip(sounding, chosen, strict=True):
            previous[v] = r * scale
            out_frame.append(f)
            out_row.append(r)
            out_voice.append(v)
    out_frame = np.asarray(out_frame, dtype=np.int64)
    out_row = np.asarray(out_row, dtype=np.int64)
    out_voice = np.asarray(out_voice, dtype=np.int64)
    keys = out_frame * num_rows + out_row
    order = np.argsort(keys)
    keys, voice_sorted = keys[order], out_voice[order]
    wanted = (np.searchsorted(starts, note_start, side="right") - 1) * num_rows + note_row
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
    note_voice = np.where(found, voice_sorted[at] if len(keys) else 0, -1)
    return starts[out_frame], stops[out_frame], out_row, out_voice, note_voice


def _fold(pitch: np.ndarray, low: int, high: int) -> np.ndarray:
    """`pitch` moved by the fewest whole octaves into `low..high` (a range of 12 pitches or more)."""
    up = np.maximum(low - pitch + 11, 0) // 12
    down = np.maximum(pitch - high + 11, 0) // 12
    return pitch + 12 * (up - down)


def _nothing_kept(path: str, spec: PianorollSpec, report: MidiReport, exclusive: bool) -> str:
    """The message of `NoNotesKeptError`: what was dropped, and how to keep it."""
    reasons = []
    unmapped = [p for p in report.parts if p.rule == "unmapped"]
    if unmapped:
        listed = "; ".join(
            f"{Instrument(p.name, p.channel - 1, p.program).describe()}: {p.notes} notes" for p in unmapped[:4]
        ) + (f"; {len(unmapped) - 4} more parts" if len(unmapped) > 4 else "")
        part = unmapped[0]
        selector = part.name.strip() or ("drums" if part.is_drum else f"channel:{part.channel}")
        drums = [t.name for t in spec.tracks if t.is_drum]
        pitched = [t.name for t in spec.tracks if not t.is_drum]
        target = (drums if part.is_drum and drums else pitched or drums)[0]
        hint = (
            f"map them onto the spec's tracks {list(spec.track_names)}, e.g. mapping={{{target!r}: {selector!r}}} "
            f"(command line: --map '{selector}={target}')"
        )
        if exclusive:
            hint += ", or pass auto=True to place the parts the mapping leaves by name, family and pitch order"
        if part.is_drum and not drums:
            hint = f"the spec has no drum track; {hint}"
        reasons.append(f"{report.unmapped} notes of {len(unmapped)} part(s) map to no track ({listed}); {hint}")
    if report.out_of_range:
        low, high = spec.lowest_pitch, spec.highest_pitch
        fix = (
            "out_of_range='fold' (command line: --out-of-range fold) moves them by octaves into it"
            if high - low >= 11
            else "the range is narrower than an octave, so they cannot fold"
        )
        reasons.append(f"{report.out_of_range} notes lie outside the spec's pitch range {low}..{high} ({fix})")
    return f"{path}: all {report.dropped} notes dropped: " + "; ".join(reasons)


def read_midi(
    path: str | os.PathLike,
    spec: PianorollSpec,
    mapping: TrackMapping | None = None,
    *,
    fallback: str | None = None,
    auto: bool = True,
    voices: bool | None = None,
    out_of_range: str = "drop",
    max_steps: int = DEFAULT_MAX_STEPS,
    return_report: bool = False,
) -> np.ndarray | tuple[np.ndarray, MidiReport]:
    """Read a MIDI file (Standard MIDI File, or RIFF-wrapped RMID) into a piano-roll laid out by `spec`.

    Each part of the file (an `Instrument`: the notes of one MIDI track name, channel and
    program) goes to spec tracks by the first of these rules that decides:

    1. **mapping**: the first entry of `mapping` with a selector that matches the part.
    2. **name**: the spec track whose name is the part's MIDI track name (case-insensitive, drum
       parts to drum tracks only), as `write_midi` names them.
    3. **drums**: a drum part (channel 10) goes to the first drum track (none: dropped).
    4. **family**: a pitched part goes to the one pitched track of its General MIDI family
       (program // 8: Piano, Guitar, Bass, Strings, ...). Several tracks of its family (four
       voices all on one program): the pitch order among them decides. No track of its family:
       `fallback` if given, else the pitch order among all pitched tracks.
    5. **pitch order**: the parts left go to the *free* tracks of their candidates (tracks no
       part took by mapping or name; all the candidates if none is free), highest mean pitch (of
       the notes in the spec's range, after folding) to the first track in spec order; a part
       with no note in the range takes no track from the others. More parts than tracks:
       neighbours in pitch merge (the pair with the smallest gap in mean pitch first) until they
       fit. Fewer parts than tracks: with
       `voices`, each part gets a contiguous block of tracks, one more at a time to the part with
       the most notes sounding at once beyond its block (its polyphony: the most notes sounding
       together in at least a tenth of its sounding steps), and a part of `k > 1` tracks is split
       into `k` monophonic voices by pitch rank (see `PartReport` and docs/data.md); the parts
       (or blocks) then spread over the tracks, part `i` of `n` starting at track
       `round(i * (m - 1) / (n - 1))` (half up) of `m`, the leftover tracks staying silent.

    With `auto=False`, parts `mapping` does not claim go to `fallback` or are dropped, as before
    `auto` existed. Several parts landing on one track merge (logical or). A spec with one
    pitched track takes every pitched part; LPD-5's rule is the family rule with
    `fallback="Strings"`.

    Overlapping notes of one pitch and channel pair first in, first out, and a note never
    switched off ends with its MIDI track. Time and memory grow with the file's size and the
    roll's, not with the notes' durations.

    Args:
        path: The MIDI file.
        spec: The piano-roll layout to read into.
        mapping: Optional `{spec track name: selector or [selectors]}`; a selector is a program
            number, a `range` of programs, `"drums"`, `"program:N"`, `"program:N-M"`,
            `"channel:N"` (1-16, 10 = drums), `"name:TRACK"`, or any other string: a MIDI track
            name (case-insensitive). `parse_mapping` builds one from `"SELECTOR=TRACK"` strings.
        fallback: Spec track for pitched parts of no family the spec has (and, with
            `auto=False`, for every part `mapping` leaves); `None`: the pitch order decides
            (with `auto=False`: they are dropped, counted).
        auto: Whether the parts `mapping` does not claim go on through rules 2-5. Without a
            mapping the rules always apply.
        voices: Whether the spec's pitched tracks are monophonic voices, so that a polyphonic
            part may be split over several of them; `None` infers it: two or more pitched
            tracks, no drum track, all of one program (the `bach-satb` layout, not LPD-5's).
        out_of_range: Notes outside the spec's pitch range are `"drop"`ped (counted), or
            `"fold"`ed: moved by whole octaves into the range (counted as folded; the range
            must span an octave).
        max_steps: Longest piece accepted, a guard against corrupt timing that would otherwise
            ask for gigabytes.
        return_report: Also return a `MidiReport`: kept and dropped notes, each part's tracks
            and rule, the file's first tempo and time signature.

    Returns:
        Bool array `[time, pitch, track]` of at least one step (and the `MidiReport` if asked
        for).

    Raises:
        NoNotesKeptError: Every note was dropped (unmapped or out of range); a `MidiError`
            whose message names the parts and how to map them, and whose `report` has them.
        MidiError: The file is missing, empty, not MIDI, corrupt, truncated, holds no notes, or
            is longer than `max_steps`.
        SpecError: `mapping` names a track the spec lacks or is malformed, `fallback` names no
            track, or `voices`/`out_of_range` are invalid (folding into a range of less than
            an octave included).
    """
    path = os.fspath(path)
    explicit = None
    if mapping is not None:
        if not isinstance(mapping, Mapping):
            raise SpecError(f"`mapping` must map track names to selectors, got {type(mapping).__name__}")
        explicit = [(spec.track_index(name), _normalise_selectors(name, sel)) for name, sel in mapping.items()]
    fallback_index = None if fallback is None else spec.track_index(fallback)
    if not isinstance(auto, (bool, np.bool_)):
        raise SpecError(f"`auto` must be True or False, got {auto!r}")
    voice_layout = _voice_layout(spec, voices)
    low, high = spec.lowest_pitch, spec.highest_pitch
    if out_of_range not in OUT_OF_RANGE:
        raise SpecError(f"`out_of_range` must be 'drop' or 'fold', got {out_of_range!r}")
    fold = out_of_range == "fold"
    if fold and high - low < 11:
        raise SpecError(
            f"out_of_range='fold' needs a pitch range of an octave or more, but the spec's {low}..{high} "
            f"holds {high - low + 1} pitches; use out_of_range='drop'"
        )

    contents = _load_midi_file(path)
    tpb, spb = contents.ticks_per_beat, spec.steps_per_beat
    notes, instruments, end_tick = contents.notes, contents.instruments, contents.end_tick

    def to_step(tick):  # an int or an int64 array
        return (2 * tick * spb + tpb) // (2 * tpb)  # round half up, exact integer arithmetic

    if len(notes) == 0:
        raise MidiError(f"{path}: contains no notes")
    start_tick, stop_tick, pitch, part_of = notes.T
    in_range = (low <= pitch) & (pitch <= high)
    landed, moved = (_fold(pitch, low, high), ~in_range) if fold else (pitch, np.zeros(len(notes), dtype=bool))
    lands = in_range | fold
    num_parts = len(instruments)
    count = np.bincount(part_of, minlength=num_parts).tolist()
    total = np.bincount(part_of, weights=pitch, minlength=num_parts).astype(np.int64).tolist()
    count_in = np.bincount(part_of[lands], minlength=num_parts).tolist()
    total_in = np.bincount(part_of[lands], weights=landed[lands], minlength=num_parts).astype(np.int64).tolist()
    parts = [
        _Part(i, inst, count[i], total_in[i], count_in[i], True)
        if count_in[i]
        else _Part(i, inst, count[i], total[i], count[i], False)
        for i, inst in enumerate(instruments)
    ]
    groups = _assign_by_rules(parts, spec, explicit, fallback_index, bool(auto))
    mapped = np.array([part.rule != "unmapped" for part in parts])[part_of]
    candidate = mapped & lands  # notes for the roll, unless a voice split drops them

    report = MidiReport(path=path, track_notes={t.name: 0 for t in spec.tracks}, voices=voice_layout)
    if contents.tempos and contents.tempos[0][1] > 0:
        report.tempo = 60_000_000 / contents.tempos[0][1]
    if contents.time_signatures:
        report.time_signature = contents.time_signatures[0][1:3]
    if not candidate.any():
        for tracks, group in groups.items():
            _place_in_pitch_order(group, tracks, voice_layout, lambda part: 0)
        _fill_report(report, spec, parts, part_of, mapped, candidate, np.zeros(len(notes), dtype=bool), moved, None)
        raise NoNotesKeptError(_nothing_kept(path, spec, report, explicit is not None and not auto), report)

    # A kept note lasts at least one step, and no note stops after the file's end.
    num_steps = max(to_step(end_tick), to_step(int(start_tick[candidate].max())) + 1)
    if num_steps > max_steps:
        raise MidiError(
            f"{path}: {num_steps} steps at {spb} steps per beat is longer than max_steps={max_steps} "
            "(corrupt timing? pass a larger max_steps to read it anyway)"
        )
    index = np.flatnonzero(candidate)
    start = to_step(start_tick[index])  # no int64 overflow: every tick rounds to a step of the roll
    stop = np.maximum(to_step(stop_tick[index]), start + 1)
    row, owner = landed[index] - low, part_of[index]

    cells: dict[int, np.ndarray] = {}

    def part_cells(part: _Part) -> np.ndarray:  # bool [time, pitch]: the part's notes on the grid
        if part.index not in cells:
            mine = owner == part.index
            grid = np.zeros((num_steps, spec.num_pitches, 1), dtype=bool)
            _fill_roll(grid, start[mine], stop[mine], row[mine], np.zeros(np.count_nonzero(mine), dtype=np.int64))
            cells[part.index] = grid[:, :, 0]
        return cells[part.index]

    for tracks, group in groups.items():
        _place_in_pitch_order(group, tracks, voice_layout, lambda part: _polyphony(part_cells(part)))

    track_of = np.full(len(parts), -1, dtype=np.int64)
    for part in parts:
        if len(part.tracks) == 1:
            track_of[part.index] = part.tracks[0]
    note_track = track_of[owner]  # of each candidate note; -1: dropped (an extra voice), or still to split
    split = [part for part in parts if len(part.tracks) > 1]
    columns = [start, stop, row, note_track]  # without a split, every candidate note on its track
    if split:
        whole = note_track >= 0
        pieces = [tuple(column[whole] for column in columns)]
        for part in split:
            mine = np.flatnonzero(owner == part.index)
            voice_track = np.asarray(part.tracks, dtype=np.int64)
            s, e, r, voice, note_voice = _split_voices(part_cells(part), len(part.tracks), start[mine], row[mine])
            pieces.append((s, e, r, voice_track[voice]))
            note_track[mine] = np.where(note_voice >= 0, voice_track[note_voice], -1)
        cells.clear()
        columns = [np.concatenate(column) for column in zip(*pieces, strict=True)]
        del pieces
    roll = np.zeros((num_steps, spec.num_pitches, spec.num_tracks), dtype=bool)
    _fill_roll(roll, *columns)
    kept = np.zeros(len(notes), dtype=bool)
    kept[index] = note_track >= 0
    final_track = np.full(len(notes), -1, dtype=np.int64)
    final_track[index] = note_track
    _fill_report(report, spec, parts, part_of, mapped, candidate, kept, moved, final_track)
    return (roll, report) if return_report else roll


def _fill_report(
    report: MidiReport,
    spec: PianorollSpec,
    parts: list[_Part],
    part_of: np.ndarray,
    mapped: np.ndarray,
    candidate: np.ndarray,
    kept: np.ndarray,
    moved: np.ndarray,
    track: np.ndarray | None,
) -> None:
    """Count into `report` (per note: its part, whether its part is mapped, went for the roll, was
    kept, was folded, and its track) and add the `PartReport`s."""
    num_parts = len(parts)
    report.num_notes = int(np.count_nonzero(kept))
    report.unmapped = int(np.count_nonzero(~mapped))
    report.out_of_range = int(np.count_nonzero(mapped & ~candidate))
    report.extra_voices = int(np.count_nonzero(candidate & ~kept))
    folded = kept & moved
    report.folded = int(np.count_nonzero(folded))
    unmapped = part_of[~mapped]
    counts = np.bincount(unmapped, minlength=num_parts)
    report.unmapped_instruments = [
        f"{parts[i].inst.describe()}: {counts[i]} notes" for i in dict.fromkeys(unmapped.tolist())
    ]  # in the order of each instrument's first dropped note
    if track is not None:
        per_track = np.bincount(track[kept], minlength=spec.num_tracks).tolist()
        for t, n in zip(spec.tracks, per_track, strict=True):
            report.track_notes[t.name] += n
    kept_per_part = np.bincount(part_of[kept], minlength=num_parts).tolist()
    folded_per_part = np.bincount(part_of[folded], minlength=num_parts).tolist()
    for part in parts:
        inst = part.inst
        report.parts.append(
            PartReport(
                name=inst.track_name,
                channel=inst.channel + 1,
                program=inst.program,
                notes=part.notes,
                mean_pitch=part.mean_pitch,
                tracks=tuple(spec.tracks[i].name for i in part.tracks),
                rule=part.rule,
                kept=kept_per_part[part.index],
                dropped=part.notes - kept_per_part[part.index],
                folded=folded_per_part[part.index],
            )
        )


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


def _check_time_signature(path: str, spec: PianorollSpec, time_signature: Any) -> tuple[int, int]:
    if time_signature is None:
        return spec.beats_per_bar, 4
    try:
        numerator, denominator = time_signature
        valid = all(is_int(x) for x in time_signature)
    except (TypeError, ValueError):
        valid = False
    if not valid or not 1 <= numerator <= 255 or denominator not in (1, 2, 4, 8, 16, 32, 64, 128):
        raise MidiError(
            f"cannot write {path}: time_signature must be (numerator 1-255, denominator a power of two 1-128), "
            f"got {time_signature!r}"
        )
    return int(numerator), int(denominator)


def write_midi(
    roll: np.ndarray,
    path: str | os.PathLike,
    spec: PianorollSpec,
    tempo: float = 120.0,
    *,
    velocity: int = 100,
    time_signature: tuple[int, int] | None = None,
) -> None:
    """Write a binary piano-roll as a multi-track MIDI file (type 1), atomically.

    Each spec track becomes one MIDI track carrying the track's name, its program and, for drum
    tracks, MIDI channel 10. Each run of consecutive active steps of a pitch becomes one note.
    The file's end is the roll's last step, so trailing silence survives a round trip; the
    tempo and time signature come back in `read_midi`'s report (the tempo to the microsecond
    per beat a MIDI file stores).

    Args:
        roll: Binary array `[time, pitch, track]` (bool, or numbers that are all 0 or 1).
        path: Output file; written through a temporary file, so an error never leaves half a file.
        spec: The layout of `roll`.
        tempo: Tempo in quarter-note beats per minute.
        velocity: Note-on velocity, 1-127.
        time_signature: `(numerator, denominator)`, e.g. `(3, 4)` or `(6, 8)`; default
            `(spec.beats_per_bar, 4)`. It is written as metadata only: notes stay on the beat grid.

    Raises:
        SpecError: `roll` does not have the spec's shape.
        MidiError: `roll` has no time steps or is not binary, or `tempo`/`velocity`/
            `time_signature` are out of range.
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
    numerator, denominator = _check_time_signature(path, spec, time_signature)

    tpb = _ticks_per_beat(spec.steps_per_beat)
    ticks_per_step = tpb // spec.steps_per_beat
    end_tick = roll.shape[0] * ticks_per_step
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0),
            mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0),
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
    paths: Iterable[str | os.PathLike], spec: PianorollSpec, *, return_reports: bool = False, **kwargs
) -> tuple[list[np.ndarray], list[str], list[tuple[str, str]]] | tuple[list, list, list, list[MidiReport]]:
    """Read many MIDI files, keeping the good ones.

    Args:
        paths: MIDI files.
        spec: Layout to read into.
        return_reports: Also return the `MidiReport` of each kept file.
        **kwargs: Passed to `read_midi` (mapping, fallback, auto, voices, out_of_range, max_steps).

    Returns:
        `(rolls, kept_paths, skipped)` (and the kept files' reports), where `skipped` lists
        `(path, reason)` for each file that raised a `MidiError`: it could not be read, or kept
        no note after mapping (the reason then names the parts dropped).
    """
    rolls, kept, skipped, reports = [], [], [], []
    for path in paths:
        path = os.fspath(path)
        try:
            roll, report = read_midi(path, spec, return_report=True, **kwargs)
        except MidiError as exc:
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        rolls.append(roll)
        kept.append(path)
        reports.append(report)
    return (rolls, kept, skipped, reports) if return_reports else (rolls, kept, skipped)


def summarise_parts(reports: Iterable[MidiReport]) -> list[dict[str, Any]]:
    """Where the parts of many files went: one row per (rule, tracks), most notes first.

    Returns:
        `[{"rule", "tracks" (list), "parts", "notes", "kept", "dropped", "folded"}, ...]`.
    """
    rows: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for report in reports:
        for part in report.parts:
            row = rows.setdefault(
                (part.rule, part.tracks),
                {
                    "rule": part.rule,
                    "tracks": list(part.tracks),
                    "parts": 0,
                    "notes": 0,
                    "kept": 0,
                    "dropped": 0,
                    "folded": 0,
                },
            )
            row["parts"] += 1
            for key in ("notes", "kept", "dropped", "folded"):
                row[key] += getattr(part, key)
    return sorted(rows.values(), key=lambda r: (-r["notes"], r["rule"], r["tracks"]))
