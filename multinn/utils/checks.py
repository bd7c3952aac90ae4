"""Checks of user-facing arguments that several entry points share (NumPy and TensorFlow free)."""

from __future__ import annotations

import math

from multinn.errors import GenerationError


def check_temperature(temperature) -> float:
    """`temperature` as a float; anything but a finite number >= 0 is a `GenerationError`."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise GenerationError(f"temperature must be a finite number >= 0, got {temperature!r}")
    return value
