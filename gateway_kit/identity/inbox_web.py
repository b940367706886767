"""The signed-in user's notifications (``/notifications``) and the bell in the page header.

The inbox itself is the core's :mod:`gateway_kit.inbox`; this module adds who is asking. Each
user sees only their own notifications; marking them read is a CSRF-protected POST.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from .. import inbox
from ..db import db
from ..web.request import ID_MAX, digits
from .access import current_user, login_required

bp = Blueprint("inbox", __name__, template_folder="templates")
log = logging.getLogger("gateway_kit.identity")


def _user_id() -> int:
    user = current_user()
    assert user is not None
    return int(user.id)


@bp.get("/notifications")
@login_required
def page() -> ResponseReturnValue:
    return render_template("identity/notifications.html", items=inbox.latest(db.session, _user_id()))


@bp.post("/notifications/read")
@login_required
def mark_read() -> ResponseReturnValue:
    """Mark the checked notifications read (``id``), or all of them (no ``id``); then follow
    ``next`` when it is one of the gateway's own paths (a notification's link)."""
    ids = [n for n in (digits(t, ID_MAX) for t in request.form.getlist("id")) if n is not None]
    inbox.mark_read(db.session, _user_id(), ids or None)
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(url_for("inbox.page"))


def _unread() -> int:
    """For the bell: the signed-in user's unread count (0 when unknown)."""
    try:
        user = current_user()
        return inbox.unread_count(db.session, user.id) if user is not None else 0
    except SQLAlchemyError as exc:  # an error page while the database is down
        log.debug("bell without a count: %s", exc)
        return 0


def _layout() -> dict[str, Any]:
    return {"inbox_unread": _unread}


def init_inbox(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_layout)
