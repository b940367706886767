"""Server-rendered pages: the base layout, navigation and the home page (a dashboard).

Feature modules add navigation entries with :func:`add_nav` and dashboard panels with
:func:`add_home_panel`. All CSS and JavaScript is vendored in
``web/static`` (the kit works offline; nothing is loaded from a CDN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, render_template

from .. import __version__, errorpages
from . import bodylimits, headers
from .request import BoundedIntegerConverter, GatewayRequest, check_url
from .sizes import human_size

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/gk"
)


def add_nav(app: Flask, endpoint: str, label: str, role: str | None = "user", order: int = 50) -> None:
    """Add a navigation entry; ``role`` None shows it to everyone, else to users holding it."""
    app.extensions["gateway_kit.nav"].append(
        {"endpoint": endpoint, "label": label, "role": role, "order": order}
    )


#: A panel's context: called with the signed-in user (None for a visitor); returns what its
#: template needs, or None to leave the panel out.
PanelContext = Callable[[Any], "dict[str, Any] | None"]


def add_home_panel(
    app: Flask, template: str, context: PanelContext, order: int = 50, *, visitors: bool = False
) -> None:
    """Add a panel to the home page: ``template`` rendered with what ``context(user)`` returns.

    :param visitors: also show it to visitors (``context`` is then called with None).
    """
    app.extensions["gateway_kit.home_panels"].append(
        {"template": template, "context": context, "order": order, "visitors": visitors}
    )


def home_panels(user: Any) -> list[dict[str, Any]]:
    """The home page's panels for ``user``: ``{"template", "context"}`` in order."""
    out = []
    for panel in sorted(current_app.extensions["gateway_kit.home_panels"], key=lambda p: p["order"]):
        if user is None and not panel["visitors"]:
            continue
        context = panel["context"](user)
        if context is not None:
            out.append({"template": panel["template"], "context": context})
    return out


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
        "home_panels": home_panels,
    }


@bp.route("/")
def home() -> str:
    # The template asks for the panels of ``current_user`` (set by the identity feature's
    # context processor; the core does not know who is signed in).
    return render_template("home.html")


def init_app(app: Flask) -> None:
    # Before any blueprint adds a rule: <int:...> is bounded to 64 bits everywhere.
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.request_class = GatewayRequest
    app.extensions.setdefault("gateway_kit.home_panels", [])
    bodylimits.init_app(app)
    app.before_request(check_url)
    headers.init_app(app)
    app.register_blueprint(bp)
    app.add_template_global(human_size, "human_size")
    errorpages.init_app(app)
    add_nav(app, "web.home", "Home", role=None, order=0)
