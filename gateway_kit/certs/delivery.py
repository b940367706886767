"""Delivering a certificate where TLS ends: a load balancer, or Barbican for the VMs to fetch.

**Load balancer** (``mode: load_balancer``): the certificate, its chain and key are packed as a
PKCS#12 bundle (no password: Barbican's ACLs protect it) and stored as an *opaque* Barbican
secret, which is what Octavia reads for ``default_tls_container_ref``. The named load balancer
gets (or has updated) a ``TERMINATED_HTTPS`` listener on port 443 pointing at the new secret;
the previous secret is deleted afterwards. On renewal this repeats: Octavia swaps the certificate
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
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from flask import Flask
from openstack import exceptions as os_exc

from .errors import DeliveryError
from .models import Certificate

LISTENER_PORT = 443


def pkcs12_bundle(name: str, cert_pem: str, chain_pem: str, key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem.strip() else []
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, leaf, chain or None,  # type: ignore[arg-type]
        serialization.NoEncryption())


def secret_name(cert: Certificate) -> str:
    return f"gateway-kit-cert-{cert.name}"


def deliver(app: Flask, conn: Any, cert: Certificate, key_pem: bytes) -> dict[str, str]:
    """Store the certificate in Barbican and, for ``load_balancer``, point the listener at it.

    :returns: the new delivery record (``mode``, ``secret_ref``, ``listener_id``...).
    """
    previous = dict(cert.delivery or {})
    mode = previous.get("mode", "")
    bundle = pkcs12_bundle(cert.name, cert.cert_pem, cert.chain_pem, key_pem)
    try:
        secret = conn.key_manager.create_secret(
            name=secret_name(cert), secret_type="opaque",
            payload=base64.b64encode(bundle).decode(),
            payload_content_type="application/octet-stream",
            payload_content_encoding="base64")
    except os_exc.SDKException as exc:
        raise DeliveryError("Barbican refused to store the certificate.",
                            log_message=f"create_secret {cert.name}: {exc}") from exc
    record = {"mode": mode, "secret_ref": str(secret.secret_ref)}
    if mode == "load_balancer":
        record.update(_to_load_balancer(app, conn, cert.load_balancer, record["secret_ref"]))
    old = previous.get("secret_ref")
    if old and old != record["secret_ref"]:
        # An orphaned old secret is harmless (nothing uses it any more): ignore failures.
        with contextlib.suppress(os_exc.SDKException):
            conn.key_manager.delete_secret(old.rstrip("/").rsplit("/", 1)[-1], ignore_missing=True)
    return record


def _to_load_balancer(app: Flask, conn: Any, lb_name: str, secret_ref: str) -> dict[str, str]:
    wait = int(app.config.get("HOSTING_LB_TIMEOUT", 900))
    interval = float(app.config.get("HOSTING_POLL_INTERVAL", 2.0))
    try:
        lb = conn.load_balancer.find_load_balancer(lb_name, ignore_missing=True)
        if lb is None:
            raise DeliveryError(f"There is no load balancer named {lb_name}.")
        listener = next((li for li in conn.load_balancer.listeners(loadbalancer_id=lb.id)
                         if li.protocol == "TERMINATED_HTTPS"
                         and li.protocol_port == LISTENER_PORT), None)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
        if listener is None:
            pool = next(iter(conn.load_balancer.pools(loadbalancer_id=lb.id)), None)
            listener = conn.load_balancer.create_listener(
                name=f"{lb_name}-https", loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                protocol_port=LISTENER_PORT, default_tls_container_ref=secret_ref,
                default_pool_id=pool.id if pool is not None else None)
        else:
            conn.load_balancer.update_listener(listener, default_tls_container_ref=secret_ref)
        conn.load_balancer.wait_for_load_balancer(lb.id, interval=interval, wait=wait)
    except os_exc.SDKException as exc:
        raise DeliveryError(f"Octavia refused the TLS listener on load balancer {lb_name}.",
                            log_message=f"listener on {lb_name}: {exc}") from exc
    return {"load_balancer_id": str(lb.id), "listener_id": str(listener.id)}
