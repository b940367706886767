"""A launch and an end request wake the worker's ``sessions`` task (:mod:`gateway_kit.jobs.wakeup`).

The task's interval is an hour, so only a wake-up can move the session within the test's wait:
a datagram on SQLite, ``NOTIFY`` at COMMIT on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.sessions.models import InteractiveSession
from gateway_kit.worker import run_worker, tasks

from .conftest import World

HOUR = 3600.0


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _state(world: World, sid: int) -> str:
    with world.app.app_context():
        row = db.session.get(InteractiveSession, sid)
        assert row is not None
        state = row.state
        db.session.rollback()
        return state


def _launch_and_end_woken(world: World) -> None:
    passes: list[float] = []
    task = next(t for t in tasks(world.app) if t.name == "sessions")
    inner = task.run

    def counted(app: Any) -> bool | None:
        result = inner(app)
        passes.append(time.monotonic())
        return result

    task.run = counted
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(world.app, stop), daemon=True)
    thread.start()
    try:
        # The worker's first pass runs every task at once; the next one is an hour away.
        _wait_for("the worker's first pass", lambda: len(passes) >= 1)
        r = world.client.post("/api/v1/sessions", json={"application": "hello-web"})
        assert r.status_code == 201, r.get_json()
        sid = r.get_json()["id"]
        _wait_for("the launch to wake the worker", lambda: _state(world, sid) != "queued")
        assert len(passes) >= 2 and _state(world, sid) in ("starting", "ready")
        # Readiness is polled (only the server's supervisor starting pokes the worker); an end
        # request wakes it again, and a starting or ready session ends in that pass.
        seen = len(passes)
        assert world.client.delete(f"/api/v1/sessions/{sid}").status_code == 202
        _wait_for("the end request to wake the worker", lambda: _state(world, sid) in ("ended", "failed"))
        assert _state(world, sid) == "ended" and len(passes) > seen
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def test_launch_and_end_wake_the_worker(tmp_path: Path) -> None:
    world = World(tmp_path, SESSIONS_POLL_INTERVAL=HOUR, JOBS_POLL_INTERVAL=HOUR)
    try:
        _launch_and_end_woken(world)
    finally:
        world.end_all()


@pytest.mark.postgres
def test_launch_and_end_wake_the_worker_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    world = World(tmp_path, DATABASE_URL=postgres_url, SESSIONS_POLL_INTERVAL=HOUR, JOBS_POLL_INTERVAL=HOUR)
    try:
        _launch_and_end_woken(world)
    finally:
        world.end_all()
