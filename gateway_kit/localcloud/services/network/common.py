"""Neutron's shared pieces: the blueprint, resource kinds and collections, error rendering, ownership
and how each resource is rendered.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gateway_kit.localcloud.core import ApiError, AuthContext, current_cloud, json_response, new_id, now_iso
from gateway_kit.localcloud.rest import Routes
from gateway_kit.localcloud.store import Doc

bp = Blueprint("network", __name__, url_prefix="/networking")
routes = Routes(bp)

NETWORK = "network.network"
SUBNET = "network.subnet"
PORT = "network.port"
ROUTER = "network.router"
FIP = "network.floatingip"
SG = "network.security_group"
RULE = "network.security_group_rule"

#: collection path -> (kind, singular, quota resource)
COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "networks": (NETWORK, "network", "network"),
    "subnets": (SUBNET, "subnet", "subnet"),
    "ports": (PORT, "port", "port"),
    "routers": (ROUTER, "router", "router"),
    "floatingips": (FIP, "floatingip", "floatingip"),
    "security-groups": (SG, "security_group", "security_group"),
    "security-group-rules": (RULE, "security_group_rule", "security_group_rule"),
}


def collection(coll: str) -> tuple[str, str, str]:
    """``COLLECTIONS[coll]``, or Neutron's 404 for a path it does not serve."""
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    return COLLECTIONS[coll]


