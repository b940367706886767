"""``[tls]``: the deployment's certificate, through the certs feature, on its load balancer.

After ``deploy apply`` has converged the cloud, :func:`ensure_certificate` makes sure a valid
certificate for ``[tls].names`` sits on the deployment's load balancer (``<name>-lb``), in the
TERMINATED_HTTPS listener on port 443 that :mod:`gateway_kit.certs.delivery` creates or updates:

* no certificate yet (or the last issue failed): :func:`gateway_kit.certs.service.issue`;
* one for the same names and load balancer, valid, delivered to this load balancer and not due
  for renewal (``CERTS_RENEW_BEFORE_DAYS``): reused, nothing is sent;
* otherwise (due, delivered to a load balancer since replaced, delivery failed):
  :func:`gateway_kit.certs.service.renew`, which delivers again.

ACME settings (directory, account e-mail, terms, CA bundle, key type) are the certs feature's
``CERTS_*`` settings; the certificate is then renewed by the certs worker like any other.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from ..errors import CloudError, ConfigError, Conflict
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
    if current is None or current["status"] == "failed":
        out = service.issue(app, names, staging=tls.staging, load_balancer=target)
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
        delivered = bool(delivery.get("listener_id")) and (
            lb_id is None or delivery.get("load_balancer_id") == lb_id
        )
        days = current["days_left"]
        due = days is None or days <= float(app.config.get("CERTS_RENEW_BEFORE_DAYS", 30))
        if current["status"] == "valid" and delivered and not due:
            return f"Certificate {handle}: valid for {days:.0f} more days, on {target}; reused."
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
