"""Network, subnet and port handlers (create/update/delete validation and effects)."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, current_cloud
from gateway_kit.localcloud.store import Doc

from .common import NETWORK, PORT, SG, SUBNET, _not_found, _stamp, _visible
from .crud import _target_project
from .effects import _allocate_ip, _disassociate_port_fips, create_port


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
