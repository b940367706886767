"""The operator console for hosting: deployments with live status, drift and quota bars."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from ..errors import GatewayError
from ..identity.access import role_required
from ..web import add_nav
from . import day2
from .engine import engine_for

bp = Blueprint("hosting", __name__, template_folder="templates", url_prefix="/operator/hosting")


def _quotas(engine: Any) -> tuple[list[dict[str, Any]], str]:
    try:
        return day2.quota_usage(engine.cloud), ""
    except GatewayError as exc:
        current_app.logger.warning("hosting console: %s", exc.log_message)
        return [], exc.user_message


@bp.get("/")
@role_required("operator")
def index() -> ResponseReturnValue:
    engine = engine_for(current_app)
    try:
        quotas, cloud_error = _quotas(engine)
        return render_template(
            "hosting/index.html",
            deployments=engine.deployments(),
            quotas=quotas,
            cloud_error=cloud_error,
            cloud_name=engine.cloud.name,
        )
    finally:
        engine.cloud.close()


def _status(name: str) -> dict[str, Any]:
    engine = engine_for(current_app)
    try:
        dep, rows = engine.status(name)
        return {
            "name": dep.name,
            "status": dep.status,
            "last_error": dep.last_error,
            "resources": [
                {
                    "key": r.key,
                    "kind": r.kind,
                    "id": r.cloud_id,
                    "recorded": r.recorded,
                    "live": r.live,
                    "drift": r.drift,
                    "detail": r.detail,
                }
                for r in rows
            ],
            "steps": [
                {
                    "action": s.action,
                    "key": s.key,
                    "state": s.state,
                    "error": s.error,
                    "at": s.started_at.isoformat(),
                }
                for s in engine.steps(name, 20)
            ],
        }
    finally:
        engine.cloud.close()


@bp.get("/<name>")
@role_required("operator")
def show(name: str) -> ResponseReturnValue:
    try:
        data, cloud_error = _status(name), ""
    except GatewayError as exc:
        if exc.status == 404 and "no deployment" in exc.user_message:
            raise
        data, cloud_error = {"name": name, "status": "?", "resources": [], "steps": []}, exc.user_message
    return render_template("hosting/show.html", d=data, cloud_error=cloud_error)


@bp.get("/<name>/status.json")
@role_required("operator")
def status_json(name: str) -> ResponseReturnValue:
    return jsonify(_status(name))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "hosting.index", "Hosting", role="operator", order=80)
