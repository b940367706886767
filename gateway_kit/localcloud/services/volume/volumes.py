"""Version discovery and volumes: list with Cinder's filters, create, update, extend, actions,
metadata, delete.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    LocalCloud,
    at_least,
    current_cloud,
    json_response,
    now_iso,
    request_json,
)
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.store import Doc

from .common import (
    _DELETABLE,
    DEFAULT_TYPE,
    MAX_MICROVERSION,
    MIN_MICROVERSION,
    SNAPSHOT,
    VOLUME,
    _links,
    _project_docs,
    _scope,
    _snapshot,
    _start_delete,
    _update_fields,
    _usage,
    _volume,
    new_volume,
    routes,
    volume_view,
)
from .effects import delete_internal

# -- versions ---------------------------------------------------------------------------


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": MAX_MICROVERSION,
        "min_version": MIN_MICROVERSION,
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": current_cloud().url("/volume/v3/")},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


@routes.get("")
@routes.get("/")
def versions() -> Response:
    return json_response({"versions": [_version_doc()]})


def _list_volumes(project_id: str, detail: bool) -> Response:
    auth = _scope(project_id)
    docs = _project_docs(VOLUME, project_id, auth)
    if detail:
        items = [volume_view(d, auth) for d in docs]
    else:
        items = [
            {"id": d["id"], "name": d.get("name"), "links": _links(d["project_id"], "volumes", d["id"])}
            for d in docs
        ]
    body: dict[str, Any] = {"volumes": items}
    if request.args.get("with_count") and at_least("3.45"):
        body["count"] = len(items)
    return json_response(body)


@routes.get("/<project_id>/volumes", defaults={"detail": False})
@routes.get("/<project_id>/volumes/detail", defaults={"detail": True})
def list_volumes(project_id: str, detail: bool) -> Response:
    return _list_volumes(project_id, detail)


@routes.get("/<project_id>/volumes/<volume_id>")
def get_volume(project_id: str, volume_id: str) -> Response:
    auth = _scope(project_id)
    return json_response({"volume": volume_view(_volume(current_cloud(), auth, volume_id), auth)})


@routes.post("/<project_id>/volumes")
def create_volume(project_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    spec = request_json().get("volume")
    if not isinstance(spec, dict):
        raise ApiError(400, "Missing required element 'volume' in request body.", "badRequest")
    size = spec.get("size")
    snapshot = None
    source = None
    if spec.get("snapshot_id"):
        snapshot = _snapshot(cloud, auth, str(spec["snapshot_id"]))
        if snapshot["status"] != "available":
            raise ApiError(
                400,
                "Invalid snapshot: Originating snapshot status must be one of 'available' values",
                "badRequest",
            )
        size = size or snapshot["size"]
    if spec.get("source_volid"):
        source = _volume(cloud, auth, str(spec["source_volid"]))
        size = size or source["size"]
    try:
        size = int(size)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ApiError(
            400,
            f"Invalid input for field/attribute size. Value: {size}. "
            f"{size} is not of type 'integer', 'string'",
            "badRequest",
        ) from exc
    if size < 1:
        raise ApiError(
            400,
            f"Invalid input for field/attribute size. Value: {size}. {size} is less than the minimum of 1",
            "badRequest",
        )
    if snapshot is not None and size < snapshot["size"]:
        raise ApiError(
            400, "Invalid input received: Volume size cannot be lesser than the Snapshot size", "badRequest"
        )
    if spec.get("volume_type") not in (None, "", DEFAULT_TYPE["name"], DEFAULT_TYPE["id"]):
        raise ApiError(
            404, f"Volume type with name {spec['volume_type']} could not be found.", "itemNotFound"
        )
    if spec.get("availability_zone") not in (None, "", "nova"):
        raise ApiError(
            400,
            f"Invalid input received: Availability zone '{spec['availability_zone']}' is invalid.",
            "badRequest",
        )
    meta = spec.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ApiError(400, "Invalid metadata", "badRequest")
    fields: dict[str, Any] = {
        "name": spec.get("name"),
        "description": spec.get("description"),
        "metadata": meta,
        "snapshot_id": spec.get("snapshot_id"),
        "source_volid": spec.get("source_volid"),
        "availability_zone": "nova",
    }
    if spec.get("imageRef"):
        img = cloud.get("image.image", str(spec["imageRef"]))
        if img is None:
            raise ApiError(400, "Invalid image identifier or unable to access requested image.", "badRequest")
        fields["bootable"] = True
        fields["image_metadata"] = {
            "image_id": img["id"],
            "image_name": img.get("name"),
            "disk_format": img.get("disk_format"),
            "container_format": img.get("container_format"),
        }
    doc = new_volume(cloud, auth, size, **fields)
    return json_response({"volume": volume_view(doc, auth)}, 202)


@routes.put("/<project_id>/volumes/<volume_id>")
def update_volume(project_id: str, volume_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _volume(cloud, auth, volume_id)
    _update_fields(cloud, VOLUME, doc, "volume", ("name", "description", "metadata"))
    return json_response({"volume": volume_view(doc, auth)})


@routes.delete("/<project_id>/volumes/<volume_id>")
def delete_volume(project_id: str, volume_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _volume(cloud, auth, volume_id)
    cascade = request.args.get("cascade", "false").lower() == "true"
    force = request.args.get("force", "false").lower() == "true"
    snaps = cloud.store.find(SNAPSHOT, lambda s: s["volume_id"] == volume_id)
    require_policy(auth.is_admin or not force, "volume:force_delete")
    if not force and (doc["status"] not in _DELETABLE or doc.get("attachments") or (snaps and not cascade)):
        raise ApiError(
            400,
            "Invalid volume: Volume status must be available or error or "
            "error_restoring or error_extending or error_managing and must not "
            "be migrating, attached, belong to a group, have snapshots, "
            "awaiting a transfer, or be disassociated from snapshots after "
            "volume transfer.",
            "badRequest",
        )
    return _start_delete(cloud, VOLUME, doc)


@routes.post("/<project_id>/volumes/<volume_id>/action")
def volume_action(project_id: str, volume_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _volume(cloud, auth, volume_id)
    body = request_json()
    if len(body) != 1:
        raise ApiError(400, "Invalid request body", "badRequest")
    name, arg = next(iter(body.items()))
    arg = arg or {}
    if name == "os-extend":
        new_size = int(arg.get("new_size", 0))
        allowed = ("available", "in-use") if at_least("3.42") else ("available",)
        if doc["status"] not in allowed:
            raise ApiError(
                400,
                f"Invalid volume: Volume {volume_id} status must be "
                f"'{' or '.join(allowed)}' to extend, currently "
                f"{doc['status']}.",
                "badRequest",
            )
        if new_size <= doc["size"]:
            raise ApiError(
                400,
                f"Invalid input received: New size for extend must be "
                f"greater than current size. (current: {doc['size']}, "
                f"extended: {new_size}).",
                "badRequest",
            )
        used = _usage(cloud, doc["project_id"])
        delta = new_size - doc["size"]
        if cloud.over_quota(doc["project_id"], "gigabytes", used["gigabytes"], delta):
            raise ApiError(
                413,
                f"Requested volume or snapshot exceeds allowed gigabytes "
                f"quota. Requested {delta}G, quota is "
                f"{cloud.quota(doc['project_id'], 'gigabytes')}G and "
                f"{used['gigabytes']}G has been consumed.",
                "overLimit",
            )
        back = doc["status"]
        doc["status"] = "extending"
        cloud.transition(VOLUME, doc, {"status": back, "size": new_size})
    elif name == "os-reset_status":
        require_policy(auth.is_admin, "volume_extension:volume_admin_actions:reset_status")
        doc["_lc"] = {"queue": [], "held": False}
        doc["status"] = arg.get("status", doc["status"])
    elif name == "os-set_bootable":
        doc["bootable"] = str(arg.get("bootable")).lower() in ("true", "1")
        return_code = 200
        cloud.put(VOLUME, doc)
        return json_response(None, return_code)
    elif name == "os-update_readonly_flag":
        doc.setdefault("metadata", {})["readonly"] = str(arg.get("readonly", False))
    elif name == "os-force_delete":
        require_policy(auth.is_admin, "volume_extension:volume_admin_actions:force_delete")
        delete_internal(cloud, volume_id)
        return json_response(None, 202)
    else:
        raise ApiError(400, f"There is no such action: {name}", "badRequest")
    doc["updated_at"] = now_iso(micro=True)
    cloud.put(VOLUME, doc)
    return json_response(None, 202)


def _metadata_doc(coll: str, project_id: str, res_id: str) -> tuple[LocalCloud, str, Doc]:
    """The volume or snapshot (``coll``) whose metadata a request reads or changes, and its kind."""
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _volume(cloud, auth, res_id) if kind == VOLUME else _snapshot(cloud, auth, res_id)
    return cloud, kind, doc


def _meta_key(doc: Doc, key: str) -> None:
    """404 unless ``doc``'s metadata holds ``key``."""
    if key not in doc.get("metadata", {}):
        raise ApiError(404, f"Metadata with key {key} could not be found.", "itemNotFound")


