"""The audit log: who did what to which resource, when, and how it ended.

Operator actions taken from the consoles (and the CLI commands that share their code) are
recorded here with :func:`audited`. An entry holds the actor's username, the action (``burst.drain``,
``certs.issue``...), the target it acted on, the outcome (``ok`` or ``failed``) and a one-line
detail safe to show an operator: the user-facing message of a :class:`~.errors.GatewayError`,
never a secret, a token or a stack trace. Entries are written in their own session so that an
action that fails and rolls back is still recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from flask import Flask
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, db, utcnow
from .errors import GatewayError

OK = "ok"
FAILED = "failed"
#: Longest detail kept (a message, never a payload).
DETAIL_MAX = 1000


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16), default=OK)
    detail: Mapped[str] = mapped_column(String(DETAIL_MAX), default="")


def record(app: Flask, actor: str, action: str, target: str, outcome: str = OK, detail: str = "") -> None:
    """Write one entry now, in its own transaction."""
    with db.session_scope(app) as sess:
        sess.add(
            AuditEntry(
                actor=actor[:64],
                action=action[:64],
                target=target[:255],
                outcome=outcome,
                detail=detail[:DETAIL_MAX],
            )
        )


class Audit:
    """What the block of :func:`audited` may add: a detail for the success entry."""

    def __init__(self) -> None:
        self.detail = ""


@contextlib.contextmanager
def audited(app: Flask, actor: str, action: str, target: str) -> Iterator[Audit]:
    """Record the block's outcome: ``ok`` (with ``audit.detail``) or ``failed`` and re-raise.

    A :class:`GatewayError` is recorded with its user message; anything else only by its class
    name (its text may hold what an operator must not see, such as a URL with credentials).
    """
    audit = Audit()
    try:
        yield audit
    except GatewayError as exc:
        record(app, actor, action, target, FAILED, exc.user_message)
        raise
    except Exception as exc:
        record(app, actor, action, target, FAILED, f"unexpected error ({type(exc).__name__})")
        raise
    record(app, actor, action, target, OK, audit.detail)


def entries(
    app: Flask, limit: int = 200, action: str = "", actor: str = "", before_id: int | None = None
) -> list[AuditEntry]:
    """The newest entries first, optionally only an action's prefix or one actor's."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    with db.session_scope(app) as sess:
        found = list(sess.scalars(query))
        sess.expunge_all()
        return found
