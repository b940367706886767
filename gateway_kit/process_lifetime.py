"""Child processes that end with whoever started them, whatever ends it (even SIGKILL).

Two mechanisms, for two kinds of parent:

- :func:`die_with_parent` (``preexec_fn``): the kernel sends the child a signal when the *thread*
  that started it ends (Linux ``PR_SET_PDEATHSIG``). For long-lived parts started by a process's
  main thread (the demo's local cloud, development provider and worker). Do not use it for a
  child started from a short-lived thread (a request handler): that thread's end would signal it.
- A **lifeline**: a pipe whose write end only the owner (``gateway-kit demo``) holds; every
  descendant that should end with it inherits the read end (:func:`lifeline_fds` for ``pass_fds``,
  ``FD:INODE`` in ``GATEWAY_KIT_LIFELINE_FD``) and :func:`watch_lifeline` sees end-of-file when
  the owner is gone, however it ended. For grandchildren that must outlive their direct parent
  but not the owner: local jobs survive a killed worker (another worker resumes them) but not
  the demo, the local cloud's instance processes survive a request thread.

:func:`stop_process` ends a child its parent no longer needs: SIGTERM, then SIGKILL after a grace period.

Nothing here runs at import; on other systems than Linux :func:`die_with_parent` does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

#: The environment variable naming the inherited read end of the lifeline.
LIFELINE_ENV = "GATEWAY_KIT_LIFELINE_FD"

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    fn: Callable[..., int] = libc.prctl
    return fn


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent (thread) ends.

    Build it in the parent (it looks up ``prctl`` and remembers the parent's pid there, so the
    child between fork and exec only makes one system call)::

        subprocess.Popen(argv, preexec_fn=die_with_parent(), start_new_session=True)

    If the parent died between ``fork`` and ``prctl`` the child signals itself at once.
    """
    prctl = _prctl()
    parent = os.getpid()

    def preexec() -> None:
        if prctl is None:
            return
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # orphaned already: reparented before the prctl call
            os.kill(os.getpid(), sig)

    return preexec


class Lifeline:
    """The owner's side: a pipe whose read end descendants inherit and watch.

    ``env(mapping)`` adds ``GATEWAY_KIT_LIFELINE_FD`` to a child's environment and ``fds`` is the
    ``pass_fds`` for ``subprocess.Popen``. The write end never leaves this process (it is not
    inheritable), so the read end sees end-of-file exactly when this process is gone.
    """

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # both not inheritable (PEP 446)

    @property
    def fds(self) -> tuple[int, ...]:
        return (self.read_fd,)

    def env(self, env: MutableMapping[str, str]) -> MutableMapping[str, str]:
        # The pipe's inode too: a process that copied this environment without the fd (a worker
        # started by hand from a demo worker's environment) must not take another fd for it.
        env[LIFELINE_ENV] = f"{self.read_fd}:{os.fstat(self.read_fd).st_ino}"
        return env

    def close(self) -> None:
        """Cut the line now: every watcher ends its part (used on a clean stop, too)."""
        for fd in (self._write_fd, self.read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def inherited_lifeline(environ: Mapping[str, str] | None = None) -> int | None:
    """The read end of the lifeline this process inherited, or None (no owner, or not passed)."""
    value = (environ if environ is not None else os.environ).get(LIFELINE_ENV, "")
    fd_text, _, ino_text = value.partition(":")
    if not (fd_text.isdigit() and ino_text.isdigit()):
        return None
    fd = int(fd_text)
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISFIFO(info.st_mode) or info.st_ino != int(ino_text):
        return None
    return fd


def lifeline_fds(environ: Mapping[str, str] | None = None) -> tuple[int, ...]:
    """``pass_fds`` that hand this process's lifeline on to a child (empty when there is none)."""
    fd = inherited_lifeline(environ)
    return () if fd is None else (fd,)


def watch_lifeline(on_end: Callable[[], None], fd: int | None = None) -> threading.Thread | None:
    """Call ``on_end`` (in a daemon thread) once the lifeline's owner is gone.

    :param fd: the read end; by default the inherited one. Returns None when there is none.
    """
    fd = inherited_lifeline() if fd is None else fd
    if fd is None:
        return None

    def wait() -> None:
        while True:
            try:
                data = os.read(fd, 1)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:  # end of file: every write end is closed
                break
        on_end()

    thread = threading.Thread(target=wait, name="gateway-kit-lifeline", daemon=True)
    thread.start()
    return thread


def exit_with_lifeline(sig: int = signal.SIGTERM) -> threading.Thread | None:
    """Send this process ``sig`` once the lifeline's owner is gone (for a long-running command)."""
    return watch_lifeline(lambda: os.kill(os.getpid(), sig))


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End ``proc``: SIGTERM (if it still runs), SIGKILL if it has not exited ``grace`` seconds
    later; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
