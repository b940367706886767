"""What the kit records about deployments: the deployment, its resources, and the step journal.

* :class:`Deployment` -- one per spec ``name``; keeps the last applied spec (JSON) and a status.
* :class:`DeploymentResource` -- one per logical resource (``server:web-1``, ``volume:datasets``...):
  the cloud id once known, the properties last applied (to compute diffs and drift) and what was
  observed (addresses...). A row in ``creating`` without a cloud id means "a create may have been
  sent": the engine then looks for the resource by name and tags before creating it again, which
  is what makes a SIGKILL at any point safe.
* :class:`DeploymentStep` -- the journal: every mutating step is written (and committed) before it
  runs and again after, with its outcome. ``apply --rollback-on-failure`` undoes the creates of the
  failed run from it; ``deploy status`` shows the last run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..db import utcnow as utcnow


class Deployment(Base):
    __tablename__ = "hosting_deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cloud: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ``new``, ``applying``, ``ready``, ``failed``, ``destroying``, ``destroyed``
    status: Mapped[str] = mapped_column(String(16), default="new")
    last_error: Mapped[str] = mapped_column(Text, default="")
    run: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    resources: Mapped[list[DeploymentResource]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", order_by="DeploymentResource.id"
    )


class DeploymentResource(Base):
    __tablename__ = "hosting_resources"
    __table_args__ = (UniqueConstraint("deployment_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("hosting_deployments.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    cloud_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: ``creating``, ``ready``, ``updating``, ``failed``, ``deleting``
    status: Mapped[str] = mapped_column(String(16), default="creating")
    props: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_run: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    deployment: Mapped[Deployment] = relationship(back_populates="resources")


class DeploymentStep(Base):
    __tablename__ = "hosting_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("hosting_deployments.id", ondelete="CASCADE"), index=True
    )
    run: Mapped[int] = mapped_column(Integer)
    #: ``create``, ``update``, ``resize``, ``extend``, ``replace``, ``delete``, ``rollback``...
    action: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    #: ``started``, ``done``, ``failed``
    state: Mapped[str] = mapped_column(String(16), default="started")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
