"""Delivering a certificate where TLS ends: a load balancer, or Barbican for the VMs to fetch.

**Load balancer** (``mode: load_balancer``): the certificate, its chain and key are packed as a
PKCS#12 bundle (no password: Barbican's ACLs protect it) and stored as an *opaque* Barbican
secret, which is what Octavia reads for ``default_tls_container_ref``. The named load balancer
gets (or has updated) a ``TERMINATED_HTTPS`` listener on port 443 pointing at the new secret;
the previous secret is deleted afterwards. The listener's default pool is the one the caller
names (``pool``: a hosting deployment's ``<name>-tls-pool``), else the first pool when no other
listener uses it, else a copy of it (``<lb>-https-pool``): Octavia refuses one pool as the
default pool of two listeners. On renewal this repeats: Octavia swaps the certificate
without dropping the listener.

**VMs** (``mode: barbican``): the same secret is stored, named ``gateway-kit-cert-<name>``, and the
VMs fetch it at boot and from a daily timer, then reload the web server::

    # on the VM (application credential with read access to the project's secrets)
    openstack secret list --name gateway-kit-cert-portal.example.org -f value -c "Secret href"
    openstack secret get --payload_content_type application/octet-stream --file /etc/tls/site.p12 HREF
    openssl pkcs12 -in /etc/tls/site.p12 -nodes -passin pass: -out /etc/tls/site.pem
    systemctl reload nginx

(``gateway-kit certs export NAME DIR`` writes ``fullchain.pem`` and ``privkey.pem`` for a host
the kit runs on.)

openstacksdk is imported where its exceptions are caught (as in :mod:`gateway_kit.cloud`): the
web app imports this module at start-up and needs openstacksdk only once it calls a cloud.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from flask import Flask

from .errors import DeliveryError
from .models import Certificate

LISTENER_PORT = 443


def pkcs12_bundle(name: str, cert_pem: str, chain_pem: str, key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem.strip() else []
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,  # type: ignore[arg-type]
        leaf,
        chain or None,
        serialization.NoEncryption(),
    )


def secret_name(cert: Certificate) -> str:
    return f"gateway-kit-cert-{cert.name}"


def deliver(app: Flask, conn: Any, cert: Certificate, key_pem: bytes) -> dict[str, str]:
    """Store the certificate in Barbican and, for ``load_balancer``, point the listener at it.

    The listener's default pool is the delivery record's ``pool`` (a pool name or id on that load
    balancer, e.g. the one a hosting deployment with ``[tls]`` manages), else the one the listener
    already has, else the load balancer's first pool when no listener uses it, else a pool of our
    own cloned from it (see :func:`_clone_pool`): Octavia refuses one pool as the default pool of
    two listeners.

    :returns: the new delivery record (``mode``, ``secret_ref``, ``listener_id``...).
    """
    from openstack import exceptions as os_exc

    previous = dict(cert.delivery or {})
    mode = previous.get("mode", "")
    bundle = pkcs12_bundle(cert.name, cert.cert_pem, cert.chain_pem, key_pem)
    try:
        secret = conn.key_manager.create_secret(
            name=secret_name(cert),
            secret_type="opaque",
            payload=base64.b64encode(bundle).decode(),
            payload_content_type="application/octet-stream",
            payload_content_encoding="base64",
        )
    except os_exc.SDKException as exc:
        raise DeliveryError(
            "Barbican refused to store the certificate.", log_message=f"create_secret {cert.name}: {exc}"
        ) from exc
    record = {"mode": mode, "secret_ref": str(secret.secret_ref)}
    if previous.get("pool"):
        record["pool"] = previous["pool"]
    if mode == "load_balancer":
        try:
            record.update(
                _to_load_balancer(
                    app, conn, cert.load_balancer, record["secret_ref"], previous.get("pool", "")
                )
            )
        except DeliveryError:
            # nothing points at the new secret: do not leave it behind
            delete_secret(conn, record["secret_ref"])
            raise
    old = previous.get("secret_ref")
    if old and old != record["secret_ref"]:
        delete_secret(conn, old)
    return record


def delete_secret(conn: Any, secret_ref: str) -> None:
    """Delete a Barbican secret by its ref; an orphaned secret is harmless, so failures are ignored."""
    from openstack import exceptions as os_exc

    with contextlib.suppress(os_exc.SDKException):
        conn.key_manager.delete_secret(secret_ref.rstrip("/").rsplit("/", 1)[-1], ignore_missing=True)


def _to_load_balancer(app: Flask, conn: Any, lb_name: str, secret_ref: str, pool: str = "") -> dict[str, str]:
    from openstack import exceptions as os_exc

    wait = int(app.config.get("HOSTING_LB_TIMEOUT", 900))
    interval = float(app.config.get("HOSTING_POLL_INTERVAL", 2.0))
    octavia = conn.load_balancer
    try:
        lb = octavia.find_load_balancer(lb_name, ignore_missing=True)
        if lb is None:
            raise DeliveryError(f"There is no load balancer named {lb_name}.")
        # (the SDK's listener filter is load_balancer_id; check the owner here as well)
        listener = next(
            (
                li
                for li in octavia.listeners(load_balancer_id=lb.id)
                if _on(li, lb.id) and li.protocol == "TERMINATED_HTTPS" and li.protocol_port == LISTENER_PORT
            ),
            None,
        )
        octavia.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
        pools = [p for p in octavia.pools(loadbalancer_id=lb.id) if _on(p, lb.id)]
        out: dict[str, str] = {"load_balancer_id": str(lb.id)}
        pool_id: str | None
        if pool:
            chosen = next((p for p in pools if pool in (p.id, p.name)), None)
            if chosen is None:
                raise DeliveryError(f"Load balancer {lb_name} has no pool named {pool}.")
            pool_id = str(chosen.id)
        elif listener is not None and listener.default_pool_id:
            pool_id = str(listener.default_pool_id)
        else:
            first = pools[0] if pools else None
            if first is None or not _bound(first):
                pool_id = str(first.id) if first is not None else None
            else:
                pool_id = _clone_pool(conn, lb, f"{lb_name}-https-pool", first, pools, interval, wait)
        if pool_id:
            out["pool_id"] = pool_id
        if listener is None:
            listener = octavia.create_listener(
                name=f"{lb_name}-https",
                loadbalancer_id=lb.id,
                protocol="TERMINATED_HTTPS",
                protocol_port=LISTENER_PORT,
                default_tls_container_ref=secret_ref,
                default_pool_id=pool_id,
            )
        else:
            changes: dict[str, Any] = {"default_tls_container_ref": secret_ref}
            if pool_id and listener.default_pool_id != pool_id:
                changes["default_pool_id"] = pool_id
            octavia.update_listener(listener, **changes)
        octavia.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
    except os_exc.SDKException as exc:
        raise DeliveryError(
            f"Octavia refused the TLS listener on load balancer {lb_name}.",
            log_message=f"listener on {lb_name}: {exc}",
        ) from exc
    out["listener_id"] = str(listener.id)
    return out


def _on(child: Any, lb_id: str) -> bool:
    """Whether a listener or pool belongs to load balancer ``lb_id``."""
    owners = getattr(child, "load_balancers", None) or getattr(child, "loadbalancers", None) or []
    return not owners or any((o.get("id") if isinstance(o, dict) else o) == lb_id for o in owners)


def _bound(pool: Any) -> bool:
    """Whether ``pool`` is already some listener's default pool."""
    return bool(getattr(pool, "listeners", None))


