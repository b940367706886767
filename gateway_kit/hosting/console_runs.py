"""Deployment actions started from the operator console, run in the background with live progress.

Apply and destroy take minutes (they wait for VMs, volumes and load balancers), longer than a
request may. The console starts them here: a thread per run, one run at a time per deployment,
its progress (the engine's :class:`~gateway_kit.hosting.engine.Reporter` calls) kept in memory
for the run page, and its outcome written to the audit log under the operator who started it.
The engine's own step journal stays the durable record; a run that a restart interrupts is
resumed by the next apply, as from the CLI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from .. import audit
from ..errors import Conflict, GatewayError
from .engine import Engine, engine_for

log = logging.getLogger("gateway_kit.hosting")

KEY = "gateway_kit.hosting.console_runs"


@dataclass
class ConsoleRun:
    deployment: str
    action: str  #: apply | destroy
    actor: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "running"  #: running | done | failed
    total: int = 0
    done: int = 0
    lines: list[str] = field(default_factory=list)
    message: str = ""
    finished_at: datetime | None = None

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "action": self.action,
            "actor": self.actor,
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "lines": list(self.lines),
            "message": self.message,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class RunReporter:
    """The engine's progress, recorded on the run (the CLI's progress bar, for the page)."""

    def __init__(self, run: ConsoleRun) -> None:
        self.run = run

    def begin(self, total: int, title: str) -> None:
        self.run.total += total
        self.run.lines.append(title)

    def step(self, text: str) -> None:
        self.run.done = min(self.run.done + 1, max(self.run.total, self.run.done + 1))
        self.run.lines.append(text)

    def end(self) -> None:
        pass


def _runs(app: Flask) -> tuple[threading.Lock, dict[str, ConsoleRun]]:
    found: tuple[threading.Lock, dict[str, ConsoleRun]] = app.extensions.setdefault(
        KEY, (threading.Lock(), {})
    )
    return found


def current(app: Flask, deployment: str) -> ConsoleRun | None:
    """The latest console run of ``deployment`` in this process (running or finished)."""
    lock, runs = _runs(app)
    with lock:
        return runs.get(deployment)


def start(app: Flask, deployment: str, action: str, actor: str, work: Callable[[Engine], str]) -> ConsoleRun:
    """Run ``work(engine)`` in a thread; it returns the line that ends the run's log.

    :raises Conflict: a console run of this deployment is still going.
    """
    lock, runs = _runs(app)
    with lock:
        previous = runs.get(deployment)
        if previous is not None and previous.state == "running":
            raise Conflict(
                f"{previous.actor} is running {previous.action} on {deployment}; wait for it to finish."
            )
        run = runs[deployment] = ConsoleRun(deployment, action, actor)
    thread = threading.Thread(
        target=_work, args=(app, run, work), name=f"console-{action}-{deployment}", daemon=True
    )
    thread.start()
    return run


def _work(app: Flask, run: ConsoleRun, work: Callable[[Engine], str]) -> None:
    with app.app_context():
        engine = engine_for(app, reporter=RunReporter(run))
        try:
            with audit.audited(app, run.actor, f"hosting.{run.action}", run.deployment) as entry:
                entry.detail = run.message = work(engine)
            run.state = "done"
        except GatewayError as exc:
            run.state, run.message = "failed", exc.user_message
            log.warning("console %s of %s failed: %s", run.action, run.deployment, exc.log_message)
        except Exception:
            run.state, run.message = "failed", "Unexpected error; see the gateway's log."
            log.exception("console %s of %s failed", run.action, run.deployment)
        finally:
            run.finished_at = datetime.now(UTC)
            run.lines.append(run.message)
            engine.cloud.close()
