"""Automatic renewal: the ``certs.renew`` worker task.

Each pass (every ``CERTS_RENEW_CHECK_INTERVAL`` seconds) first removes challenge records left by
runs that did not finish, then renews every valid (or previously failed) certificate whose expiry
is within ``CERTS_RENEW_BEFORE_DAYS`` and whose back-off (``next_attempt_at``) has passed. Each
attempt is recorded; a failure doubles the wait up to ``CERTS_RETRY_MAX_SECONDS``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from ..db import db
from ..errors import GatewayError
from . import dns01, service
from .models import Certificate, aware, utcnow

log = logging.getLogger("gateway_kit.certs")


def due(app: Flask, now: datetime | None = None) -> list[str]:
    """Names of the certificates the worker should renew now."""
    now = now or utcnow()
    horizon = now + timedelta(days=int(app.config["CERTS_RENEW_BEFORE_DAYS"]))
    out = []
    with db.session_scope(app) as sess:
        for cert in sess.scalars(select(Certificate).where(Certificate.status.in_(("valid", "failed")))):
            end = aware(cert.not_after)
            wait_until = aware(cert.next_attempt_at)
            if wait_until is not None and wait_until > now:
                continue
            if end is None and cert.status != "failed":
                continue
            if end is None or end <= horizon:
                out.append(cert.name)
    return out


def run(app: Flask) -> None:
    """One worker pass (see the module docstring)."""
    try:
        dns01.cleanup_stale(app, service.connect)
    except GatewayError as exc:
        log.warning("cleanup of stale challenge records failed: %s", exc.log_message)
    for name in due(app):
        try:
            outcome = service.renew(app, name, trigger="auto")
            log.info("renewed %s, expires %s", name, outcome.not_after)
        except GatewayError as exc:
            log.error("renewal of %s failed: %s", name, exc.log_message)
