"""JSB Chorales in the two JSON encodings of czhuang/JSB-Chorales-dataset.

- `jsb-chorales`: Boulanger-Lewandowski et al. (2012) benchmark, quarter-note frames, each frame
  the list of sounding MIDI pitches; one track, 88 pitches (21..108).
- `bach-satb`: the same chorales and split at sixteenth-note frames, four voices per frame
  (soprano, alto, tenor, bass; -1 for a silent voice); four tracks.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec, TrackSpec
from multinn.errors import DatasetError, SpecError

SPLITS = ("train", "valid", "test")

JSB_CHORALES_SPEC = PianorollSpec(
    steps_per_beat=1, lowest_pitch=21, highest_pitch=108, tracks=(TrackSpec("Chorale", program=19),)
)
"""Quarter-note frames, the 88 piano keys, one track (played on a church organ)."""

BACH_SATB_SPEC = PianorollSpec(
    steps_per_beat=4,
    lowest_pitch=36,
    highest_pitch=84,
    tracks=tuple(TrackSpec(name, program=52) for name in ("Soprano", "Alto", "Tenor", "Bass")),
)
"""Sixteenth-note frames, C2..C6 (the voices span 36..81), four tracks (sung by a choir)."""


def _read_json_splits(path: str) -> dict[str, list]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read file ({exc})") from None
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not set(SPLITS) <= set(data):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DatasetError(f"{path}: expected a JSON object with keys {list(SPLITS)}, got {found}")
    for split in SPLITS:
        if not isinstance(data[split], list) or not data[split]:
            raise DatasetError(f"{path}: {split!r} must be a non-empty list of pieces")
    return data


def _build(
    path: str, data: dict[str, list], spec: PianorollSpec, frame_coords, name: str
) -> dict[str, PianorollDataset]:
    """Turn JSON pieces into datasets; `frame_coords(frame) -> [(pitch, track), ...]` (may raise)."""
    out = {}
    for split in SPLITS:
        coords, counts, lengths = [], [0], []
        for i, piece in enumerate(data[split]):
            where = f"{path}: {split} piece {i}"
            if not isinstance(piece, list) or not piece:
                raise DatasetError(f"{where}: expected a non-empty list of frames, got {type(piece).__name__}")
            n = 0
            for t, frame in enumerate(piece):
                try:
                    cells = frame_coords(frame)
                except (TypeError, ValueError) as exc:
                    raise DatasetError(f"{where}, frame {t}: {exc}") from None
                for pitch, track in cells:
                    if not spec.lowest_pitch <= pitch <= spec.highest_pitch:
                        raise SpecError(
                            f"{where}, frame {t}: pitch {pitch} lies outside the spec's range "
                            f"{spec.lowest_pitch}..{spec.highest_pitch}"
                        )
                    coords.append((t, pitch - spec.lowest_pitch, track))
                    n += 1
            counts.append(n)
            lengths.append(len(piece))
        out[split] = PianorollDataset(
            np.asarray(coords, dtype=np.int32).reshape(-1, 3),
            np.cumsum(counts),
            np.asarray(lengths),
            spec,
            [f"{split}/{i}" for i in range(len(lengths))],
            name=name,
            split=split,
        )
    return out


def _is_pitch(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()


def read_jsb_chorales(path: str | os.PathLike, spec: PianorollSpec = JSB_CHORALES_SPEC) -> dict[str, PianorollDataset]:
    """Read `jsb-chorales-quarter.json` into train/valid/test datasets.

    Args:
        path: The JSON file.
        spec: One-track spec whose range holds every pitch (default `JSB_CHORALES_SPEC`).

    Raises:
        DatasetError: The file is missing or does not have the expected structure.
        SpecError: The spec has more than one track or its range misses a pitch of the data.
    """
    path = os.fspath(path)
    if spec.num_tracks != 1:
        raise SpecError(f"jsb-chorales has 1 track, but the spec has {spec.num_tracks}: {list(spec.track_names)}")

    def frame_coords(frame):
        if not isinstance(frame, list) or not all(_is_pitch(p) for p in frame):
            raise ValueError(f"expected a list of MIDI pitches, got {frame!r}")
        return [(int(p), 0) for p in set(frame)]

    return _build(path, _read_json_splits(path), spec, frame_coords, "jsb-chorales")


def read_bach_satb(path: str | os.PathLike, spec: PianorollSpec = BACH_SATB_SPEC) -> dict[str, PianorollDataset]:
    """Read `Jsb16thSeparated.json` into four-track (SATB) train/valid/test datasets.

    Args:
        path: The JSON file.
        spec: Four-track spec (soprano, alto, tenor, bass) whose range holds every pitch.

    Raises:
        DatasetError: The file is missing or does not have the expected structure.
        SpecError: The spec does not have 4 tracks or its range misses a pitch of the data.
    """
    path = os.fspath(path)
    if spec.num_tracks != 4:
        raise SpecError(
            f"bach-satb has 4 tracks (soprano, alto, tenor, bass), but the spec has {spec.num_tracks}: "
            f"{list(spec.track_names)}"
        )

    def frame_coords(frame):
        if not isinstance(frame, list) or len(frame) != 4 or not all(_is_pitch(p) for p in frame):
            raise ValueError(f"expected 4 voices (MIDI pitch, or -1 for silence), got {frame!r}")
        return [(int(p), k) for k, p in enumerate(frame) if p != -1]

    return _build(path, _read_json_splits(path), spec, frame_coords, "bach-satb")
