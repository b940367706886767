"""Accounts and projects.

An account (:class:`User`) is keyed by the identities linked to it (issuer, subject), never by
e-mail. Roles are ``user``, ``operator`` and ``admin``; projects group users and own allocations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from ..db import Base
from ..db import utcnow as utcnow

ROLES = ("user", "operator", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[ProjectMember]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_operator(self) -> bool:
        return self.role in ("operator", "admin")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )


def project_name_of(project_id: Any) -> Any:
    """A read-only attribute for a model with a ``project_id`` column: that project's name, loaded
    with the row itself (a correlated subquery: no statement of its own, no N+1 in lists).

    The API names projects by name (``"project": "demo"``), as requests do; ``project_id`` stays in
    answers only as a deprecated alias (:data:`PROJECT_JSON_SCHEMA`)."""
    return column_property(select(Project.name).where(Project.id == project_id).scalar_subquery())


#: The OpenAPI properties of an object charged to or owned by a project (jobs, sessions, datasets).
PROJECT_JSON_SCHEMA: dict[str, Any] = {
    "project": {"type": ["string", "null"], "description": "the project's name (as in requests and /usage)"},
    "project_id": {
        "type": ["integer", "null"],
        "deprecated": True,
        "description": "deprecated alias of project (its internal id); will be removed in 2.0",
    },
}


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: ``member`` or ``manager`` of the project.
    role: Mapped[str] = mapped_column(String(16), default="member")

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class Identity(Base):
    """One external identity (an OpenID Connect ``(iss, sub)`` pair) linked to an account.

    ``claims`` keeps the provider's last claims as opaque JSON (CILogon ``idp``, ``eppn``,
    ``affiliation``, ``isMemberOf``; Custos groups...), refreshed at every login.
    """

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), default="")
    idp: Mapped[str] = mapped_column(String(512), default="")
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A personal access token. Only its SHA-256 digest is stored; the token is shown once.

    Tokens carry 256 bits of randomness, so a fast unsalted digest is enough: there is nothing to
    brute-force, and a constant-time lookup by digest avoids timing leaks of our own.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: First characters of the token, shown in lists so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    user: Mapped[User] = relationship()


class UserSession(Base):
    """A server-side record of a signed-in browser session (for revocation and timeouts).

    The signed cookie carries only the random ``id``; disabling a user or logging out marks the
    record revoked, which ends the session on its next request.
    """

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(64), default="")
    #: The ID token of this login, kept as ``id_token_hint`` for the provider's logout.
    id_token: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
