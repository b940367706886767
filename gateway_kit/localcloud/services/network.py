"""Neutron (network v2.0) for the local cloud (``/networking``).

Networks, subnets (with IP allocation from allocation pools), ports, routers (external gateway,
interfaces), floating IPs (allocated from external networks, associated through routers),
security groups and rules (a default group per project with Neutron's four default rules;
409 ``SecurityGroupRuleExists`` on duplicates), tags, quotas (409 ``OverQuota``) and the
extensions list. The SDK does not discover this service: it appends ``/v2.0`` to the catalog
URL.

Compute uses :func:`create_port`, :func:`delete_device_ports` and :func:`server_addresses` so
that Nova's ``addresses`` always reflect Neutron's ports and floating IPs.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    Service,
    current_cloud,
    json_response,
    new_id,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

bp = Blueprint("network", __name__, url_prefix="/networking")

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


# -- list filtering ---------------------------------------------------------------------

_NON_FILTERS = {
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "fields",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
}


def _matches(doc: dict[str, Any], key: str, wanted: list[str]) -> bool:
    if key == "fixed_ips":
        ips = doc.get("fixed_ips", [])
        for want in wanted:
            k, _, v = want.partition("=")
            if not any(str(ip.get(k)) == v for ip in ips):
                return False
        return True
    value = doc.get(key)
    if isinstance(value, bool):
        return any(w.lower() == str(value).lower() for w in wanted)
    if isinstance(value, list):
        return any(w in [str(x) for x in value] for w in wanted)
    return any(("" if value is None else str(value)) == w for w in wanted)


def _filter(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for key in set(request.args) - _NON_FILTERS:
        wanted = request.args.getlist(key)
        docs = [d for d in docs if _matches(d, key, wanted)]
    tag_all = [t for arg in request.args.getlist("tags") for t in arg.split(",")]
    if tag_all:
        docs = [d for d in docs if set(tag_all) <= set(d.get("tags", []))]
    tag_any = [t for arg in request.args.getlist("tags-any") for t in arg.split(",")]
    if tag_any:
        docs = [d for d in docs if set(tag_any) & set(d.get("tags", []))]
    not_tags = [t for arg in request.args.getlist("not-tags") for t in arg.split(",")]
    if not_tags:
        docs = [d for d in docs if not set(not_tags) <= set(d.get("tags", []))]
    sort_key = request.args.get("sort_key")
    if sort_key:
        docs.sort(
            key=lambda d: str(d.get(sort_key, "")), reverse=request.args.get("sort_dir", "asc") == "desc"
        )
    return docs


def _paginate(coll: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    marker = request.args.get("marker")
    if marker:
        ids = [d["id"] for d in docs]
        docs = docs[ids.index(marker) + 1 :] if marker in ids else []
    limit = request.args.get("limit")
    if limit:
        n = int(limit)
        if len(docs) > n:
            docs = docs[:n]
            args = request.args.to_dict(flat=False)
            args["marker"] = [docs[-1]["id"]]
            from urllib.parse import urlencode

            body[coll.replace("-", "_") + "_links"] = [
                {"rel": "next", "href": current_cloud().url(request.path) + "?" + urlencode(args, doseq=True)}
            ]
    fields = request.args.getlist("fields")
    if fields:
        docs = [{k: v for k, v in d.items() if k in fields} for d in docs]
    body[coll.replace("-", "_")] = docs
    return body


# -- helpers shared with compute --------------------------------------------------------


def _mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def _allocate_ip(cloud: LocalCloud, subnet: Doc, wanted: str | None = None) -> str:
    used = {
        ip["ip_address"]
        for p in cloud.store.find(PORT, lambda p: p["network_id"] == subnet["network_id"])
        for ip in p.get("fixed_ips", [])
        if ip["subnet_id"] == subnet["id"]
    }
    if subnet["network_id"] and subnet.get("_ext"):
        used |= {f["floating_ip_address"] for f in cloud.store.all(FIP)}
        used |= {
            ip["ip_address"]
            for r in cloud.store.all(ROUTER)
            for ip in (r.get("external_gateway_info") or {}).get("external_fixed_ips", [])
        }
    if wanted:
        if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
            raise ApiError(
                400, f"IP address {wanted} is not a valid IP for the specified subnet.", "InvalidIpForSubnet"
            )
        if wanted in used:
            raise ApiError(
                409,
                f"IP address {wanted} already allocated in subnet {subnet['id']}",
                "IpAddressAlreadyAllocated",
            )
        return wanted
    for pool in subnet.get("allocation_pools", []):
        start = int(ipaddress.ip_address(pool["start"]))
        end = int(ipaddress.ip_address(pool["end"]))
        version = ipaddress.ip_address(pool["start"]).version
        for number in range(start, min(end, start + 65536) + 1):
            text = str(ipaddress.ip_address(number) if version == 4 else ipaddress.IPv6Address(number))
            if text not in used and text != subnet.get("gateway_ip"):
                return text
    raise ApiError(
        409,
        f"No more IP addresses available on network {subnet['network_id']}.",
        "IpAddressGenerationFailure",
    )


def _project_count(cloud: LocalCloud, kind: str, project_id: str) -> int:
    return cloud.store.count(kind, lambda d: d.get("project_id") == project_id)


def _check_quota(cloud: LocalCloud, resource: str, kind: str, project_id: str) -> None:
    if cloud.over_quota(project_id, resource, _project_count(cloud, kind, project_id), 1):
        raise ApiError(409, f"Quota exceeded for resources: ['{resource}'].", "OverQuota")


def default_security_group(cloud: LocalCloud, project_id: str) -> Doc:
    """The project's ``default`` security group, created (with its rules) on first use."""
    found = cloud.store.find(SG, lambda g: g["project_id"] == project_id and g["name"] == "default")
    if found:
        return found[0]
    sg = _stamp(
        {"name": "default", "description": "Default security group", "stateful": True, "shared": False},
        project_id,
    )
    cloud.put(SG, sg)
    for direction, ethertype in (
        ("egress", "IPv4"),
        ("egress", "IPv6"),
        ("ingress", "IPv4"),
        ("ingress", "IPv6"),
    ):
        cloud.put(
            RULE,
            _rule_doc(
                project_id,
                sg["id"],
                {
                    "direction": direction,
                    "ethertype": ethertype,
                    "remote_group_id": sg["id"] if direction == "ingress" else None,
                },
                default=True,
            ),
        )
    return sg


