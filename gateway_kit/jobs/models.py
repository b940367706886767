"""Job tables: jobs, their events, workers, allocations and the SU ledger."""

from __future__ import annotations

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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utc_iso
from ..db import utcnow as utcnow
from ..identity.models import project_name_of
from .states import JobState


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_idempotency"),
        Index("ix_jobs_state_claim", "state", "claimed_by"),
        Index("ix_jobs_user_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), nullable=True
    )
    project_name: Mapped[str | None] = project_name_of(project_id)
    app_id: Mapped[str] = mapped_column(String(64))
    app_version: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: cpus, memory_mb, gpus, walltime (seconds) as requested.
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    destination: Mapped[str] = mapped_column(String(64))
    #: The job's directory on the gateway host (inputs, logs, outputs).
    workdir: Mapped[str] = mapped_column(String(1000), default="")
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    #: Opaque JSON owned by the executor (see executors.base.Executor).
    executor_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: The worker holding the job, and until when its hold is valid (renewed by heartbeats).
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Bumped on every write by the queue: compare-and-set guard between workers.
    version: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resubmitted_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    webhook_url: Mapped[str] = mapped_column(String(2000), default="")
    notify_email: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Set once the terminal-state notifications went out (the worker sends them).
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Its owner shared its results (page, log, outputs; read only) with its project's members.
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    su_reserved: Mapped[float] = mapped_column(Float, default=0.0)
    su_charged: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def job_state(self) -> JobState:
        return JobState(self.state)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "application": self.app_id,
            "application_version": self.app_version,
            "name": self.name,
            "state": self.state,
            "state_reason": self.state_reason,
            "inputs": self.inputs,
            "resources": self.resources,
            "destination": self.destination,
            "project": self.project_name,
            "project_id": self.project_id,  # deprecated alias (identity.models.PROJECT_JSON_SCHEMA)
            "exit_code": self.exit_code,
            "su_reserved": self.su_reserved,
            "su_charged": self.su_charged,
            "cancel_requested": self.cancel_requested,
            "resubmitted_from": self.resubmitted_from,
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "started_at": utc_iso(self.started_at),
            "finished_at": utc_iso(self.finished_at),
        }


class StateEvent:
    """The columns of a state change's row (a job's, a session's): when, from, to and why; the
    table adds its owner's id (``sort_order=-1``: the columns keep the migrations' order)."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-2)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": utc_iso(self.at),
            "from": self.from_state,
            "to": self.to_state,
            "message": self.message,
        }


class JobEvent(StateEvent, Base):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job", "job_id", "id"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), sort_order=-1)
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True, sort_order=1)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "worker": self.worker}


class Worker(Base):
    """A ``gateway-kit worker`` process and its last heartbeat."""

    __tablename__ = "job_workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Allocation(Base):
    """A project's SU balance: granted, used by finished jobs, reserved by jobs in progress."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    su_granted: Mapped[float] = mapped_column(Float, default=0.0)
    su_used: Mapped[float] = mapped_column(Float, default=0.0)
    su_reserved: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def remaining(self) -> float:
        return self.su_granted - self.su_used

    @property
    def available(self) -> float:
        return self.su_granted - self.su_used - self.su_reserved


class LedgerEntry(Base):
    """One change of an allocation: a grant, a top-up, a reset, or a job's charge (negative)."""

    __tablename__ = "su_ledger"
    __table_args__ = (Index("ix_su_ledger_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    #: ``grant``, ``topup``, ``set`` or ``charge``.
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
