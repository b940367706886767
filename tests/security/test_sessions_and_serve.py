"""Defect 7: logging in again ends the previous server-side session; ``gateway-kit serve`` serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from flask import session

from gateway_kit.db import db
from gateway_kit.identity.access import SESSION_ID_KEY, login_user
from gateway_kit.identity.models import UserSession
from tests.conftest import login, make_user
from tests.demo_support import stop_process_group


def test_logging_in_again_ends_the_previous_session(app: Any) -> None:
    user = make_user(app, "ann")
    client = app.test_client()
    login(client, user)
    old_cookie = client.get_cookie("session")
    assert old_cookie is not None
    assert client.get("/api/v1/me").status_code == 200
    with client.session_transaction() as sess:
        old_sid = sess[SESSION_ID_KEY]
    # The same browser logs in again: login_user runs with the old session in place.
    with app.test_request_context(headers={"Cookie": f"session={old_cookie.value}"}):
        session[SESSION_ID_KEY] = old_sid
        login_user(db.session.merge(user))
    with app.app_context():
        assert db.session.get(UserSession, old_sid).revoked_at is not None
    # A copy of the old cookie no longer signs anyone in.
    thief = app.test_client()
    thief.set_cookie("session", old_cookie.value)
    assert thief.get("/api/v1/me").status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_really_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env.update(GATEWAY_KIT_INSTANCE=str(tmp_path / "instance"), GATEWAY_KIT_ENV="testing")
    subprocess.run([sys.executable, "-m", "gateway_kit", "db", "upgrade"], env=env, check=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "serve ended"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer in 60 s"
                time.sleep(0.3)
    finally:
        stop_process_group(proc)


def test_serve_debug_only_on_loopback_outside_production(tmp_path: Path, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from gateway_kit.cli import main

    monkeypatch.setenv("GATEWAY_KIT_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("GATEWAY_KIT_ENV", "testing")
    with socket.socket() as taken:  # were it to serve, it would fail on this port, not hang
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        # Before: the interactive debugger (code execution from the browser) on any address.
        result = CliRunner().invoke(main, ["serve", "--debug", "--host", "0.0.0.0", "--port", port])
        assert result.exit_code == 2 and "only on a loopback address" in result.output
        monkeypatch.setenv("GATEWAY_KIT_ENV", "production")
        monkeypatch.setenv("GATEWAY_KIT_SECRET_KEY", "x" * 48)
        result = CliRunner().invoke(main, ["serve", "--debug", "--port", port])
        assert result.exit_code == 2 and "never with ENV=production" in result.output
