"""`PianorollSpec`: what turns a binary array back into music."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from multinn.errors import SpecError
from multinn.utils.checks import check_int


@dataclasses.dataclass(frozen=True)
class TrackSpec:
    """One track (instrument) of a piano-roll.

    Args:
        name: Track name, unique within a spec (written as the MIDI track name).
        program: General MIDI program number, 0-127 (ignored by players for drum tracks).
        is_drum: Whether the track is percussion (written on MIDI channel 10).
    """

    name: str
    program: int = 0
    is_drum: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"a track name must be a non-empty string, got {self.name!r}")
        program = check_int(self.program, f"tracks[{self.name!r}].program", 0, 127, error=SpecError)
        object.__setattr__(self, "program", program)
        if not isinstance(self.is_drum, (bool, np.bool_)):
            raise SpecError(f"`tracks[{self.name!r}].is_drum` must be a boolean, got {self.is_drum!r}")
        object.__setattr__(self, "is_drum", bool(self.is_drum))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "program": self.program, "is_drum": self.is_drum}

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TrackSpec:
        if not isinstance(config, Mapping):
            raise SpecError(f"a track must be a mapping with name/program/is_drum, got {config!r}")
        unknown = set(config) - {"name", "program", "is_drum"}
        if unknown:
            raise SpecError(f"unknown track field(s) {sorted(unknown)} in {dict(config)!r}")
        if "name" not in config:
            raise SpecError(f"a track needs a `name`, got {dict(config)!r}")
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class PianorollSpec:
    """The layout and musical meaning of a piano-roll `[time, pitch, track]`.

    A spec is saved with every dataset cache, checkpoint and preset, so that a model never meets
    data it was not built for: `check_compatible` turns a mismatch into a clear error.

    Args:
        steps_per_beat: Time steps per quarter-note beat (1 for quarter-note frames, 4 for
            sixteenth-note frames, 12 for LPD-5).
        lowest_pitch: MIDI pitch of pitch index 0.
        highest_pitch: MIDI pitch of the last pitch index (inclusive).
        tracks: The tracks, in the order of the last array axis.
        beats_per_bar: Beats per bar, used by bar-level crops and metrics.

    Example:
    ```python
    spec = PianorollSpec(4, 36, 84, [TrackSpec("Soprano", 52), TrackSpec("Bass", 52)])
    spec.num_pitches  # 49
    PianorollSpec.from_json(spec.to_json()) == spec  # True
    ```
    """

    steps_per_beat: int
    lowest_pitch: int
    highest_pitch: int
    tracks: tuple[TrackSpec, ...]
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("steps_per_beat", check_int(self.steps_per_beat, "steps_per_beat", 1, 960, error=SpecError))
        set_("lowest_pitch", check_int(self.lowest_pitch, "lowest_pitch", 0, 127, error=SpecError))
        set_("highest_pitch", check_int(self.highest_pitch, "highest_pitch", 0, 127, error=SpecError))
        set_("beats_per_bar", check_int(self.beats_per_bar, "beats_per_bar", 1, 64, error=SpecError))
        if self.highest_pitch < self.lowest_pitch:
            raise SpecError(
                f"`highest_pitch` ({self.highest_pitch}) must not be below `lowest_pitch` ({self.lowest_pitch})"
            )
        if isinstance(self.tracks, (str, bytes, Mapping)) or not isinstance(self.tracks, Iterable):
            raise SpecError(f"`tracks` must be a sequence of TrackSpec, got {self.tracks!r}")
        tracks = tuple(t if isinstance(t, TrackSpec) else TrackSpec.from_dict(t) for t in self.tracks)
        if not tracks:
            raise SpecError("`tracks` must hold at least one track, got none")
        names = [t.name for t in tracks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"track names must be unique, got duplicate(s) {duplicates}")
        set_("tracks", tracks)

    @property
    def num_pitches(self) -> int:
        """Number of pitch rows, `highest_pitch - lowest_pitch + 1`."""
        return self.highest_pitch - self.lowest_pitch + 1

    @property
    def num_tracks(self) -> int:
        return len(self.tracks)

    @property
    def track_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tracks)

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_beat * self.beats_per_bar

    def track_index(self, name: str) -> int:
        """Index of the track called `name` (case-insensitive); a `SpecError` names the tracks."""
        for i, track in enumerate(self.tracks):
            if track.name.lower() == str(name).lower():
                return i
        raise SpecError(f"no track named {name!r}; the tracks are {list(self.track_names)}")

    def replace(self, **changes: Any) -> PianorollSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_per_beat": self.steps_per_beat,
            "lowest_pitch": self.lowest_pitch,
            "highest_pitch": self.highest_pitch,
            "beats_per_bar": self.beats_per_bar,
            "tracks": [t.to_dict() for t in self.tracks],
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> PianorollSpec:
        if not isinstance(config, Mapping):
            raise SpecError(f"a spec must be a mapping, got {type(config).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - fields
        if unknown:
            raise SpecError(f"unknown spec field(s) {sorted(unknown)}; expected {sorted(fields)}")
        missing = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING} - set(config)
        if missing:
            raise SpecError(f"spec is missing field(s) {sorted(missing)}")
        return cls(**config)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> PianorollSpec:
        try:
            config = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
        return cls.from_dict(config)

    def save(self, path: str | os.PathLike) -> None:
        """Write the spec as JSON, atomically."""
        from multinn.utils.io import atomic_write

        with atomic_write(path, "w") as f:
            f.write(self.to_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> PianorollSpec:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise SpecError(f"cannot read spec file {os.fspath(path)!r}: {exc.strerror or exc}") from None
        try:
            return cls.from_json(text)
        except SpecError as exc:
            raise SpecError(f"{os.fspath(path)}: {exc}") from None

    # ------------------------------------------------------------------ checks
    def check_roll(self, roll: Any, *, batched: bool | None = None, name: str = "piano-roll") -> None:
        """Raise a `SpecError` unless `roll` has this spec's pitch and track axes.

        Args:
            roll: Array `[time, pitch, track]` or, with `batched`, `[batch, time, pitch, track]`.
            batched: `True` for 4-D, `False` for 3-D, `None` to accept either.
            name: What to call the array in the message.
        """
        shape = tuple(np.shape(roll))
        ranks = {True: (4,), False: (3,), None: (3, 4)}[batched]
        expected = "[time, pitch, track]" if ranks == (3,) else "[batch, time, pitch, track]"
        if ranks == (3, 4):
            expected = "[time, pitch, track] or [batch, time, pitch, track]"
        if len(shape) not in ranks:
            raise SpecError(f"{name} must have shape {expected}, got shape {shape}")
        if shape[-2:] != (self.num_pitches, self.num_tracks):
            raise SpecError(
                f"{name} has {shape[-2]} pitches and {shape[-1]} tracks (shape {shape}), but the spec "
                f"expects {self.num_pitches} pitches ({self.lowest_pitch}..{self.highest_pitch}) and "
                f"{self.num_tracks} tracks {list(self.track_names)}"
            )

    def differences(self, other: PianorollSpec) -> list[str]:
        """Human-readable list of the fields in which `other` differs from this spec."""
        diffs = []
        for field in ("steps_per_beat", "lowest_pitch", "highest_pitch", "beats_per_bar"):
            a, b = getattr(self, field), getattr(other, field)
            if a != b:
                diffs.append(f"{field} {a} != {b}")
        if self.tracks != other.tracks:
            diffs.append(f"tracks {[t.to_dict() for t in self.tracks]} != {[t.to_dict() for t in other.tracks]}")
        return diffs

    def check_compatible(self, other: PianorollSpec, *, what: str = "data") -> None:
        """Raise a `SpecError` listing the differences unless `other` equals this spec."""
        diffs = self.differences(other)
        if diffs:
            raise SpecError(f"the {what} spec does not match: " + "; ".join(diffs))
