"""``[tls]``: the deployment's certificate, through the certs feature, on its load balancer.

After ``deploy apply`` has converged the cloud, :func:`ensure_certificate` makes sure a valid
certificate for ``[tls].names`` sits on the deployment's load balancer (``<name>-lb``), in the
TERMINATED_HTTPS listener on port 443 that :mod:`gateway_kit.certs.delivery` creates or updates:

* no certificate yet (or the last issue failed): :func:`gateway_kit.certs.service.issue`;
* one for the same names and load balancer, valid, delivered to this load balancer and not due
  for renewal (``CERTS_RENEW_BEFORE_DAYS``): reused, nothing is sent;
* valid and not due but not on this load balancer (replaced, or the deployment was destroyed and
  applied again, or the last delivery failed): delivered again, no new order
  (:func:`gateway_kit.certs.service.deliver_to`);
* otherwise (due): :func:`gateway_kit.certs.service.renew`, which delivers again.

The listener's default pool is the deployment's own ``<name>-tls-pool`` (``desired_resources``
creates it, with the web VMs as members and the same health monitor as ``<name>-pool``, and
scales, replaces and destroys it with them): Octavia refuses one pool as the default pool of
the HTTP listener and of the TERMINATED_HTTPS one. :func:`release_certificate` deletes the
certificate's Barbican secret after ``deploy destroy``.

ACME settings (directory, account e-mail, terms, CA bundle, key type) are the certs feature's
``CERTS_*`` settings; the certificate is then renewed by the certs worker like any other.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from ..errors import CloudError, ConfigError, Conflict, GatewayError
from .plan import tls_pool_name
from .spec import DeploymentSpec


def lb_name(spec: DeploymentSpec) -> str:
    """The load balancer's name in the cloud (what ``desired_resources`` creates)."""
    return f"{spec.name}-lb"


def ensure_certificate(app: Flask, spec: DeploymentSpec, lb_id: str | None) -> str:
    """Issue, renew or reuse the certificate of ``spec.tls``; return one line for the operator.

    :param lb_id: the deployment's load balancer id (to notice one that was replaced).
    :raises Conflict: a certificate with that handle exists for other names or elsewhere.
    :raises CloudError: the certificate was issued but could not be delivered.
    """
    from ..certs import service
    from ..certs.names import plan_names

    tls = spec.tls
    assert tls is not None and spec.load_balancer is not None
    if "CERTS_DIRECTORY_URL" not in app.config:
        raise ConfigError(
            "The spec's [tls] needs the certs feature (its CERTS_* settings hold the ACME account "
            "and directory): enable it, or remove [tls]."
        )
    certs_cloud = service.cloud_name(app)
    if spec.cloud and spec.cloud != certs_cloud:
        raise ConfigError(
            f"The spec deploys to cloud {spec.cloud!r} but certificates are issued and delivered "
            f"through {certs_cloud!r} (CERTS_CLOUD_NAME or CLOUD_NAME): set CERTS_CLOUD_NAME = "
            f"{spec.cloud!r}."
        )
    target = lb_name(spec)
    names = list(tls.names)
    handle = plan_names(names).names[0]
    current: dict[str, Any] | None = next(
        (c for c in service.list_certificates(app) if c["name"] == handle), None
    )
    pool = tls_pool_name(spec)
    if current is None or current["status"] == "failed":
        out = service.issue(app, names, staging=tls.staging, load_balancer=target, pool=pool)
        done = "issued"
    else:
        if (
            sorted(current["names"]) != sorted(plan_names(names).names)
            or current["load_balancer"] != target
            or bool(current["staging"]) != tls.staging
            or current["status"] == "revoked"
        ):
            raise Conflict(
                f"A certificate named {handle} exists ({current['status']}, names "
                f"{', '.join(current['names'])}, load balancer {current['load_balancer'] or 'none'}, "
                f"staging {current['staging']}); the spec's [tls] asks for {', '.join(names)} on "
                f"{target}{' (staging)' if tls.staging else ''}. Put [tls] back as it was, or list "
                "another name first so that the certificate gets another handle."
            )
        delivery = current["delivery"] or {}
        delivered = (
            delivery.get("mode") == "load_balancer"
            and delivery.get("pool") == pool
            and bool(delivery.get("listener_id"))
            and (lb_id is None or delivery.get("load_balancer_id") == lb_id)
        )
        days = current["days_left"]
        due = days is None or days <= float(app.config.get("CERTS_RENEW_BEFORE_DAYS", 30))
        if current["status"] == "valid" and not due:
            if delivered:
                return f"Certificate {handle}: valid for {days:.0f} more days, on {target}; reused."
            try:
                service.deliver_to(app, handle, load_balancer=target, pool=pool)
            except GatewayError as exc:
                raise CloudError(
                    f"Certificate {handle} is valid but could not be delivered to load balancer "
                    f"{target} ({exc.user_message}). Run `gateway-kit deploy apply` again to retry."
                ) from exc
            return f"Certificate {handle}: valid for {days:.0f} more days; delivered to {target} (port 443)."
        service.deliver_to(app, handle, load_balancer=target, pool=pool, send=False)
        out = service.renew(app, handle, trigger="deploy")
        done = "renewed"
    failed = [w for w in out.warnings if w.startswith("delivery failed")]
    if failed:
        raise CloudError(
            f"Certificate {handle} was {done} but not delivered to load balancer {target} "
            f"({failed[0]}). Run `gateway-kit deploy apply` again to retry the delivery."
        )
    until = f", expires {out.not_after:%Y-%m-%d}" if out.not_after else ""
    return f"Certificate {handle} {done} for {', '.join(out.names)}{until}; on {target} (port 443)."


def release_certificate(app: Flask, spec: DeploymentSpec) -> str | None:
    """After ``deploy destroy``: delete the Barbican secret the certificate was delivered as.

    The load balancer took its listener and pools with it; the certificate itself (and its sealed
    key) stays with the certs feature, so that applying the spec again delivers it without a new
    ACME order (``gateway-kit certs list`` shows it; the worker renews it when due, delivering it
    nowhere). Returns one line for the operator, or ``None`` when there was nothing to do.
    """
    from ..certs import service
    from ..certs.names import plan_names

    if spec.tls is None or "CERTS_DIRECTORY_URL" not in app.config:
        return None
    handle = plan_names(list(spec.tls.names)).names[0]
    current = next((c for c in service.list_certificates(app) if c["name"] == handle), None)
    if current is None or current["load_balancer"] != lb_name(spec):
        return None
    if not service.withdraw(app, handle):
        return None
    return f"Certificate {handle}: its Barbican secret was deleted; the certificate is kept for a new apply."
