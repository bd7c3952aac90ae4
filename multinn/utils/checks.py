"""Checks of arguments that several modules share (NumPy and TensorFlow free).

An integer here is a Python or NumPy integer, never a bool. Each check raises the exception type
of its caller's contract, passed as `error`: `ValueError` for a layer, model or function argument
(the default), `DatasetError` for a data pipeline or shard setting, `SpecError` for a spec field.
Messages print the bad value. An argument error is worded as keras words it ("`units`: expected a
positive integer, got 0"); a `MultinnError` (which the command line prints as a one-line error)
as a sentence ("batch_size must be a positive integer, got 0").
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from multinn.errors import GenerationError, MultinnError


def is_int(value: Any) -> bool:
    """Whether `value` is an integer: a Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(
    value: Any, name: str, *, error: type[Exception] = ValueError, allow_none: bool = False
) -> int | None:
    """`value` as an `int` if it is an integer >= 1 (or `None`, with `allow_none`).

    Args:
        value: The value to check.
        name: The argument's name, as the message names it.
        error: The exception type to raise.
        allow_none: Accept `None` (returned as is).

    Raises:
        error: `value` is not a positive integer: "`name`: expected a positive integer, got 0",
            or for a `MultinnError` "name must be a positive integer[ or None], got 0".
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        if issubclass(error, MultinnError):
            raise error(f"{name} must be {expected}, got {value!r}")
        raise error(f"`{name}`: expected {expected}, got {value!r}")
    return int(value)


def check_int(value: Any, name: str, low: int, high: int | None = None, *, error: type[Exception] = ValueError) -> int:
    """`value` as an `int` if it is an integer in `low..high` (`high=None`: no upper bound).

    Args:
        value: The value to check.
        name: The field's name, as the message names it.
        low: The smallest value allowed.
        high: The largest value allowed, or `None`.
        error: The exception type to raise.

    Raises:
        error: "`name` must be an integer, got 2.5", or "`name` must be between 0 and 127,
            got 200" ("`name` must be >= 1, got 0" without `high`).
    """
    if not is_int(value):
        raise error(f"`{name}` must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise error(f"`{name}` must be {bounds}, got {value}")
    return value


def check_units(units: Sequence[int] | int, name: str) -> list[int]:
    """A list of positive layer sizes (an integer is one layer); anything else is a `ValueError`."""
    if is_int(units):
        units = [units]
    try:
        units = list(units)
    except TypeError:
        raise ValueError(f"`{name}`: expected a list of positive integers, got {units!r}") from None
    if not units:
        raise ValueError(f"`{name}`: expected at least one layer size, got {units!r}")
    return [check_positive_int(u, name) for u in units]


def check_temperature(temperature: Any) -> float:
    """`temperature` as a float; anything but a finite number >= 0 is a `GenerationError`."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise GenerationError(f"temperature must be a finite number >= 0, got {temperature!r}")
    return value
