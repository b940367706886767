"""``gateway-kit sessions ...``: run the session proxy, list sessions."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..cli import kit_errors
from ..db import db


@click.group("sessions")
def sessions() -> None:
    """Interactive sessions: the session proxy, and what runs."""


@sessions.command("proxy")
@click.option("--listen", default=None, help="HOST:PORT (default: the SESSIONS_PROXY_LISTEN setting).")
@with_appcontext
@kit_errors
def proxy_cmd(listen: str | None) -> None:
    """Serve /sessions/<id>/ (HTTP and WebSocket) for signed-in owners; see gateway_kit.sessions.proxy."""
    from .proxy import serve

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host, _, port = (listen or app.config["SESSIONS_PROXY_LISTEN"]).rpartition(":")
    upstream = app.config["SESSIONS_PROXY_UPSTREAM"] or "none (404 outside /sessions/)"
    click.echo(f"session proxy on http://{host}:{port}/sessions/<id>/; other paths -> {upstream}")
    serve(app, host, int(port))


@sessions.command("list")
@with_appcontext
def list_cmd() -> None:
    """Every session that is not ended, with its owner and state."""
    from sqlalchemy import select

    from ..identity.models import User
    from .models import InteractiveSession
    from .states import TERMINAL

    rows = db.session.execute(
        select(InteractiveSession, User.username)
        .join(User, User.id == InteractiveSession.user_id)
        .where(InteractiveSession.state.not_in([s.value for s in TERMINAL]))
        .order_by(InteractiveSession.id)
    ).all()
    for row, username in rows:
        click.echo(f"{row.id:>6}  {row.state:<9} {row.app_id:<16} {row.destination:<10} {username}")
    if not rows:
        click.echo("no sessions are running")
