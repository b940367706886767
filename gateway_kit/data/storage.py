"""Where dataset bytes live on the datasets root (``DATA_ROOT``), and the checks on names.

Layout::

    DATA_ROOT/
      ds-<12 hex>/files/<relative path>   the dataset's files, mode 0444 once complete
      .uploads/<upload id>.part           uploads in progress (sparse, written at chunk offsets)
      .backups/database/                  database archives (see backups.py)

A file's relative path is refused -- never "cleaned" -- when it could leave the dataset folder or
confuse a shell or a client: absolute paths, ``..`` or ``.`` segments, empty segments, backslashes,
control characters, or a segment not made of letters, digits, ``.``, ``_``, ``-``, ``+``, ``=``
and spaces. After the textual check, :func:`file_path` also checks that the resolved path stays
under the dataset folder (belt and braces against symlinks on the volume).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import NotFound

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+=\- ]{0,254}$")
MAX_PATH = 1024
_BLOCK = 1024 * 1024


def check_path(path: str) -> str | None:
    """Why ``path`` is refused as a file path inside a dataset, or None."""
    if not path:
        return "must not be empty"
    if len(path) > MAX_PATH:
        return f"must be at most {MAX_PATH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "must not contain control characters"
    if "\\" in path:
        return "must use '/' between folders, never '\\'"
    if path.startswith("/"):
        return "must be relative (no leading '/')"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return "must not contain empty, '.' or '..' segments"
        if not _SEGMENT.match(segment) or segment.endswith((" ", ".")):
            return (
                f"segment {segment[:40]!r} may only contain letters, digits, '.', '_', '-', "
                "'+', '=' and spaces, start with a letter, digit or '_' and not end with "
                "a space or '.'"
            )
    return None


def root(settings: Mapping[str, Any]) -> Path:
    return Path(settings["DATA_ROOT"])


def dataset_dir(settings: Mapping[str, Any], uid: str) -> Path:
    """The folder holding the files of dataset ``uid``."""
    return root(settings) / uid / "files"


def file_path(settings: Mapping[str, Any], uid: str, rel: str) -> Path:
    """The absolute path of file ``rel`` of dataset ``uid``; NotFound if it would escape."""
    if check_path(rel) is not None:
        raise NotFound("No such file.")
    base = dataset_dir(settings, uid).resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise NotFound("No such file.")
    return target


def uploads_dir(settings: Mapping[str, Any]) -> Path:
    return root(settings) / ".uploads"


def part_path(settings: Mapping[str, Any], upload_id: str) -> Path:
    return uploads_dir(settings) / f"{upload_id}.part"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def write_at(path: Path, offset: int, stream: IO[bytes], limit: int) -> tuple[int, str]:
    """Copy at most ``limit`` + 1 bytes of ``stream`` to ``path`` at ``offset``.

    Returns the number of bytes read and their SHA-256, so that the caller can refuse a chunk of
    the wrong length or digest. Uses ``pwrite`` on one descriptor: chunks of one upload may be
    written concurrently at different offsets.
    """
    h = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    written = 0  # bytes read from the stream
    flushed = 0  # bytes hashed and written
    # WSGI servers hand the body over in small pieces (gunicorn: 8 KiB through Werkzeug's
    # LimitedStream); gather them so that hashing and pwrite run per MiB, not per piece.
    buf = bytearray()
    try:
        while written <= limit:
            block = stream.read(min(_BLOCK, limit + 1 - written))
            if not block:
                break
            buf += block
            written += len(block)
            if len(buf) >= _BLOCK:
                flushed += _flush(fd, h, buf, offset + flushed, limit - flushed)
        flushed += _flush(fd, h, buf, offset + flushed, limit - flushed)
    finally:
        os.close(fd)
    return written, h.hexdigest()


def _flush(fd: int, h: Any, buf: bytearray, at: int, room: int) -> int:
    """Hash ``buf``, write the part of it that fits in ``room`` at ``at``; empty it."""
    n = len(buf)
    h.update(buf)
    if room > 0:
        os.pwrite(fd, buf[:room] if n > room else buf, at)
    buf.clear()
    return n


def install(part: Path, target: Path) -> None:
    """Move a completed upload into its dataset, read-only (0444)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        # A folder whose files were all deleted: the caller checked that the catalog holds
        # nothing under it, so it is empty (rmdir refuses otherwise).
        target.rmdir()
    os.chmod(part, 0o444)
    os.replace(part, target)
