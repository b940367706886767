"""Rendering errors: problem+json for the API, HTML pages for the web UI. No traceback leaks."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from .errors import DatabaseError, GatewayError

log = logging.getLogger("gateway_kit.errors")

#: Seconds a client is told to wait (``Retry-After``) when a 503 answers for a passing outage.
RETRY_AFTER_SECONDS = 5


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/api":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def render_problem(problem: dict[str, Any]) -> Response:
    problem.setdefault("request_id", g.get("request_id"))
    if wants_json():
        resp = jsonify(problem)
        resp.mimetype = "application/problem+json"
    else:
        resp = Response(render_template("error.html", problem=problem), mimetype="text/html")
    resp.status_code = int(problem["status"])
    return resp


def init_app(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def _gateway_error(exc: GatewayError) -> Response:
        level = logging.ERROR if exc.status >= 500 else logging.INFO
        log.log(level, "%s: %s", exc.reason, exc.log_message)
        resp = render_problem(exc.to_problem(request.path))
        if exc.status == 401 and request.path.startswith("/api/"):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway-kit"'
        if exc.status == 503:
            resp.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return resp

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(exc: OperationalError | InterfaceError) -> Response:
        # The database restarting, unreachable or (SQLite) locked: a passing outage, not a bug.
        # The driver's message can name the server's address; it goes to the log only.
        reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else ""
        return _gateway_error(
            DatabaseError(
                "The database is not answering for a moment; try again in a few seconds.",
                log_message=f"database unavailable ({type(exc.orig or exc).__name__}: {reason})",
            )
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        problem = {
            "type": "about:blank",
            "title": exc.name,
            "status": code,
            "detail": exc.description or exc.name,
            "instance": request.path,
        }
        resp = render_problem(problem)
        for key, value in exc.get_headers():
            if key.lower() not in ("content-type", "content-length"):
                resp.headers[key] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException | GatewayError):  # pragma: no cover - handled above
            raise exc
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_problem(
            {
                "type": "about:blank",
                "title": "Internal error",
                "status": 500,
                "detail": "Something went wrong on our side. Quote the request id when you report it.",
                "instance": request.path,
            }
        )
