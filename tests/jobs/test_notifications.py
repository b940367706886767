"""Notifications on terminal states: a signed webhook (real HTTP) and e-mail (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from gateway_kit.jobs.notifications import verify, webhook_key
from gateway_kit.jobs.queue import queue_for, wait_for
from gateway_kit.jobs.states import TERMINAL

from .conftest import World


@pytest.fixture()
def hook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture()
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, inbox
    ctl.stop()


def _until(cond: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_signed_webhook_and_email_on_completion(
    world_factory: Callable[..., World],
    hook_server: tuple[str, list[dict[str, Any]]],
    smtp: tuple[int, Inbox],
) -> None:
    url, received = hook_server
    port, inbox = smtp
    w = world_factory(
        JOBS_SMTP_HOST="127.0.0.1",
        JOBS_SMTP_PORT=port,
        JOBS_WEBHOOK_SECRET="s3cret",
        GATEWAY_NAME="Test Gateway",
        JOBS_WEBHOOK_ALLOW_PRIVATE=True,
    )  # the receiver is on loopback
    c = w.login(w.alice)
    r = c.post("/api/v1/jobs", json={"application": "echo", "webhook_url": url, "notify_email": True})
    job = wait_for(w.app, r.json["id"], set(TERMINAL), 20)
    queue_for(w.app).tick()  # the pass after the end sends notifications
    _until(lambda: bool(received) and bool(inbox.messages))
    hook = received[0]
    ts, sig = hook["headers"]["X-GatewayKit-Timestamp"], hook["headers"]["X-GatewayKit-Signature"]
    assert verify(b"s3cret", ts, hook["body"], sig)
    assert not verify(b"s3cret", ts, hook["body"] + b" ", sig)  # tampering is detected
    assert webhook_key(w.app) == b"s3cret"
    data = json.loads(hook["body"])
    assert data["event"] == "job.finished" and data["job"]["id"] == job.id
    assert data["job"]["state"] == "COMPLETED"
    mail = inbox.messages[0]
    assert mail.rcpt_tos == ["alice@example.org"]
    assert f"Job {job.id} (echo) COMPLETED" in mail.content.decode()
    queue_for(w.app).tick()
    assert len(received) == 1  # sent once
    events = c.get(f"/api/v1/jobs/{job.id}/events").json["events"]
    assert any("webhook answered 204" in e["message"] for e in events)
    assert any("e-mail sent" in e["message"] for e in events)


def test_unreachable_webhook_is_recorded_not_fatal(world_factory: Callable[..., World]) -> None:
    world = world_factory(JOBS_WEBHOOK_ALLOW_PRIVATE=True)  # a closed port on loopback
    c = world.login(world.alice)
    r = c.post("/api/v1/jobs", json={"application": "echo", "webhook_url": "http://127.0.0.1:9/nothing"})
    job = wait_for(world.app, r.json["id"], set(TERMINAL), 20)
    queue_for(world.app).tick()
    assert job.state == "COMPLETED"
    events = c.get(f"/api/v1/jobs/{job.id}/events").json["events"]
    assert any("webhook failed" in e["message"] for e in events)
