"""Telling users that a job ended: a signed webhook per job, and e-mail through SMTP.

The webhook is a ``POST`` of the job's JSON with two headers:

* ``X-GatewayKit-Timestamp``: seconds since the epoch when it was signed;
* ``X-GatewayKit-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>.<body>"`` with
  ``JOBS_WEBHOOK_SECRET`` (or a key derived from ``SECRET_KEY``).

A receiver recomputes the HMAC with :func:`verify` and rejects old timestamps (replays).
Deliveries are made once by the worker that ends the job; each outcome is recorded as a job
event. Failures never change the job.

Server-side request forgery: a webhook URL is chosen by the user, and the worker that posts to it
sits inside the gateway's network. Unless ``JOBS_WEBHOOK_ALLOW_PRIVATE`` is set (development, tests
with a receiver on loopback), a webhook may only reach globally routable unicast addresses: a host
that resolves to a loopback, private, shared (CGNAT), link-local (``169.254.169.254``, the cloud
metadata service), multicast, reserved or unspecified address -- also when embedded in an IPv6
address (IPv4-mapped, 6to4, NAT64, Teredo) -- is refused. The URL is checked at submission
(:func:`webhook_url_problem`, a 422 naming ``webhook_url``) and again when sending, where the
connection goes to the very addresses just checked (no second DNS lookup, so DNS rebinding cannot
swap in an internal address), without proxies from the environment, and redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import smtplib
import socket
import time
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from flask import Flask
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import Session
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from ..identity.models import User
from .models import Job

log = logging.getLogger("gateway_kit.jobs.notifications")


def webhook_key(app: Flask) -> bytes:
    secret: str = app.config["JOBS_WEBHOOK_SECRET"]
    if secret:
        return secret.encode()
    return hmac.new(app.config["SECRET_KEY"].encode(), b"gateway-kit job webhooks", hashlib.sha256).digest()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp: str, body: bytes, signature: str, max_age: float = 300) -> bool:
    """Check a webhook's signature and freshness (for receivers and tests)."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(key, timestamp, body), signature)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(ValueError):
    """The webhook's host is, or resolves to, an address webhooks may not reach."""


def address_problem(ip: IPAddress) -> str | None:
    """Why a webhook may not go to ``ip`` (``None``: a public unicast address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (embedded in {ip})" if inner else None
    for kind, hit in (
        ("a loopback", ip.is_loopback),
        ("an unspecified", ip.is_unspecified),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
    ):
        if hit:
            return f"{kind} address ({ip})"
    if not ip.is_global:
        return f"a non-public address ({ip})"
    return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int) -> list[str]:
    """Resolve ``host`` and return its addresses if every one is public; raise WebhookRefused."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal is not None else resolve(host.rstrip("."), port)
    except (OSError, UnicodeError) as exc:
        raise WebhookRefused(f"host {host!r} cannot be resolved") from exc
    if not addresses:
        raise WebhookRefused(f"host {host!r} cannot be resolved")
    for address in addresses:
        problem = address_problem(ipaddress.ip_address(address.split("%")[0]))
        if problem:
            shown = "is" if literal is not None else "resolves to"
            raise WebhookRefused(f"host {host!r} {shown} {problem}")
    return addresses


def webhook_url_problem(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a job's webhook (``None``: fine). Used at submission."""
    if not url:
        return None
    if len(url) > 2000:
        return "must be at most 2000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "must be an http:// or https:// URL with a valid host and port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL"
    if allow_private:
        return None
    try:
        checked_addresses(parts.hostname, port)
    except WebhookRefused as exc:
        return f"{exc}; webhooks may only go to public Internet addresses"
    return None


class _GuardedConnectionMixin:
    """Connect only to addresses :func:`checked_addresses` accepts, resolved once, here."""

    _dns_host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list[tuple[int, int, int | bytes]] | None

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except WebhookRefused as exc:
            raise _RefusedConnection(cast(HTTPConnection, self), str(exc)) from exc
        last: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self._dns_host} timed out") from exc
            except OSError as exc:
                last = exc
        raise NewConnectionError(cast(HTTPConnection, self), f"Failed to establish a new connection: {last}")


class _RefusedConnection(NewConnectionError):
    pass


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only to checked public addresses."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def webhook_session(allow_private: bool) -> requests.Session:
    """A session for one delivery: no proxies or .netrc from the environment; guarded unless
    ``allow_private``."""
    sess = requests.Session()
    sess.trust_env = False
    if not allow_private:
        sess.mount("http://", GuardedAdapter())
        sess.mount("https://", GuardedAdapter())
    return sess


def _refusal(exc: BaseException) -> str | None:
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, WebhookRefused):
            return str(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return None


def payload(job: Job) -> dict[str, object]:
    return {"event": "job.finished", "job": job.to_json()}


def send_webhook(app: Flask, job: Job) -> str:
    body = json.dumps(payload(job), sort_keys=True).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-GatewayKit-Timestamp": ts,
        "X-GatewayKit-Signature": sign(webhook_key(app), ts, body),
        "User-Agent": "gateway-kit-webhook",
    }
    allow_private = bool(app.config["JOBS_WEBHOOK_ALLOW_PRIVATE"])
    # Checked again now: the host may resolve elsewhere than at submission (or the URL predates
    # the check). The guarded session then connects only to the addresses it checks itself.
    problem = webhook_url_problem(job.webhook_url, allow_private)
    if problem:
        log.warning("job %s: webhook refused: %s", job.id, problem)
        return f"webhook refused: {problem}"
    try:
        with webhook_session(allow_private) as sess:
            resp = sess.post(
                job.webhook_url,
                data=body,
                headers=headers,
                timeout=app.config["JOBS_WEBHOOK_TIMEOUT"],
                allow_redirects=False,
            )
    except requests.RequestException as exc:
        refused = _refusal(exc)
        if refused:
            log.warning("job %s: webhook refused at connection: %s", job.id, refused)
            return f"webhook refused: {refused}; webhooks may only go to public Internet addresses"
        log.warning("job %s: webhook failed: %s", job.id, exc)
        return f"webhook failed: {exc.__class__.__name__}"
    if resp.is_redirect:
        return f"webhook answered {resp.status_code} (redirect not followed)"
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
        f"Service units charged: {job.su_charged or 0:.2f}\n" + (f"\n{link}\n" if link else "")
    )
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
