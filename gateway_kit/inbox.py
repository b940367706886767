"""In-app notifications: each user's inbox of short messages (a job or a session ended), shown
behind the bell in the page header until read.

Features write with :func:`notify` (the jobs queue when a job ends, the sessions lifecycle when a
session ends); the identity feature shows the inbox (``/notifications``), since only it knows who
is signed in. A notification holds a one-line title safe to show its user and a link inside the
gateway, never a secret. Each user keeps the newest :data:`KEEP` notifications once they read their inbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, delete, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, table_of, utcnow

KEEP = 200
TITLE_MAX = 300


class Notification(Base):
    __tablename__ = "inbox_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key: the users table belongs to the identity feature's models; a user's
    # notifications go with :func:`forget`.
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    link: Mapped[str] = mapped_column(String(500), default="")
    read: Mapped[bool] = mapped_column(Boolean, default=False)


_INSERT = insert(table_of(Notification))


def notify(session: Session, user_id: int, kind: str, title: str, link: str = "") -> None:
    """Add a notification for ``user_id`` in ``session``'s transaction (the caller commits).

    One INSERT (it runs inside every job's final transition); old ones are pruned when the
    user reads their inbox (:func:`mark_read`)."""
    # A prebuilt Core INSERT on the session's connection: no statement built, no ORM bulk layer.
    session.connection().execute(
        _INSERT,
        {
            "user_id": user_id,
            "at": utcnow(),
            "kind": kind[:32],
            "title": title[:TITLE_MAX],
            "link": link[:500],
            "read": False,
        },
    )


def unread_count(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(Notification.user_id == user_id, Notification.read.is_(False))
        )
        or 0
    )


def latest(session: Session, user_id: int, limit: int = 50) -> list[Notification]:
    """The newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user_id: int, ids: list[int] | None = None) -> int:
    """Mark ``ids`` (all when None) of ``user_id``'s notifications read; how many changed."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read.is_(False))
    if ids is not None:
        query = query.where(Notification.id.in_(ids or [-1]))
    changed = session.execute(query.values(read=True)).rowcount  # type: ignore[attr-defined]
    cutoff = session.scalars(
        select(Notification.id)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .offset(KEEP - 1)
        .limit(1)
    ).first()
    if cutoff is not None:
        session.execute(delete(Notification).where(Notification.user_id == user_id, Notification.id < cutoff))
    session.commit()
    return int(changed or 0)


def forget(session: Session, user_id: int) -> None:
    """Remove every notification of ``user_id`` (the account is being deleted)."""
    session.execute(delete(Notification).where(Notification.user_id == user_id))
