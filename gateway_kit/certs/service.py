"""Issuing, renewing, revoking and listing certificates: the feature's service layer.

Callers (CLI, worker, console) use these functions inside an app context or with an ``app``.
An issue or renewal is one *attempt*, recorded in ``certs_attempts`` whatever happens:

1. clean up challenge records left by runs that did not finish (:func:`dns01.cleanup_stale`);
2. plan the names (:func:`names.plan_names`) and find each name's DNS zone **before** asking the
   CA, so that a name the project cannot answer for fails fast;
3. order, publish the TXT records, wait until they are ACTIVE and served, answer, finalise;
4. remove the TXT records (always: ``finally``), store the new key (sealed) and certificate;
5. deliver (load balancer or Barbican) when the certificate has a delivery target.

A failure leaves the previous certificate in place, records the message, and schedules the next
automatic attempt with exponential back-off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from acme import crypto_util
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import cloud
from ..db import db
from ..errors import CloudError, ConfigError, Conflict, GatewayError, NotFound
from . import delivery, dns01
from .authority import Authority, describe, new_private_key, split_chain
from .errors import ZoneNotOwned
from .models import AcmeAccount, Certificate, RenewalAttempt, aware, utcnow
from .names import plan_names
from .sealing import seal, unseal
from .settings import DIRECTORY_PRESETS

log = logging.getLogger("gateway_kit.certs")


#: Status of a certificate the worker stopped retrying: its name has no DNS zone any more.
ABANDONED = "abandoned"


def directory_url(app: Flask, directory: str | None = None, staging: bool = False) -> str:
    """The ACME directory URL: ``directory`` (URL or preset), else the staging or main setting."""
    chosen = directory or app.config["CERTS_STAGING_DIRECTORY_URL" if staging else "CERTS_DIRECTORY_URL"]
    return DIRECTORY_PRESETS.get(chosen, chosen)


def cloud_name(app: Flask) -> str:
    return cloud.cloud_name(app.config, "certs")


def connect(name: str) -> Any:
    """An openstacksdk connection to clouds.yaml entry ``name`` (through :mod:`gateway_kit.cloud`)."""
    try:
        return cloud.Cloud(name, setting="CERTS_CLOUD_NAME or CLOUD_NAME").conn
    except ConfigError as exc:
        raise CloudError(exc.user_message, log_message=f"connect to cloud {name!r}: {exc}") from exc


def _authority(app: Flask, sess: Session, url: str) -> Authority:
    """The CA at ``url`` with this kit's account (registered on first use)."""
    ca_bundle = str(app.config["CERTS_CA_BUNDLE"])
    account = sess.scalar(select(AcmeAccount).where(AcmeAccount.directory_url == url))
    if account is not None:
        auth = Authority(url, unseal(app.config, account.key_sealed), ca_bundle)
        auth.use_account(account.uri)
        return auth
    if not app.config["CERTS_AGREE_TOS"]:
        raise ConfigError(
            f"Registering an account with {url} requires agreeing to its terms of service: read "
            "them, then set CERTS_AGREE_TOS = true (or pass --agree-tos)."
        )
    key_pem = new_private_key("rsa-2048")
    auth = Authority(url, key_pem, ca_bundle)
    email = str(app.config["CERTS_CONTACT_EMAIL"])
    uri = auth.register(email)
    sess.add(AcmeAccount(directory_url=url, uri=uri, email=email, key_sealed=seal(app.config, key_pem)))
    sess.commit()
    log.info("registered ACME account %s at %s", uri, url)
    return auth


@dataclass
class Outcome:
    """What an issue or renewal did (for the CLI)."""

    name: str
    names: list[str]
    not_after: datetime | None
    warnings: list[str] = field(default_factory=list)


