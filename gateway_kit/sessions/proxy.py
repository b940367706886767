"""The session proxy: an ASGI app (under uvicorn) that forwards HTTP and WebSocket traffic for
``/sessions/<id>/...`` to the session's server, next to the WSGI gateway.

Why an ASGI proxy and not configurable-http-proxy: CHP routes by path and does no authentication
of its own (JupyterHub relies on each single-user server doing OAuth with the Hub). Our servers
are arbitrary web apps that only check a token, so the proxy itself must (1) decide who may pass,
with the gateway's own login, per request and per WebSocket handshake, (2) add the server's token,
which must never reach the browser, and (3) drop the gateway's session cookie. That needs the
gateway's session store and database, which this process reads through the same ``create_app()``;
httpx (streaming HTTP) and websockets do the forwarding, uvicorn serves it.

Rules (each is a security decision):

* Only ``/sessions/<id>/...`` of a session in state ``ready`` is forwarded, and only to the host
  and port recorded for that session by the worker: no other target can be named by a request
  (no open relay, no SSRF). Paths with ``.`` or ``..`` segments are refused.
* The caller must be signed in to the gateway (its session cookie) as the session's owner or a
  user it is shared with; anyone else, and any session that does not exist or is not ready,
  gets 404 (the same answer, so ids cannot be probed).
* The gateway's session cookie and the caller's ``Authorization`` header are removed; the proxy
  sends ``Authorization: token <server token>``. A ``Set-Cookie`` from the server for the
  gateway's cookie name is dropped (a server cannot shadow the gateway's login).
* A WebSocket handshake whose ``Origin`` is not the proxy's own origin is refused (cross-site
  WebSocket hijacking); the ``Origin`` is not forwarded (the server sees the proxy as its client).
* Everything outside ``/sessions/`` goes to ``SESSIONS_PROXY_UPSTREAM`` (the gateway) unchanged,
  when set: the proxy can then be the front door, as in the demo.

Traffic from the browser counts as activity: the proxy writes each session's last activity to the
database at most every ``SESSIONS_ACTIVITY_WRITE_SECONDS``, and the worker culls on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import unquote

import httpx
from flask import Flask
from sqlalchemy import or_, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ..db import db
from ..identity.access import current_user
from ..web.headers import STATIC_HEADERS
from .models import InteractiveSession
from .service import may_connect
from .states import SessionState

log = logging.getLogger("gateway_kit.sessions.proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SESSION_PATH = re.compile(r"^/sessions/(\d{1,18})(/.*)?$")
#: Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus the ones we set.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class Target:
    session_id: int
    host: str
    port: int
    #: Never in a log line: out of the repr.
    token: str = field(repr=False)


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def _header(scope: Scope, name: str) -> str:
    return next((v for k, v in _headers(scope) if k == name), "")


def strip_cookie(header: str, name: str) -> str:
    """``header`` (a Cookie header) without the cookie ``name``."""
    kept = [p.strip() for p in header.split(";") if p.strip() and p.split("=", 1)[0].strip() != name]
    return "; ".join(kept)


def cookie_value(header: str, name: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no login
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


def unsafe_path(path: str) -> bool:
    segments = unquote(path).split("/")
    return any(s in (".", "..") for s in segments) or "\\" in unquote(path)


class SessionProxy:
    """The ASGI application. Build it with the gateway's Flask app (for its settings and database)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.cookie_name = str(app.config.get("SESSION_COOKIE_NAME", "session"))
        self.upstream = str(app.config["SESSIONS_PROXY_UPSTREAM"]).rstrip("/")
        self.cache_seconds = float(app.config["SESSIONS_PROXY_AUTH_CACHE_SECONDS"])
        self.activity_every = float(app.config["SESSIONS_ACTIVITY_WRITE_SECONDS"])
        self._cache: dict[tuple[str, int], tuple[float, Target]] = {}
        self._activity: dict[int, float] = {}
        self._client: httpx.AsyncClient | None = None
        self._flusher: asyncio.Task[None] | None = None

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            return
        self._ensure_started()
        path: str = scope["path"]
        match = _SESSION_PATH.match(path)
        if match is None:
            if path == "/sessions" or path.startswith("/sessions/"):
                await self._refuse(scope, receive, send, 404)
            elif self.upstream and scope["type"] == "http":
                await self._forward_http(scope, receive, send, self.upstream, gateway=True)
            else:
                await self._refuse(scope, receive, send, 404)
            return
        sid, rest = int(match.group(1)), match.group(2)
        if unsafe_path(path):
            await self._refuse(scope, receive, send, 400)
            return
        target = await self.authorize(_header(scope, "cookie"), sid)
        if target is None:
            await self._refuse(scope, receive, send, 404)
            return
        if rest is None and scope["type"] == "http":  # /sessions/7 -> /sessions/7/
            query = scope.get("query_string", b"").decode("latin-1")
            await self._redirect(send, f"/sessions/{sid}/" + (f"?{query}" if query else ""))
            return
        self.touch(sid)
        if scope["type"] == "http":
            await self._forward_http(
                scope, receive, send, f"http://{target.host}:{target.port}", target=target
            )
        else:
            await self._forward_ws(scope, receive, send, target)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ensure_started()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _ensure_started(self) -> None:
        if self._client is None:
            # trust_env=False: never send session traffic through an HTTP(S)_PROXY from the env.
            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(10.0, read=None),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await asyncio.to_thread(self.flush_activity)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- who may pass --------------------------------------------------------------------------

    async def authorize(self, cookie_header: str, sid: int) -> Target | None:
        """The session's backend if the caller (by the gateway's cookie) may reach it, else None."""
        login = cookie_value(cookie_header, self.cookie_name)
        if not login:
            return None
        now = time.monotonic()
        hit = self._cache.get((login, sid))
        if hit is not None and hit[0] > now:
            return hit[1]
        target = await asyncio.to_thread(self._authorize, login, sid)
        if target is not None and self.cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[(login, sid)] = (now + self.cache_seconds, target)
        return target

    def _authorize(self, login: str, sid: int) -> Target | None:
        # The gateway's own session machinery decides who the cookie belongs to (signature,
        # server-side record, idle and absolute limits, disabled accounts). A fresh app context
        # every time: the caller's context may hold one (the CLI's), and reusing its ``g`` would
        # reuse the first caller's identity for everyone.
        with (
            self.app.app_context(),
            self.app.test_request_context("/", headers={"Cookie": f"{self.cookie_name}={login}"}),
        ):
            user = current_user()
            if user is None:
                return None
            row = db.session.get(InteractiveSession, sid)
            if row is None or row.state != SessionState.READY.value or not row.backend_port:
                return None
            if not may_connect(db.session, user, row):
                return None
            return Target(row.id, row.backend_host, row.backend_port, row.token(self.app.config))

    # -- activity ------------------------------------------------------------------------------

    def touch(self, sid: int) -> None:
        self._activity[sid] = time.time()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.activity_every)
            try:
                await asyncio.to_thread(self.flush_activity)
            except Exception:
                log.exception("could not record session activity; retrying")

    def flush_activity(self) -> None:
        pending, self._activity = self._activity, {}
        if not pending:
            return
        with self.app.app_context():
            for sid, at in pending.items():
                when = datetime.fromtimestamp(at, UTC)
                db.session.execute(
                    update(InteractiveSession)
                    .where(
                        InteractiveSession.id == sid,
                        or_(
                            InteractiveSession.last_activity.is_(None),
                            InteractiveSession.last_activity < when,
                        ),
                    )
                    .values(last_activity=when)
                    .execution_options(synchronize_session=False)
                )
            db.session.commit()

    # -- answers of our own --------------------------------------------------------------------

    #: The gateway's security headers on the proxy's own answers (a session server's are its own).
    _OWN_HEADERS = [(k.lower().encode(), v.encode()) for k, v in STATIC_HEADERS.items()]

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        body = {404: b"No such session.\n", 400: b"Bad path.\n", 403: b"Forbidden.\n"}.get(
            status, b"Refused.\n"
        )
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            if "websocket.http.response" in scope.get("extensions", {}):
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": status,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    *self._OWN_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _redirect(self, send: Send, location: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"content-length", b"0"),
                    *self._OWN_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    # -- forwarding ----------------------------------------------------------------------------

    def _request_headers(self, scope: Scope, target: Target | None) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for name, value in _headers(scope):
            if name in _HOP:
                continue
            if target is not None and name == "authorization":
                continue  # the caller's credentials are for the gateway, not the server
            if target is not None and name == "cookie":
                value = strip_cookie(value, self.cookie_name)
                if not value:
                    continue
            out.append((name, value))
        client = scope.get("client")
        if client:
            prior = _header(scope, "x-forwarded-for")
            out = [(k, v) for k, v in out if k != "x-forwarded-for"]
            out.append(("x-forwarded-for", f"{prior}, {client[0]}" if prior else str(client[0])))
        out.append(("x-forwarded-proto", scope.get("scheme", "http").replace("ws", "http")))
        if target is not None:
            out.append(("authorization", f"token {target.token}"))
        return out

    async def _forward_http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        base: str,
        *,
        target: Target | None = None,
        gateway: bool = False,
    ) -> None:
        assert self._client is not None
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = base + raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    if target is not None:
                        self.touch(target.session_id)
                    yield chunk
                if not message.get("more_body", False):
                    return

        method = scope["method"]
        has_body = method not in ("GET", "HEAD", "OPTIONS", "DELETE") or _header(scope, "content-length")
        request = self._client.build_request(
            method,
            url,
            headers=self._request_headers(scope, target),
            content=body() if has_body else None,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning(
                "proxy: %s %s failed: %s",
                method,
                "gateway" if gateway or target is None else f"session {target.session_id}",
                type(exc).__name__,
            )
            await self._refuse(scope, receive, send, 502)
            return
        try:
            headers: list[tuple[bytes, bytes]] = []
            for name, value in response.headers.multi_items():
                lname = name.lower()
                if lname in _HOP:
                    continue
                if (
                    target is not None
                    and lname == "set-cookie"
                    and value.split("=", 1)[0].strip() == self.cookie_name
                ):
                    continue
                headers.append((lname.encode("latin-1"), value.encode("latin-1")))
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _forward_ws(self, scope: Scope, receive: Receive, send: Send, target: Target) -> None:
        origin = _header(scope, "origin")
        host = _header(scope, "host")
        if origin and origin.split("://", 1)[-1].rstrip("/") != host:
            await self._refuse(scope, receive, send, 403)  # cross-site WebSocket hijacking
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        uri = f"ws://{target.host}:{target.port}{raw_path}" + (f"?{query}" if query else "")
        skip = _HOP | {
            "host",
            "origin",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "sec-websocket-protocol",
            "authorization",
        }
        headers = [
            (k, v) for k, v in self._request_headers(scope, target) if k not in skip or k == "authorization"
        ]
        protocols = list(scope.get("subprotocols") or [])
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            upstream = await connect(
                uri,
                additional_headers=headers,
                subprotocols=protocols or None,  # type: ignore[arg-type]
                max_size=None,
                compression=None,
                open_timeout=10,
                ping_interval=None,
                proxy=None,
            )
        except (OSError, InvalidStatus, WebSocketException, TimeoutError) as exc:
            log.warning("proxy: WebSocket to session %s failed: %s", target.session_id, type(exc).__name__)
            await send({"type": "websocket.close", "code": 1011})
            return
        accept: Message = {"type": "websocket.accept"}
        if upstream.subprotocol:
            accept["subprotocol"] = upstream.subprotocol
        await send(accept)
        await self._relay(receive, send, upstream, target.session_id)

    async def _relay(self, receive: Receive, send: Send, upstream: ClientConnection, sid: int) -> None:
        async def client_to_server() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.touch(sid)
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])

        async def server_to_client() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for data in upstream:
                    if isinstance(data, bytes):
                        await send({"type": "websocket.send", "bytes": data})
                    else:
                        await send({"type": "websocket.send", "text": data})

        tasks = [asyncio.ensure_future(client_to_server()), asyncio.ensure_future(server_to_client())]
        try:
            _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                    await task
        finally:
            await upstream.close()
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": upstream.close_code or 1000})


def serve(app: Flask, host: str, port: int) -> None:
    """Run the proxy under uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        SessionProxy(app),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
        ws="websockets-sansio",
        ws_max_size=64 * 1024 * 1024,
        ws_ping_interval=30.0,
        ws_ping_timeout=60.0,
        timeout_keep_alive=75,
    )