def _clone_pool(
    conn: Any, lb: Any, name: str, source: Any, pools: list[Any], interval: float, wait: int
) -> str:
    """A pool of the listener's own, named ``name``: ``source``'s algorithm, members and monitor.

    Used when the load balancer's only candidate pool already serves another listener. It is a copy
    made now: members added to ``source`` later are not added to it (a hosting deployment with
    ``[tls]`` manages its own pool instead and passes it as ``pool``). An existing pool of that
    name on the load balancer (a retried delivery) is reused.
    """
    octavia = conn.load_balancer
    mine = next((p for p in pools if p.name == name), None)
    if mine is not None:
        return str(mine.id)
    protocol = source.protocol if source.protocol in ("HTTP", "PROXY") else "HTTP"
    mine = octavia.create_pool(
        name=name, loadbalancer_id=lb.id, protocol=protocol, lb_algorithm=source.lb_algorithm
    )
    octavia.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
    for m in octavia.members(source.id):
        kwargs = {
            "name": m.name,
            "address": m.address,
            "protocol_port": m.protocol_port,
            "subnet_id": m.subnet_id,
            "weight": m.weight,
        }
        octavia.create_member(mine.id, **{k: v for k, v in kwargs.items() if v is not None})
        octavia.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
    if getattr(source, "health_monitor_id", None):
        hm = octavia.get_health_monitor(source.health_monitor_id)
        kwargs = {
            "type": hm.type,
            "delay": hm.delay,
            "timeout": hm.timeout,
            "max_retries": hm.max_retries,
            "url_path": hm.url_path,
            "expected_codes": hm.expected_codes,
            "http_method": hm.http_method,
        }
        if hm.type not in ("HTTP", "HTTPS"):
            for key in ("url_path", "expected_codes", "http_method"):
                kwargs.pop(key)
        octavia.create_health_monitor(
            pool_id=mine.id, name=f"{name}-hm", **{k: v for k, v in kwargs.items() if v is not None}
        )
        octavia.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
    return str(mine.id)