def issue(
    app: Flask,
    names: list[str],
    *,
    directory: str | None = None,
    staging: bool = False,
    alias: bool = False,
    load_balancer: str = "",
    barbican: bool = False,
    pool: str = "",
) -> Outcome:
    """Order a new certificate for ``names`` (the first that fits becomes its handle).

    :param load_balancer: deliver to this load balancer's TERMINATED_HTTPS listener (port 443).
    :param pool: the name or id of the pool on ``load_balancer`` to make the listener's default
        pool (a hosting deployment's ``<name>-tls-pool``); without it, see
        :func:`gateway_kit.certs.delivery.deliver`.
    :raises Conflict: a certificate with that handle exists (use :func:`renew`).
    """
    if pool and not load_balancer:
        raise ConfigError("A pool is only used with a load balancer to deliver to.")
    plan = plan_names(names, add_alias=alias)
    for warning in plan.warnings:
        log.warning("%s", warning)
    url = directory_url(app, directory, staging)
    with db.session_scope(app) as sess:
        existing = sess.scalar(select(Certificate).where(Certificate.name == plan.names[0]))
        if existing is not None and existing.status != "failed":
            raise Conflict(
                f"A certificate named {plan.names[0]} exists; use 'gateway-kit certs renew {plan.names[0]}'."
            )
        if existing is not None:
            sess.delete(existing)
            sess.flush()
        mode = "load_balancer" if load_balancer else ("barbican" if barbican else "")
        cert = Certificate(
            name=plan.names[0],
            names=plan.names,
            directory_url=url,
            staging=staging,
            status="new",
            load_balancer=load_balancer,
            delivery=_target(mode, pool),
            last_result="",
            failures=0,
        )
        sess.add(cert)
        sess.flush()
        cert_id = cert.id
    out = _obtain(app, cert_id, "issue")
    out.warnings = plan.warnings + out.warnings
    return out


def renew(app: Flask, name: str, trigger: str = "renew") -> Outcome:
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        if cert.status == "revoked":
            raise Conflict(f"{name} was revoked; issue a new certificate instead.")
        cert_id = cert.id
    return _obtain(app, cert_id, trigger)


def _target(mode: str, pool: str) -> dict[str, str]:
    if not mode:
        return {}
    return {"mode": mode, **({"pool": pool} if pool else {})}


def deliver_to(
    app: Flask, name: str, *, load_balancer: str, pool: str = "", send: bool = True
) -> dict[str, str]:
    """Make ``load_balancer`` (and ``pool`` on it) the certificate's delivery target.

    With ``send``, the stored certificate is delivered there now (no ACME order: for a
    certificate that is valid but not, or no longer, on that load balancer).

    :returns: the delivery record.
    :raises DeliveryError: Barbican or Octavia refused (recorded in ``last_result``).
    """
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        kept = {k: v for k, v in (cert.delivery or {}).items() if k not in ("mode", "pool")}
        cert.load_balancer = load_balancer
        cert.delivery = {**kept, **_target("load_balancer", pool)}
        if not send:
            return dict(cert.delivery)
        if cert.status != "valid" or not cert.cert_pem or not cert.key_sealed:
            raise Conflict(f"{name} has no valid certificate to deliver; renew it.")
        sess.flush()
        conn = connect(cloud_name(app))
        try:
            cert.delivery = delivery.deliver(app, conn, cert, unseal(app.config, cert.key_sealed))
        except GatewayError as exc:
            cert.last_result = f"delivery failed: {exc.user_message}"
            log.error("delivery of %s failed: %s", cert.name, exc.log_message)
            sess.commit()
            raise
        cert.last_result = f"delivered ({cert.delivery['mode']}) {utcnow():%Y-%m-%d %H:%M} UTC"
        return dict(cert.delivery)


def withdraw(app: Flask, name: str) -> bool:
    """Stop delivering the certificate: delete its Barbican secret, keep the certificate.

    For a deployment that is destroyed (its load balancer, listener and pools are gone with it):
    the certificate and its sealed key stay so that a new apply delivers them again without a
    new order; the worker still renews it when due, without delivering it anywhere.

    :returns: whether a secret was deleted.
    """
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        old = dict(cert.delivery or {})
        cert.delivery = {k: v for k, v in old.items() if k == "pool"}
        ref = old.get("secret_ref", "")
        if ref:
            delivery.delete_secret(connect(cloud_name(app)), ref)
        cert.last_result = f"withdrawn from {cert.load_balancer or 'Barbican'} {utcnow():%Y-%m-%d %H:%M} UTC"
        return bool(ref)


