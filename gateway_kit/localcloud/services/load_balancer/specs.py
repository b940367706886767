"""How each Octavia resource kind is rendered and looked up (the resource specs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

from .common import _NAMED_KEYS, HM, L7POLICY, L7RULE, LISTENER, MEMBER, POOL, _base, _ids
from .health import _HM_KEYS, _L7P_KEYS, _L7R_KEYS, _refresh_operating

# -- resource specs ------------------------------------------------------------------------------


@dataclass
class Spec:
    kind: str
    root: str
    collection: str
    label: str
    render: Callable[[LocalCloud, Doc], dict[str, Any]]
    filters: tuple[str, ...] = (
        "id",
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "project_id",
    )
    extra_filters: tuple[str, ...] = field(default_factory=tuple)


_LB_KEYS = (
    *_NAMED_KEYS,
    "project_id",
    "created_at",
    "updated_at",
    "vip_address",
    "vip_port_id",
    "vip_subnet_id",
    "vip_network_id",
    "vip_sg_ids",
    "additional_vips",
    "provider",
    "flavor_id",
    "vip_qos_policy_id",
    "tags",
    "availability_zone",
    "vip_vnic_type",
)


def _render_lb(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    from .health import lb_operating

    out = _base(doc, _LB_KEYS)
    out["operating_status"] = lb_operating(cloud, doc)
    out["listeners"] = _ids(cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == doc["id"]))
    out["pools"] = _ids(cloud.store.find(POOL, lambda d: d["loadbalancer_id"] == doc["id"]))
    return out


_LISTENER_KEYS = (
    *_NAMED_KEYS,
    "protocol",
    "protocol_port",
    "connection_limit",
    "default_tls_container_ref",
    "sni_container_refs",
    "project_id",
    "default_pool_id",
    "insert_headers",
    "created_at",
    "updated_at",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "tags",
    "client_ca_tls_container_ref",
    "client_authentication",
    "client_crl_container_ref",
    "allowed_cidrs",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
)


def _render_listener(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, LISTENER, doc)
    out = _base(doc, _LISTENER_KEYS)
    out["loadbalancers"] = [{"id": doc["loadbalancer_id"]}]
    out["l7policies"] = _ids(cloud.store.find(L7POLICY, lambda d: d["listener_id"] == doc["id"]))
    return out


_POOL_KEYS = (
    *_NAMED_KEYS,
    "protocol",
    "lb_algorithm",
    "session_persistence",
    "project_id",
    "created_at",
    "updated_at",
    "tags",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_enabled",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
)


def _render_pool(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, POOL, doc)
    out = _base(doc, _POOL_KEYS)
    out["loadbalancers"] = [{"id": doc["loadbalancer_id"]}]
    out["listeners"] = _ids(cloud.store.find(LISTENER, lambda d: d.get("default_pool_id") == doc["id"]))
    hms = cloud.store.find(HM, lambda d: d["pool_id"] == doc["id"])
    out["healthmonitor_id"] = hms[0]["id"] if hms else None
    out["members"] = _ids(cloud.store.find(MEMBER, lambda d: d["pool_id"] == doc["id"]))
    return out


_MEMBER_KEYS = (
    "id",
    "name",
    "operating_status",
    "provisioning_status",
    "admin_state_up",
    "address",
    "protocol_port",
    "weight",
    "backup",
    "subnet_id",
    "project_id",
    "created_at",
    "updated_at",
    "monitor_address",
    "monitor_port",
    "tags",
    "vnic_type",
)


def _render_member(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, MEMBER, doc)
    return _base(doc, _MEMBER_KEYS)


def _render_hm(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    out = _base(doc, _HM_KEYS)
    out["pools"] = [{"id": doc["pool_id"]}]
    return out


def _render_l7policy(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    out = _base(doc, _L7P_KEYS)
    out["rules"] = _ids(cloud.store.find(L7RULE, lambda d: d["l7policy_id"] == doc["id"]))
    return out


def _render_l7rule(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    return _base(doc, _L7R_KEYS)
