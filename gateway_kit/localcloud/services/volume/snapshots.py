"""Volume snapshots."""

from __future__ import annotations

from flask import Response

from gateway_kit.localcloud.core import ApiError, current_cloud, json_response, new_id, now_iso, request_json
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.store import Doc

from .common import (
    SNAPSHOT,
    _check_quota,
    _project_docs,
    _scope,
    _snapshot,
    _start_delete,
    _update_fields,
    _volume,
    routes,
    snapshot_view,
)

# -- snapshots --------------------------------------------------------------------------


def _list_snapshots(project_id: str, detail: bool) -> Response:
    auth = _scope(project_id)
    docs = _project_docs(SNAPSHOT, project_id, auth)
    if detail:
        items = [snapshot_view(d, auth) for d in docs]
    else:
        items = [{k: v for k, v in snapshot_view(d, auth).items()} for d in docs]
    return json_response({"snapshots": items})


@routes.get("/<project_id>/snapshots", defaults={"detail": False})
@routes.get("/<project_id>/snapshots/detail", defaults={"detail": True})
def list_snapshots(project_id: str, detail: bool) -> Response:
    return _list_snapshots(project_id, detail)


@routes.get("/<project_id>/snapshots/<snapshot_id>")
def get_snapshot(project_id: str, snapshot_id: str) -> Response:
    auth = _scope(project_id)
    return json_response({"snapshot": snapshot_view(_snapshot(current_cloud(), auth, snapshot_id), auth)})


@routes.post("/<project_id>/snapshots")
def create_snapshot(project_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    spec = request_json().get("snapshot")
    if not isinstance(spec, dict) or not spec.get("volume_id"):
        raise ApiError(
            400,
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property",
            "badRequest",
        )
    vol = _volume(cloud, auth, str(spec["volume_id"]))
    force = str(spec.get("force", False)).lower() in ("true", "1")
    if vol["status"] != "available" and not (force and vol["status"] == "in-use"):
        raise ApiError(
            400,
            f"Invalid volume: Volume {vol['id']} status must be available, "
            f"but current status is: {vol['status']}.",
            "badRequest",
        )
    _check_quota(cloud, auth.project_id, "snapshots", vol["size"])
    now = now_iso(micro=True)
    doc: Doc = {
        "id": new_id(),
        "project_id": auth.project_id,
        "user_id": auth.user_id,
        "volume_id": vol["id"],
        "size": vol["size"],
        "status": "creating",
        "name": spec.get("name"),
        "description": spec.get("description"),
        "metadata": spec.get("metadata") or {},
        "created_at": now,
        "updated_at": None,
    }
    cloud.transition(SNAPSHOT, doc, {"status": "available"}, create=True, error={"status": "error"})
    cloud.put(SNAPSHOT, doc)
    return json_response({"snapshot": snapshot_view(doc, auth, extended=False)}, 202)


@routes.put("/<project_id>/snapshots/<snapshot_id>")
def update_snapshot(project_id: str, snapshot_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _snapshot(cloud, auth, snapshot_id)
    _update_fields(cloud, SNAPSHOT, doc, "snapshot", ("name", "description"))
    return json_response({"snapshot": snapshot_view(doc, auth, extended=False)})


@routes.delete("/<project_id>/snapshots/<snapshot_id>")
def delete_snapshot(project_id: str, snapshot_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _snapshot(cloud, auth, snapshot_id)
    if doc["status"] not in ("available", "error", "error_deleting"):
        raise ApiError(
            400,
            "Invalid snapshot: Volume Snapshot status must be available or error or error_deleting",
            "badRequest",
        )
    return _start_delete(cloud, SNAPSHOT, doc)


@routes.post("/<project_id>/snapshots/<snapshot_id>/action")
def snapshot_action(project_id: str, snapshot_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _snapshot(cloud, auth, snapshot_id)
    body = request_json()
    if "os-reset_status" in body:
        require_policy(auth.is_admin, "this")
        doc["status"] = body["os-reset_status"].get("status", doc["status"])
    elif "os-force_delete" in body:
        require_policy(auth.is_admin, "this")
        cloud.delete(SNAPSHOT, snapshot_id)
        return json_response(None, 202)
    else:
        raise ApiError(400, "There is no such action", "badRequest")
    cloud.put(SNAPSHOT, doc)
    return json_response(None, 202)
