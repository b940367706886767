"""Opening files in a job's working directory without following links.

Why: a job (or whoever can write into its directory) can replace ``stdout.txt``, an output or a
staged input with a symbolic link, to ``/etc/passwd`` or to another user's job. Everything the
gateway reads from or appends to a job directory goes through :func:`open_job_file`, which walks
the relative path one component at a time with ``O_NOFOLLOW`` (a link anywhere in it fails),
accepts only regular files (a FIFO would block the reader), and checks that the opened file's
real path lies inside the job directory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import IO, Any

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeJobFile(OSError):
    """The path leads through a symbolic link, out of the job directory, or to a non-file."""


def _fd_path(fd: int) -> str | None:
    """The path the kernel resolved for ``fd`` (one ``readlink`` of ``/proc/self/fd``, where
    ``realpath`` would check every component again); None without ``/proc``."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _parts(rel: str) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", ".") for p in parts):
        raise UnsafeJobFile(f"{rel!r} is not a relative path inside the job directory")
    return parts


def open_fd(root: str | Path, rel: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A file descriptor for ``root/rel`` (``flags`` as for :func:`os.open`), following no link.

    :raises FileNotFoundError: it does not exist (and ``flags`` do not create it).
    :raises UnsafeJobFile: a component is a link, or the target is not a regular file.
    """
    parts = _parts(rel)
    # Links above and at the job directory are the host's (e.g. a /tmp that is one): followed.
    dir_fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    real_root = _fd_path(dir_fd) or os.path.realpath(root)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                raise UnsafeJobFile(f"{rel!r}: {part!r} is not a plain directory") from exc
            os.close(dir_fd)
            dir_fd = nxt
        try:
            # O_NONBLOCK: opening a FIFO must not wait for its other end (refused below).
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            if os.path.islink(os.path.join(real_root, *parts)):
                raise UnsafeJobFile(f"{rel!r} is a symbolic link") from exc
            if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
                raise UnsafeJobFile(f"{rel!r} is not a regular file") from exc
            raise
    finally:
        os.close(dir_fd)
    real = _fd_path(fd) or real_root
    if not stat.S_ISREG(os.fstat(fd).st_mode) or not (
        real == real_root or real.startswith(real_root + os.sep)
    ):
        os.close(fd)
        raise UnsafeJobFile(f"{rel!r} is not a regular file inside the job directory")
    os.set_blocking(fd, True)
    return fd


def open_job_file(root: str | Path, rel: str, mode: str = "rb") -> IO[Any]:
    """:func:`open_fd` as a file object; ``mode`` is ``"rb"``, ``"ab"`` or ``"wb"``."""
    flags = {
        "rb": os.O_RDONLY,
        "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    }[mode]
    return os.fdopen(open_fd(root, rel, flags), mode)


def read_job_file(root: str | Path, rel: str) -> bytes:
    """The whole content of ``root/rel`` (see :func:`open_fd`)."""
    with open_job_file(root, rel) as f:
        data: bytes = f.read()
    return data