QUOTA_RESOURCES = (
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "security_group",
    "security_group_rule",
    "rbac_policy",
    "subnetpool",
)
EXTENSIONS = (
    ("external-net", "Neutron external network"),
    ("router", "Neutron L3 Router"),
    ("security-group", "security-group"),
    ("quotas", "Quota management support"),
    ("quota_details", "Quota details management support"),
    ("project-id", "project_id field enabled"),
    ("standard-attr-description", "standard-attr-description"),
    ("standard-attr-tag", "Tag support for resources with standard attribute"),
    ("standard-attr-timestamp", "Resource timestamps"),
    ("standard-attr-revisions", "Resource revision numbers"),
    ("port-security", "Port Security"),
    ("allowed-address-pairs", "Allowed Address Pairs"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options"),
    ("binding", "Port Binding"),
    ("net-mtu", "Network MTU"),
    ("availability_zone", "Availability Zone"),
    ("fip-port-details", "Floating IP Port Details Extension"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode"),
    ("stateful-security-group", "Stateful security group"),
    ("tag-creation", "Tag creation extension"),
    ("extraroute", "Neutron Extra Route"),
    ("provider", "Provider Network"),
    ("subnet-external-network", "Subnet External Network"),
    ("security-groups-normalized-cidr", "Normalized CIDR field for security group rules"),
    ("security-groups-remote-address-group", "Remote address group id field for security group rules"),
    (
        "security-groups-rules-belongs-to-default-sg",
        "Security group rule belongs to the project's default security group",
    ),
)
#: Port attributes that Neutron's policy shows to admins only (``binding`` and
#: ``port-resource-request``); the api-ref's port-bind-show sample is the admin view.
ADMIN_PORT_KEYS = (
    "binding:host_id",
    "binding:profile",
    "binding:vif_details",
    "binding:vif_type",
    "resource_request",
)
#: Keys of earlier renderings that no advertised extension backs (``l3-ndp-proxy``).
_DROPPED_KEYS = {ROUTER: ("enable_ndp_proxy",)}


def render_error(err: ApiError) -> Response:
    code = err.code or {
        400: "HTTPBadRequest",
        401: "HTTPUnauthorized",
        403: "HTTPForbidden",
        404: "HTTPNotFound",
        409: "HTTPConflict",
        429: "HTTPTooManyRequests",
        503: "HTTPServiceUnavailable",
    }.get(err.status, "HTTPInternalServerError")
    if code in (
        "itemNotFound",
        "overLimit",
        "computeFault",
        "serviceUnavailable",
        "HTTPMethodNotAllowed",
        "badRequest",
    ):
        code = {
            404: "HTTPNotFound",
            405: "HTTPMethodNotAllowed",
            400: "HTTPBadRequest",
            429: "HTTPTooManyRequests",
        }.get(err.status, "HTTPInternalServerError")
    return json_response(
        {"NeutronError": {"type": code, "message": err.message, "detail": err.detail or ""}},
        err.status,
    )


def _not_found(singular: str, res_id: str) -> ApiError:
    label = {
        "network": "Network",
        "subnet": "Subnet",
        "port": "Port",
        "router": "Router",
        "floatingip": "Floating IP",
        "security_group": "Security group",
        "security_group_rule": "Security group rule",
    }[singular]
    type_ = {
        "network": "NetworkNotFound",
        "subnet": "SubnetNotFound",
        "port": "PortNotFound",
        "router": "RouterNotFound",
        "floatingip": "FloatingIPNotFound",
        "security_group": "SecurityGroupNotFound",
        "security_group_rule": "SecurityGroupRuleNotFound",
    }[singular]
    return ApiError(404, f"{label} {res_id} could not be found.", type_)


def _stamp(doc: Doc, project_id: str) -> Doc:
    now = now_iso()
    doc.setdefault("id", new_id())
    doc.setdefault("description", "")
    doc.setdefault("tags", [])
    doc["tenant_id"] = doc["project_id"] = project_id
    doc.setdefault("created_at", now)
    doc["updated_at"] = now
    doc["revision_number"] = int(doc.get("revision_number", -1)) + 1
    return doc


def _visible(doc: Doc, kind: str, auth: AuthContext) -> bool:
    if auth.is_admin or doc.get("project_id") == auth.project_id:
        return True
    cloud = current_cloud()
    if kind == NETWORK:
        return bool(doc.get("shared") or doc.get("router:external"))
    if kind == SUBNET:
        net = cloud.store.get(NETWORK, doc["network_id"])
        return bool(net and (net.get("shared") or net.get("router:external")))
    return False


def _public(doc: Doc) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def view(kind: str, doc: Doc, auth: AuthContext | None = None) -> dict[str, Any]:
    out = _public(doc)
    for key in _DROPPED_KEYS.get(kind, ()):
        out.pop(key, None)
    if kind == SUBNET:
        net = current_cloud().store.get(NETWORK, doc["network_id"])
        out["router:external"] = bool(net and net.get("router:external"))
    elif kind == PORT:
        bound = bool(doc.get("device_id"))
        out.setdefault("binding:host_id", "localcloud" if bound else "")
        out.setdefault("binding:profile", {})
        out.setdefault("binding:vif_details", {"port_filter": True} if bound else {})
        out.setdefault("binding:vif_type", "ovs" if bound else "unbound")
        out.setdefault("resource_request", None)
        if auth is not None and not auth.is_admin:
            for key in ADMIN_PORT_KEYS:
                out.pop(key, None)
    elif kind == NETWORK:
        out["subnets"] = [
            s["id"] for s in current_cloud().list(SUBNET, lambda s: s["network_id"] == doc["id"])
        ]
        if auth is not None and not auth.is_admin:
            for key in ("provider:network_type", "provider:physical_network", "provider:segmentation_id"):
                out.pop(key, None)
    elif kind == SG:
        out["security_group_rules"] = [
            view(RULE, r) for r in current_cloud().list(RULE, lambda r: r["security_group_id"] == doc["id"])
        ]
    elif kind == FIP:
        out.setdefault("qos_network_policy_id", None)
        port = current_cloud().get(PORT, doc["port_id"]) if doc.get("port_id") else None
        out["port_details"] = (
            None
            if port is None
            else {
                k: port.get(k)
                for k in (
                    "name",
                    "network_id",
                    "mac_address",
                    "admin_state_up",
                    "status",
                    "device_id",
                    "device_owner",
                )
            }
        )
    return out
