"""Load balancers: VIP allocation, create/update/delete, stats, status tree and failover."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response, request
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    new_id,
)
from gateway_kit.localcloud.store import Doc

from .common import (
    AZ,
    FLAVOR,
    HM,
    LB,
    LISTENER,
    MEMBER,
    POOL,
    PROVIDERS,
    VIP_FALLBACK_NET,
    _apply_common,
    _auth,
    _body,
    _check_attrs,
    _forbidden,
    _get,
    _in_pool,
    _now,
    _project_quota,
    _str,
    _uuid,
)
from .health import _refresh_operating, lb_operating, stats
from .specs import _render_lb

# -- load balancers ------------------------------------------------------------------------------


def _allocate_vip(
    cloud: LocalCloud, auth: AuthContext, lb_id: str, project_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    subnet_id = _uuid(body, "vip_subnet_id")
    network_id = _uuid(body, "vip_network_id")
    port_id = _uuid(body, "vip_port_id")
    address = body.get("vip_address")
    if not (subnet_id or network_id or port_id):
        raise ApiError(
            400, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."
        )
    if address is not None:
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise ApiError(400, f"The IP Address {address} is invalid.") from exc
    has_neutron = any(s.name == "network" for s in cloud.services)
    if not has_neutron:
        # No Neutron in this cloud: hand out an address from a private range, as a provider
        # with a flat VIP network would.
        used = {d.get("vip_address") for d in cloud.store.all(LB)}
        host = next(str(ip) for ip in VIP_FALLBACK_NET.hosts() if str(ip) not in used)
        return {
            "vip_address": address or host,
            "vip_subnet_id": subnet_id,
            "vip_network_id": network_id,
            "vip_port_id": port_id or new_id(),
        }
    from gateway_kit.localcloud.services import network as neutron

    if port_id:
        port = cloud.store.get("network.port", port_id)
        if port is None:
            raise ApiError(400, f"Port {port_id} not found.")
        ip = port["fixed_ips"][0] if port.get("fixed_ips") else {}
        return {
            "vip_address": ip.get("ip_address"),
            "vip_subnet_id": ip.get("subnet_id"),
            "vip_network_id": port["network_id"],
            "vip_port_id": port_id,
        }
    subnet = None
    if subnet_id:
        subnet = cloud.store.get("network.subnet", subnet_id)
        if subnet is None:
            raise ApiError(400, f"Subnet {subnet_id} not found.")
        if network_id and subnet["network_id"] != network_id:
            raise ApiError(400, f"Validation failure: Subnet {subnet_id} is not on network {network_id}.")
        network_id = subnet["network_id"]
    else:
        net = cloud.store.get("network.network", str(network_id))
        if net is None:
            raise ApiError(400, f"Network {network_id} not found.")
        subnets = cloud.store.find("network.subnet", lambda s: s["network_id"] == network_id)
        if not subnets:
            raise ApiError(400, "Validation failure: Supplied network does not contain a subnet.")
        subnet = subnets[0]
    fixed: dict[str, Any] = {"subnet_id": subnet["id"]}
    if address:
        fixed["ip_address"] = address
    try:
        port = neutron.create_port(
            cloud,
            project_id,
            str(network_id),
            device_id=f"lb-{lb_id}",
            device_owner="Octavia",
            fixed_ips=[fixed],
            name=f"octavia-lb-{lb_id}",
            security_groups=[],
        )
    except ApiError as exc:
        if exc.status == 409:
            raise ApiError(409, f"The VIP IP address is already in use: {exc.message}") from exc
        raise ApiError(400, f"Validation failure: {exc.message}") from exc
    ip = port["fixed_ips"][0]
    return {
        "vip_address": ip["ip_address"],
        "vip_subnet_id": ip["subnet_id"],
        "vip_network_id": network_id,
        "vip_port_id": port["id"],
    }


def _create_lb() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("loadbalancer")
    _check_attrs(
        body,
        (
            "name",
            "description",
            "admin_state_up",
            "vip_address",
            "vip_port_id",
            "vip_subnet_id",
            "vip_network_id",
            "vip_qos_policy_id",
            "vip_sg_ids",
            "additional_vips",
            "project_id",
            "listeners",
            "pools",
            "provider",
            "tags",
            "flavor_id",
            "availability_zone",
        ),
        "loadbalancer",
    )
    project_id = auth.project_id
    if body.get("project_id") and body["project_id"] != project_id:
        if not auth.is_admin:
            raise _forbidden()
        project_id = str(body["project_id"])
    if body.get("listeners") or body.get("pools"):
        raise ApiError(
            501,
            "Provider 'amphora' does not support a requested action: single-call create of "
            "a load balancer tree is not supported by the local cloud.",
        )
    provider = body.get("provider") or "amphora"
    if provider not in PROVIDERS:
        raise ApiError(400, f"Provider '{provider}' is not enabled.")
    flavor_id = _uuid(body, "flavor_id")
    if flavor_id:
        flavor = cloud.get(FLAVOR, flavor_id)
        if flavor is None:
            raise ApiError(400, f"Flavor {flavor_id} not found.")
        if not flavor.get("enabled", True):
            raise ApiError(400, f"The selected flavor is not allowed in this deployment: {flavor_id}")
    az = body.get("availability_zone")
    if az is not None and cloud.get(AZ, az) is None:
        raise ApiError(400, f"Availability Zone {az} not found.")
    _project_quota(cloud, project_id, "load_balancer", LB, "Load Balancer")
    lb_id = new_id()
    vip = _allocate_vip(cloud, auth, lb_id, project_id, body)
    lb: Doc = {
        "id": lb_id,
        "name": _str(body, "name") or "",
        "description": _str(body, "description") or "",
        "provisioning_status": olc.PENDING_CREATE,
        "operating_status": olc.OFFLINE,
        "admin_state_up": bool(body.get("admin_state_up", True)),
        "project_id": project_id,
        "created_at": _now(),
        "updated_at": None,
        **vip,
        "vip_sg_ids": body.get("vip_sg_ids") or [],
        "additional_vips": [],
        "provider": provider,
        "flavor_id": flavor_id,
        "vip_qos_policy_id": _uuid(body, "vip_qos_policy_id"),
        "tags": list(body.get("tags") or []),
        "availability_zone": az,
        "vip_vnic_type": "normal",
    }
    cloud.transition(
        LB,
        lb,
        {"provisioning_status": olc.ACTIVE, "operating_status": olc.ONLINE, "_hook": "octavia.lb_settled"},
        create=True,
        error={"provisioning_status": olc.ERROR, "operating_status": olc.ERROR},
    )
    cloud.put(LB, lb)
    return json_response({"loadbalancer": _render_lb(cloud, lb)}, 201)


def _update_lb(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    body = _body("loadbalancer")
    _check_attrs(
        body,
        ("name", "description", "vip_qos_policy_id", "admin_state_up", "vip_sg_ids", "tags"),
        "loadbalancer",
    )
    if lb["provisioning_status"] != olc.ACTIVE:
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    _apply_common(lb, body)
    for key in ("vip_qos_policy_id", "vip_sg_ids", "tags"):
        if key in body:
            lb[key] = body[key]
    lb["provisioning_status"] = olc.PENDING_UPDATE
    lb["updated_at"] = _now()
    cloud.transition(LB, lb, {"provisioning_status": olc.ACTIVE, "_hook": "octavia.lb_settled"})
    cloud.put(LB, lb)
    return json_response({"loadbalancer": _render_lb(cloud, lb)}, 202)


def _delete_lb(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    cascade = request.args.get("cascade", "false").lower() in ("true", "1", "yes")
    has_children = any(
        cloud.store.find(k, lambda d: d.get("loadbalancer_id") == rid) for k in (LISTENER, POOL)
    )
    if has_children and not cascade:
        raise ApiError(400, f"Validation failure: Cannot delete Load Balancer {rid} - it has children")
    lb["provisioning_status"] = olc.PENDING_DELETE
    lb["updated_at"] = _now()
    lb.get("_lc", {}).get("queue", []).clear()
    cloud.transition(LB, lb, {"_hook": "octavia.lb_deleted"})
    cloud.put(LB, lb)
    return Response(status=204)


def _lb_stats(rid: str) -> Response:
    cloud = current_cloud()
    _get(cloud, _auth(), LB, rid, "Load Balancer")
    return json_response({"stats": stats(cloud, LB, rid)})


def _lb_status(rid: str) -> Response:
    cloud = current_cloud()
    lb = _get(cloud, _auth(), LB, rid, "Load Balancer")
    listeners = []
    for lis in cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == rid):
        _refresh_operating(cloud, LISTENER, lis)
        pools = []
        pool_id = lis.get("default_pool_id")
        for pool in [p for p in [cloud.store.get(POOL, str(pool_id))] if pool_id and p is not None]:
            pid = pool["id"]
            _refresh_operating(cloud, POOL, pool)
            pool_members = cloud.list(MEMBER, _in_pool(pid))
            for m in pool_members:
                _refresh_operating(cloud, MEMBER, m)
            members = [
                {
                    "id": m["id"],
                    "name": m["name"],
                    "operating_status": m["operating_status"],
                    "provisioning_status": m["provisioning_status"],
                    "address": m["address"],
                    "protocol_port": m["protocol_port"],
                }
                for m in pool_members
            ]
            entry: dict[str, Any] = {
                "id": pool["id"],
                "name": pool["name"],
                "provisioning_status": pool["provisioning_status"],
                "operating_status": pool["operating_status"],
                "members": members,
            }
            for hm in [h for h in cloud.store.all(HM) if h["pool_id"] == pid]:
                entry["health_monitor"] = {
                    "id": hm["id"],
                    "name": hm["name"],
                    "type": hm["type"],
                    "provisioning_status": hm["provisioning_status"],
                    "operating_status": hm["operating_status"],
                }
            pools.append(entry)
        listeners.append(
            {
                "id": lis["id"],
                "name": lis["name"],
                "operating_status": lis["operating_status"],
                "provisioning_status": lis["provisioning_status"],
                "pools": pools,
            }
        )
    return json_response(
        {
            "statuses": {
                "loadbalancer": {
                    "id": lb["id"],
                    "name": lb["name"],
                    "operating_status": lb_operating(cloud, lb),
                    "provisioning_status": lb["provisioning_status"],
                    "listeners": listeners,
                }
            }
        }
    )


def _lb_failover(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    lb["provisioning_status"] = olc.PENDING_UPDATE
    cloud.transition(
        LB,
        lb,
        {"provisioning_status": olc.ACTIVE, "operating_status": olc.ONLINE, "_hook": "octavia.lb_settled"},
    )
    cloud.put(LB, lb)
    return Response(status=202)
