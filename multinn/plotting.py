"""Piano-roll pictures for humans: one lane per track, bars and beats marked.

`multinn.plot(roll, spec, path)` is this module's `plot`. It needs matplotlib, an optional
dependency (`pip install "multinn[plot]"`); importing `multinn` never imports it.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import MultinnError

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

TRACK_COLORS = ("#1f4e9c", "#b5361c", "#2a7d3a", "#7a3a9c", "#b07800", "#0f7c80", "#6b4a2b", "#c2185b")
"""Lane colours, one per track (cycled)."""


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name: `60` -> `"C4"`, `61` -> `"C#4"`."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MultinnError("plotting needs matplotlib: pip install 'multinn[plot]'") from None
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot

    return pyplot


def plot(
    roll: Any,
    spec: PianorollSpec,
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    crop: bool = True,
    dpi: int = 100,
):
    """Draw one piece as a piano-roll: one lane per track, bar lines, beat ticks, note names.

    Args:
        roll: One piece `[time, pitch, track]` (bool or probabilities in [0, 1], drawn as grey
            levels), or `[time, pitch]` for a one-track spec.
        spec: The roll's `PianorollSpec` (pitch range, resolution, bar length, track names).
        path: Where to write the picture (`.png`, `.svg`, `.pdf`: matplotlib picks the format
            from the suffix); written atomically. `None`: return the figure instead.
        title: Title above the first lane.
        crop: Show only the pitches the piece uses (a tone of margin on each side) instead of the
            whole range of the spec; an empty lane shows the whole range.
        dpi: Resolution of raster formats.

    Returns:
        The `matplotlib.figure.Figure` when `path` is `None` (the caller closes it), else the
        written path as a `pathlib.Path`.

    Raises:
        SpecError: `roll` does not fit `spec`.
        MultinnError: matplotlib is not installed.

    Example:
    ```python
    rolls = model.generate(64, batch_size=1, seed=0)
    multinn.plot(rolls[0], model.spec, "sample.png")
    ```
    """
    from pathlib import Path

    x = np.asarray(roll)
    if x.ndim == 2 and spec.num_tracks == 1:
        x = x[..., None]
    spec.check_roll(x, batched=False, name="roll to plot")
    x = x.astype(np.float32)
    plt = _pyplot()

    steps, _, tracks = x.shape
    used = np.flatnonzero(x.max(axis=(0, 2)) > 0)
    low, high = spec.lowest_pitch, spec.highest_pitch
    if crop and used.size:
        low = max(spec.lowest_pitch, spec.lowest_pitch + int(used[0]) - 2)
        high = min(spec.highest_pitch, spec.lowest_pitch + int(used[-1]) + 2)
    rows = x[:, low - spec.lowest_pitch : high - spec.lowest_pitch + 1]
    lane_height = float(np.clip((high - low + 1) / 14, 1.0, 3.0))
    width = float(np.clip(steps / (2 * spec.steps_per_beat), 6.0, 24.0))
    fig, axes = plt.subplots(tracks, 1, figsize=(width, lane_height * tracks + 0.7), sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        color = TRACK_COLORS[k % len(TRACK_COLORS)]
        image = np.zeros((high - low + 1, steps, 4), np.float32)
        image[..., :3] = _rgb(color)
        image[..., 3] = rows[:, :, k].T
        ax.imshow(
            image, aspect="auto", origin="lower", interpolation="nearest", extent=(0, steps, low - 0.5, high + 0.5)
        )
        for beat in range(0, steps + 1, spec.steps_per_beat):
            bar = beat % spec.steps_per_bar == 0
            ax.axvline(beat, color="0.35" if bar else "0.85", linewidth=0.8 if bar else 0.4, zorder=0)
        octaves = [p for p in range(low, high + 1) if p % 12 == 0]
        ax.set_yticks(octaves or [low, high])
        ax.set_yticklabels([note_name(p) for p in (octaves or [low, high])], fontsize=7)
        ax.set_ylim(low - 0.5, high + 0.5)
        name = spec.tracks[k].name + (" (drums)" if spec.tracks[k].is_drum else "")
        ax.set_ylabel(name, color=color, fontsize=9)
    bars = range(0, steps, spec.steps_per_bar)
    axes[-1, 0].set_xticks(list(bars))
    axes[-1, 0].set_xticklabels([str(i + 1) for i in range(len(bars))], fontsize=7)
    axes[-1, 0].set_xlabel(f"bar ({spec.beats_per_bar} beats of {spec.steps_per_beat} steps)")
    axes[-1, 0].set_xlim(0, steps)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    if path is None:
        return fig
    from multinn.utils.io import atomic_write

    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi)
    except ValueError as exc:  # an unknown format
        raise MultinnError(f"{path}: cannot write this picture format ({exc})") from None
    finally:
        plt.close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path


def _rgb(color: str) -> tuple[float, float, float]:
    value = color.lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
