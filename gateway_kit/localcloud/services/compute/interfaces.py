"""Port interfaces (``os-interface``; ``openstack server add/remove port|network``).

Attaching binds an existing Neutron port to the server (``port_id``; it must belong to the
project and be unbound) or creates one on a network (``net_id``, optionally with
``fixed_ips``) with the project's default security group. Detaching deletes a port Nova
created and unbinds one the user brought, as Nova does; either way its floating IPs are
disassociated. Only servers in a steady state (ACTIVE, SHUTOFF, PAUSED, SUSPENDED) take
interface changes; others answer 409.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    LocalCloud,
    current_cloud,
    json_response,
    request_json,
    require_token,
)
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import SERVER, _conflict, _locked, at_least, routes
from .instance_actions import record_action
from .views import _server

_STEADY = ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED")


def _interface_view(port: Doc) -> dict[str, Any]:
    out = {
        "fixed_ips": [
            {"ip_address": ip["ip_address"], "subnet_id": ip["subnet_id"]} for ip in port["fixed_ips"]
        ],
        "mac_addr": port["mac_address"],
        "net_id": port["network_id"],
        "port_id": port["id"],
        "port_state": port.get("status", "ACTIVE"),
    }
    if at_least("2.70"):
        out["tag"] = port.get("_nova_tag")
    return out


def _server_port(cloud: LocalCloud, server: Doc, port_id: str) -> Doc:
    port = cloud.get(neutron.PORT, port_id)
    if port is None or port.get("device_id") != server["id"]:
        raise ApiError(404, f"Port {port_id} is not attached to instance {server['id']}.", "itemNotFound")
    return port


@routes.get("/servers/<server_id>/os-interface")
def list_interfaces(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    ports = cloud.store.find(neutron.PORT, lambda p: p.get("device_id") == doc["id"])
    return json_response({"interfaceAttachments": [_interface_view(p) for p in ports]})


@routes.get("/servers/<server_id>/os-interface/<port_id>")
def get_interface(server_id: str, port_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    return json_response({"interfaceAttachment": _interface_view(_server_port(cloud, doc, port_id))})


@routes.post("/servers/<server_id>/os-interface")
def attach_interface(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    spec = request_json().get("interfaceAttachment")
    if not isinstance(spec, dict):
        raise ApiError(
            400, "Invalid input for field/attribute interfaceAttachment: an object is required.", "badRequest"
        )
    port_id, net_id = spec.get("port_id"), spec.get("net_id")
    if bool(port_id) == bool(net_id):
        raise ApiError(
            400,
            "Give exactly one of 'port_id' (an existing port) or 'net_id' (a network to create a port on).",
            "badRequest",
        )
    if doc["status"] not in _STEADY:
        raise _conflict(doc, "attach_interface")
    if port_id:
        port = cloud.get(neutron.PORT, str(port_id))
        if port is None or (port["project_id"] != doc["project_id"] and not auth.is_admin):
            raise ApiError(404, f"Port {port_id} could not be found.", "itemNotFound")
        if port.get("device_id"):
            raise ApiError(409, f"Port {port_id} is still in use.", "conflictingRequest")
        port.update(
            {
                "device_id": doc["id"],
                "device_owner": "compute:nova",
                "status": "ACTIVE",
                "_nova_created": False,
                "_nova_tag": spec.get("tag"),
            }
        )
        cloud.put(neutron.PORT, port)
    else:
        net = cloud.get(neutron.NETWORK, str(net_id))
        if net is None or not (net["project_id"] == doc["project_id"] or net.get("shared") or auth.is_admin):
            raise ApiError(404, f"Network {net_id} could not be found.", "itemNotFound")
        fixed = spec.get("fixed_ips")
        wanted = [{"ip_address": f.get("ip_address")} for f in fixed] if isinstance(fixed, list) else None
        port = neutron.create_port(
            cloud,
            doc["project_id"],
            net["id"],
            device_id=doc["id"],
            device_owner="compute:nova",
            fixed_ips=wanted,
            security_groups=[neutron.default_security_group(cloud, doc["project_id"])["id"]],
            extra={"_nova_tag": spec.get("tag")},
        )
    record_action(doc, "attach_interface", auth)
    cloud.put(SERVER, doc)
    return json_response({"interfaceAttachment": _interface_view(port)})


@routes.delete("/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id: str, port_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    port = _server_port(cloud, doc, port_id)
    if doc["status"] not in _STEADY:
        raise _conflict(doc, "detach_interface")
    neutron.release_port(cloud, port)
    record_action(doc, "detach_interface", auth)
    cloud.put(SERVER, doc)
    return json_response(None, 202)