def _get(sess: Session, name: str) -> Certificate:
    cert = sess.scalar(select(Certificate).where(Certificate.name == name.rstrip(".").lower()))
    if cert is None:
        raise NotFound(f"No certificate named {name}; 'gateway-kit certs list' shows them.")
    return cert


def backoff(app: Flask, failures: int) -> timedelta:
    base = float(app.config["CERTS_RETRY_BASE_SECONDS"])
    ceiling = float(app.config["CERTS_RETRY_MAX_SECONDS"])
    return timedelta(seconds=min(ceiling, base * 2 ** max(0, failures - 1)))


def _obtain(app: Flask, cert_id: int, trigger: str) -> Outcome:
    cloud = cloud_name(app)
    with db.session_scope(app) as sess:
        attempt = RenewalAttempt(certificate_id=cert_id, trigger=trigger, ok=False, message="")
        sess.add(attempt)
        sess.flush()
        attempt_id = attempt.id
    try:
        outcome = _run_order(app, cert_id, cloud)
    except Exception as exc:
        message = (
            exc.user_message
            if isinstance(exc, GatewayError)
            else (f"internal error ({exc.__class__.__name__}); see the log")
        )
        with db.session_scope(app) as sess:
            cert = sess.get(Certificate, cert_id)
            failed = sess.get(RenewalAttempt, attempt_id)
            now = utcnow()
            if failed is not None:
                failed.finished_at, failed.ok, failed.message = now, False, message
            if cert is not None:
                cert.failures += 1
                cert.last_attempt_at = now
                cert.last_result = f"failed: {message}"
                cert.next_attempt_at = now + backoff(app, cert.failures)
                if cert.status == "new":
                    cert.status = "failed"
                if trigger == "auto" and isinstance(exc, ZoneNotOwned):
                    # The name is gone (its zone deleted, a deployment destroyed): retrying
                    # cannot succeed until someone brings it back, so the worker stops.
                    cert.status = ABANDONED
                    cert.next_attempt_at = None
                    cert.last_result = f"stopped retrying: {message} Renew it by hand once the name is back."
        raise
    with db.session_scope(app) as sess:
        done = sess.get(RenewalAttempt, attempt_id)
        if done is not None:
            done.finished_at, done.ok = utcnow(), True
            done.message = "issued, expires " + (
                outcome.not_after.strftime("%Y-%m-%d %H:%M UTC") if outcome.not_after else "?"
            )
            if outcome.warnings:
                done.message += "; " + "; ".join(outcome.warnings)
    return outcome


