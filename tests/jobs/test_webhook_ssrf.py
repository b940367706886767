"""Webhooks cannot be aimed at the gateway's own network (server-side request forgery).

Unless JOBS_WEBHOOK_ALLOW_PRIVATE is set, a webhook URL whose host is or resolves to a loopback,
private, link-local (cloud metadata), multicast or reserved address is refused at submission
(422 naming ``webhook_url``) and again at delivery, where the connection goes only to the
addresses just checked (DNS rebinding) and redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from gateway_kit.jobs import notifications
from gateway_kit.jobs.notifications import (
    _refusal,
    address_problem,
    webhook_session,
    webhook_url_problem,
)
from gateway_kit.jobs.queue import queue_for, wait_for
from gateway_kit.jobs.states import TERMINAL

from .conftest import World

PUBLIC = "93.184.216.34"  # documentation-free, globally routable (example.com's old address)


@pytest.fixture()
def receiver() -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
    """A webhook receiver on loopback; ``reply`` sets its status and headers."""
    received: list[dict[str, Any]] = []
    reply: dict[str, Any] = {"status": 204, "headers": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "host": self.headers["Host"]})
            self.send_response(reply["status"])
            for k, v in reply["headers"].items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            received.append({"path": self.path, "host": self.headers["Host"], "method": "GET"})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received, reply
    server.shutdown()


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str] | Callable[[], list[str]]]
) -> list[str]:
    """Replace the webhook resolver; returns the list of names looked up."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        answer = table.get(host)
        if answer is None:
            raise OSError(f"no such host {host}")
        return answer() if callable(answer) else list(answer)

    monkeypatch.setattr(notifications, "resolve", resolve)
    return lookups


REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:a9fe:a9fe::1",
    "64:ff9b::a9fe:a9fe",
    "2001:0:4136:e378:8000:63bf:f5fe:fdfe",
]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_setting_is_off_by_default(world: World) -> None:
    assert world.app.config["JOBS_WEBHOOK_ALLOW_PRIVATE"] is False


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://127.0.0.1:9/hook", "is a loopback address (127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "is a link-local address (169.254.169.254)"),
        ("http://[::1]:8080/", "is a loopback address (::1)"),
        ("http://[::ffff:10.1.2.3]/", "a private address (10.1.2.3)"),
        ("http://localhost:5000/", "'localhost' resolves to a loopback address"),
        ("http://internal.example.org/hook", "resolves to a private address (10.0.0.5)"),
        ("https://mixed.example.org/hook", "resolves to a private address (192.168.0.7)"),
        ("http://metadata.example.org/", "resolves to a link-local address (169.254.169.254)"),
        ("http://nowhere.invalid/", "cannot be resolved"),
        ("http://public.example.org:99999/", "valid host and port"),
        ("ftp://public.example.org/", "http:// or https://"),
    ],
)
def test_submission_refuses_internal_webhooks(
    world: World, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    fake_dns(
        monkeypatch,
        {
            "localhost": ["127.0.0.1", "::1"],
            "internal.example.org": ["10.0.0.5"],
            "mixed.example.org": [PUBLIC, "192.168.0.7"],
            "metadata.example.org": ["169.254.169.254"],
            "public.example.org": [PUBLIC],
        },
    )
    c = world.login(world.alice)
    r = c.post("/api/v1/jobs", json={"application": "echo", "webhook_url": url})
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    errors = [e for e in r.json["errors"] if e["field"] == "webhook_url"]
    assert errors and says in errors[0]["message"], errors
    assert c.get("/api/v1/jobs").json["jobs"] == []  # nothing was stored


def test_public_webhook_is_accepted_and_private_ones_with_the_setting(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"hooks.example.org": [PUBLIC]})
    w = world_factory()
    c = w.login(w.alice)
    r = c.post("/api/v1/jobs", json={"application": "echo", "webhook_url": "https://hooks.example.org/in"})
    assert r.status_code in (201, 202), r.json
    assert webhook_url_problem("http://127.0.0.1:9/", allow_private=True) is None
    assert webhook_url_problem("http://169.254.169.254/", allow_private=True) is None


