"""The audit log page (``/operator/audit``) and :func:`audited_action` for console views.

The table and its writer are the core's :mod:`gateway_kit.audit`; this module adds who is asking:
console views wrap each action in ``with audited_action("burst.drain", name):`` so the entry
names the signed-in operator; :func:`console_action` also turns a refusal into an error flash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, flash, render_template, request
from flask.typing import ResponseReturnValue

from .. import audit
from ..errors import GatewayError
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


@dataclass
class ConsoleAction:
    """What :func:`console_action` yields: the audit ``entry`` (set its ``detail``) and, after
    the block, whether the action ``failed``."""

    entry: audit.Audit
    failed: bool = False


@contextlib.contextmanager
def console_action(action: str, target: str, failed: str) -> Iterator[ConsoleAction]:
    """An operator's console action, audited as :func:`audited_action`. A
    :class:`~gateway_kit.errors.GatewayError` in the block becomes the error flash
    ``"<failed>: <why>"`` and ``.failed``; a 404 propagates (the page answers "not found")."""
    done: ConsoleAction | None = None
    try:
        with audited_action(action, target) as entry:
            done = ConsoleAction(entry)
            yield done
    except GatewayError as exc:
        if exc.status == 404 or done is None:
            raise
        flash(f"{failed}: {exc.user_message}", "error")
        done.failed = True


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
