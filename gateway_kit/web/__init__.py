"""Server-rendered pages: the base layout, navigation and home page.

Feature modules add navigation entries with :func:`add_nav`. All CSS and JavaScript is vendored in
``web/static`` (the kit works offline; nothing is loaded from a CDN).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template

from .. import __version__, errorpages
from . import bodylimits, headers
from .request import BoundedIntegerConverter, GatewayRequest, check_url

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/gk"
)


def add_nav(app: Flask, endpoint: str, label: str, role: str | None = "user", order: int = 50) -> None:
    """Add a navigation entry; ``role`` None shows it to everyone, else to users holding it."""
    app.extensions["gateway_kit.nav"].append(
        {"endpoint": endpoint, "label": label, "role": role, "order": order}
    )


def nav_for(user: Any) -> list[dict[str, Any]]:
    """The navigation entries ``user`` (an object with a ``role``, or None) may see."""
    ranks = {"user": 0, "operator": 1, "admin": 2}
    entries = sorted(current_app.extensions["gateway_kit.nav"], key=lambda e: e["order"])
    out = []
    for e in entries:
        need = e["role"]
        if need is None or (user is not None and ranks.get(user.role, -1) >= ranks.get(need, 0)):
            out.append(e)
    return out


@bp.app_context_processor
def _layout_context() -> dict[str, Any]:
    # The signed-in user and their navigation come from the identity feature's own context
    # processor (it runs after this one); without it every page is anonymous.
    return {
        "gateway_name": current_app.config["GATEWAY_NAME"],
        "kit_version": __version__,
        "current_user": None,
        "nav": nav_for(None),
        "csrf_token": current_app.jinja_env.globals.get("csrf_token", lambda: ""),
    }


@bp.route("/")
def home() -> str:
    return render_template("home.html")


def init_app(app: Flask) -> None:
    # Before any blueprint adds a rule: <int:...> is bounded to 64 bits everywhere.
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.request_class = GatewayRequest
    bodylimits.init_app(app)
    app.before_request(check_url)
    headers.init_app(app)
    app.register_blueprint(bp)
    errorpages.init_app(app)
    add_nav(app, "web.home", "Home", role=None, order=0)
