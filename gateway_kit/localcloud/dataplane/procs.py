"""Process bookkeeping for the data plane: who belongs to an instance, and how to end it (Linux)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway_kit.process_lifetime import die_with_parent


def proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in ticks) of every process (Linux /proc)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def track(known: list[list[int]], root: int | None, table: dict[int, tuple[int, int]]) -> list[list[int]]:
    """The live processes of an instance: those known before (same start time, so not a reused
    pid), the root, and all their descendants. Processes that start a session of their own (the
    job runner does) stay tracked because they are still descendants when first seen."""
    live = {pid for pid, start in known if table.get(pid, (0, -1))[1] == start}
    if root and root in table:
        live.add(root)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _start) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = list(live)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in live:
                live.add(child)
                stack.append(child)
    return [[pid, table[pid][1]] for pid in sorted(live)]


def kill_all(pids: list[list[int]], pgid: Any, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid`` and to each of ``pids``."""
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pgid), sig)
    for pid, _start in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def group_alive(pgid: Any) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, grace: float, reap: Any = None, sig: signal.Signals = signal.SIGTERM) -> None:
    """SIGCONT+``sig`` the group and its tracked descendants, SIGKILL what is left after ``grace``."""
    pids = track([], pgid, proc_table())
    kill_all(pids, pgid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    kill_all(pids, pgid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (group_alive(pgid) or any(pid_alive(p) for p, _s in pids)):
        if reap is not None:
            reap()
        time.sleep(0.02)
    kill_all(track(pids, pgid, proc_table()), pgid, signal.SIGKILL)


class Spawner:
    """Starts the data plane's processes from one long-lived thread, each with
    ``PR_SET_PDEATHSIG`` (:func:`gateway_kit.process_lifetime.die_with_parent`): the kernel sends
    SIGTERM to an instance's script and to each unit's main process when that thread ends -- with
    the data plane, or with the cloud's process however it ends (even SIGKILL). Starting them from
    the thread that asked (a request thread for a boot, a ``systemctl`` connection thread) would tie
    them to that thread's short life instead.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[[], Any], list[Any], threading.Event] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> Spawner:
        self._thread = threading.Thread(target=self._run, name="localcloud-spawner", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, box, done = item
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller, which raises it
                box.append(exc)
            done.set()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen(argv, **kwargs)`` started from the spawner's thread."""
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return subprocess.Popen(argv, **kwargs)
        box: list[Any] = []
        done = threading.Event()
        self._queue.put((lambda: subprocess.Popen(argv, preexec_fn=die_with_parent(), **kwargs), box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        proc: subprocess.Popen[bytes] = box[0]
        return proc

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
