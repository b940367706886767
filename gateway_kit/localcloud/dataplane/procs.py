"""Process bookkeeping for the data plane: who belongs to an instance, and how to end it (Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any


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


def end_group(pgid: int, grace: float, reap: Any = None) -> None:
    """SIGCONT+SIGTERM the group and its tracked descendants, SIGKILL what is left after ``grace``."""
    pids = track([], pgid, proc_table())
    kill_all(pids, pgid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    kill_all(pids, pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (group_alive(pgid) or any(pid_alive(p) for p, _s in pids)):
        if reap is not None:
            reap()
        time.sleep(0.02)
    kill_all(track(pids, pgid, proc_table()), pgid, signal.SIGKILL)
