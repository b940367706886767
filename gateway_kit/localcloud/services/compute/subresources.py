"""Server sub-resources: remote consoles, addresses, metadata and tags."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    new_secret,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import SERVER, _conflict, _locked, at_least, routes
from .views import _server, server_security_groups


@routes.post("/servers/<server_id>/remote-consoles")
def remote_console(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    spec = request_json().get("remote_console") or {}
    protocol, kind = spec.get("protocol"), spec.get("type")
    if (protocol, kind) not in (
        ("vnc", "novnc"),
        ("vnc", "xvpvnc"),
        ("spice", "spice-html5"),
        ("serial", "serial"),
        ("rdp", "rdp-html5"),
        ("mks", "webmks"),
    ):
        raise ApiError(400, "Invalid input for field/attribute remote_console.", "badRequest")
    if doc["status"] != "ACTIVE":
        raise ApiError(409, f"Instance {doc['id']} is not ready", "conflictingRequest")
    token = new_secret(16)
    url = current_cloud().url(f"/compute/v2.1/_console/{kind}?token={token}")
    return json_response({"remote_console": {"protocol": protocol, "type": kind, "url": url}})


@routes.get("/servers/<server_id>/ips")
def server_ips(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    addrs = neutron.server_addresses(current_cloud(), doc["id"])
    return json_response(
        {
            "addresses": {
                n: [{"version": a["version"], "addr": a["addr"]} for a in lst] for n, lst in addrs.items()
            }
        }
    )


@routes.get("/servers/<server_id>/ips/<network>")
def server_ips_network(server_id: str, network: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    addrs = neutron.server_addresses(current_cloud(), doc["id"])
    if network not in addrs:
        raise ApiError(404, "Instance is not a member of specified network", "itemNotFound")
    return json_response({network: [{"version": a["version"], "addr": a["addr"]} for a in addrs[network]]})


# -- server metadata and tags -----------------------------------------------------------


def _meta_validate(cloud: LocalCloud, doc: Doc, meta: Any) -> dict[str, str]:
    if not isinstance(meta, dict):
        raise ApiError(400, "Malformed request body", "badRequest")
    for key, value in meta.items():
        if not isinstance(value, str) or not key or len(key) > 255 or len(value) > 255:
            raise ApiError(400, f"Invalid input for field/attribute metadata. Value: {meta}.", "badRequest")
    return meta


def _meta_quota(cloud: LocalCloud, doc: Doc, new_meta: dict[str, str]) -> None:
    if cloud.over_quota(doc["project_id"], "metadata_items", 0, len(new_meta)):
        limit = cloud.quota(doc["project_id"], "metadata_items")
        raise ApiError(
            403,
            f"Quota exceeded for metadata_items: Requested {len(new_meta)}, "
            f"but already used 0 of {limit} metadata_items",
            "forbidden",
        )


def _meta_target(server_id: str) -> tuple[LocalCloud, AuthContext, Doc]:
    auth = require_token()
    doc = _server(server_id, auth)
    if request.method != "GET":
        _locked(doc, auth)
        if doc["status"] in ("BUILD",) and doc.get("task_state") == "deleting":
            raise _conflict(doc, "update_metadata")
    return current_cloud(), auth, doc


@routes.get("/servers/<server_id>/metadata")
def get_metadata(server_id: str) -> Response:
    _, _, doc = _meta_target(server_id)
    return json_response({"metadata": doc.get("metadata", {})})


@routes.post("/servers/<server_id>/metadata")
def merge_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    merged = {**doc.get("metadata", {}), **meta}
    _meta_quota(cloud, doc, merged)
    doc["metadata"] = merged
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": merged})


@routes.put("/servers/<server_id>/metadata")
def replace_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    _meta_quota(cloud, doc, meta)
    doc["metadata"] = meta
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": meta})


@routes.get("/servers/<server_id>/metadata/<key>")
def get_meta_item(server_id: str, key: str) -> Response:
    _, _, doc = _meta_target(server_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    return json_response({"meta": {key: doc["metadata"][key]}})


@routes.put("/servers/<server_id>/metadata/<key>")
def set_meta_item(server_id: str, key: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = request_json().get("meta")
    if not isinstance(meta, dict) or len(meta) != 1:
        raise ApiError(400, "Request body contains too many items", "badRequest")
    if key not in meta:
        raise ApiError(400, "Request body and URI mismatch", "badRequest")
    _meta_validate(cloud, doc, meta)
    merged = {**doc.get("metadata", {}), **meta}
    _meta_quota(cloud, doc, merged)
    doc["metadata"] = merged
    cloud.put(SERVER, doc)
    return json_response({"meta": meta})


@routes.delete("/servers/<server_id>/metadata/<key>")
def delete_meta_item(server_id: str, key: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    del doc["metadata"][key]
    cloud.put(SERVER, doc)
    return json_response(None, 204)


def _tags_target(server_id: str) -> tuple[LocalCloud, Doc]:
    if not at_least("2.26"):
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    auth = require_token()
    doc = _server(server_id, auth)
    if request.method != "GET" and doc["status"] not in (
        "ACTIVE",
        "PAUSED",
        "SHUTOFF",
        "SUSPENDED",
        "BUILD",
        "SHELVED",
        "SHELVED_OFFLOADED",
        "ERROR",
        "VERIFY_RESIZE",
    ):
        raise _conflict(doc, "update tags")
    return current_cloud(), doc


_TAG_RE = re.compile(r"^[^,/]{1,60}$")


@routes.get("/servers/<server_id>/tags")
def list_tags(server_id: str) -> Response:
    _, doc = _tags_target(server_id)
    return json_response({"tags": doc.get("tags", [])})


@routes.put("/servers/<server_id>/tags")
def replace_tags(server_id: str) -> Response:
    cloud, doc = _tags_target(server_id)
    tags = request_json().get("tags")
    if (
        not isinstance(tags, list)
        or len(tags) > 50
        or not all(isinstance(t, str) and _TAG_RE.match(t) for t in tags)
    ):
        raise ApiError(400, "Invalid input for field/attribute tags.", "badRequest")
    doc["tags"] = list(dict.fromkeys(tags))
    cloud.put(SERVER, doc)
    return json_response({"tags": doc["tags"]})


@routes.delete("/servers/<server_id>/tags")
def clear_tags(server_id: str) -> Response:
    cloud, doc = _tags_target(server_id)
    doc["tags"] = []
    cloud.put(SERVER, doc)
    return json_response(None, 204)


@routes.route("/servers/<server_id>/tags/<tag>", "GET", "PUT", "DELETE")
def one_tag(server_id: str, tag: str) -> Response:
    cloud, doc = _tags_target(server_id)
    tags = doc.setdefault("tags", [])
    if request.method == "PUT":
        if not _TAG_RE.match(tag):
            raise ApiError(400, "Invalid tag", "badRequest")
        if tag in tags:
            return json_response(None, 204)
        if len(tags) >= 50:
            raise ApiError(400, "The number of tags exceeded the per-server limit 50", "badRequest")
        tags.append(tag)
        cloud.put(SERVER, doc)
        return json_response(
            None, 201, {"Location": cloud.url(f"/compute/v2.1/servers/{server_id}/tags/{tag}")}
        )
    if tag not in tags:
        raise ApiError(404, f"Tag '{tag}' could not be found for instance {server_id}.", "itemNotFound")
    if request.method == "DELETE":
        tags.remove(tag)
        cloud.put(SERVER, doc)
    return json_response(None, 204)


# -- security groups, diagnostics, password ----------------------------------------------


def _nova_rule(cloud: LocalCloud, rule: Doc) -> dict[str, Any]:
    """A Neutron ingress rule as Nova's (nova-network style) security group API shows it."""
    group: dict[str, Any] = {}
    if rule.get("remote_group_id"):
        remote = cloud.store.get(neutron.SG, rule["remote_group_id"])
        group = {"name": remote["name"] if remote else None, "tenant_id": rule["project_id"]}
    cidr = rule.get("remote_ip_prefix") or (None if group else "0.0.0.0/0")
    return {
        "id": rule["id"],
        "parent_group_id": rule["security_group_id"],
        "ip_protocol": rule.get("protocol"),
        "from_port": rule.get("port_range_min") if rule.get("port_range_min") is not None else -1,
        "to_port": rule.get("port_range_max") if rule.get("port_range_max") is not None else -1,
        "ip_range": {"cidr": cidr} if cidr else {},
        "group": group,
    }


