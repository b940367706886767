"""Session tables: sessions, their events and their shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ..db import aware as aware
from ..db import utc_iso as iso
from ..db import utcnow as utcnow
from ..identity.models import project_name_of
from ..jobs.models import StateEvent
from ..sealing import seal, unseal
from .states import SessionState


class InteractiveSession(Base):
    __tablename__ = "sessions_sessions"
    __table_args__ = (
        Index("ix_sessions_sessions_state", "state"),
        Index("ix_sessions_sessions_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), nullable=True
    )
    project_name: Mapped[str | None] = project_name_of(project_id)
    app_id: Mapped[str] = mapped_column(String(64))
    app_version: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: cpus, memory_mb, gpus, walltime (the current duration in seconds, extensions included).
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    destination: Mapped[str] = mapped_column(String(64))
    workdir: Mapped[str] = mapped_column(String(1000), default="")
    state: Mapped[str] = mapped_column(String(16), default=SessionState.QUEUED.value)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    #: Opaque JSON owned by the launcher (see launchers.base.Launcher): a pid, a job id...
    launcher_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Where the proxy sends traffic once ready (loopback or the cluster's private network).
    backend_host: Mapped[str] = mapped_column(String(255), default="")
    backend_port: Mapped[int] = mapped_column(Integer, default=0)
    #: The server's secret, sealed at rest (:mod:`gateway_kit.sealing`); sent only by the proxy and
    #: the worker, never shown to anyone. Use :meth:`token` and :meth:`set_token`.
    backend_token: Mapped[str] = mapped_column(String(512), default="")
    end_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idle_timeout: Mapped[float] = mapped_column(Float, default=3600.0)
    su_reserved: Mapped[float] = mapped_column(Float, default=0.0)
    su_charged: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The latest activity seen (the server's activity API or the proxy's traffic).
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def token(self, config: Mapping[str, Any]) -> str:
        """The server's token, unsealed ("" before the server starts)."""
        if not self.backend_token:
            return ""
        return unseal(config, self.backend_token, "A session's server token").decode()

    def set_token(self, config: Mapping[str, Any], token: str) -> None:
        self.backend_token = seal(config, token.encode())

    @property
    def session_state(self) -> SessionState:
        return SessionState(self.state)

    @property
    def ends_at(self) -> datetime | None:
        """When the session's duration runs out (counted from its start)."""
        from datetime import timedelta

        if self.started_at is None:
            return None
        return aware(self.started_at) + timedelta(seconds=float(self.resources.get("walltime", 0)))

    def to_json(self) -> dict[str, Any]:
        ends = self.ends_at
        return {
            "id": self.id,
            "application": self.app_id,
            "application_version": self.app_version,
            "state": self.state,
            "state_reason": self.state_reason,
            "inputs": self.inputs,
            "resources": self.resources,
            "destination": self.destination,
            "project": self.project_name,
            "project_id": self.project_id,  # deprecated alias (identity.models.PROJECT_JSON_SCHEMA)
            "idle_timeout": self.idle_timeout,
            "su_reserved": self.su_reserved,
            "su_charged": self.su_charged,
            "end_requested": self.end_requested,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "ready_at": iso(self.ready_at),
            "ends_at": iso(ends),
            "last_activity": iso(self.last_activity),
            "finished_at": iso(self.finished_at),
        }


class SessionEvent(StateEvent, Base):
    __tablename__ = "sessions_events"
    __table_args__ = (Index("ix_sessions_events_session", "session_id", "id"),)

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions_sessions.id", ondelete="CASCADE"), sort_order=-1
    )


class SessionShare(Base):
    """Another user the owner lets reach the session through the proxy."""

    __tablename__ = "sessions_shares"
    __table_args__ = (UniqueConstraint("session_id", "user_id", name="uq_sessions_shares"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Workshop(Base):
    """A time window in which up to ``seats`` students each get a session of one application,
    charged to the instructor's project. Students join with ``join_code``."""

    __tablename__ = "sessions_workshops"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    instructor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(64))
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seats: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    join_code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkshopSeat(Base):
    __tablename__ = "sessions_workshop_seats"
    __table_args__ = (UniqueConstraint("workshop_id", "user_id", name="uq_sessions_workshop_seats"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("sessions_workshops.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions_sessions.id", ondelete="SET NULL"), nullable=True
    )
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
