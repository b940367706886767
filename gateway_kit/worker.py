"""The background worker: runs the periodic tasks that features register.

A feature registers a :class:`WorkerTask` with :func:`register_task` in its ``init_app``. The job
queue, certificate renewal and backups are such tasks. ``gateway-kit worker`` calls
:func:`run_worker`, which runs every task at its interval until stopped (SIGTERM/SIGINT). A task's
exception is logged and the task runs again at its next turn: one failing task never stops the
others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

log = logging.getLogger("gateway_kit.worker")


@dataclass
class WorkerTask:
    #: Short name shown in logs.
    name: str
    #: Seconds between runs.
    interval: float
    #: Called inside an app context; returns nothing.
    run: Callable[[Flask], None]


def register_task(app: Flask, task: WorkerTask) -> None:
    app.extensions["gateway_kit.worker_tasks"].append(task)


def tasks(app: Flask) -> list[WorkerTask]:
    registered: list[WorkerTask] = app.extensions["gateway_kit.worker_tasks"]
    return registered


def run_worker(app: Flask, stop: threading.Event, *, once: bool = False) -> int:
    """Run every registered task until ``stop`` is set; returns the number of task runs."""
    next_run = {t.name: 0.0 for t in tasks(app)}
    runs = 0
    if not tasks(app):
        log.info("no worker tasks are registered; idling")
    while not stop.is_set():
        now = time.monotonic()
        for task in tasks(app):
            if now < next_run[task.name]:
                continue
            try:
                with app.app_context():
                    task.run(app)
            except Exception:
                log.exception("worker task %s failed; it runs again in %.1fs", task.name, task.interval)
            runs += 1
            next_run[task.name] = time.monotonic() + task.interval
        if once:
            break
        wait = min((t - time.monotonic() for t in next_run.values()), default=1.0)
        stop.wait(max(0.05, min(wait, 1.0)))
    return runs
