"""Router handlers (gateway, routes, interfaces) and floating IP association."""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import FIP, NETWORK, PORT, ROUTER, SUBNET, _not_found, _stamp, routes
from .crud import _lookup, _owner_check, _target_project
from .effects import _allocate_ip, create_port
from .networks import _simple_update

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


@routes.put("/v2.0/routers/<router_id>/add_router_interface")
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


@routes.put("/v2.0/routers/<router_id>/remove_router_interface")
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
