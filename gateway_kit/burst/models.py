"""Burst tables: the pool's instances and each burst job's placement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ..jobs.models import utcnow

#: Instance states. ``launching``: recorded, server not created yet (or not known to be);
#: ``booting``: server exists, no agent heartbeat yet; ``ready``: the agent heartbeats;
#: ``draining``: takes no new jobs, deleted once idle; ``deleting``/``deleted``; ``failed``:
#: ERROR, never ACTIVE or silent (its jobs were requeued, its server is being deleted).
LIVE_STATES = ("launching", "booting", "ready", "draining")
GONE_STATES = ("deleting", "deleted", "failed")


class BurstInstance(Base):
    __tablename__ = "burst_instances"
    __table_args__ = (Index("ix_burst_instances_dest_state", "destination", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(String(64))
    #: The server's name in the cloud (``gk-burst-<destination>-<id>``): found again by it.
    name: Mapped[str] = mapped_column(String(255), default="")
    server_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flavor: Mapped[str] = mapped_column(String(64))
    vcpus: Mapped[int] = mapped_column(Integer, default=1)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    su_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    state: Mapped[str] = mapped_column(String(16), default="launching")
    reason: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    #: SHA-256 of the instance's current agent token; NULL once revoked.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    token_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    idle_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: SUs charged so far, up to ``charged_until``.
    su_charged: Mapped[float] = mapped_column(Float, default=0.0)
    charged_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)

    def to_json(self) -> dict[str, Any]:
        from ..db import utc_iso as _iso

        return {
            "id": self.id,
            "destination": self.destination,
            "name": self.name,
            "server_id": self.server_id,
            "flavor": self.flavor,
            "vcpus": self.vcpus,
            "gpus": self.gpus,
            "su_per_hour": self.su_per_hour,
            "state": self.state,
            "reason": self.reason,
            "address": self.address,
            "su_charged": round(self.su_charged, 6),
            "created_at": _iso(self.created_at),
            "active_at": _iso(self.active_at),
            "heartbeat_at": _iso(self.heartbeat_at),
            "idle_since": _iso(self.idle_since),
            "deleted_at": _iso(self.deleted_at),
        }


#: Burst job states: ``waiting`` (for room), ``assigned`` (to an instance, not yet taken by its
#: agent), ``running`` (taken), ``done`` (result recorded) -- and ``failed`` (retries spent).
class BurstJob(Base):
    __tablename__ = "burst_jobs"
    __table_args__ = (
        Index("ix_burst_jobs_dest_state", "destination", "state"),
        Index("ix_burst_jobs_instance", "instance_id"),
    )

    #: A batch job's id, or an interactive session's as a negative number (no ``jobs`` row: hence
    #: no foreign key; the agent API ends the row of a batch job that was deleted meanwhile).
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    destination: Mapped[str] = mapped_column(String(64))
    #: The JobSpec as JSON (what the agent runs).
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("burst_instances.id", ondelete="SET NULL"), nullable=True
    )
    wait_reason: Mapped[str] = mapped_column(Text, default="")
    #: Times the job was put back in the queue after its instance failed.
    requeues: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The agent's report: state, exit_code, reason, started, finished (epoch seconds).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: The last instance and flavor that ran it (kept after the instance is gone).
    instance_name: Mapped[str] = mapped_column(String(255), default="")
    flavor: Mapped[str] = mapped_column(String(64), default="")
    #: This job's share of its instance's SUs (by CPU-seconds).
    su_share: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def to_json(self) -> dict[str, Any]:
        from ..db import utc_iso as _iso

        return {
            "job_id": self.job_id,
            "destination": self.destination,
            "state": self.state,
            "wait_reason": self.wait_reason,
            "instance": self.instance_name or None,
            "flavor": self.flavor or None,
            "requeues": self.requeues,
            "su_share": round(self.su_share, 6),
            "assigned_at": _iso(self.assigned_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


class BurstPoolSize(Base):
    """An operator's resize of a pool (the console's): overrides its destination's
    ``min_instances``/``max_instances`` until changed again."""

    __tablename__ = "burst_pool_sizes"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    min_instances: Mapped[int] = mapped_column(Integer)
    max_instances: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