@routes.get("/servers/<server_id>/os-security-groups")
def server_security_groups_view(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    groups = server_security_groups(cloud, doc) or []
    out = []
    for g in groups:
        rules = [
            r
            for r in cloud.store.find_eq(neutron.RULE, security_group_id=g["id"])
            if r.get("direction") == "ingress"
        ]
        out.append(
            {
                "id": g["id"],
                "name": g["name"],
                "description": g.get("description", ""),
                "tenant_id": g["project_id"],
                "rules": [_nova_rule(cloud, r) for r in rules],
            }
        )
    return json_response({"security_groups": out})


@routes.get("/servers/<server_id>/diagnostics")
def server_diagnostics(server_id: str) -> Response:
    """Hypervisor diagnostics (admin only, as Nova's default policy has it); the figures are the
    flavor's sizes, since no hypervisor is measuring anything."""
    auth = require_token()
    require_policy(auth.is_admin, "os_compute_api:os-server-diagnostics")
    cloud = current_cloud()
    doc = _server(server_id, auth)
    if doc["status"] in ("BUILD", "SHELVED_OFFLOADED") or doc.get("task_state"):
        raise _conflict(doc, "get_diagnostics")
    flavor = doc["flavor"]
    ports = cloud.store.find(neutron.PORT, lambda p: p.get("device_id") == doc["id"])
    disks = 1 + len(doc.get("bdms", []))
    ram_kib = int(flavor.get("ram") or 0) * 1024
    if not at_least("2.48"):
        legacy: dict[str, Any] = {"memory": ram_kib, "memory-actual": ram_kib}
        for i in range(int(flavor.get("vcpus") or 1)):
            legacy[f"cpu{i}_time"] = 0
        for i in range(len(ports)):
            legacy[f"tap{i}_rx"] = 0
            legacy[f"tap{i}_tx"] = 0
        return json_response(legacy)
    running = doc["status"] == "ACTIVE"
    vcpus = int(flavor.get("vcpus") or 1)
    no_io = {"errors_count": 0, "read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0}
    return json_response(
        {
            "config_drive": bool(doc.get("config_drive")),
            "cpu_details": [{"id": i, "time": 0, "utilisation": None} for i in range(vcpus)],
            "disk_details": [dict(no_io) for _ in range(disks)],
            "driver": "libvirt",
            "hypervisor": "kvm",
            "hypervisor_os": "linux",
            "memory_details": {"maximum": int(flavor.get("ram") or 0), "used": 0},
            "nic_details": [
                {
                    "mac_address": p["mac_address"],
                    "rx_drop": 0,
                    "rx_errors": 0,
                    "rx_octets": 0,
                    "rx_packets": 0,
                    "rx_rate": None,
                    "tx_drop": 0,
                    "tx_errors": 0,
                    "tx_octets": 0,
                    "tx_packets": 0,
                    "tx_rate": None,
                }
                for p in ports
            ],
            "num_cpus": vcpus,
            "num_disks": disks,
            "num_nics": len(ports),
            "state": "running" if running else "shutdown",
            "uptime": 0,
        }
    )


@routes.get("/servers/<server_id>/os-server-password")
def get_server_password(server_id: str) -> Response:
    """The encrypted password the instance posted to the metadata service: none here, so
    always empty (Nova answers ``""`` likewise before the guest posts one)."""
    auth = require_token()
    doc = _server(server_id, auth)
    return json_response({"password": doc.get("_encrypted_password", "")})


@routes.delete("/servers/<server_id>/os-server-password")
def clear_server_password(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    doc.pop("_encrypted_password", None)
    cloud.put(SERVER, doc)
    return json_response(None, 204)
