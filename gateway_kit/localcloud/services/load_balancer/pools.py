"""Pools and members."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, current_cloud, json_response
from gateway_kit.localcloud.store import Doc

from .children import _active_lb, _create_body, _new_child
from .common import (
    LB,
    LISTENER,
    MEMBER,
    POOL,
    _apply_common,
    _auth,
    _body,
    _check_attrs,
    _enum,
    _immutable,
    _int,
    _invalid,
    _live,
    _lock_lb,
    _referenced,
    _str,
    _uuid,
    _writable,
)
from .health import _arm_member_check, _member_status
from .listeners import _tls_ref
from .specs import _MEMBER_KEYS, _POOL_KEYS, _render_member, _render_pool

_POOL_ATTRS = _writable(_POOL_KEYS, "listener_id", "loadbalancer_id", "healthmonitor", "members")


def _apply_pool(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "lb_algorithm" in body:
        doc["lb_algorithm"] = _enum(body, "lb_algorithm", olc.SUPPORTED_LB_ALGORITHMS, required=True)
    _apply_common(doc, body)
    if "session_persistence" in body:
        sp = body["session_persistence"]
        if sp is not None:
            if not isinstance(sp, dict):
                raise _invalid("session_persistence", sp, "Wrong type.")
            _enum(sp, "type", olc.SUPPORTED_SP_TYPES, required=True)
            if sp["type"] == olc.SESSION_PERSISTENCE_APP_COOKIE and not sp.get("cookie_name"):
                raise ApiError(
                    400, "Validation failure: APP_COOKIE session persistence type requires a cookie name."
                )
            sp = {
                "type": sp["type"],
                "cookie_name": sp.get("cookie_name"),
                "persistence_timeout": sp.get("persistence_timeout"),
                "persistence_granularity": sp.get("persistence_granularity"),
            }
        doc["session_persistence"] = sp
    for key in ("tags", "tls_enabled", "tls_ciphers", "tls_versions", "alpn_protocols"):
        if key in body:
            doc[key] = body[key]
    for key in ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref"):
        if body.get(key) is not None:
            doc[key] = _tls_ref(cloud, auth, body[key], pkcs12=key == "tls_container_ref")


def _create_pool() -> Response:
    cloud, auth, body = _create_body("pool", _POOL_ATTRS)
    protocol = _enum(
        body, "protocol", (*olc.POOL_SUPPORTED_PROTOCOLS, olc.PROTOCOL_TERMINATED_HTTPS), required=True
    )
    _enum(body, "lb_algorithm", olc.SUPPORTED_LB_ALGORITHMS, required=True)
    listener_id = _uuid(body, "listener_id")
    lb_id = _uuid(body, "loadbalancer_id")
    if not listener_id and not lb_id:
        raise ApiError(400, "Validation failure: Either a listener or load balancer must be specified.")
    listener = None
    if listener_id:
        listener = _referenced(cloud, auth, LISTENER, "Listener", listener_id)
        if lb_id and listener["loadbalancer_id"] != lb_id:
            raise ApiError(400, "Validation failure: The specified listener and load balancer do not match.")
        lb_id = listener["loadbalancer_id"]
        if listener.get("default_pool_id"):
            raise ApiError(409, "This listener already has a default pool")
        compatible = {
            olc.PROTOCOL_HTTP: {olc.PROTOCOL_HTTP, olc.PROTOCOL_PROXY, olc.PROTOCOL_PROXYV2},
            olc.PROTOCOL_HTTPS: {
                olc.PROTOCOL_HTTPS,
                olc.PROTOCOL_PROXY,
                olc.PROTOCOL_PROXYV2,
                olc.PROTOCOL_TCP,
            },
            olc.PROTOCOL_TERMINATED_HTTPS: {olc.PROTOCOL_HTTP, olc.PROTOCOL_PROXY, olc.PROTOCOL_PROXYV2},
            olc.PROTOCOL_TCP: {
                olc.PROTOCOL_TCP,
                olc.PROTOCOL_HTTP,
                olc.PROTOCOL_HTTPS,
                olc.PROTOCOL_PROXY,
                olc.PROTOCOL_PROXYV2,
            },
            olc.PROTOCOL_UDP: {olc.PROTOCOL_UDP},
            olc.PROTOCOL_SCTP: {olc.PROTOCOL_SCTP},
        }.get(listener["protocol"], set())
        if protocol not in compatible:
            raise ApiError(
                400,
                f"Validation failure: The pool protocol '{protocol}' is invalid while the listener "
                f"protocol is '{listener['protocol']}'.",
            )
    lb = _referenced(cloud, auth, LB, "Load Balancer", lb_id)
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    doc = _new_child(cloud, auth, lb, body, ("pool", POOL, "Pool"))
    doc.update(
        {
            "description": "",
            "protocol": protocol,
            "lb_algorithm": body["lb_algorithm"],
            "session_persistence": None,
            "tls_container_ref": None,
            "ca_tls_container_ref": None,
            "crl_container_ref": None,
            "tls_enabled": False,
            "tls_ciphers": None,
            "tls_versions": None,
            "alpn_protocols": None,
        }
    )
    _apply_pool(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(POOL, doc)
    if listener is not None:
        listener["default_pool_id"] = doc["id"]
        listener["provisioning_status"] = olc.PENDING_UPDATE
        cloud.put(LISTENER, listener)
    return json_response({"pool": _render_pool(cloud, doc)}, 201)


_MEMBER_ATTRS = _writable(_MEMBER_KEYS, "request_sriov", read_only=("vnic_type",))


def _apply_member(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "weight" in body:
        doc["weight"] = _int(body, "weight", 0, 256)
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        enable = bool(body["admin_state_up"]) and not doc.get("admin_state_up", True)
        doc["admin_state_up"] = bool(body["admin_state_up"])
        if enable:
            _arm_member_check(cloud, doc)
    if "backup" in body:
        doc["backup"] = bool(body["backup"])
    if "monitor_port" in body:
        doc["monitor_port"] = _int(body, "monitor_port", 1, 65535)
    if "monitor_address" in body:
        doc["monitor_address"] = body["monitor_address"]
    if "tags" in body:
        doc["tags"] = list(body["tags"] or [])


def _pool_for(cloud: LocalCloud, auth: AuthContext, pool_id: str) -> Doc:
    return _live(cloud, auth, POOL, "Pool", pool_id)


def _create_member(pool_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    pool = _pool_for(cloud, auth, pool_id)
    body = _body("member")
    _check_attrs(body, _MEMBER_ATTRS, "member")
    address = body.get("address")
    try:
        ipaddress.ip_address(str(address))
    except ValueError as exc:
        raise _invalid("address", address, "Value should be IP address format") from exc
    port = _int(body, "protocol_port", 1, 65535, required=True)
    subnet_id = _uuid(body, "subnet_id")
    if (
        subnet_id
        and any(s.name == "network" for s in cloud.services)
        and cloud.store.get("network.subnet", subnet_id) is None
    ):
        raise ApiError(400, f"Subnet {subnet_id} not found.")
    if cloud.store.find(
        MEMBER, lambda d: d["pool_id"] == pool_id and d["address"] == address and d["protocol_port"] == port
    ):
        raise ApiError(
            409, f"Another member on this pool is already using ip {address} on protocol_port {port}"
        )
    lb = _active_lb(cloud, pool)
    doc = _new_child(cloud, auth, lb, body, ("member", MEMBER, "Member"))
    doc.update(
        {
            "pool_id": pool_id,
            "address": address,
            "protocol_port": port,
            "weight": 1,
            "backup": False,
            "subnet_id": subnet_id,
            "monitor_address": None,
            "monitor_port": None,
            "vnic_type": "normal",
        }
    )
    _apply_member(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    _arm_member_check(cloud, doc)
    doc["operating_status"] = _member_status(cloud, doc)
    cloud.put(MEMBER, doc)
    return json_response({"member": _render_member(cloud, doc)}, 201)
