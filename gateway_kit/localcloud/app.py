"""The local cloud's WSGI app: the core, the installed services and the control API.

:func:`create_app` is the only way to build one; it lives apart from :mod:`.core` so that the
control API (:mod:`.control`), which is built on the core, is not imported by it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from gateway_kit.localcloud import control
from gateway_kit.localcloud.core import (
    ApiError,
    LocalCloud,
    LocalCloudConfig,
    Service,
    _fault_error,
    _keystone_401,
    _negotiate_microversion,
    format_version,
    json_response,
    parse_version,
    request_id,
)

log = logging.getLogger("gateway_kit.localcloud.core")  # the name its messages always had


def _load_services(cloud: LocalCloud) -> None:
    for name in cloud.config.services:
        modname = f"gateway_kit.localcloud.services.{name}"
        if importlib.util.find_spec(modname) is None:
            log.info("local cloud service %s is not installed; skipping it", name)
            continue
        module = importlib.import_module(modname)
        module.register(cloud)


def create_app(config: LocalCloudConfig | None = None) -> Flask:
    """Build the local cloud's WSGI app (the only way to build one)."""
    config = config or LocalCloudConfig()
    app = Flask("gateway_kit.localcloud", root_path=str(Path(__file__).parent))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    cloud = LocalCloud(config)
    app.extensions["localcloud"] = cloud
    _load_services(cloud)
    for svc in cloud.services:
        app.register_blueprint(svc.blueprint)

    app.register_blueprint(control.blueprint)
    cloud.seed_services()

    @app.before_request
    def _before() -> Response | None:
        svc = cloud.service_for_path(request.path)
        g.lc_service = svc
        g.lc_request_id = "req-" + str(uuid.uuid4())
        if svc is None:
            return None
        for rule in request.environ.get("localcloud.faults", []):
            if rule.status:
                raise _fault_error(svc, rule.status, rule.message, rule.retry_after)
        if svc.microversion is not None:
            g.lc_microversion = _negotiate_microversion(svc.microversion)
        return None

    @app.after_request
    def _after(resp: Response) -> Response:
        svc: Service | None = g.get("lc_service")
        if svc is not None and svc.microversion is not None:
            spec = svc.microversion
            mv = g.get("lc_microversion", parse_version(spec.minimum))
            resp.headers["OpenStack-API-Version"] = f"{spec.service_type} {format_version(mv)}"
            if spec.legacy_header:
                resp.headers[spec.legacy_header] = format_version(mv)
            resp.headers["Vary"] = f"OpenStack-API-Version, {spec.legacy_header or ''}".rstrip(", ")
        resp.headers.setdefault("X-OpenStack-Request-ID", request_id())
        return resp

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        if err.keystone_shape:
            resp = _keystone_401(err)
        else:
            svc = g.get("lc_service") or cloud.service_for_path(request.path)
            if svc is None:
                resp = json_response({"error": {"code": err.status, "message": err.message}})
                resp.status_code = err.status
            else:
                resp = svc.render_error(err)
        for k, v in err.headers.items():
            resp.headers[k] = v
        return _after(resp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = {
            404: "The resource could not be found.",
            405: "The method is not allowed for the requested URL.",
        }.get(status, exc.description or exc.name)
        code = {404: "itemNotFound", 405: "HTTPMethodNotAllowed"}.get(status, "")
        return _api_error(ApiError(status, message, code))

    # The lock serialises state changes; injected delays are slept before taking it, so a
    # slow request does not stall the others.
    inner = app.wsgi_app

    def locked_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        svc = cloud.service_for_path(path)
        if svc is not None:
            fired = cloud.faults.pick(svc.name, environ["REQUEST_METHOD"], path[len(svc.prefix) :])
            environ["localcloud.faults"] = fired
            delay = sum(rule.delay for rule in fired)
            if delay:
                time.sleep(delay)
        with cloud.lock:
            if svc is not None:
                cloud.settle_due()
            return list(inner(environ, start_response))

    app.wsgi_app = locked_wsgi  # type: ignore[method-assign]
    return app
