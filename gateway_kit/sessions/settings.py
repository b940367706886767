"""Session settings: the worker's pass interval, limits, and the session proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import Setting, at_least, positive


def _url(value: Any) -> str | None:
    if value and not str(value).startswith(("http://", "https://")):
        return "an http:// or https:// URL without a path, e.g. http://127.0.0.1:5000 (or empty)"
    return None


def _listen(value: Any) -> str | None:
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "HOST:PORT, e.g. 127.0.0.1:8001"
    return None


SETTINGS: list[Setting] = [
    Setting(
        "SESSIONS_DIR",
        str,
        lambda s: str(Path(s["INSTANCE_PATH"]) / "sessions"),
        "Folder holding each interactive session's working directory and server log.",
    ),
    Setting(
        "SESSIONS_POLL_INTERVAL",
        float,
        2.0,
        "Seconds between the worker's passes over sessions (start, readiness, activity, culling).",
        validate=positive(),
    ),
    Setting(
        "SESSIONS_MAX_PER_USER",
        int,
        3,
        "Sessions a user may have queued, starting or ready at once.",
        validate=at_least(1),
    ),
    Setting(
        "SESSIONS_MAX_IDLE_TIMEOUT",
        float,
        0.0,
        "The site's cap on every application's idle timeout, in seconds (0: each application's own).",
        validate=at_least(0),
    ),
    Setting(
        "SESSIONS_WORKSHOP_MAX_SEATS",
        int,
        200,
        "The most seats one workshop may have.",
        validate=at_least(1),
    ),
    Setting(
        "SESSIONS_WORKSHOP_EARLY_JOIN",
        float,
        900.0,
        "Seconds before a workshop's start from which students may join.",
        validate=at_least(0),
    ),
    Setting(
        "SESSIONS_PROXY_URL",
        str,
        "",
        "Base URL of the session proxy that browsers use for /sessions/<id>/ (empty: the gateway's own "
        "origin, where the load balancer routes /sessions/ to the proxy).",
        validate=_url,
    ),
    Setting(
        "SESSIONS_PROXY_LISTEN",
        str,
        "127.0.0.1:8001",
        "HOST:PORT the session proxy (gateway-kit sessions proxy) listens on.",
        validate=_listen,
    ),
    Setting(
        "SESSIONS_PROXY_UPSTREAM",
        str,
        "",
        "The gateway's own URL, where the proxy forwards every path outside /sessions/ (empty: the "
        "proxy answers 404 there; set it when the proxy is the front door, as in the demo).",
        validate=_url,
    ),
    Setting(
        "SESSIONS_PROXY_AUTH_CACHE_SECONDS",
        float,
        5.0,
        "How long the proxy reuses an access decision for one browser session and gateway session; "
        "ending or unsharing takes effect within this time.",
        validate=at_least(0),
    ),
    Setting(
        "SESSIONS_ACTIVITY_WRITE_SECONDS",
        float,
        15.0,
        "The proxy records a session's last activity in the database at most this often.",
        validate=positive(),
    ),
]