def _rule_doc(project_id: str, sg_id: str, body: dict[str, Any], default: bool = False) -> Doc:
    ethertype = body.get("ethertype") or "IPv4"
    prefix = body.get("remote_ip_prefix")
    normalized = None
    if prefix:
        normalized = str(ipaddress.ip_network(prefix, strict=False))
    elif not body.get("remote_group_id"):
        normalized = "0.0.0.0/0" if ethertype == "IPv4" else "::/0"
    protocol = body.get("protocol")
    if isinstance(protocol, str):
        protocol = protocol.lower()
    return _stamp(
        {
            "security_group_id": sg_id,
            "direction": body.get("direction"),
            "ethertype": ethertype,
            "protocol": protocol,
            "port_range_min": body.get("port_range_min"),
            "port_range_max": body.get("port_range_max"),
            "remote_ip_prefix": prefix,
            "remote_group_id": body.get("remote_group_id"),
            "remote_address_group_id": body.get("remote_address_group_id"),
            "normalized_cidr": normalized,
            "description": body.get("description") or "",
            "belongs_to_default_sg": default,
        },
        project_id,
    )


def create_port(
    cloud: LocalCloud,
    project_id: str,
    network_id: str,
    *,
    device_id: str = "",
    device_owner: str = "",
    fixed_ips: list[dict[str, Any]] | None = None,
    name: str = "",
    security_groups: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Doc:
    """Create a Neutron port (also used by Nova for a server's NICs)."""
    net = cloud.store.get(NETWORK, network_id)
    if net is None:
        raise _not_found("network", network_id)
    _check_quota(cloud, "port", PORT, project_id)
    subnets = cloud.store.find(SUBNET, lambda s: s["network_id"] == network_id)
    ips = []
    if fixed_ips:
        for want in fixed_ips:
            sub = None
            if want.get("subnet_id"):
                sub = cloud.store.get(SUBNET, want["subnet_id"])
                if sub is None or sub["network_id"] != network_id:
                    raise _not_found("subnet", want["subnet_id"])
            elif want.get("ip_address"):
                for s in subnets:
                    if ipaddress.ip_address(want["ip_address"]) in ipaddress.ip_network(s["cidr"]):
                        sub = s
                if sub is None:
                    raise ApiError(
                        400,
                        f"IP address {want['ip_address']} is not a valid IP "
                        "for any of the subnets on the specified network.",
                        "InvalidIpForNetwork",
                    )
            if sub is not None:
                ips.append(
                    {"subnet_id": sub["id"], "ip_address": _allocate_ip(cloud, sub, want.get("ip_address"))}
                )
    else:
        for sub in subnets:
            if sub.get("ip_version") == 4 or len(subnets) == 1:
                ips.append({"subnet_id": sub["id"], "ip_address": _allocate_ip(cloud, sub)})
                break
    if security_groups is None:
        security_groups = (
            [] if device_owner.startswith("network:") else [default_security_group(cloud, project_id)["id"]]
        )
    port = _stamp(
        {
            "name": name,
            "network_id": network_id,
            "mac_address": _mac(),
            "admin_state_up": True,
            "status": "ACTIVE" if device_id else "DOWN",
            "device_id": device_id,
            "device_owner": device_owner,
            "fixed_ips": ips,
            "allowed_address_pairs": [],
            "extra_dhcp_opts": [],
            "security_groups": security_groups,
            "port_security_enabled": True,
            "binding:vnic_type": "normal",
            "ip_allocation": "immediate",
            "qos_policy_id": None,
            "qos_network_policy_id": None,
            "propagate_uplink_status": False,
            "dns_name": "",
        },
        project_id,
    )
    if extra:
        port.update(extra)
    cloud.put(PORT, port)
    return port


def _disassociate_port_fips(cloud: LocalCloud, port_id: str) -> None:
    for fip in cloud.store.find(FIP, lambda f: f.get("port_id") == port_id):
        fip.update(
            {
                "port_id": None,
                "fixed_ip_address": None,
                "router_id": None,
                "status": "DOWN",
                "updated_at": now_iso(),
            }
        )
        cloud.put(FIP, fip)


def delete_device_ports(cloud: LocalCloud, device_id: str) -> None:
    """Delete the ports of a device (server delete) and disassociate their floating IPs."""
    for port in cloud.store.find(PORT, lambda p: p.get("device_id") == device_id):
        _disassociate_port_fips(cloud, port["id"])
        if port.get("_nova_created", True) and port["device_owner"].startswith("compute:"):
            cloud.delete(PORT, port["id"])
        else:
            port.update({"device_id": "", "device_owner": "", "status": "DOWN"})
            cloud.put(PORT, port)


def server_addresses(cloud: LocalCloud, device_id: str) -> dict[str, list[dict[str, Any]]]:
    """Nova's ``addresses`` for a server, derived from Neutron ports and floating IPs."""
    out: dict[str, list[dict[str, Any]]] = {}
    for port in cloud.store.find(PORT, lambda p: p.get("device_id") == device_id):
        net = cloud.store.get(NETWORK, port["network_id"])
        name = net["name"] if net else port["network_id"]
        entries = out.setdefault(name, [])
        for ip in port.get("fixed_ips", []):
            version = ipaddress.ip_address(ip["ip_address"]).version
            entries.append(
                {
                    "version": version,
                    "addr": ip["ip_address"],
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                }
            )
        for fip in cloud.store.find_eq(FIP, port_id=port["id"]):
            entries.append(
                {
                    "version": 4,
                    "addr": fip["floating_ip_address"],
                    "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                }
            )
    return out


# -- generic CRUD -----------------------------------------------------------------------


def _lookup(coll: str, res_id: str, auth: AuthContext) -> Doc:
    kind, singular, _ = COLLECTIONS[coll]
    doc = current_cloud().get(kind, res_id)
    if doc is None or not _visible(doc, kind, auth):
        raise _not_found(singular, res_id)
    return doc


def _owner_check(doc: Doc, auth: AuthContext, singular: str) -> None:
    if not auth.is_admin and doc.get("project_id") != auth.project_id:
        raise _not_found(singular, doc["id"])


@bp.get("")
@bp.get("/")
def versions() -> Response:
    return json_response(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": current_cloud().url("/networking/v2.0/")}],
                }
            ]
        }
    )


