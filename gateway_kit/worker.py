"""The background worker: runs the periodic tasks that features register.

A feature registers a :class:`WorkerTask` with :func:`register_task` in its ``init_app``. The job
queue, certificate renewal and backups are such tasks. ``gateway-kit worker`` calls
:func:`run_worker`, which runs every task at its interval until stopped (SIGTERM/SIGINT). A task's
exception is logged and the task runs again at its next turn: one failing task never stops the
others. When the worker stops, each task's ``stop`` runs once, after the last pass: the job queue
hands back the jobs it holds there, so that another worker (a replacement VM's, in a release)
takes them over at once instead of after their lease.

A task may run sooner than its interval: when its ``run`` returns True (it left work for another
pass), and when its ``waker`` (file descriptors the worker waits on) becomes readable -- the job
queue is woken this way by submissions and by local jobs starting and ending
(:mod:`gateway_kit.jobs.wakeup`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import Flask
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger("gateway_kit.worker")


class Waker(Protocol):
    """What wakes a task early: readable file descriptors, drained before the task runs."""

    def filenos(self) -> list[int]: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class WorkerTask:
    #: Short name shown in logs.
    name: str
    #: Most seconds between runs.
    interval: float
    #: Called inside an app context; returns True when it left work for another pass now.
    run: Callable[[Flask], bool | None]
    #: Opens (inside an app context) what wakes the task before its interval; None: nothing.
    waker: Callable[[Flask], Waker] | None = None
    #: Called once (inside an app context) when the worker stops, after its last run; None: nothing.
    stop: Callable[[Flask], None] | None = None


def register_task(app: Flask, task: WorkerTask) -> None:
    app.extensions["gateway_kit.worker_tasks"].append(task)


def tasks(app: Flask) -> list[WorkerTask]:
    registered: list[WorkerTask] = app.extensions["gateway_kit.worker_tasks"]
    return registered


def _open_wakers(app: Flask) -> dict[str, Waker]:
    wakers: dict[str, Waker] = {}
    for task in tasks(app):
        if task.waker is None:
            continue
        try:
            with app.app_context():
                wakers[task.name] = task.waker(app)
        except Exception:
            log.exception("worker task %s: no wake-ups (runs every %.1fs)", task.name, task.interval)
    return wakers


def run_worker(app: Flask, stop: threading.Event, *, once: bool = False) -> int:
    """Run every registered task until ``stop`` is set; returns the number of task runs."""
    next_run = {t.name: 0.0 for t in tasks(app)}
    outages: dict[str, int] = {}  # task name -> failed runs since the database stopped answering
    runs = 0
    if not tasks(app):
        log.info("no worker tasks are registered; idling")
    wakers = {} if once else _open_wakers(app)
    signals = _signal_pipe() if wakers else None
    try:
        while not stop.is_set():
            now = time.monotonic()
            for task in tasks(app):
                if now < next_run[task.name]:
                    continue
                more = False
                try:
                    with app.app_context():
                        more = bool(task.run(app))
                except (OperationalError, InterfaceError) as exc:
                    _database_down(task, exc, outages)
                except Exception:
                    log.exception("worker task %s failed; it runs again in %.1fs", task.name, task.interval)
                else:
                    if outages.pop(task.name, 0):
                        log.warning("worker task %s: the database answers again", task.name)
                runs += 1
                next_run[task.name] = 0.0 if more else time.monotonic() + task.interval
            if once:
                break
            wait = max(0.0, min((t - time.monotonic() for t in next_run.values()), default=1.0))
            _wait(stop, wakers, next_run, min(wait, 1.0), signals)
    finally:
        _stop_tasks(app)
        for waker in wakers.values():
            waker.close()
        if signals is not None:
            signal.set_wakeup_fd(-1)
            for fd in signals:
                os.close(fd)
    return runs


def _stop_tasks(app: Flask) -> None:
    """Run each task's ``stop``; one failing is logged and the others still run."""
    for task in tasks(app):
        if task.stop is None:
            continue
        try:
            with app.app_context():
                task.stop(app)
        except Exception:
            log.exception("worker task %s: stopping failed", task.name)


def _database_down(task: WorkerTask, exc: OperationalError | InterfaceError, outages: dict[str, int]) -> None:
    """Say once per outage (not every run, not with a traceback) that the database is not answering.

    A restarting or unreachable database is a passing outage the task rides out by running again;
    the operator needs to know what failed and what to check, once.
    """
    outages[task.name] = outages.get(task.name, 0) + 1
    if outages[task.name] > 1:
        return
    orig = exc.orig or exc
    reason = (str(orig).strip().splitlines() or [""])[0]
    log.warning(
        "worker task %s: the database is not answering (%s: %s); it runs again every %.1fs until it "
        "does. If the database server is restarting this passes by itself; otherwise check that it "
        "runs and that DATABASE_URL points at it.",
        task.name,
        type(orig).__name__,
        reason,
        task.interval,
    )


def _signal_pipe() -> tuple[int, int] | None:
    """A pipe that a signal (SIGTERM stopping the worker) writes to, ending a wait at once.

    Only the main thread may set it; elsewhere the wait ends within a second anyway."""
    if threading.current_thread() is not threading.main_thread():
        return None
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    try:
        signal.set_wakeup_fd(write_end)
    except ValueError:
        os.close(read_end)
        os.close(write_end)
        return None
    return read_end, write_end


def _wait(
    stop: threading.Event,
    wakers: dict[str, Waker],
    next_run: dict[str, float],
    timeout: float,
    signals: tuple[int, int] | None,
) -> None:
    """Sleep up to ``timeout``; a task whose waker fires is due at once."""
    if not wakers:
        stop.wait(max(0.05, timeout))
        return
    if timeout <= 0 or stop.is_set():
        return
    owner = {fd: name for name, waker in wakers.items() for fd in waker.filenos()}
    watched = list(owner) + ([signals[0]] if signals else [])
    try:
        readable, _, _ = select.select(watched, [], [], timeout)
    except (OSError, ValueError):  # a descriptor closed under us: fall back to sleeping
        stop.wait(timeout)
        return
    if signals and signals[0] in readable:
        with contextlib.suppress(BlockingIOError):
            os.read(signals[0], 512)
    for name in {owner[fd] for fd in readable if fd in owner}:
        wakers[name].drain()
        next_run[name] = 0.0
