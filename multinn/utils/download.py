"""Verified downloads into the package cache: `Download` describes a file, `download` fetches it."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from pathlib import Path

from multinn.errors import ChecksumError, DatasetError
from multinn.utils.checks import is_int
from multinn.utils.io import multinn_home, sha256_file

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclasses.dataclass(frozen=True)
class Download:
    """A file the package can download, checked against its SHA-256 digest.

    The registries describe their remote files with it: `multinn.datasets.DataSource` (a dataset
    file) and `multinn.presets.PresetSource` (a preset archive) are `Download`s.

    Args:
        url: Where to fetch the file.
        filename: Name of the file in the cache: a plain file name, no folder.
        sha256: Expected hex SHA-256 digest (64 hex digits, either case).
        size: Size in bytes, for listings (0: not given).

    Raises:
        ValueError: A field is malformed.
    """

    url: str
    filename: str
    sha256: str
    size: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"`url`: expected a non-empty string, got {self.url!r}")
        name = self.filename
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"`filename`: expected a file name without folders, got {name!r}")
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"`sha256`: expected 64 hex digits, got {self.sha256!r}")
        if not is_int(self.size) or self.size < 0:
            raise ValueError(f"`size`: expected a number of bytes >= 0, got {self.size!r}")


def download(url: str, filename: str, sha256: str, subdir: str = "downloads") -> Path:
    """Fetch `url` into `$MULTINN_HOME/<subdir>/<filename>` unless a verified copy is there.

    The file is fetched with `keras.utils.get_file(..., file_hash=sha256)` into a private
    temporary folder and moved into the cache only once its SHA-256 digest matches, so a wrong
    hash, a failed or an interrupted download never leaves a file in the cache.

    Args:
        url: Where to fetch the file.
        filename: Name of the file in the cache.
        sha256: Expected hex SHA-256 digest.
        subdir: Folder under the cache root.

    Returns:
        Path of the verified file.

    Raises:
        ChecksumError: The downloaded file's digest is not `sha256`.
        DatasetError: The download failed.
    """
    sha256 = sha256.lower()
    target_dir = multinn_home() / subdir
    target = target_dir / filename
    if target.is_file():
        if sha256_file(target) == sha256:
            return target
        target.unlink()  # a stale or tampered copy is never trusted
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target_dir, prefix=".partial-"))
    try:
        import keras

        try:
            fetched = keras.utils.get_file(
                fname=filename,
                origin=url,
                file_hash=sha256,
                hash_algorithm="sha256",
                cache_dir=str(staging),
                cache_subdir=".",
            )
        except ValueError as exc:
            if "hash" not in str(exc):
                raise DatasetError(f"cannot download {filename} from {url}: {exc}") from None
            raise ChecksumError(
                f"{filename} downloaded from {url} is corrupt or has been changed: its SHA-256 digest is not "
                f"the expected {sha256}; nothing was kept"
            ) from None
        except Exception as exc:  # keras raises a bare Exception for URL failures
            raise DatasetError(f"cannot download {filename} from {url}: {exc}") from None
        os.replace(fetched, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
