"""Defect 1 (slow clients): stalled connections do not hold gunicorn's threads.

gthread's ``timeout`` does not bound a request; before ``GUNICORN_CLIENT_TIMEOUT``, four
connections that stopped halfway through their headers kept a 1-worker, 2-thread gateway from
answering anyone until they disconnected.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import make_app, make_token, make_user
from tests.demo_support import stop_process_group

from .test_sessions_and_serve import _free_port


def _answer(sock: socket.socket) -> bytes:
    """What the server sends before it closes the connection (30 s at most)."""
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_stalled_clients_are_cut_off_and_others_served(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    token = make_token(app, make_user(app, "ann"), ["profile"])
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_KIT_", "GUNICORN_"))}
    env.update(
        GATEWAY_KIT_INSTANCE=str(tmp_path / "instance"),
        GATEWAY_KIT_ENV="testing",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        GUNICORN_CLIENT_TIMEOUT="1",
    )
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:gateway_kit.gunicorn_conf",
        "gateway_kit:create_app()",
    ]
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            argv, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 60 s"
                time.sleep(0.3)
        # Twice as many connections as threads stop halfway through their headers...
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        for sock in stalled:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # ...and a signed-in client stops halfway through a body the API reads.
        body = socket.create_connection(("127.0.0.1", port))
        body.sendall(
            f"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        # Others are still served (before: never, while the stalled connections stayed open).
        with urllib.request.urlopen(f"{base}/healthz", timeout=30) as resp:
            assert resp.status == 200
        for sock in stalled:
            assert _answer(sock) == b""  # closed: the headers never came
            sock.close()
        answer = _answer(body)
        body.close()
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    finally:
        stop_process_group(proc)
    log = log_path.read_text()
    assert "Closed a connection that sent nothing for 1s" in log
    assert "Traceback" not in log
