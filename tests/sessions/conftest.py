"""Fixtures for the sessions tests: an app with the example interactive applications and users."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.sessions.lifecycle import run_sessions
from gateway_kit.sessions.models import InteractiveSession

from ..conftest import login, make_app, make_user
from ..jobs.conftest import seed_project

#: A quick-to-cull copy of hello-web (idle after 2 s) for culling tests.
QUICK_CULL = {
    "id": "quick-cull",
    "title": "Quick cull",
    "version": "1",
    "kind": "interactive",
    "resources": {"cpus": 1, "memory_mb": 512, "walltime": 600, "max_walltime": 1200},
    "interactive": {"readiness_path": "api/status", "activity": "proxy", "idle_timeout": 2},
}


def sessions_settings(**extra: Any) -> dict[str, Any]:
    return {
        "PLUGINS": ["gateway_kit.sessions.examples", "tests.sessions.conftest"],
        "JOBS_LOCAL_CPUS": 8,
        "JOBS_LOCAL_MAX_CONCURRENT": 8,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_LOCAL_KILL_GRACE": 1.0,
        "SESSIONS_POLL_INTERVAL": 0.2,
        **extra,
    }


def init_app(app: Any) -> None:
    """This module doubles as a plugin: it registers QUICK_CULL."""
    import sys

    from gateway_kit.jobs.apps import register_application
    from gateway_kit.sessions.examples import HELLO_WEB

    cmd = [sys.executable, "-m", "gateway_kit.sessions.hello_web", "--host", "{host}", "--port", "{port}"]
    cmd += ["--base-url", "{base_url}"]
    register_application(app, {**QUICK_CULL, "command": cmd, "env": HELLO_WEB["env"]})
    gpu = {**QUICK_CULL, "id": "gpu-web", "title": "GPU web", "interactive": {"readiness_path": "api/status"}}
    gpu["resources"] = {**QUICK_CULL["resources"], "gpus": 1, "max_gpus": 2}
    register_application(app, {**gpu, "command": cmd, "env": HELLO_WEB["env"]})


class World:
    """alice (project 'astro', 100 SUs) and bob (no project), signed-in test clients."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.app = make_app(tmp_path, **sessions_settings(**settings))
        self.alice = make_user(self.app, "alice")
        self.bob = make_user(self.app, "bob")
        seed_project(self.app, "astro", [self.alice], 100.0)
        self.client = self.app.test_client()
        login(self.client, self.alice)
        self.bob_client = self.app.test_client()
        login(self.bob_client, self.bob)

    def run_until(self, sid: int, states: set[str], timeout: float = 60.0) -> InteractiveSession:
        """Run worker passes until session ``sid`` is in one of ``states``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.app.app_context():
                run_sessions(self.app)
                row = db.session.get(InteractiveSession, sid)
                assert row is not None
                db.session.expunge(row)
            if row.state in states:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"session {sid} stayed {row.state} ({row.state_reason})")
            time.sleep(0.2)

    def end_all(self) -> None:
        with self.app.app_context():
            for row in db.session.query(InteractiveSession).all():
                if row.state not in ("ended", "failed"):
                    row.end_requested = True
            db.session.commit()
        with self.app.app_context():
            ids = [r.id for r in db.session.query(InteractiveSession).all()]
        for sid in ids:
            self.run_until(sid, {"ended", "failed"})


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.end_all()


Launcher = Callable[..., dict[str, Any]]


class RunningProxy:
    """The session proxy under uvicorn in a thread of the test process (same app, same database)."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading

        import uvicorn

        from gateway_kit.sessions.proxy import SessionProxy

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proxy = SessionProxy(app)
        config = uvicorn.Config(
            self.proxy,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_level="warning",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the session proxy did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
