"""Argument checks shared by the layers of this package."""

from __future__ import annotations


def check_positive_int(value: object, name: str) -> int:
    """Returns `value` if it is a positive integer, else raises a `ValueError` that prints it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}`: expected a positive integer, got {value!r}")
    return value
