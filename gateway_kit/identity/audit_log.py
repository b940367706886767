"""The audit log page (``/operator/audit``) and :func:`audited_action` for console views.

The table and its writer are the core's :mod:`gateway_kit.audit`; this module adds who is asking:
console views wrap each action in ``with audited_action("burst.drain", name):`` so the entry
names the signed-in operator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import Blueprint, Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue

from .. import audit
from ..web import add_nav
from .access import current_user, role_required

bp = Blueprint("audit", __name__, template_folder="templates")


def actor() -> str:
    """The signed-in user's username (``anonymous`` outside a signed-in request)."""
    user = current_user()
    return user.username if user is not None else "anonymous"


@contextlib.contextmanager
def audited_action(action: str, target: str) -> Iterator[audit.Audit]:
    """:func:`gateway_kit.audit.audited` by the signed-in user."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with audit.audited(app, actor(), action, target) as entry:
        yield entry


@bp.get("/operator/audit")
@role_required("operator")
def audit_page() -> ResponseReturnValue:
    action = request.args.get("action", "").strip()[:64]
    who = request.args.get("actor", "").strip()[:64]
    rows = audit.entries(current_app._get_current_object(), action=action, actor=who)  # type: ignore[attr-defined]
    return render_template("identity/audit.html", rows=rows, action=action, actor=who)


def init_audit_log(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, "audit.audit_page", "Audit log", role="operator", order=95)
