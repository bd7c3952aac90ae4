"""Messages for names that are not in a registry."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_name(kind: str, name: str, known: Iterable[str], cutoff: float = 0.5) -> str:
    """`unknown <kind> 'x'; did you mean 'y'? (known: ...)`, suggesting up to three close names.

    Args:
        kind: What the names are ("dataset", "preset").
        name: The name asked for.
        known: The registered names.
        cutoff: `difflib` similarity (0-1) a name needs to be suggested.
    """
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=cutoff)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})"
