"""Listeners: attributes, TLS references to Barbican, create and update."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, json_response
from gateway_kit.localcloud.store import Doc

from .children import _create_body, _new_child
from .common import (
    LB,
    LISTENER,
    POOL,
    _enum,
    _int,
    _invalid,
    _lock_lb,
    _referenced,
    _str,
    _unknown_attr,
    _uuid,
    _writable,
)
from .specs import _LISTENER_KEYS, _render_listener


def _tls_ref(cloud: LocalCloud, auth: AuthContext, ref: Any, pkcs12: bool = True) -> str:
    """Validate a Barbican ref as Octavia's cert manager would (readable, and a certificate)."""
    from gateway_kit.localcloud.services import key_manager

    if not isinstance(ref, str):
        raise ApiError(400, f"Could not retrieve certificate: {ref}")
    found = key_manager.lookup_ref(cloud, ref, auth.project_id)
    if found is None:
        raise ApiError(400, f"Could not retrieve certificate: {ref}")
    what, doc = found
    if what == "container":
        if doc.get("type") != "certificate":
            raise ApiError(400, f"Could not retrieve certificate: {ref}")
        return ref
    payload = key_manager.secret_payload(doc)
    if pkcs12 and (payload is None or not _looks_like_pkcs12(payload)):
        raise ApiError(
            400,
            "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make "
            "sure it does not require a pass phrase. Error: Could not deserialize PKCS12 data",
        )
    return ref


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        from cryptography.hazmat.primitives.serialization import pkcs12

        pkcs12.load_key_and_certificates(data, None)
    except (ValueError, TypeError):
        return False
    return True


_LISTENER_ATTRS = _writable(_LISTENER_KEYS, "l7policies", "loadbalancer_id", "default_pool")


def _apply_listener_common(
    cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any], creating: bool
) -> None:
    for key in (
        "timeout_client_data",
        "timeout_member_connect",
        "timeout_member_data",
        "timeout_tcp_inspect",
    ):
        if key in body:
            doc[key] = _int(body, key, 0, 31536000000)
    if "connection_limit" in body:
        doc["connection_limit"] = _int(body, "connection_limit", -1, 2147483647)
    if "description" in body:
        doc["description"] = _str(body, "description") or ""
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        doc["admin_state_up"] = bool(body["admin_state_up"])
    if "insert_headers" in body:
        headers = body["insert_headers"] or {}
        bad = [h for h in headers if h not in olc.SUPPORTED_HTTP_HEADERS + olc.SUPPORTED_SSL_HEADERS]
        if bad:
            raise ApiError(400, f"Validation failure: {bad[0]} is not a valid option for insert_headers")
        doc["insert_headers"] = headers
    if "allowed_cidrs" in body:
        cidrs = body["allowed_cidrs"] or []
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise _invalid("allowed_cidrs", cidrs, "Value should be IP network format") from exc
        doc["allowed_cidrs"] = cidrs
    for key in (
        "tags",
        "tls_versions",
        "alpn_protocols",
        "tls_ciphers",
        "hsts_max_age",
        "hsts_include_subdomains",
        "hsts_preload",
    ):
        if key in body:
            doc[key] = body[key]
    if "default_tls_container_ref" in body and body["default_tls_container_ref"] is not None:
        doc["default_tls_container_ref"] = _tls_ref(cloud, auth, body["default_tls_container_ref"])
    if "sni_container_refs" in body:
        doc["sni_container_refs"] = [_tls_ref(cloud, auth, r) for r in body["sni_container_refs"] or []]
    if "client_authentication" in body:
        doc["client_authentication"] = _enum(body, "client_authentication", olc.SUPPORTED_CLIENT_AUTH_MODES)
    for key in ("client_ca_tls_container_ref", "client_crl_container_ref"):
        if body.get(key) is not None:
            doc[key] = _tls_ref(cloud, auth, body[key], pkcs12=False)
    if "default_pool_id" in body:
        pool_id = _uuid(body, "default_pool_id")
        if pool_id is not None:
            pool = cloud.get(POOL, pool_id)
            if pool is None or pool["loadbalancer_id"] != doc["loadbalancer_id"]:
                raise ApiError(400, f"Pool {pool_id} not found.")
            if cloud.store.find(
                LISTENER, lambda d: d.get("default_pool_id") == pool_id and d["id"] != doc["id"]
            ):
                raise ApiError(409, f"Pool {pool_id} is in use and cannot be modified.")
        doc["default_pool_id"] = pool_id


def _create_listener() -> Response:
    cloud, auth, body = _create_body("listener", _LISTENER_ATTRS)
    protocol = _enum(body, "protocol", olc.LISTENER_SUPPORTED_PROTOCOLS, required=True)
    port = _int(body, "protocol_port", 1, 65535, required=True)
    lb_id = _uuid(body, "loadbalancer_id")
    if lb_id is None:
        raise _invalid("loadbalancer_id", None, "Mandatory field missing.")
    lb = _referenced(cloud, auth, LB, "Load Balancer", lb_id)
    if protocol == olc.PROTOCOL_TERMINATED_HTTPS and not body.get("default_tls_container_ref"):
        raise ApiError(
            400,
            "Validation failure: An SNI or default certificate container reference must be "
            "provided for TERMINATED_HTTPS listeners.",
        )
    if protocol != olc.PROTOCOL_TERMINATED_HTTPS and (
        body.get("default_tls_container_ref") or body.get("sni_container_refs")
    ):
        raise ApiError(
            400,
            "Validation failure: Certificate container references are only allowed on "
            "TERMINATED_HTTPS protocol listeners.",
        )
    for other in cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == lb_id):
        same_family = {other["protocol"], protocol} <= {olc.PROTOCOL_UDP} or (
            olc.PROTOCOL_UDP not in (other["protocol"], protocol)
            and olc.PROTOCOL_SCTP not in (other["protocol"], protocol)
        )
        if other["protocol_port"] == port and same_family:
            raise ApiError(
                409,
                f"Another Listener on this Load Balancer is already using protocol {protocol} "
                f"and protocol_port {port}",
            )
    doc = _new_child(cloud, auth, lb, body, ("listener", LISTENER, "Listener"))
    doc.update(
        {
            "description": "",
            "protocol": protocol,
            "protocol_port": port,
            "connection_limit": -1,
            "default_tls_container_ref": None,
            "sni_container_refs": [],
            "default_pool_id": None,
            "insert_headers": {},
            "timeout_client_data": 50000,
            "timeout_member_connect": 5000,
            "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0,
            "client_ca_tls_container_ref": None,
            "client_authentication": olc.CLIENT_AUTH_NONE,
            "client_crl_container_ref": None,
            "allowed_cidrs": None,
            "tls_ciphers": None,
            "tls_versions": None,
            "alpn_protocols": None,
            "hsts_max_age": None,
            "hsts_include_subdomains": False,
            "hsts_preload": False,
        }
    )
    if protocol == olc.PROTOCOL_TERMINATED_HTTPS:
        doc["tls_versions"] = ["TLSv1.2", "TLSv1.3"]
        doc["alpn_protocols"] = ["h2", "http/1.1", "http/1.0"]
    _apply_listener_common(cloud, auth, doc, body, creating=True)
    _lock_lb(cloud, lb)
    cloud.put(LISTENER, doc)
    return json_response({"listener": _render_listener(cloud, doc)}, 201)


def _apply_listener_update(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    for key in ("protocol", "protocol_port", "loadbalancer_id", "project_id"):
        if key in body and body[key] != doc.get(key):
            raise _unknown_attr("listener", body, key)
    _apply_listener_common(cloud, auth, doc, body, creating=False)
