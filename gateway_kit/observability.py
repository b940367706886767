"""Request ids, structured request logs, ``/healthz`` and ``/metrics`` (Prometheus text format).

Metrics live in a per-app :class:`prometheus_client.CollectorRegistry` (``metrics_registry(app)``)
so that several apps in one process (tests) do not collide; features register their own metrics
on it. Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` and the registry
aggregates every worker's samples (prometheus-client multiprocess mode).

``/metrics`` is public unless ``METRICS_TOKEN`` (scrapers send ``Authorization: Bearer <token>``)
or ``METRICS_ALLOW_NETWORKS`` (client addresses or CIDR networks, matched against the connection's
peer: behind a load balancer, the balancer's address) is set; then others get 401/403.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import inspect as sa_inspect

from .db import db
from .errors import DatabaseError, Forbidden, Unauthorized

bp = Blueprint("observability", __name__)
access_log = logging.getLogger("gateway_kit.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def metrics_registry(app: Flask | None = None) -> CollectorRegistry:
    reg: CollectorRegistry = (app or current_app).extensions["gateway_kit.metrics"]
    return reg


@bp.route("/healthz")
def healthz() -> ResponseReturnValue:
    try:
        db.ping()
    except DatabaseError:
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


def _metrics_allowed() -> bool:
    """``METRICS_TOKEN`` / ``METRICS_ALLOW_NETWORKS``: with neither set, ``/metrics`` is public."""
    cfg = current_app.config
    token = str(cfg.get("METRICS_TOKEN") or "")
    networks = [ipaddress.ip_network(str(n), strict=False) for n in cfg.get("METRICS_ALLOW_NETWORKS") or []]
    if not token and not networks:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    try:
        addr = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(addr in net for net in networks)


@bp.route("/metrics")
def metrics() -> ResponseReturnValue:
    if not _metrics_allowed():
        if current_app.config.get("METRICS_TOKEN"):
            raise Unauthorized("Send 'Authorization: Bearer <METRICS_TOKEN>' to read the metrics.")
        raise Forbidden("The metrics are not served to this address.")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry) + generate_latest(metrics_registry())
    else:
        body = generate_latest(metrics_registry())
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=True)
    app.extensions["gateway_kit.metrics"] = registry
    requests_total = Counter(
        "gateway_kit_http_requests",
        "HTTP requests served",
        ["method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "gateway_kit_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "endpoint"],
        registry=registry,
    )
    as_json = app.config["LOG_FORMAT"] == "json"

    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        g.request_started = time.perf_counter()

    # First of all hooks: a request refused by an earlier hook (413, CSRF) still has its id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    def _user_id(user: Any) -> Any:
        # From the identity map, not the row: after a commit the row is expired and reading it
        # would query the database, which may be the thing that just failed (the log line stays).
        state = sa_inspect(user, raiseerr=False) if user is not None else None
        if state is not None and state.identity:
            return state.identity[0]
        return getattr(user, "id", None)

    # Each label set's child, looked up once (``labels()`` takes a lock and checks its values).
    counted: dict[tuple[str, str, int], Any] = {}
    timed: dict[tuple[str, str], Any] = {}

    @app.after_request
    def _finish(resp: Response) -> Response:
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        method, endpoint, status = request.method, request.endpoint or "unmatched", resp.status_code
        count = counted.get((method, endpoint, status))
        if count is None:
            count = counted[method, endpoint, status] = requests_total.labels(method, endpoint, str(status))
        count.inc()
        timer = timed.get((method, endpoint))
        if timer is None:
            timer = timed[method, endpoint] = latency.labels(method, endpoint)
        timer.observe(elapsed)
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        if not access_log.isEnabledFor(logging.INFO):
            return resp
        user = g.get("gk_user")
        record = {
            "request_id": g.get("request_id"),
            "method": method,
            "path": request.path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "user": _user_id(user),
            "remote": request.remote_addr,
        }
        # Query strings are never logged: they may carry OAuth codes or tokens.
        if as_json:
            access_log.info(json.dumps(record))
        else:
            access_log.info(
                "%(request_id)s %(method)s %(path)s %(status)s %(duration_ms)sms user=%(user)s", record
            )
        return resp

    app.register_blueprint(bp)
