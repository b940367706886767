"""Cinder's shared pieces: the blueprint, resource kinds, the error shape, rendering, lookups and the
volume state machine's transitions.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    at_least,
    current_cloud,
    json_response,
    new_id,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import Routes, after_marker, fault_renderer, limited
from gateway_kit.localcloud.store import Doc

bp = Blueprint("volume", __name__, url_prefix="/volume/v3")
routes = Routes(bp)

MIN_MICROVERSION = "3.0"
#: The highest block-storage microversion the local cloud implements.
MAX_MICROVERSION = "3.71"

VOLUME = "volume.volume"
SNAPSHOT = "volume.snapshot"
QUOTA_KEYS = (
    "volumes",
    "gigabytes",
    "snapshots",
    "backups",
    "backup_gigabytes",
    "per_volume_gigabytes",
    "groups",
)
DEFAULT_TYPE = {
    "id": "3c2e1c6a-0000-4000-8000-00000000d5e1",
    "name": "__DEFAULT__",
    "description": "Default Volume Type",
    "is_public": True,
    "extra_specs": {},
    "qos_specs_id": None,
    "os-volume-type-access:is_public": True,
}
_DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")


_CODES = {
    400: "badRequest",
    403: "forbidden",
    404: "itemNotFound",
    405: "HTTPMethodNotAllowed",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    429: "overLimit",
    500: "computeFault",
    503: "serviceUnavailable",
}


render_error = fault_renderer(_CODES, "computeFault")


def _scope(project_id: str) -> AuthContext:
    auth = require_token()
    if project_id != auth.project_id and not auth.is_admin:
        raise ApiError(400, "Malformed request url", "badRequest")
    return auth


def _links(project_id: str, coll: str, res_id: str) -> list[dict[str, str]]:
    cloud = current_cloud()
    return [
        {"rel": "self", "href": cloud.url(f"/volume/v3/{project_id}/{coll}/{res_id}")},
        {"rel": "bookmark", "href": cloud.url(f"/volume/{project_id}/{coll}/{res_id}")},
    ]


def volume_view(doc: Doc, auth: AuthContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc.get("name"),
        "status": doc["status"],
        "size": doc["size"],
        "availability_zone": doc.get("availability_zone", "nova"),
        "created_at": doc["created_at"],
        "updated_at": doc.get("updated_at"),
        "attachments": [dict(a) for a in doc.get("attachments", [])],
        "bootable": "true" if doc.get("bootable") else "false",
        "encrypted": False,
        "description": doc.get("description"),
        "volume_type": DEFAULT_TYPE["name"],
        "snapshot_id": doc.get("snapshot_id"),
        "source_volid": doc.get("source_volid"),
        "metadata": dict(doc.get("metadata", {})),
        "links": _links(doc["project_id"], "volumes", doc["id"]),
        "user_id": doc["user_id"],
        "multiattach": False,
        "replication_status": None,
        "consistencygroup_id": None,
        "migration_status": None,
    }
    if doc.get("image_metadata"):
        out["volume_image_metadata"] = dict(doc["image_metadata"])
    if auth.is_admin:
        out.update(
            {
                "os-vol-host-attr:host": "localcloud@lvmdriver-1#lvmdriver-1",
                "os-vol-mig-status-attr:migstat": None,
                "os-vol-mig-status-attr:name_id": None,
                "os-vol-tenant-attr:tenant_id": doc["project_id"],
            }
        )
        if at_least("3.21"):
            out["provider_id"] = None
        if at_least("3.61"):
            out["cluster_name"] = None
    if at_least("3.13"):
        out["group_id"] = None
    if at_least("3.48"):
        out["shared_targets"] = False
        out["service_uuid"] = None
    if at_least("3.63"):
        out["volume_type_id"] = DEFAULT_TYPE["id"]
    if at_least("3.65"):
        out["consumes_quota"] = True
    return out


def snapshot_view(doc: Doc, auth: AuthContext, extended: bool = True) -> dict[str, Any]:
    """A snapshot; create and update answers lack the extended attributes (as in Cinder)."""
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc.get("name"),
        "status": doc["status"],
        "size": doc["size"],
        "volume_id": doc["volume_id"],
        "created_at": doc["created_at"],
        "updated_at": doc.get("updated_at"),
        "description": doc.get("description"),
        "metadata": dict(doc.get("metadata", {})),
        "os-extended-snapshot-attributes:progress": "100%" if doc["status"] == "available" else "0%",
        "os-extended-snapshot-attributes:project_id": doc["project_id"],
    }
    if not extended:
        out.pop("os-extended-snapshot-attributes:progress")
        out.pop("os-extended-snapshot-attributes:project_id")
    if at_least("3.14"):
        out["group_snapshot_id"] = None
    if at_least("3.41"):
        out["user_id"] = doc["user_id"]
    if at_least("3.65"):
        out["consumes_quota"] = True
    return out


def _owned(cloud: LocalCloud, auth: AuthContext, kind: str, res_id: str) -> Doc:
    doc = cloud.get(kind, res_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        label = "Volume" if kind == VOLUME else "Snapshot"
        raise ApiError(404, f"{label} {res_id} could not be found.", "itemNotFound")
    return doc


def _volume(cloud: LocalCloud, auth: AuthContext, volume_id: str) -> Doc:
    return _owned(cloud, auth, VOLUME, volume_id)


def _snapshot(cloud: LocalCloud, auth: AuthContext, snapshot_id: str) -> Doc:
    return _owned(cloud, auth, SNAPSHOT, snapshot_id)


def _project_docs(kind: str, project_id: str, auth: AuthContext) -> list[Doc]:
    """The project's volumes or snapshots (every project's for an admin with all_tenants),
    filtered, sorted and paginated as the request asks."""
    all_projects = bool(request.args.get("all_tenants")) and auth.is_admin
    return _filter_sort(current_cloud().list(kind, lambda d: all_projects or d["project_id"] == project_id))


def _update_fields(cloud: LocalCloud, kind: str, doc: Doc, root: str, keys: tuple[str, ...]) -> None:
    """``PUT`` of a volume or snapshot: copy ``keys`` from the request's ``root`` element."""
    spec = request_json().get(root)
    if not isinstance(spec, dict) or not spec:
        raise ApiError(400, f"Missing required element '{root}' in request body.", "badRequest")
    for key in keys:
        if key in spec:
            doc[key] = spec[key]
    doc["updated_at"] = now_iso(micro=True)
    cloud.put(kind, doc)