def test_dns_rebinding_after_submission_is_refused_at_delivery(
    world: World, monkeypatch: pytest.MonkeyPatch, receiver: tuple[int, list[dict[str, Any]], dict[str, Any]]
) -> None:
    port, received, _ = receiver
    answers = {"rebind.example.org": [PUBLIC]}
    fake_dns(monkeypatch, answers)  # type: ignore[arg-type]
    c = world.login(world.alice)
    r = c.post(
        "/api/v1/jobs", json={"application": "echo", "webhook_url": f"http://rebind.example.org:{port}/hook"}
    )
    assert r.status_code in (201, 202), r.json
    answers["rebind.example.org"] = ["127.0.0.1"]  # the attacker's DNS now points inside
    job = wait_for(world.app, r.json["id"], set(TERMINAL), 20)
    queue_for(world.app).tick()
    assert job.state == "COMPLETED" and received == []
    events = c.get(f"/api/v1/jobs/{job.id}/events").json["events"]
    assert any(
        "webhook refused: host 'rebind.example.org' resolves to a loopback address" in e["message"]
        for e in events
    ), events


def test_connection_goes_to_the_checked_address_only(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[int, list[dict[str, Any]], dict[str, Any]]
) -> None:
    port, received, _ = receiver
    # A rebinding race: the check before sending saw a public address, the connection's own
    # lookup gets a loopback one. The guarded session resolves once and refuses.
    lookups = fake_dns(monkeypatch, {"race.example.org": ["127.0.0.1"]})
    with webhook_session(allow_private=False) as sess, pytest.raises(requests.ConnectionError) as err:
        sess.post(f"http://race.example.org:{port}/hook", data=b"{}", timeout=5)
    assert _refusal(err.value) == "host 'race.example.org' resolves to a loopback address (127.0.0.1)"
    assert received == [] and lookups == ["race.example.org"]
    # Pinning: the connection uses the addresses our resolver checked, not a second system lookup
    # (the system resolver knows nothing of pinned.example.org).
    fake_dns(monkeypatch, {"pinned.example.org": ["127.0.0.1"]})
    monkeypatch.setattr(notifications, "address_problem", lambda ip: None)
    with webhook_session(allow_private=False) as sess:
        resp = sess.post(f"http://pinned.example.org:{port}/hook", data=b"{}", timeout=5)
    assert resp.status_code == 204 and received[-1]["host"] == f"pinned.example.org:{port}"


def test_redirects_are_not_followed(
    world_factory: Callable[..., World], receiver: tuple[int, list[dict[str, Any]], dict[str, Any]]
) -> None:
    port, received, reply = receiver
    reply.update(status=307, headers={"Location": f"http://127.0.0.1:{port}/elsewhere"})
    w = world_factory(JOBS_WEBHOOK_ALLOW_PRIVATE=True)  # the receiver is on loopback
    c = w.login(w.alice)
    r = c.post("/api/v1/jobs", json={"application": "echo", "webhook_url": f"http://127.0.0.1:{port}/hook"})
    job = wait_for(w.app, r.json["id"], set(TERMINAL), 20)
    queue_for(w.app).tick()
    assert [x["path"] for x in received] == ["/hook"]
    events = c.get(f"/api/v1/jobs/{job.id}/events").json["events"]
    assert any("webhook answered 307 (redirect not followed)" in e["message"] for e in events)


def test_environment_proxies_are_ignored(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[int, list[dict[str, Any]], dict[str, Any]]
) -> None:
    port, received, _ = receiver
    # A proxy would make the proxy, not the checked address, the peer.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    with webhook_session(allow_private=True) as sess:
        resp = sess.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=5)
    assert resp.status_code == 204 and len(received) == 1
