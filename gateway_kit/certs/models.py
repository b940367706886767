"""Certificates, ACME accounts, pending DNS-01 challenges and renewal attempts.

Private keys (the ACME account key, each certificate's key) are stored only encrypted
(:mod:`gateway_kit.certs.sealing`); certificates and chains are public and stored as PEM.
A :class:`PendingChallenge` row is written *before* a challenge TXT record is created in
Designate and deleted only after the record is gone, so that a run killed in between leaves a
trace the next run uses to clean up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..db import aware as aware
from ..db import utcnow as utcnow


class AcmeAccount(Base):
    """One ACME account per directory URL."""

    __tablename__ = "certs_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    directory_url: Mapped[str] = mapped_column(String(500), unique=True)
    uri: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    key_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Certificate(Base):
    """A certificate for one or several names, renewed in place."""

    __tablename__ = "certs_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The first name of the certificate; the handle used by the CLI.
    name: Mapped[str] = mapped_column(String(255), unique=True)
    names: Mapped[list[str]] = mapped_column(JSON)
    directory_url: Mapped[str] = mapped_column(String(500))
    staging: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``new``, ``valid``, ``failed`` (never issued), ``revoked``.
    status: Mapped[str] = mapped_column(String(16), default="new")
    key_sealed: Mapped[str] = mapped_column(Text, default="")
    cert_pem: Mapped[str] = mapped_column(Text, default="")
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Delivery: a load balancer name (TERMINATED_HTTPS on port 443), or "" for VM fetch only.
    load_balancer: Mapped[str] = mapped_column(String(255), default="")
    delivery: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_result: Mapped[str] = mapped_column(Text, default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    attempts: Mapped[list[RenewalAttempt]] = relationship(
        back_populates="certificate", cascade="all, delete-orphan", order_by="RenewalAttempt.id"
    )

    def days_left(self, now: datetime | None = None) -> float | None:
        end = aware(self.not_after)
        if end is None:
            return None
        return (end - (now or utcnow())).total_seconds() / 86400.0


class RenewalAttempt(Base):
    """Every issue or renewal attempt, successful or not."""

    __tablename__ = "certs_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certs_certificates.id", ondelete="CASCADE"), index=True
    )
    #: ``issue``, ``renew`` (manual) or ``auto`` (the worker).
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")

    certificate: Mapped[Certificate] = relationship(back_populates="attempts")


class PendingChallenge(Base):
    """A challenge TXT record that exists (or may exist) in Designate and must be removed."""

    __tablename__ = "certs_pending_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    cloud: Mapped[str] = mapped_column(String(255))
    zone_id: Mapped[str] = mapped_column(String(64))
    #: The TXT recordset's FQDN (with the trailing dot).
    record_name: Mapped[str] = mapped_column(String(255))
    #: The validation value we added (a recordset may hold several, e.g. name + wildcard).
    value: Mapped[str] = mapped_column(String(255))
    certificate_name: Mapped[str] = mapped_column(String(255), default="")
    #: ``host:pid`` of the process that wrote it: a row whose process is gone is stale.
    owner: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
