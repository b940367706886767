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
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import SERVER, _conflict, _locked, at_least, bp
from .views import _server


@bp.post("/servers/<server_id>/remote-consoles")
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


@bp.get("/servers/<server_id>/ips")
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


@bp.get("/servers/<server_id>/ips/<network>")
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


@bp.get("/servers/<server_id>/metadata")
def get_metadata(server_id: str) -> Response:
    _, _, doc = _meta_target(server_id)
    return json_response({"metadata": doc.get("metadata", {})})


@bp.post("/servers/<server_id>/metadata")
def merge_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    merged = {**doc.get("metadata", {}), **meta}
    _meta_quota(cloud, doc, merged)
    doc["metadata"] = merged
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": merged})


@bp.put("/servers/<server_id>/metadata")
def replace_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    _meta_quota(cloud, doc, meta)
    doc["metadata"] = meta
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": meta})


@bp.get("/servers/<server_id>/metadata/<key>")
def get_meta_item(server_id: str, key: str) -> Response:
    _, _, doc = _meta_target(server_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    return json_response({"meta": {key: doc["metadata"][key]}})


@bp.put("/servers/<server_id>/metadata/<key>")
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


@bp.delete("/servers/<server_id>/metadata/<key>")
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


@bp.get("/servers/<server_id>/tags")
def list_tags(server_id: str) -> Response:
    _, doc = _tags_target(server_id)
    return json_response({"tags": doc.get("tags", [])})


@bp.put("/servers/<server_id>/tags")
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


@bp.delete("/servers/<server_id>/tags")
def clear_tags(server_id: str) -> Response:
    cloud, doc = _tags_target(server_id)
    doc["tags"] = []
    cloud.put(SERVER, doc)
    return json_response(None, 204)


@bp.route("/servers/<server_id>/tags/<tag>", methods=["GET", "PUT", "DELETE"])
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