@bp.get("/v2.0/extensions")
def extensions() -> Response:
    require_token()
    return json_response(
        {
            "extensions": [
                {"alias": a, "name": n, "description": n, "updated": "2013-01-20T00:00:00-00:00", "links": []}
                for a, n in EXTENSIONS
            ]
        }
    )


@bp.get("/v2.0/extensions/<alias>")
def extension(alias: str) -> Response:
    require_token()
    for a, n in EXTENSIONS:
        if a == alias:
            return json_response(
                {
                    "extension": {
                        "alias": a,
                        "name": n,
                        "description": n,
                        "updated": "2013-01-20T00:00:00-00:00",
                        "links": [],
                    }
                }
            )
    raise ApiError(404, f"Extension with alias {alias} does not exist", "HTTPNotFound")


@bp.get("/v2.0/<coll>")
def list_collection(coll: str) -> Response:
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    kind = COLLECTIONS[coll][0]
    cloud = current_cloud()
    if kind in (SG, RULE):
        default_security_group(cloud, auth.project_id)
    docs = [view(kind, d, auth) for d in cloud.list(kind) if _visible(d, kind, auth)]
    return json_response(_paginate(coll, _filter(docs)))


@bp.get("/v2.0/<coll>/<res_id>")
def show(coll: str, res_id: str) -> Response:
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    kind, singular, _ = COLLECTIONS[coll]
    out = view(kind, _lookup(coll, res_id, auth), auth)
    fields = request.args.getlist("fields")
    if fields:
        out = {k: v for k, v in out.items() if k in fields}
    return json_response({singular: out})


def _body(singular: str) -> dict[str, Any]:
    body = request_json().get(singular)
    if not isinstance(body, dict):
        raise ApiError(400, f"Resource body required: expecting '{singular}'.", "HTTPBadRequest")
    return body


def _target_project(body: dict[str, Any], auth: AuthContext) -> str:
    project = body.get("project_id") or body.get("tenant_id") or auth.project_id
    if project != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Policy doesn't allow this operation to be performed.", "PolicyNotAuthorized")
    return str(project)


CREATORS: dict[str, Callable[[dict[str, Any], AuthContext], Doc]] = {}
UPDATERS: dict[str, Callable[[Doc, dict[str, Any], AuthContext], Doc]] = {}
DELETERS: dict[str, Callable[[Doc, AuthContext], None]] = {}


@bp.post("/v2.0/<coll>")
def create(coll: str) -> Response:
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    kind, singular, resource = COLLECTIONS[coll]
    body = _body(singular)
    project = _target_project(body, auth)
    if coll != "ports":
        _check_quota(current_cloud(), resource, kind, project)
    doc = CREATORS[coll](body, auth)
    return json_response({singular: view(kind, doc, auth)}, 201)


@bp.put("/v2.0/<coll>/<res_id>")
def update(coll: str, res_id: str) -> Response:
    if coll not in COLLECTIONS or coll == "security-group-rules":
        raise ApiError(
            404 if coll not in COLLECTIONS else 405, "The resource could not be found.", "HTTPNotFound"
        )
    auth = require_token()
    kind, singular, _ = COLLECTIONS[coll]
    doc = _lookup(coll, res_id, auth)
    _owner_check(doc, auth, singular)
    body = _body(singular)
    for key in ("id", "tenant_id", "project_id", "created_at", "updated_at", "revision_number"):
        if key in body and body[key] != doc.get(key):
            raise ApiError(400, f"Cannot update read-only attribute {key}", "HTTPBadRequest")
    doc = UPDATERS[coll](doc, body, auth)
    doc["updated_at"] = now_iso()
    doc["revision_number"] = doc.get("revision_number", 0) + 1
    current_cloud().put(kind, doc)
    return json_response({singular: view(kind, doc, auth)})


@bp.delete("/v2.0/<coll>/<res_id>")
def delete(coll: str, res_id: str) -> Response:
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    kind, singular, _ = COLLECTIONS[coll]
    doc = _lookup(coll, res_id, auth)
    _owner_check(doc, auth, singular)
    DELETERS[coll](doc, auth)
    current_cloud().delete(kind, doc["id"])
    return json_response(None, 204)


