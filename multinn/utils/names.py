"""Messages for names that are not in a registry."""

from __future__ import annotations

import difflib
from typing import Iterable


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown <kind> 'x'; did you mean 'y'? (known: ...)`, suggesting up to three close names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})"
