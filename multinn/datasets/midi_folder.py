"""Any folder of MIDI files as a dataset."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from multinn.data.midi import TrackMapping, read_midis, summarise_parts
from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.datasets.lpd5 import LPD5_SPEC
from multinn.errors import DatasetError

SPLITS = ("train", "valid", "test")
MIDI_SUFFIXES = (".mid", ".midi")
HASH_SPLIT = (0.8, 0.9)
"""A flat folder's files go to train below 0.8, valid below 0.9, test above, by a hash of their name."""


def midi_files(folder: Path) -> list[Path]:
    """`.mid`/`.midi` files under `folder` (recursively, any case), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def _hash_split(relative: str) -> str:
    share = int(hashlib.md5(relative.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000
    return SPLITS[sum(share >= bound for bound in HASH_SPLIT)]


def split_files(folder: Path) -> dict[str, list[Path]]:
    """Assign the folder's MIDI files to splits.

    A folder with `train/`, `valid/` and/or `test/` subfolders keeps that split. Otherwise each
    file goes to a split by a hash of its relative path (80/10/10), so adding files never moves
    the ones already there.
    """
    if any((folder / split).is_dir() for split in SPLITS):
        return {split: midi_files(folder / split) if (folder / split).is_dir() else [] for split in SPLITS}
    out: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for file in midi_files(folder):
        out[_hash_split(file.relative_to(folder).as_posix())].append(file)
    return out


def read_midi_folder(
    path: str | os.PathLike,
    spec: PianorollSpec = LPD5_SPEC,
    mapping: TrackMapping | None = None,
    fallback: str | None = None,
    max_steps: int | None = None,
    *,
    auto: bool = False,
    voices: bool | None = None,
    out_of_range: str = "drop",
) -> dict[str, PianorollDataset]:
    """Read every MIDI file under a folder into train/valid/test datasets.

    Files that cannot be read (corrupt, empty, not MIDI, no note kept after mapping) are skipped;
    every split's `metadata["skipped"]` lists them as `[relative path, reason]` (and
    `multinn.datasets.load` warns about them).

    Args:
        path: The folder.
        spec: Layout to read into; default LPD-5 (with `fallback="Strings"`, LPD-5's rule).
        mapping: Explicit instrument mapping, see `multinn.data.read_midi`.
        fallback: Track for instruments nothing else claims.
        max_steps: Longest piece accepted (default `read_midi`'s).
        auto: Whether the instruments `mapping` leaves go on through `read_midi`'s automatic rules
            (name, drums, family, pitch order). False by default here, unlike `read_midi`: a
            dataset's mapping stays exclusive, as it was before `auto` existed (the others go to
            `fallback` or are dropped). Without a mapping the automatic rules always apply.
        voices: Whether the spec's pitched tracks are monophonic voices (default: inferred), see
            `read_midi`.
        out_of_range: `"drop"` or `"fold"` notes outside the spec's pitch range, see `read_midi`.

    Raises:
        DatasetError: The folder is missing, holds no MIDI file, or no file could be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    if fallback is None and mapping is None and spec == LPD5_SPEC:
        fallback = "Strings"
    files = split_files(folder)
    total = sum(len(f) for f in files.values())
    if total == 0:
        raise DatasetError(f"{folder}: no .mid or .midi files found")
    kwargs = {"mapping": mapping, "fallback": fallback, "auto": auto, "voices": voices, "out_of_range": out_of_range}
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    read, skipped, reports = {}, [], []
    for split, paths in files.items():
        rolls, kept, bad, split_reports = read_midis(paths, spec, return_reports=True, **kwargs)
        read[split] = (rolls, kept)
        skipped += bad
        reports += split_reports
    if len(skipped) == total:
        reasons = "; ".join(f"{Path(p).name}: {why}" for p, why in skipped[:5])
        raise DatasetError(f"{folder}: none of the {total} MIDI files could be read ({reasons})")
    metadata = {
        "skipped": [[os.path.relpath(p, folder), why] for p, why in skipped],
        "files": total,
        "parts": summarise_parts(reports),  # where the parts of the kept files went (rule, tracks)
    }
    return {
        split: PianorollDataset.from_rolls(
            rolls, spec, [os.path.relpath(p, folder) for p in kept], name="midi-folder", split=split, metadata=metadata
        )
        for split, (rolls, kept) in read.items()
    }
