"""The session proxy over real HTTP and WebSocket connections, in front of a real session server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway_kit.db import db
from gateway_kit.sessions.models import InteractiveSession

from .conftest import RunningProxy, World


@pytest.fixture()
def proxied(world: World) -> Iterator[tuple[World, RunningProxy, InteractiveSession]]:
    r = world.client.post("/api/v1/sessions", json={"application": "hello-web"})
    assert r.status_code == 201
    row = world.run_until(r.get_json()["id"], {"ready", "failed"})
    assert row.state == "ready", row.state_reason
    proxy = RunningProxy(world.app)
    try:
        yield world, proxy, row
    finally:
        proxy.stop()


def _cookie(client: Any) -> str:
    return f"session={client.get_cookie('session').value}"


def _get(url: str, cookie: str = "", **kw: Any) -> httpx.Response:
    headers = {"Cookie": cookie} if cookie else {}
    return httpx.get(url, headers=headers, trust_env=False, follow_redirects=False, **kw)


def test_http_reaches_the_owner_only(proxied: tuple[World, RunningProxy, InteractiveSession]) -> None:
    world, proxy, row = proxied
    base = f"{proxy.url}/sessions/{row.id}/"
    alice, bob = _cookie(world.client), _cookie(world.bob_client)
    r = httpx.get(
        base, headers={"Cookie": f"{alice}; theme=dark", "Authorization": "Bearer x"}, trust_env=False
    )
    assert r.status_code == 200 and "Hello from session" in r.text
    # The server got the other cookie but neither the gateway's session cookie nor the caller's
    # Authorization; its token never comes back.
    assert "theme=dark" in r.text and "session=" not in r.text
    token = row.token(world.app.config)
    assert token not in r.text and token not in str(r.headers) and token not in row.backend_token
    assert str(row.backend_port) not in str(r.headers)
    # Everyone else: 404, whether the session exists or not.
    for cookie in ("", bob, "session=forged"):
        refused = _get(base, cookie)
        assert refused.status_code == 404
        # The proxy's own answers carry the gateway's security headers.
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
    assert _get(f"{proxy.url}/sessions/{row.id + 100}/", alice).status_code == 404
    assert _get(f"{proxy.url}/sessions/{row.id}/..%2F..%2Fapi/", alice).status_code == 400
    moved = _get(f"{proxy.url}/sessions/{row.id}", alice)
    assert moved.headers["location"] == f"/sessions/{row.id}/" and moved.headers["x-frame-options"] == "DENY"
    # Nothing outside /sessions/ without an upstream: no open relay.
    assert _get(f"{proxy.url}/http://127.0.0.1:{row.backend_port}/", alice).status_code == 404


def test_websocket_and_sharing(proxied: tuple[World, RunningProxy, InteractiveSession]) -> None:
    world, proxy, row = proxied
    ws_url = f"ws://127.0.0.1:{proxy.port}/sessions/{row.id}/echo"
    alice, bob = _cookie(world.client), _cookie(world.bob_client)

    async def echo(cookie: str, origin: str | None = None) -> str:
        headers = {"Cookie": cookie}
        async with connect(ws_url, additional_headers=headers, origin=origin, proxy=None) as ws:  # type: ignore[arg-type]
            await ws.send("ping through the proxy")
            reply = await ws.recv()
            return str(reply)

    assert asyncio.run(echo(alice, f"http://127.0.0.1:{proxy.port}")) == "ping through the proxy"
    with pytest.raises(InvalidStatus) as info:
        asyncio.run(echo(bob))
    assert info.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as info:
        asyncio.run(echo(alice, "http://evil.example"))
    assert info.value.response.status_code == 403

    r = world.client.post(f"/api/v1/sessions/{row.id}/shares", json={"username": "bob"})
    assert r.status_code == 200 and r.get_json()["shared_with"] == ["bob"]
    assert _get(f"{proxy.url}/sessions/{row.id}/", bob).status_code == 200
    assert asyncio.run(echo(bob)) == "ping through the proxy"
    # Bob may connect, not end or extend it.
    assert world.bob_client.delete(f"/api/v1/sessions/{row.id}").status_code == 404

    # The traffic is the session's activity (the worker culls on it).
    proxy.proxy.flush_activity()
    with world.app.app_context():
        seen = db.session.get(InteractiveSession, row.id)
        assert seen is not None and seen.last_activity is not None and row.ready_at is not None
        assert seen.last_activity > row.ready_at


def test_ended_session_is_gone_from_the_proxy(world: World, tmp_path: Any) -> None:
    world.app.config["SESSIONS_PROXY_AUTH_CACHE_SECONDS"] = 0.0
    r = world.client.post("/api/v1/sessions", json={"application": "hello-web"})
    row = world.run_until(r.get_json()["id"], {"ready", "failed"})
    proxy = RunningProxy(world.app)
    try:
        url = f"{proxy.url}/sessions/{row.id}/"
        assert _get(url, _cookie(world.client)).status_code == 200
        world.client.delete(f"/api/v1/sessions/{row.id}")
        world.run_until(row.id, {"ended"})
        assert _get(url, _cookie(world.client)).status_code == 404
    finally:
        proxy.stop()


def test_each_decision_is_for_its_own_caller(proxied: tuple[World, RunningProxy, InteractiveSession]) -> None:
    """Inside an app context (as under the CLI) one caller's identity never serves another."""
    world, proxy, row = proxied
    alice = world.client.get_cookie("session").value
    bob = world.bob_client.get_cookie("session").value
    with world.app.app_context():
        assert proxy.proxy._authorize(alice, row.id) is not None
        assert proxy.proxy._authorize(bob, row.id) is None
        assert proxy.proxy._authorize(alice, row.id) is not None


def test_a_target_never_shows_its_token() -> None:
    from gateway_kit.sessions.proxy import Target

    assert "s3cret" not in repr(Target(1, "127.0.0.1", 8000, "s3cret"))
    assert "s3cret" not in str(Target(1, "127.0.0.1", 8000, "s3cret"))
