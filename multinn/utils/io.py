"""File helpers: atomic writes, digests, the package cache directory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO


def multinn_home() -> Path:
    """The package cache: `$MULTINN_HOME`, default `~/.keras/multinn`."""
    home = os.environ.get("MULTINN_HOME")
    return Path(home).expanduser() if home else Path.home() / ".keras" / "multinn"


def available_memory() -> int:
    """Bytes of memory available to a new allocation now: `MemAvailable` of `/proc/meminfo` on
    Linux, else the physical memory."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_file_mode() -> int:
    """The mode a new file gets from `open()` under the current umask (e.g. 0o644); temporary files
    (`tempfile.mkstemp`) are private (0o600) and get this mode before they are moved into place."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success, move it over `path` in one step.

    If the block raises (or the process dies), `path` is left as it was and the temporary file
    is removed (or, after a crash, left under a name no reader trusts: `.<name>.*.tmp`).

    Example:
    ```python
    with atomic_write("cache.npz") as f:
        np.savez(f, x=x)
    ```
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp makes owner-only files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def all_or_none(targets: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Write several files as one: yield a temporary path beside each target (same suffix), to be
    written by the block; when the block succeeds and no target is a directory, move each into
    place. If the block raises, the temporary files are removed and no target is touched.

    Example:
    ```python
    with all_or_none(["a.mid", "b.mid"]) as (a, b):
        write_midi(roll_a, a, spec)
        write_midi(roll_b, b, spec)
    ```

    Raises:
        MultinnError: A temporary file cannot be created, or a target is a directory.
    """
    from multinn.errors import MultinnError

    targets = [Path(t) for t in targets]
    staged: list[Path] = []
    try:
        for target in targets:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
            except OSError as exc:
                raise MultinnError(f"cannot write {target}: {exc.strerror or exc}") from None
            os.close(fd)
            staged.append(Path(tmp))
        yield list(staged)
        for target in targets:  # what would make a move fail, before anything is moved
            if target.is_dir():
                raise MultinnError(f"cannot write {target}: it is a directory")
        for tmp, target in zip(staged, targets, strict=True):  # renames within a folder onto files
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, target)
    finally:
        for tmp in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