def _start_delete(cloud: LocalCloud, kind: str, doc: Doc) -> Response:
    """Drop pending transitions; the resource is ``deleting`` until the next step removes it."""
    doc["_lc"] = {"queue": [], "held": False}
    doc["status"] = "deleting"
    cloud.transition(kind, doc, {"_hook": "volume.gone"})
    cloud.put(kind, doc)
    return json_response(None, 202)


def _usage(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    vols = cloud.store.find(VOLUME, lambda v: v["project_id"] == project_id)
    snaps = cloud.store.find(SNAPSHOT, lambda s: s["project_id"] == project_id)
    return {
        "volumes": len(vols),
        "snapshots": len(snaps),
        "gigabytes": sum(v["size"] for v in vols) + sum(s["size"] for s in snaps),
        "backups": 0,
        "backup_gigabytes": 0,
        "groups": 0,
        "per_volume_gigabytes": 0,
    }


def _check_quota(cloud: LocalCloud, project_id: str, kind: str, size: int) -> None:
    used = _usage(cloud, project_id)
    per_volume = cloud.quota(project_id, "per_volume_gigabytes")
    if kind == "volumes" and per_volume >= 0 and size > per_volume:
        raise ApiError(
            413,
            f"Volume size '{size}' GB cannot be smaller than the snapshot size "
            f"or larger than the per-volume quota ({per_volume} GB).",
            "overLimit",
        )
    if cloud.over_quota(project_id, kind, used[kind], 1):
        label = "volumes" if kind == "volumes" else "snapshots"
        raise ApiError(
            413,
            f"Maximum number of {label} allowed "
            f"({cloud.quota(project_id, kind)}) exceeded for quota '{kind}'.",
            "overLimit",
        )
    if cloud.over_quota(project_id, "gigabytes", used["gigabytes"], size):
        raise ApiError(
            413,
            f"Requested volume or snapshot exceeds allowed gigabytes quota. "
            f"Requested {size}G, quota is "
            f"{cloud.quota(project_id, 'gigabytes')}G and "
            f"{used['gigabytes']}G has been consumed.",
            "overLimit",
        )


def volume_doc(cloud: LocalCloud, auth: AuthContext, size: int, status: str, **fields: Any) -> Doc:
    """A new volume's document in ``auth``'s project (its quota checked first), not yet stored."""
    _check_quota(cloud, auth.project_id, "volumes", size)
    doc: Doc = {
        "id": new_id(),
        "project_id": auth.project_id,
        "user_id": auth.user_id,
        "size": size,
        "status": status,
        "created_at": now_iso(micro=True),
        "updated_at": None,
        "attachments": [],
        "metadata": {},
        "bootable": False,
    }
    doc.update(fields)
    return doc


def new_volume(cloud: LocalCloud, auth: AuthContext, size: int, **fields: Any) -> Doc:
    doc = volume_doc(cloud, auth, size, "creating", **fields)
    cloud.transition(VOLUME, doc, {"status": "available"}, create=True, error={"status": "error"})
    cloud.put(VOLUME, doc)
    return doc


# -- volumes ----------------------------------------------------------------------------


def _filter_sort(docs: list[Doc]) -> list[Doc]:
    args = request.args
    for key in ("name", "status", "bootable", "volume_id", "availability_zone"):
        if key in args:
            want = args[key]
            if key == "bootable":
                docs = [d for d in docs if str(d.get("bootable")).lower() == want.lower()]
            else:
                docs = [d for d in docs if str(d.get(key)) == want]
    if "metadata" in args:
        import ast

        try:
            want_meta = ast.literal_eval(args["metadata"])
        except (ValueError, SyntaxError):
            want_meta = {}
        if isinstance(want_meta, dict):
            docs = [d for d in docs if all(d.get("metadata", {}).get(k) == v for k, v in want_meta.items())]
    docs.sort(key=lambda d: d["created_at"], reverse=True)
    docs = after_marker(
        docs, args.get("marker"), not_found=lambda m: ApiError(400, f"Invalid marker: {m}", "badRequest")
    )
    return limited(docs, args.get("limit"))
