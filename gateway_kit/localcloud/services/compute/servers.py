"""Server create, update and delete: validation, networks, quota and the boot transition."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    new_id,
    new_secret,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import FLAVOR, KEYPAIR, SERVER, SERVER_GROUP, _locked, at_least, routes, state
from .flavors import _flavor_visible
from .instance_actions import record_action
from .lifecycle import _attach_boot_volumes
from .quotas import _check_compute_quota
from .views import _server, _server_links, server_view


def _resolve_networks(cloud: LocalCloud, auth: AuthContext, networks: Any) -> list[dict[str, Any]]:
    """Return NIC requests ``[{"network_id"|"port_id", "fixed_ip"}]``."""
    if networks == "none":
        return []
    if networks == "auto" or networks is None:
        candidates = [
            n
            for n in cloud.list(neutron.NETWORK)
            if not n.get("router:external") and (n["project_id"] == auth.project_id or n.get("shared"))
        ]
        if len(candidates) > 1:
            raise ApiError(
                409,
                "Multiple possible networks found, use a Network ID to be more specific.",
                "conflictingRequest",
            )
        if not candidates:
            raise ApiError(
                400, f"Unable to automatically allocate a network for project {auth.project_id}", "badRequest"
            )
        return [{"network_id": candidates[0]["id"]}]
    if not isinstance(networks, list):
        raise ApiError(400, "Invalid input for field/attribute networks.", "badRequest")
    nics = []
    for item in networks:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid input for field/attribute networks.", "badRequest")
        if item.get("port"):
            port = cloud.get(neutron.PORT, item["port"])
            if port is None or (port["project_id"] != auth.project_id and not auth.is_admin):
                raise ApiError(404, f"Port id {item['port']} could not be found.", "itemNotFound")
            if port.get("device_id"):
                raise ApiError(409, f"Port {item['port']} is still in use.", "conflictingRequest")
            nics.append({"port_id": port["id"]})
            continue
        net_id = item.get("uuid")
        net = cloud.get(neutron.NETWORK, net_id or "")
        if net is None or not (net["project_id"] == auth.project_id or net.get("shared") or auth.is_admin):
            raise ApiError(400, f"Network {net_id} could not be found.", "badRequest")
        if not cloud.store.find_eq(neutron.SUBNET, network_id=net["id"]):
            raise ApiError(
                400, f"Network {net_id} requires a subnet in order to boot instances on.", "badRequest"
            )
        nics.append({"network_id": net["id"], "fixed_ip": item.get("fixed_ip")})
    return nics


@routes.post("/servers")
def create_server() -> Response:
    auth = require_token()
    cloud = current_cloud()
    body = request_json()
    spec = body.get("server")
    if not isinstance(spec, dict):
        raise ApiError(400, "Invalid input for field/attribute server.", "badRequest")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ApiError(
            400, f"Invalid input for field/attribute name. Value: {name}. {name!r} is not valid", "badRequest"
        )
    if at_least("2.37") and "networks" not in spec:
        raise ApiError(
            400,
            f"Invalid input for field/attribute server. Value: {spec}. 'networks' is a required property",
            "badRequest",
        )
    flavor_ref = str(spec.get("flavorRef", "")).rstrip("/").split("/")[-1]
    flavor = cloud.get(FLAVOR, flavor_ref)
    if flavor is None or not _flavor_visible(flavor, auth):
        raise ApiError(400, f"Flavor {flavor_ref} could not be found.", "badRequest")
    bdms_in = spec.get("block_device_mapping_v2") or []
    image_ref = str(spec.get("imageRef") or "").rstrip("/").split("/")[-1]
    boot_from_volume = any(
        str(b.get("boot_index", "")) == "0" and b.get("destination_type") == "volume" for b in bdms_in
    )
    image = None
    if image_ref:
        image = cloud.get("image.image", image_ref)
        if (
            image is None
            or image["status"] != "active"
            or not (
                auth.is_admin
                or image["visibility"] in ("public", "community")
                or image["owner"] == auth.project_id
            )
        ):
            raise ApiError(400, "Can not find requested image", "badRequest")
    elif not boot_from_volume:
        raise ApiError(400, "Can not find requested image", "badRequest")
    if (
        image is not None
        and not boot_from_volume
        and flavor["disk"]
        and flavor["disk"] < int(image.get("min_disk") or 0)
    ):
        raise ApiError(
            400,
            "Flavor's disk is too small for requested image. Flavor disk "
            f"is {flavor['disk'] * 1073741824} bytes, minimum disk is "
            f"{int(image['min_disk']) * 1073741824} bytes.",
            "badRequest",
        )
    key_name = spec.get("key_name")
    if key_name and cloud.store.get(KEYPAIR, f"{auth.user_id}:{key_name}") is None:
        raise ApiError(400, "Invalid key_name provided.", "badRequest")
    user_data = spec.get("user_data")
    if user_data is not None:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400,
                "Invalid input for field/attribute user_data. Value: "
                f"{user_data}. '{user_data}' is not a 'base64'",
                "badRequest",
            ) from exc
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict) or any(not isinstance(v, str) for v in metadata.values()):
        raise ApiError(400, "Invalid input for field/attribute metadata.", "badRequest")
    if cloud.over_quota(auth.project_id, "metadata_items", 0, len(metadata)):
        raise ApiError(
            403,
            "Quota exceeded for metadata_items: Requested "
            f"{len(metadata)}, but already used 0 of "
            f"{cloud.quota(auth.project_id, 'metadata_items')} metadata_items",
            "forbidden",
        )
    sg_names = [str(g.get("name")) for g in spec.get("security_groups") or [] if isinstance(g, dict)]
    sg_ids = []
    sg_resolved: list[str] = []  # names, also where the client sent ids
    for sg_name in sg_names or ["default"]:
        if sg_name == "default":
            sg_ids.append(neutron.default_security_group(cloud, auth.project_id)["id"])
            sg_resolved.append("default")
            continue
        found = [
            g
            for g in cloud.list(neutron.SG)
            if g["project_id"] == auth.project_id and sg_name in (g["name"], g["id"])
        ]
        if not found:
            raise ApiError(400, f"Unable to find security_group with name or id '{sg_name}'", "badRequest")
        sg_ids.append(found[0]["id"])
        sg_resolved.append(found[0]["name"])
    min_count = int(spec.get("min_count", 1))
    max_count = int(spec.get("max_count", min_count))
    if min_count < 1 or max_count < min_count:
        raise ApiError(400, "min_count must be <= max_count", "badRequest")
    _check_compute_quota(
        cloud,
        auth.project_id,
        {"instances": min_count, "cores": flavor["vcpus"] * min_count, "ram": flavor["ram"] * min_count},
    )
    nics = _resolve_networks(cloud, auth, spec.get("networks"))
    if spec.get("availability_zone") not in (None, "", "nova"):
        raise ApiError(400, "The requested availability zone is not available", "badRequest")
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    group_id = hints.get("group") if isinstance(hints, dict) else None
    group = None
    if group_id:
        group = cloud.get(SERVER_GROUP, group_id)
        if group is None:
            raise ApiError(400, f"Invalid server group {group_id}", "badRequest")
    reservation = "r-" + new_secret(6).lower().replace("_", "x").replace("-", "y")[:8]
    admin_pass = spec.get("adminPass") or new_secret(9)
    created: list[Doc] = []
    for index in range(max_count):
        server_name = name if max_count == 1 else f"{name}-{index + 1}"
        seq = (
            cloud.store.count(SERVER)
            + len(created)
            + 1
            + sum(1 for _ in cloud.store.all("compute.deleted_seq"))
        )
        now = now_iso()
        server: Doc = {
            "id": new_id(),
            "name": server_name,
            "project_id": auth.project_id,
            "user_id": auth.user_id,
            "seq": seq,
            "metadata": dict(metadata),
            "image_id": image["id"] if image is not None and not boot_from_volume else None,
            "flavor": {
                k: flavor.get(k)
                for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
            },
            "created": now,
            "updated": now,
            "key_name": key_name,
            "config_drive": bool(spec.get("config_drive")),
            "user_data": user_data,
            "accessIPv4": spec.get("accessIPv4", ""),
            "accessIPv6": spec.get("accessIPv6", ""),
            "disk_config": spec.get("OS-DCF:diskConfig", "MANUAL"),
            "security_groups": sg_resolved,
            "description": spec.get("description") if at_least("2.19") else None,
            "tags": list(spec.get("tags", [])) if at_least("2.52") else [],
            "hostname": spec.get("hostname") or re.sub(r"[^a-z0-9-]", "-", server_name.lower())[:63],
            "reservation_id": reservation,
            "launch_index": index,
            "locked": False,
            "locked_reason": None,
            "requested_az": spec.get("availability_zone"),
            "availability_zone": "nova",
            "scheduler_hints": hints if isinstance(hints, dict) else {},
            "bdms": [],
            "launched_at": None,
            **state("BUILD", "spawning"),
        }
        for nic in nics:
            if "port_id" in nic:
                port = cloud.get(neutron.PORT, nic["port_id"]) or {}
                port.update(
                    {
                        "device_id": server["id"],
                        "device_owner": "compute:nova",
                        "status": "ACTIVE",
                        "_nova_created": False,
                    }
                )
                cloud.put(neutron.PORT, port)
            else:
                fixed = [{"ip_address": nic["fixed_ip"]}] if nic.get("fixed_ip") else None
                neutron.create_port(
                    cloud,
                    auth.project_id,
                    nic["network_id"],
                    device_id=server["id"],
                    device_owner="compute:nova",
                    fixed_ips=fixed,
                    security_groups=sg_ids,
                )
        _attach_boot_volumes(cloud, auth, server, bdms_in, image)
        if group is not None:
            group.setdefault("members", []).append(server["id"])
            cloud.put(SERVER_GROUP, group)
        cloud.transition(
            SERVER,
            server,
            {**state("ACTIVE"), "_hook": "compute.booted"},
            create=True,
            error={**state("ERROR"), "_hook": "compute.failed"},
        )
        record_action(server, "create", auth)
        cloud.put(SERVER, server)
        created.append(server)
    first = created[0]
    out: dict[str, Any] = {
        "id": first["id"],
        "links": _server_links(first["id"]),
        "OS-DCF:diskConfig": first["disk_config"],
        "security_groups": [{"name": n} for n in sg_names or ["default"]],
        "adminPass": admin_pass,
    }
    if spec.get("return_reservation_id"):
        return json_response({"reservation_id": reservation}, 202)
    return json_response(
        {"server": out}, 202, {"Location": cloud.url(f"/compute/v2.1/servers/{first['id']}")}
    )


@routes.put("/servers/<server_id>")
def update_server(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    spec = request_json().get("server")
    if not isinstance(spec, dict):
        raise ApiError(400, "Invalid input for field/attribute server.", "badRequest")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if at_least("2.19"):
        allowed.add("description")
    if at_least("2.90"):
        allowed.add("hostname")
    extra = set(spec) - allowed
    if extra:
        raise ApiError(
            400,
            "Invalid input for field/attribute server. Additional properties "
            f"are not allowed ({', '.join(sorted(extra))} were unexpected)",
            "badRequest",
        )
    for key in spec:
        doc["disk_config" if key == "OS-DCF:diskConfig" else key] = spec[key]
    doc["updated"] = now_iso()
    current_cloud().put(SERVER, doc)
    return json_response({"server": _trimmed_view(doc, auth)})


_UPDATE_HIDDEN = (
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-STS:power_state",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "config_drive",
    "key_name",
    "os-extended-volumes:volumes_attached",
    "security_groups",
    "host_status",
    "server_groups",
)


def _trimmed_view(doc: Doc, auth: AuthContext) -> dict[str, Any]:
    """The server as Nova's update and rebuild answer it: trimmed before 2.75."""
    out = server_view(doc, auth)
    if at_least("2.75"):
        return out
    for key in list(out):
        if key in _UPDATE_HIDDEN or key.startswith("OS-EXT-SRV-ATTR:"):
            out.pop(key)
    out["addresses"] = {
        net: [{"addr": a["addr"], "version": a["version"]} for a in addrs]
        for net, addrs in out["addresses"].items()
    }
    return out


@routes.delete("/servers/<server_id>")
def delete_server(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    if doc.get("task_state") == "deleting":
        return json_response(None, 204)
    doc["_lc"] = {"queue": [], "held": False}
    doc.update({"task_state": "deleting", "updated": now_iso()})
    cloud.transition(SERVER, doc, {"_hook": "compute.deleted"})
    cloud.put(SERVER, doc)
    return json_response(None, 204)