@routes.get("/<project_id>/<coll>/<res_id>/metadata")
def get_metadata(project_id: str, coll: str, res_id: str) -> Response:
    _, _, doc = _metadata_doc(coll, project_id, res_id)
    return json_response({"metadata": doc.get("metadata", {})})


@routes.route("/<project_id>/<coll>/<res_id>/metadata", "POST", "PUT")
def set_metadata(project_id: str, coll: str, res_id: str) -> Response:
    cloud, kind, doc = _metadata_doc(coll, project_id, res_id)
    meta = request_json().get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(400, "Malformed request body", "badRequest")
    doc["metadata"] = {**doc.get("metadata", {}), **meta} if request.method == "POST" else meta
    cloud.put(kind, doc)
    return json_response({"metadata": doc["metadata"]})


@routes.get("/<project_id>/<coll>/<res_id>/metadata/<key>")
def get_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    _, _, doc = _metadata_doc(coll, project_id, res_id)
    _meta_key(doc, key)
    return json_response({"meta": {key: doc["metadata"][key]}})


@routes.put("/<project_id>/<coll>/<res_id>/metadata/<key>")
def set_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    cloud, kind, doc = _metadata_doc(coll, project_id, res_id)
    meta = request_json().get("meta")
    if not isinstance(meta, dict) or key not in meta or len(meta) != 1:
        raise ApiError(400, "Request body and URI mismatch", "badRequest")
    doc.setdefault("metadata", {}).update(meta)
    cloud.put(kind, doc)
    return json_response({"meta": meta})


@routes.delete("/<project_id>/<coll>/<res_id>/metadata/<key>")
def delete_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    cloud, kind, doc = _metadata_doc(coll, project_id, res_id)
    _meta_key(doc, key)
    del doc["metadata"][key]
    cloud.put(kind, doc)
    return json_response(None, 200)
