"""Telling users that a job ended: a signed webhook per job, and e-mail through SMTP.

The webhook is a ``POST`` of the job's JSON with two headers:

* ``X-GatewayKit-Timestamp``: seconds since the epoch when it was signed;
* ``X-GatewayKit-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>.<body>"`` with
  ``JOBS_WEBHOOK_SECRET`` (or a key derived from ``SECRET_KEY``).

A receiver recomputes the HMAC with :func:`verify` and rejects old timestamps (replays).
Deliveries are made once by the worker that ends the job; each outcome is recorded as a job
event. Failures never change the job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from email.message import EmailMessage

import requests
from flask import Flask
from sqlalchemy.orm import Session

from ..identity.models import User
from .models import Job

log = logging.getLogger("gateway_kit.jobs.notifications")


def webhook_key(app: Flask) -> bytes:
    secret: str = app.config["JOBS_WEBHOOK_SECRET"]
    if secret:
        return secret.encode()
    return hmac.new(app.config["SECRET_KEY"].encode(), b"gateway-kit job webhooks",
                    hashlib.sha256).digest()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp: str, body: bytes, signature: str, max_age: float = 300) -> bool:
    """Check a webhook's signature and freshness (for receivers and tests)."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(key, timestamp, body), signature)


def payload(job: Job) -> dict[str, object]:
    return {"event": "job.finished", "job": job.to_json()}


def send_webhook(app: Flask, job: Job) -> str:
    body = json.dumps(payload(job), sort_keys=True).encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-GatewayKit-Timestamp": ts,
               "X-GatewayKit-Signature": sign(webhook_key(app), ts, body),
               "User-Agent": "gateway-kit-webhook"}
    try:
        resp = requests.post(job.webhook_url, data=body, headers=headers,
                             timeout=app.config["JOBS_WEBHOOK_TIMEOUT"], allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("job %s: webhook failed: %s", job.id, exc)
        return f"webhook failed: {exc.__class__.__name__}"
    return f"webhook answered {resp.status_code}"


def send_email(app: Flask, job: Job, user: User) -> str:
    cfg = app.config
    msg = EmailMessage()
    msg["From"] = cfg["JOBS_MAIL_FROM"]
    msg["To"] = user.email
    msg["Subject"] = f"[{cfg['GATEWAY_NAME']}] Job {job.id} ({job.app_id}) {job.state}"
    link = f"{cfg['PUBLIC_URL'].rstrip('/')}/jobs/{job.id}" if cfg["PUBLIC_URL"] else ""
    msg.set_content(
        f"Your job {job.id} ({job.name or job.app_id}) ended: {job.state}.\n"
        f"{job.state_reason}\n"
        f"Service units charged: {job.su_charged or 0:.2f}\n"
        + (f"\n{link}\n" if link else ""))
    try:
        with smtplib.SMTP(cfg["JOBS_SMTP_HOST"], cfg["JOBS_SMTP_PORT"], timeout=10) as smtp:
            if cfg["JOBS_SMTP_STARTTLS"]:
                smtp.starttls()
            if cfg["JOBS_SMTP_USERNAME"]:
                smtp.login(cfg["JOBS_SMTP_USERNAME"], cfg["JOBS_SMTP_PASSWORD"])
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("job %s: e-mail failed: %s", job.id, exc)
        return f"e-mail failed: {exc.__class__.__name__}"
    return f"e-mail sent to {user.email}"


def send_notifications(app: Flask, session: Session, job: Job) -> list[str]:
    """Send what ``job`` asked for; returns one line per delivery for the job's events."""
    out = []
    if job.webhook_url:
        out.append(send_webhook(app, job))
    if job.notify_email:
        user = session.get(User, job.user_id)
        if not app.config["JOBS_SMTP_HOST"]:
            out.append("e-mail not sent: no SMTP server is configured")
        elif user is None or not user.email:
            out.append("e-mail not sent: the user has no e-mail address")
        else:
            out.append(send_email(app, job, user))
    return out