def _run_order(app: Flask, cert_id: int, cloud: str) -> Outcome:
    with db.session_scope(app) as sess:
        cert = sess.get(Certificate, cert_id)
        assert cert is not None
        names, url, handle = list(cert.names), cert.directory_url, cert.name
        conn = connect(cloud)
        dns01.cleanup_stale(app, connect)
        solver = dns01.DesignateChallenges(app, conn, cloud, handle)
        # Find every zone before the CA is asked anything: fail fast and without an order.
        targets = {n.removeprefix("*."): solver.locate(n.removeprefix("*.")) for n in names}
        auth = _authority(app, sess, url)
    key_pem = new_private_key(str(app.config["CERTS_KEY_TYPE"]))
    csr = crypto_util.make_csr(key_pem, names)
    orderr, todo = auth.order(csr)
    try:
        solver.publish([(targets[ch.identifier], ch.value) for ch in todo])
        solver.wait_visible()
        auth.answer(todo)
        fullchain = auth.finish(orderr, float(app.config["CERTS_ACME_TIMEOUT"]))
    except BaseException:
        auth.deactivate_pending(orderr)
        raise
    finally:
        solver.cleanup()
    leaf, chain = split_chain(fullchain)
    info = describe(leaf)
    warnings: list[str] = []
    with db.session_scope(app) as sess:
        cert = sess.get(Certificate, cert_id)
        assert cert is not None
        cert.key_sealed = seal(app.config, key_pem)
        cert.cert_pem, cert.chain_pem = leaf, chain
        cert.serial = info["serial"]
        cert.not_before, cert.not_after = info["not_before"], info["not_after"]
        cert.status = "valid"
        cert.failures = 0
        cert.next_attempt_at = None
        cert.last_attempt_at = utcnow()
        cert.last_result = f"issued {utcnow():%Y-%m-%d %H:%M} UTC, serial {info['serial']}"
        if cert.delivery.get("mode"):
            try:
                cert.delivery = delivery.deliver(app, conn, cert, key_pem)
                cert.last_result += f"; delivered ({cert.delivery['mode']})"
            except GatewayError as exc:
                # The certificate is good and stored; delivery is retried by 'renew'.
                cert.last_result += f"; delivery failed: {exc.user_message}"
                warnings.append(f"delivery failed: {exc.user_message}")
                log.error("delivery of %s failed: %s", cert.name, exc.log_message)
    log.info("certificate %s issued for %s, expires %s", handle, ", ".join(names), info["not_after"])
    return Outcome(handle, names, info["not_after"], warnings)


def revoke(app: Flask, name: str, reason: int = 0) -> None:
    """Revoke the current certificate at the CA (the record stays, status ``revoked``)."""
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        if not cert.cert_pem:
            raise Conflict(f"{name} has no certificate to revoke.")
        if cert.status == "revoked":
            raise Conflict(f"{name} is already revoked.")
        auth = _authority(app, sess, cert.directory_url)
        auth.revoke(cert.cert_pem.encode(), reason)
        cert.status = "revoked"
        cert.next_attempt_at = None
        cert.last_result = f"revoked {utcnow():%Y-%m-%d %H:%M} UTC"
    log.info("certificate %s revoked", name)


def list_certificates(app: Flask) -> list[dict[str, Any]]:
    with db.session_scope(app) as sess:
        return [summary(c) for c in sess.scalars(select(Certificate).order_by(Certificate.name))]


def show(app: Flask, name: str) -> dict[str, Any]:
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        out = summary(cert)
        out["attempts"] = [
            {"trigger": a.trigger, "started_at": aware(a.started_at), "ok": a.ok, "message": a.message}
            for a in cert.attempts[-10:]
        ]
        out["certificate_pem"] = cert.cert_pem
        return out


def summary(cert: Certificate) -> dict[str, Any]:
    days = cert.days_left()
    return {
        "name": cert.name,
        "names": list(cert.names),
        "status": cert.status,
        "staging": cert.staging,
        "directory_url": cert.directory_url,
        "serial": cert.serial,
        "not_after": aware(cert.not_after),
        "days_left": days,
        "warning": warning_level(days) if cert.status == "valid" else None,
        "last_result": cert.last_result,
        "last_attempt_at": aware(cert.last_attempt_at),
        "next_attempt_at": aware(cert.next_attempt_at),
        "failures": cert.failures,
        "delivery": dict(cert.delivery or {}),
        "load_balancer": cert.load_balancer,
    }


#: Days-left thresholds at which the console warns, most urgent first.
WARN_DAYS = (7, 14, 30)


def warning_level(days: float | None) -> int | None:
    """The tightest threshold ``days`` is under (7, 14 or 30), or ``None``."""
    if days is None:
        return None
    for limit in WARN_DAYS:
        if days <= limit:
            return limit
    return None


def private_key_pem(app: Flask, name: str) -> bytes:
    """The certificate's private key (for export to a VM; never logged)."""
    with db.session_scope(app) as sess:
        cert = _get(sess, name)
        if not cert.key_sealed:
            raise Conflict(f"{name} has no key yet.")
        return unseal(app.config, cert.key_sealed)


def chain_pem(app: Flask, name: str) -> str:
    with db.session_scope(app) as sess:
        return _get(sess, name).chain_pem
