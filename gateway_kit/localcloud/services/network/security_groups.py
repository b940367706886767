"""Security group and rule handlers."""

from __future__ import annotations

from typing import Any

from gateway_kit.localcloud.core import ApiError, AuthContext, current_cloud
from gateway_kit.localcloud.store import Doc

from .common import PORT, RULE, SG, _not_found, _stamp, _visible
from .crud import _target_project
from .effects import _rule_doc, default_security_group
from .networks import _simple_update

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