def _simple_update(keys: tuple[str, ...]) -> Callable[[Doc, dict[str, Any], AuthContext], Doc]:
    def fn(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
        for key in keys:
            if key in body:
                doc[key] = body[key]
        return doc

    return fn


def _no_checks(doc: Doc, auth: AuthContext) -> None:
    return None


# networks


def _create_network(body: dict[str, Any], auth: AuthContext) -> Doc:
    project = _target_project(body, auth)
    if (body.get("router:external") or body.get("shared")) and not auth.is_admin:
        raise ApiError(
            403,
            "(rule:create_network and rule:create_network:shared) is disallowed by policy",
            "PolicyNotAuthorized",
        )
    doc = new_network(current_cloud(), project, body)
    return doc


def new_network(cloud: LocalCloud, project: str, body: dict[str, Any]) -> Doc:
    doc = _stamp(
        {
            "name": body.get("name", ""),
            "admin_state_up": body.get("admin_state_up", True),
            "mtu": body.get("mtu", 1442),
            "status": "ACTIVE",
            "shared": bool(body.get("shared", False)),
            "router:external": bool(body.get("router:external", False)),
            "availability_zone_hints": body.get("availability_zone_hints", []),
            "availability_zones": ["nova"],
            "ipv4_address_scope": None,
            "ipv6_address_scope": None,
            "port_security_enabled": body.get("port_security_enabled", True),
            "is_default": bool(body.get("is_default", False)),
            "l2_adjacency": True,
            "qos_policy_id": None,
            "dns_domain": body.get("dns_domain", ""),
            "description": body.get("description", ""),
            "provider:network_type": body.get("provider:network_type", "geneve"),
            "provider:physical_network": body.get("provider:physical_network"),
            "provider:segmentation_id": body.get("provider:segmentation_id", random.randint(100, 4000)),
        },
        project,
    )
    cloud.put(NETWORK, doc)
    return doc


def _delete_network(doc: Doc, auth: AuthContext) -> None:
    cloud = current_cloud()
    busy = cloud.store.find(
        PORT, lambda p: p["network_id"] == doc["id"] and not p["device_owner"].startswith("network:dhcp")
    )
    if busy:
        raise ApiError(
            409,
            f"Unable to complete operation on network {doc['id']}. There are "
            "one or more ports still in use on the network.",
            "NetworkInUse",
        )
    for sub in cloud.store.find(SUBNET, lambda s: s["network_id"] == doc["id"]):
        cloud.delete(SUBNET, sub["id"])


def _body_network(cloud: LocalCloud, body: dict[str, Any], auth: AuthContext) -> Doc:
    """The network a subnet or port is created on: required, and visible to the caller."""
    net_id = body.get("network_id")
    if not net_id:
        raise ApiError(
            400, "Failed to parse request. Required attribute 'network_id' not specified", "HTTPBadRequest"
        )
    net = cloud.get(NETWORK, net_id)
    if net is None or not _visible(net, NETWORK, auth):
        raise _not_found("network", net_id)
    return net


# subnets


def _create_subnet(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    project = _target_project(body, auth)
    net = _body_network(cloud, body, auth)
    if net["project_id"] != project and not auth.is_admin:
        raise ApiError(
            403, "Tenant is not allowed to create a subnet on this network.", "PolicyNotAuthorized"
        )
    if not body.get("cidr"):
        raise ApiError(
            400,
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
            "BadRequest",
        )
    return new_subnet(cloud, project, net, body)


def new_subnet(cloud: LocalCloud, project: str, net: Doc, body: dict[str, Any]) -> Doc:
    try:
        cidr = ipaddress.ip_network(body["cidr"], strict=False)
    except ValueError as exc:
        raise ApiError(
            400,
            f"Invalid input for cidr. Reason: '{body['cidr']}' is not a valid IP subnet.",
            "HTTPBadRequest",
        ) from exc
    version = int(body.get("ip_version", cidr.version))
    if version != cidr.version:
        raise ApiError(400, "Cannot mix IPv4 and IPv6 in the same subnet.", "HTTPBadRequest")
    for other in cloud.store.find(SUBNET, lambda s: s["network_id"] == net["id"]):
        if ipaddress.ip_network(other["cidr"]).overlaps(cidr):
            raise ApiError(
                400,
                f"Invalid input for operation: Requested subnet with cidr: "
                f"{cidr} for network: {net['id']} overlaps with another "
                "subnet.",
                "InvalidInput",
            )
    hosts = list(cidr.hosts()) if cidr.num_addresses <= 65536 else [cidr[1], cidr[-2]]
    gateway = body["gateway_ip"] if "gateway_ip" in body else str(hosts[0]) if hosts else None
    pools = body.get("allocation_pools")
    if not pools and hosts:
        first = hosts[1] if gateway == str(hosts[0]) and len(hosts) > 1 else hosts[0]
        pools = [{"start": str(first), "end": str(hosts[-1])}]
    doc = _stamp(
        {
            "name": body.get("name", ""),
            "network_id": net["id"],
            "ip_version": version,
            "cidr": str(cidr),
            "gateway_ip": gateway,
            "allocation_pools": pools or [],
            "dns_nameservers": body.get("dns_nameservers", []),
            "host_routes": body.get("host_routes", []),
            "enable_dhcp": body.get("enable_dhcp", True),
            "ipv6_ra_mode": body.get("ipv6_ra_mode"),
            "ipv6_address_mode": body.get("ipv6_address_mode"),
            "subnetpool_id": None,
            "service_types": body.get("service_types", []),
            "segment_id": None,
            "dns_publish_fixed_ip": False,
            "_ext": bool(net.get("router:external")),
        },
        project,
    )
    cloud.put(SUBNET, doc)
    return doc


def _delete_subnet(doc: Doc, auth: AuthContext) -> None:
    cloud = current_cloud()
    for _port in cloud.store.find(
        PORT, lambda p: any(ip["subnet_id"] == doc["id"] for ip in p.get("fixed_ips", []))
    ):
        raise ApiError(
            409,
            f"Unable to complete operation on subnet {doc['id']}: One or more "
            "ports have an IP allocation from this subnet.",
            "SubnetInUse",
        )


def _update_subnet(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
    for key in ("cidr", "ip_version", "network_id"):
        if key in body and body[key] != doc.get(key):
            raise ApiError(400, f"Cannot update read-only attribute {key}", "HTTPBadRequest")
    return _simple_update(
        (
            "name",
            "description",
            "gateway_ip",
            "dns_nameservers",
            "host_routes",
            "enable_dhcp",
            "allocation_pools",
        )
    )(doc, body, auth)


# ports


def _create_port(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    project = _target_project(body, auth)
    net = _body_network(cloud, body, auth)
    sgs = body.get("security_groups")
    for sg_id in sgs or []:
        sg = cloud.get(SG, sg_id)
        if sg is None or not _visible(sg, SG, auth):
            raise _not_found("security_group", sg_id)
    extra: dict[str, Any] = {
        k: body[k]
        for k in (
            "admin_state_up",
            "allowed_address_pairs",
            "extra_dhcp_opts",
            "binding:vnic_type",
            "port_security_enabled",
            "description",
            "dns_name",
        )
        if k in body
    }
    if "mac_address" in body:
        extra["mac_address"] = body["mac_address"]
    return create_port(
        cloud,
        project,
        net["id"],
        device_id=body.get("device_id", ""),
        device_owner=body.get("device_owner", ""),
        fixed_ips=body.get("fixed_ips"),
        name=body.get("name", ""),
        security_groups=sgs,
        extra=extra,
    )


def _update_port(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    if "fixed_ips" in body:
        new_ips = []
        net_subnets = {
            s["id"]: s for s in cloud.store.find(SUBNET, lambda s: s["network_id"] == doc["network_id"])
        }
        current = {ip["ip_address"] for ip in doc.get("fixed_ips", [])}
        doc["fixed_ips"] = []
        cloud.put(PORT, doc)
        for want in body["fixed_ips"]:
            sub = net_subnets.get(want.get("subnet_id", "")) or next(iter(net_subnets.values()))
            ip = want.get("ip_address")
            if ip and ip in current:
                new_ips.append({"subnet_id": sub["id"], "ip_address": ip})
            else:
                new_ips.append({"subnet_id": sub["id"], "ip_address": _allocate_ip(cloud, sub, ip)})
        doc["fixed_ips"] = new_ips
    if "device_id" in body:
        doc["status"] = "ACTIVE" if body["device_id"] else "DOWN"
    return _simple_update(
        (
            "name",
            "description",
            "admin_state_up",
            "security_groups",
            "allowed_address_pairs",
            "extra_dhcp_opts",
            "device_id",
            "device_owner",
            "port_security_enabled",
            "binding:vnic_type",
            "dns_name",
        )
    )(doc, body, auth)


def _delete_port(doc: Doc, auth: AuthContext) -> None:
    if doc["device_owner"] == "network:router_interface" and not auth.is_admin:
        raise ApiError(
            409,
            f"Port {doc['id']} cannot be deleted directly via the port API: "
            "has device owner network:router_interface.",
            "L3PortInUse",
        )
    _disassociate_port_fips(current_cloud(), doc["id"])


# routers


def _gateway_info(cloud: LocalCloud, info: dict[str, Any] | None, router_id: str) -> dict[str, Any] | None:
    if not info or not info.get("network_id"):
        return None
    net = cloud.get(NETWORK, info["network_id"])
    if net is None:
        raise _not_found("network", info["network_id"])
    if not net.get("router:external"):
        raise ApiError(
            400, f"Bad router request: Network {net['id']} is not an external network.", "BadRequest"
        )
    ips = []
    subnets = {s["id"]: s for s in cloud.store.find_eq(SUBNET, network_id=net["id"])}
    for want in info.get("external_fixed_ips") or []:
        sub = subnets.get(want.get("subnet_id", ""))
        if sub is None and want.get("ip_address"):
            sub = next(
                (
                    s
                    for s in subnets.values()
                    if ipaddress.ip_address(want["ip_address"]) in ipaddress.ip_network(s["cidr"])
                ),
                None,
            )
        if sub is None:
            raise ApiError(
                400,
                f"Bad router request: subnet {want.get('subnet_id')} is not on external network {net['id']}.",
                "BadRequest",
            )
        ips.append({"subnet_id": sub["id"], "ip_address": _allocate_ip(cloud, sub, want.get("ip_address"))})
    if not ips:
        for sub in subnets.values():
            if sub["ip_version"] == 4:
                ips.append({"subnet_id": sub["id"], "ip_address": _allocate_ip(cloud, sub)})
                break
    # Like Neutron, the gateway is a real port owned by no project (admins see it).
    create_port(
        cloud,
        "",
        net["id"],
        device_id=router_id,
        device_owner="network:router_gateway",
        fixed_ips=ips,
        security_groups=[],
    )
    return {"network_id": net["id"], "enable_snat": info.get("enable_snat", True), "external_fixed_ips": ips}


def _drop_gateway(cloud: LocalCloud, router_id: str) -> None:
    for port in cloud.store.find_eq(PORT, device_id=router_id, device_owner="network:router_gateway"):
        cloud.delete(PORT, port["id"])


def _validate_routes(cloud: LocalCloud, router: Doc, routes: Any) -> None:
    if not isinstance(routes, list):
        raise ApiError(400, "Invalid input for routes.", "HTTPBadRequest")
    cidrs = []
    for port in cloud.store.find_eq(PORT, device_id=router["id"]):
        for ip in port["fixed_ips"]:
            sub = cloud.store.get(SUBNET, ip["subnet_id"])
            if sub is not None:
                cidrs.append(ipaddress.ip_network(sub["cidr"]))
    for route in routes:
        try:
            hop = ipaddress.ip_address(route["nexthop"])
            ipaddress.ip_network(route["destination"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(
                400, f"Invalid input for routes. Reason: {route} is not a valid route.", "HTTPBadRequest"
            ) from exc
        if not any(hop in c for c in cidrs if c.version == hop.version):
            raise ApiError(
                400,
                f"Invalid format for routes: {routes}, the nexthop is not connected with router",
                "InvalidRoutes",
            )


def _create_router(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    project = _target_project(body, auth)
    return new_router(cloud, project, body)


def new_router(cloud: LocalCloud, project: str, body: dict[str, Any]) -> Doc:
    doc = _stamp(
        {
            "name": body.get("name", ""),
            "admin_state_up": body.get("admin_state_up", True),
            "status": "ACTIVE",
            "external_gateway_info": None,
            "routes": body.get("routes", []),
            "availability_zone_hints": body.get("availability_zone_hints", []),
            "availability_zones": ["nova"],
            "distributed": False,
            "ha": False,
            "flavor_id": None,
        },
        project,
    )
    doc["external_gateway_info"] = _gateway_info(cloud, body.get("external_gateway_info"), doc["id"])
    cloud.put(ROUTER, doc)
    return doc


def _update_router(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
    if "routes" in body:
        _validate_routes(current_cloud(), doc, body["routes"])
    if "external_gateway_info" in body:
        doc["external_gateway_info"] = None
        _drop_gateway(current_cloud(), doc["id"])
        current_cloud().put(ROUTER, doc)
        doc["external_gateway_info"] = _gateway_info(
            current_cloud(), body["external_gateway_info"], doc["id"]
        )
    return _simple_update(("name", "description", "admin_state_up", "routes"))(doc, body, auth)


def _delete_router(doc: Doc, auth: AuthContext) -> None:
    cloud = current_cloud()
    if cloud.store.find(
        PORT, lambda p: p["device_id"] == doc["id"] and p["device_owner"] == "network:router_interface"
    ):
        raise ApiError(409, f"Router {doc['id']} still has ports", "RouterInUse")
    for fip in cloud.store.find(FIP, lambda f: f.get("router_id") == doc["id"]):
        raise ApiError(409, f"Router {doc['id']} still has floating IP {fip['id']} associated", "RouterInUse")
    _drop_gateway(cloud, doc["id"])


def add_interface(
    cloud: LocalCloud, router: Doc, project: str, subnet_id: str | None, port_id: str | None
) -> dict[str, Any]:
    if subnet_id:
        sub = cloud.get(SUBNET, subnet_id)
        if sub is None:
            raise _not_found("subnet", subnet_id)
        if not sub.get("gateway_ip"):
            raise ApiError(
                400, f"Bad router request: Subnet {subnet_id} does not have a gateway IP.", "BadRequest"
            )
        for p in cloud.store.find(PORT, lambda p: p["device_id"] == router["id"]):
            if any(ip["subnet_id"] == subnet_id for ip in p["fixed_ips"]):
                raise ApiError(
                    400, f"Bad router request: Router already has a port on subnet {subnet_id}.", "BadRequest"
                )
        port = create_port(
            cloud,
            project,
            sub["network_id"],
            device_id=router["id"],
            device_owner="network:router_interface",
            fixed_ips=[{"subnet_id": subnet_id, "ip_address": sub["gateway_ip"]}],
            security_groups=[],
        )
    else:
        found = cloud.get(PORT, port_id or "")
        if found is None:
            raise _not_found("port", str(port_id))
        if found["device_id"]:
            raise ApiError(409, f"Port {found['id']} is in use", "PortInUse")
        found.update(
            {"device_id": router["id"], "device_owner": "network:router_interface", "status": "ACTIVE"}
        )
        cloud.put(PORT, found)
        port = found
    return _interface_info(router, port)


def _interface_info(router: Doc, port: Doc) -> dict[str, Any]:
    """Neutron's answer to add/remove_router_interface."""
    subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
    return {
        "id": router["id"],
        "tenant_id": router["project_id"],
        "project_id": router["project_id"],
        "port_id": port["id"],
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
        "network_id": port["network_id"],
    }


@bp.put("/v2.0/routers/<router_id>/add_router_interface")
def add_router_interface(router_id: str) -> Response:
    auth = require_token()
    router = _lookup("routers", router_id, auth)
    _owner_check(router, auth, "router")
    body = request_json()
    if not body.get("subnet_id") and not body.get("port_id"):
        raise ApiError(
            400, "Bad router request: Either subnet_id or port_id must be specified.", "BadRequest"
        )
    return json_response(
        add_interface(
            current_cloud(), router, router["project_id"], body.get("subnet_id"), body.get("port_id")
        )
    )


@bp.put("/v2.0/routers/<router_id>/remove_router_interface")
def remove_router_interface(router_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    router = _lookup("routers", router_id, auth)
    _owner_check(router, auth, "router")
    body = request_json()
    ports = cloud.store.find(
        PORT, lambda p: p["device_id"] == router_id and p["device_owner"] == "network:router_interface"
    )
    port = None
    for p in ports:
        if body.get("port_id") == p["id"] or any(
            ip["subnet_id"] == body.get("subnet_id") for ip in p["fixed_ips"]
        ):
            port = p
    if port is None:
        if body.get("subnet_id"):
            raise ApiError(
                404,
                f"Router {router_id} has no interface on subnet {body['subnet_id']}",
                "RouterInterfaceNotFoundForSubnet",
            )
        raise ApiError(
            404,
            f"Router {router_id} does not have an interface with id {body.get('port_id')}",
            "RouterInterfaceNotFound",
        )
    subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
    for fip in cloud.store.find(FIP, lambda f: f.get("router_id") == router_id):
        fport = cloud.store.get(PORT, fip.get("port_id") or "")
        if fport and any(ip["subnet_id"] in subnet_ids for ip in fport["fixed_ips"]):
            raise ApiError(
                409,
                f"Router interface for subnet {subnet_ids[0]} on router "
                f"{router_id} cannot be deleted, as it is required by one or "
                "more floating IPs.",
                "RouterInterfaceInUseByFloatingIP",
            )
    cloud.delete(PORT, port["id"])
    return json_response(_interface_info(router, port))


# floating IPs


def _router_for(cloud: LocalCloud, ext_net_id: str, port: Doc) -> str:
    subnet_ids = {ip["subnet_id"] for ip in port["fixed_ips"]}
    for router in cloud.store.all(ROUTER):
        gw = router.get("external_gateway_info") or {}
        if gw.get("network_id") != ext_net_id:
            continue
        for p in cloud.store.find_eq(PORT, device_id=router["id"], device_owner="network:router_interface"):
            if subnet_ids & {ip["subnet_id"] for ip in p["fixed_ips"]}:
                return str(router["id"])
    sub = next(iter(subnet_ids), "")
    raise ApiError(
        404,
        f"External network {ext_net_id} is not reachable from subnet {sub}. "
        f"Therefore, cannot associate Port {port['id']} with a Floating IP.",
        "ExternalGatewayForFloatingIPNotFound",
    )


def _associate(
    cloud: LocalCloud, fip: Doc, port_id: str | None, fixed_ip: str | None, auth: AuthContext
) -> None:
    if not port_id:
        fip.update({"port_id": None, "fixed_ip_address": None, "router_id": None, "status": "DOWN"})
        return
    port = cloud.get(PORT, port_id)
    if port is None or not (auth.is_admin or port["project_id"] == auth.project_id):
        raise _not_found("port", port_id)
    if not port["fixed_ips"]:
        raise ApiError(
            400, f"Bad floatingip request: Port {port_id} does not have any fixed IP addresses.", "BadRequest"
        )
    addr = fixed_ip or next(
        (ip["ip_address"] for ip in port["fixed_ips"] if ipaddress.ip_address(ip["ip_address"]).version == 4),
        port["fixed_ips"][0]["ip_address"],
    )
    if addr not in {ip["ip_address"] for ip in port["fixed_ips"]}:
        raise ApiError(
            400, f"Bad floatingip request: Port {port_id} does not have fixed ip {addr}.", "BadRequest"
        )
    for other in cloud.store.find(
        FIP,
        lambda f: f.get("port_id") == port_id and f.get("fixed_ip_address") == addr and f["id"] != fip["id"],
    ):
        raise ApiError(
            409,
            f"Cannot associate floating IP {fip['floating_ip_address']} "
            f"({fip['id']}) with port {port_id} using fixed IP {addr}, as that "
            f"fixed IP already has a floating IP on external network "
            f"{other['floating_network_id']}.",
            "FloatingIPPortAlreadyAssociated",
        )
    fip.update(
        {
            "port_id": port_id,
            "fixed_ip_address": addr,
            "router_id": _router_for(cloud, fip["floating_network_id"], port),
            "status": "ACTIVE",
        }
    )


def _create_fip(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    project = _target_project(body, auth)
    net_id = body.get("floating_network_id")
    if not net_id:
        raise ApiError(
            400,
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
            "HTTPBadRequest",
        )
    net = cloud.get(NETWORK, net_id)
    if net is None:
        raise _not_found("network", net_id)
    if not net.get("router:external"):
        raise ApiError(
            400, f"Bad floatingip request: Network {net_id} is not a valid external network.", "BadRequest"
        )
    subs = cloud.store.find(SUBNET, lambda s: s["network_id"] == net_id and s["ip_version"] == 4)
    if body.get("subnet_id"):
        subs = [s for s in subs if s["id"] == body["subnet_id"]]
    if not subs:
        raise ApiError(
            400, f"Bad floatingip request: Network {net_id} does not contain any IPv4 subnet.", "BadRequest"
        )
    addr = _allocate_ip(cloud, subs[0], body.get("floating_ip_address"))
    fip = _stamp(
        {
            "floating_ip_address": addr,
            "floating_network_id": net_id,
            "router_id": None,
            "port_id": None,
            "fixed_ip_address": None,
            "status": "DOWN",
            "qos_policy_id": None,
            "dns_domain": "",
            "dns_name": "",
            "port_forwardings": [],
            "description": body.get("description", ""),
        },
        project,
    )
    _associate(cloud, fip, body.get("port_id"), body.get("fixed_ip_address"), auth)
    cloud.put(FIP, fip)
    return fip


def _update_fip(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
    if "port_id" in body:
        _associate(current_cloud(), doc, body["port_id"], body.get("fixed_ip_address"), auth)
    if "description" in body:
        doc["description"] = body["description"]
    return doc


# security groups


def _create_sg(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    project = _target_project(body, auth)
    if body.get("name") == "default":
        default_security_group(cloud, project)
        raise ApiError(409, "Default security group already exists.", "SecurityGroupConflict")
    sg = _stamp(
        {
            "name": body.get("name", ""),
            "description": body.get("description", ""),
            "stateful": body.get("stateful", True),
            "shared": False,
        },
        project,
    )
    cloud.put(SG, sg)
    for ethertype in ("IPv4", "IPv6"):
        cloud.put(RULE, _rule_doc(project, sg["id"], {"direction": "egress", "ethertype": ethertype}))
    return sg


def _update_sg(doc: Doc, body: dict[str, Any], auth: AuthContext) -> Doc:
    if doc["name"] == "default" and body.get("name", "default") != "default":
        raise ApiError(
            409,
            "Insufficient rights for removing default security group.",
            "SecurityGroupCannotUpdateDefault",
        )
    return _simple_update(("name", "description", "stateful"))(doc, body, auth)


def _delete_sg(doc: Doc, auth: AuthContext) -> None:
    cloud = current_cloud()
    if doc["name"] == "default" and not auth.is_admin:
        raise ApiError(
            409,
            "Insufficient rights for removing default security group.",
            "SecurityGroupCannotRemoveDefault",
        )
    if cloud.store.find(PORT, lambda p: doc["id"] in p.get("security_groups", [])):
        raise ApiError(409, f"Security Group {doc['id']} in use.", "SecurityGroupInUse")
    for rule in cloud.store.find(RULE, lambda r: r["security_group_id"] == doc["id"]):
        cloud.delete(RULE, rule["id"])


_PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", "ipv6-icmp", "sctp", "gre", "esp", "ah", "any"}


def _create_rule(body: dict[str, Any], auth: AuthContext) -> Doc:
    cloud = current_cloud()
    sg_id = body.get("security_group_id")
    sg = cloud.get(SG, sg_id or "")
    if sg is None or not _visible(sg, SG, auth):
        raise _not_found("security_group", str(sg_id))
    if body.get("direction") not in ("ingress", "egress"):
        raise ApiError(
            400,
            f"Invalid input for direction. Reason: {body.get('direction')!r} "
            "is not in ['ingress', 'egress'].",
            "HTTPBadRequest",
        )
    if body.get("ethertype", "IPv4") not in ("IPv4", "IPv6"):
        raise ApiError(400, "Invalid input for ethertype.", "HTTPBadRequest")
    proto = body.get("protocol")
    if proto is not None and str(proto).lower() not in _PROTOCOLS and not str(proto).isdigit():
        raise ApiError(
            400,
            f"Security group rule protocol {proto} not supported. Only "
            "protocol values [None, 'tcp', 'udp', 'icmp', ...] and integer "
            "representations [0 to 255] are supported.",
            "SecurityGroupRuleInvalidProtocol",
        )
    lo, hi = body.get("port_range_min"), body.get("port_range_max")
    if lo is not None and hi is not None and int(lo) > int(hi):
        raise ApiError(
            400,
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            "SecurityGroupInvalidPortRange",
        )
    if body.get("remote_ip_prefix") and body.get("remote_group_id"):
        raise ApiError(
            400,
            "Only remote_ip_prefix or remote_group_id may be provided.",
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    doc = _rule_doc(sg["project_id"], sg["id"], body)
    keys = (
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "normalized_cidr",
        "remote_group_id",
        "remote_address_group_id",
    )
    for other in cloud.store.find(RULE, lambda r: r["security_group_id"] == sg["id"]):
        if all(str(other.get(k)) == str(doc.get(k)) for k in keys):
            raise ApiError(
                409,
                f"Security group rule already exists. Rule id is {other['id']}.",
                "SecurityGroupRuleExists",
            )
    cloud.put(RULE, doc)
    return doc


def _delete_rule(doc: Doc, auth: AuthContext) -> None:
    return None


CREATORS.update(
    {
        "networks": _create_network,
        "subnets": _create_subnet,
        "ports": _create_port,
        "routers": _create_router,
        "floatingips": _create_fip,
        "security-groups": _create_sg,
        "security-group-rules": _create_rule,
    }
)
UPDATERS.update(
    {
        "networks": _simple_update(
            (
                "name",
                "description",
                "admin_state_up",
                "mtu",
                "shared",
                "port_security_enabled",
                "router:external",
                "dns_domain",
            )
        ),
        "subnets": _update_subnet,
        "ports": _update_port,
        "routers": _update_router,
        "floatingips": _update_fip,
        "security-groups": _update_sg,
    }
)
DELETERS.update(
    {
        "networks": _delete_network,
        "subnets": _delete_subnet,
        "ports": _delete_port,
        "routers": _delete_router,
        "floatingips": _no_checks,
        "security-groups": _delete_sg,
        "security-group-rules": _delete_rule,
    }
)


# -- tags -------------------------------------------------------------------------------


def _tag_target(coll: str, res_id: str) -> tuple[str, Doc]:
    if coll not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    doc = _lookup(coll, res_id, auth)
    return COLLECTIONS[coll][0], doc


@bp.get("/v2.0/<coll>/<res_id>/tags")
def get_tags(coll: str, res_id: str) -> Response:
    _, doc = _tag_target(coll, res_id)
    return json_response({"tags": doc.get("tags", [])})


def _put_tags(coll: str, res_id: str, keep: bool) -> list[str]:
    """Replace (``keep`` false) or extend the resource's tags with the request's list."""
    kind, doc = _tag_target(coll, res_id)
    tags = request_json().get("tags")
    if not isinstance(tags, list):
        raise ApiError(400, "Invalid tags body", "HTTPBadRequest")
    doc["tags"] = sorted((set(doc.get("tags", [])) if keep else set()) | {str(t) for t in tags})
    current_cloud().put(kind, doc)
    return list(doc["tags"])


@bp.put("/v2.0/<coll>/<res_id>/tags")
def set_tags(coll: str, res_id: str) -> Response:
    return json_response({"tags": _put_tags(coll, res_id, keep=False)})


@bp.post("/v2.0/<coll>/<res_id>/tags")
def add_tags(coll: str, res_id: str) -> Response:
    return json_response({"tags": _put_tags(coll, res_id, keep=True)}, 201)


@bp.delete("/v2.0/<coll>/<res_id>/tags")
def clear_tags(coll: str, res_id: str) -> Response:
    kind, doc = _tag_target(coll, res_id)
    doc["tags"] = []
    current_cloud().put(kind, doc)
    return json_response(None, 204)


@bp.route("/v2.0/<coll>/<res_id>/tags/<tag>", methods=["GET", "PUT", "DELETE"])
def one_tag(coll: str, res_id: str, tag: str) -> Response:
    kind, doc = _tag_target(coll, res_id)
    tags = doc.get("tags", [])
    if request.method == "PUT":
        doc["tags"] = sorted(set(tags) | {tag})
        current_cloud().put(kind, doc)
        return json_response(None, 201)
    if tag not in tags:
        raise ApiError(404, f"Tag {tag} could not be found.", "TagNotFound")
    if request.method == "DELETE":
        tags.remove(tag)
        doc["tags"] = tags
        current_cloud().put(kind, doc)
    return json_response(None, 204)


# -- quotas -----------------------------------------------------------------------------


def _quota_set(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    return {r: cloud.quota(project_id, r) for r in QUOTA_RESOURCES}


def _usage(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    kinds = {v[2]: v[0] for v in COLLECTIONS.values()}
    return {r: (_project_count(cloud, kinds[r], project_id) if r in kinds else 0) for r in QUOTA_RESOURCES}


def _quota_project(project_id: str, auth: AuthContext) -> None:
    if project_id != auth.project_id and not auth.is_admin:
        raise ApiError(
            403, "Non-admin is not authorized to access quotas for another tenant", "HTTPForbidden"
        )


def _quota_admin(policy: str) -> AuthContext:
    auth = require_token()
    if not auth.is_admin:
        raise ApiError(403, f"Policy doesn't allow {policy} to be performed.", "PolicyNotAuthorized")
    return auth


@bp.get("/v2.0/quotas")
def list_quotas() -> Response:
    _quota_admin("get_quota")
    cloud = current_cloud()
    out = [
        {**_quota_set(cloud, p["id"]), "project_id": p["id"], "tenant_id": p["id"]}
        for p in cloud.store.all("identity.project")
    ]
    return json_response({"quotas": out})


@bp.get("/v2.0/quotas/<project_id>")
def get_quota(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    return json_response({"quota": _quota_set(current_cloud(), project_id)})


@bp.get("/v2.0/quotas/<project_id>/default")
def get_default_quota(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    cloud = current_cloud()
    defaults = cloud.seed_data.get("quotas", {}).get("network", {})
    return json_response({"quota": {r: int(defaults.get(r, -1)) for r in QUOTA_RESOURCES}})


@bp.get("/v2.0/quotas/<project_id>/details")
@bp.get("/v2.0/quotas/<project_id>/details.json")
def get_quota_details(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    cloud = current_cloud()
    used = _usage(cloud, project_id)
    return json_response(
        {
            "quota": {
                r: {"limit": limit, "used": used[r], "reserved": 0}
                for r, limit in _quota_set(cloud, project_id).items()
            }
        }
    )


@bp.put("/v2.0/quotas/<project_id>")
def update_quota(project_id: str) -> Response:
    _quota_admin("update_quota")
    cloud = current_cloud()
    body = request_json().get("quota") or {}
    for key, value in body.items():
        if key not in QUOTA_RESOURCES:
            raise ApiError(400, f"Unrecognized attribute(s) '{key}'", "HTTPBadRequest")
        cloud.set_quota(project_id, key, int(value))
    return json_response({"quota": _quota_set(cloud, project_id)})


@bp.delete("/v2.0/quotas/<project_id>")
def reset_quota(project_id: str) -> Response:
    _quota_admin("delete_quota")
    cloud = current_cloud()
    doc = cloud.store.get("core.quota", project_id)
    if doc is not None:
        for r in QUOTA_RESOURCES:
            doc["limits"].pop(r, None)
        cloud.store.put("core.quota", doc)
    return json_response(None, 204)


# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    projects = {p["name"]: p["id"] for p in cloud.store.all("identity.project")}
    external: Doc | None = None
    for spec in data.get("networks", []):
        project = projects[spec["project"]]
        net = new_network(
            cloud,
            project,
            {
                "name": spec["name"],
                "router:external": spec.get("external", False),
                "shared": spec.get("shared", False),
                "provider:network_type": "flat" if spec.get("external") else "geneve",
                "provider:physical_network": "public" if spec.get("external") else None,
            },
        )
        sub = new_subnet(
            cloud,
            project,
            net,
            {
                "name": spec["name"] + "-subnet",
                "cidr": spec["cidr"],
                "gateway_ip": spec.get("gateway"),
                "dns_nameservers": spec.get("dns", []),
            },
        )
        if spec.get("external"):
            external = net
        if spec.get("router"):
            gw = {"network_id": external["id"]} if external else None
            router = new_router(cloud, project, {"name": spec["router"], "external_gateway_info": gw})
            add_interface(cloud, router, project, sub["id"], None)


def register(cloud: LocalCloud) -> None:
    cloud.add_service(
        Service(
            name="network",
            prefix="/networking",
            blueprint=bp,
            catalog=[CatalogEntry("network", "neutron", "/networking")],
            render_error=render_error,
            seed=seed,
        )
    )
