"""Cross-service effects other services call: IP and MAC allocation, ports for servers, the default
security group, ports and floating IPs released with a device, server addresses.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from gateway_kit.localcloud.core import ApiError, LocalCloud, now_iso
from gateway_kit.localcloud.store import Doc

from .common import FIP, NETWORK, PORT, ROUTER, RULE, SG, SUBNET, _not_found, _stamp

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
        release_port(cloud, port)


def release_port(cloud: LocalCloud, port: Doc) -> None:
    """Take a port off its server (interface detach, server delete): its floating IPs are
    disassociated; a port Nova created is deleted, one the user made is unbound and kept."""
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
