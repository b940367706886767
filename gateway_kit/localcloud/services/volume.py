"""Cinder (block-storage v3) for the local cloud (``/volume/v3/{project_id}``).

Microversions 3.0 to :data:`MAX_MICROVERSION` (3.71) with fields shaped by version (3.13
``group_id``, 3.48 ``shared_targets``/``service_uuid``, 3.61 ``cluster_name``, 3.63
``volume_type_id``, 3.65 ``consumes_quota``...). Volumes (``creating`` -> ``available``,
``attaching`` -> ``in-use`` via Nova, ``detaching`` -> ``available``, ``extending``,
``deleting`` -> gone), snapshots, metadata, volume types (listing), limits and quota sets with
Cinder's 413 ``overLimit`` answers.

Compute calls :func:`reserve`, :func:`attach`, :func:`detach`, :func:`create_for_server` and
:func:`delete_internal` so that volume states follow Nova's attachments.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    MicroversionSpec,
    Service,
    current_cloud,
    json_response,
    microversion,
    new_id,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import Routes, after_marker, limited
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


def at_least(version: str) -> bool:
    major, _, minor = version.partition(".")
    return microversion() >= (int(major), int(minor))


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


def render_error(err: ApiError) -> Response:
    code = err.code if err.code in _CODES.values() else _CODES.get(err.status, "computeFault")
    return json_response({code: {"code": err.status, "message": err.message}}, err.status)


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


def new_volume(cloud: LocalCloud, auth: AuthContext, size: int, **fields: Any) -> Doc:
    _check_quota(cloud, auth.project_id, "volumes", size)
    now = now_iso(micro=True)
    doc: Doc = {
        "id": new_id(),
        "project_id": auth.project_id,
        "user_id": auth.user_id,
        "size": size,
        "status": "creating",
        "created_at": now,
        "updated_at": None,
        "attachments": [],
        "metadata": {},
        "bootable": False,
    }
    doc.update(fields)
    cloud.transition(VOLUME, doc, {"status": "available"}, create=True, error={"status": "error"})
    cloud.put(VOLUME, doc)
    return doc


# -- hooks used by compute --------------------------------------------------------------


def reserve(cloud: LocalCloud, auth: AuthContext, volume_id: str) -> Doc:
    """Check that a volume may be attached (Nova's ``reserve_volume``)."""
    doc = cloud.get(VOLUME, volume_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Volume {volume_id} could not be found.", "itemNotFound")
    if doc["status"] != "available":
        raise ApiError(
            400,
            f"Invalid volume: Volume status must be available to reserve, but the status is {doc['status']}.",
            "badRequest",
        )
    return doc


def attach(cloud: LocalCloud, volume_id: str, server_id: str, device: str) -> str:
    """Attach: ``attaching`` now, ``in-use`` after one clock step; return the attachment id."""
    doc = cloud.store.get(VOLUME, volume_id)
    if doc is None:
        raise ApiError(404, f"Volume {volume_id} could not be found.", "itemNotFound")
    attachment_id = new_id()
    doc["status"] = "attaching"
    doc["updated_at"] = now_iso(micro=True)
    doc.setdefault("attachments", []).append(
        {
            "server_id": server_id,
            "attachment_id": attachment_id,
            "volume_id": volume_id,
            "id": volume_id,
            "device": device,
            "host_name": "localcloud",
            "attached_at": now_iso(micro=True),
        }
    )
    cloud.transition(VOLUME, doc, {"status": "in-use", "attach_status": "attached"})
    cloud.put(VOLUME, doc)
    return attachment_id


def detach(cloud: LocalCloud, volume_id: str, server_id: str, immediate: bool = False) -> None:
    """Detach: ``detaching`` now, ``available`` after one clock step (or at once)."""
    doc = cloud.store.get(VOLUME, volume_id)
    if doc is None:
        return
    doc["attachments"] = [a for a in doc.get("attachments", []) if a["server_id"] != server_id]
    doc["updated_at"] = now_iso(micro=True)
    if doc["attachments"]:
        cloud.put(VOLUME, doc)
        return
    doc.setdefault("_lc", {})["queue"] = []
    if immediate:
        doc["status"] = "available"
    else:
        doc["status"] = "detaching"
        cloud.transition(VOLUME, doc, {"status": "available", "attach_status": "detached"})
    cloud.put(VOLUME, doc)


def create_for_server(
    cloud: LocalCloud, auth: AuthContext, size: int, image_id: str | None, name: str
) -> Doc:
    """A boot volume Nova creates for ``block_device_mapping_v2`` (available at once)."""
    _check_quota(cloud, auth.project_id, "volumes", size)
    now = now_iso(micro=True)
    doc: Doc = {
        "id": new_id(),
        "project_id": auth.project_id,
        "user_id": auth.user_id,
        "size": size,
        "status": "available",
        "created_at": now,
        "updated_at": now,
        "attachments": [],
        "metadata": {},
        "bootable": bool(image_id),
        "name": name,
        "description": "",
    }
    if image_id:
        img = cloud.store.get("image.image", image_id)
        if img is None:
            raise ApiError(400, "Can not find requested image", "badRequest")
        doc["image_metadata"] = {
            "image_id": image_id,
            "image_name": img.get("name"),
            "disk_format": img.get("disk_format"),
            "container_format": img.get("container_format"),
        }
    cloud.put(VOLUME, doc)
    return doc


def delete_internal(cloud: LocalCloud, volume_id: str) -> None:
    for snap in cloud.store.find(SNAPSHOT, lambda s: s["volume_id"] == volume_id):
        cloud.delete(SNAPSHOT, snap["id"])
    cloud.delete(VOLUME, volume_id)


def _gone(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    if kind == VOLUME:
        delete_internal(cloud, doc["id"])
    else:
        cloud.delete(kind, doc["id"])
    return None


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
    if force and not auth.is_admin:
        raise ApiError(403, "Policy doesn't allow volume:force_delete to be performed.", "forbidden")
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
        if not auth.is_admin:
            raise ApiError(
                403,
                "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.",
                "forbidden",
            )
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
        if not auth.is_admin:
            raise ApiError(
                403,
                "Policy doesn't allow volume_extension:volume_admin_actions:force_delete to be performed.",
                "forbidden",
            )
        delete_internal(cloud, volume_id)
        return json_response(None, 202)
    else:
        raise ApiError(400, f"There is no such action: {name}", "badRequest")
    doc["updated_at"] = now_iso(micro=True)
    cloud.put(VOLUME, doc)
    return json_response(None, 202)


def _metadata_doc(kind: str, project_id: str, res_id: str) -> tuple[LocalCloud, Doc]:
    auth = _scope(project_id)
    cloud = current_cloud()
    doc = _volume(cloud, auth, res_id) if kind == VOLUME else _snapshot(cloud, auth, res_id)
    return cloud, doc


@routes.get("/<project_id>/<coll>/<res_id>/metadata")
def get_metadata(project_id: str, coll: str, res_id: str) -> Response:
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    _, doc = _metadata_doc(kind, project_id, res_id)
    return json_response({"metadata": doc.get("metadata", {})})


@routes.route("/<project_id>/<coll>/<res_id>/metadata", "POST", "PUT")
def set_metadata(project_id: str, coll: str, res_id: str) -> Response:
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    cloud, doc = _metadata_doc(kind, project_id, res_id)
    meta = request_json().get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(400, "Malformed request body", "badRequest")
    doc["metadata"] = {**doc.get("metadata", {}), **meta} if request.method == "POST" else meta
    cloud.put(kind, doc)
    return json_response({"metadata": doc["metadata"]})


@routes.get("/<project_id>/<coll>/<res_id>/metadata/<key>")
def get_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    _, doc = _metadata_doc(kind, project_id, res_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, f"Metadata with key {key} could not be found.", "itemNotFound")
    return json_response({"meta": {key: doc["metadata"][key]}})


@routes.put("/<project_id>/<coll>/<res_id>/metadata/<key>")
def set_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    cloud, doc = _metadata_doc(kind, project_id, res_id)
    meta = request_json().get("meta")
    if not isinstance(meta, dict) or key not in meta or len(meta) != 1:
        raise ApiError(400, "Request body and URI mismatch", "badRequest")
    doc.setdefault("metadata", {}).update(meta)
    cloud.put(kind, doc)
    return json_response({"meta": meta})


@routes.delete("/<project_id>/<coll>/<res_id>/metadata/<key>")
def delete_meta_item(project_id: str, coll: str, res_id: str, key: str) -> Response:
    kind = {"volumes": VOLUME, "snapshots": SNAPSHOT}.get(coll)
    if kind is None:
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    cloud, doc = _metadata_doc(kind, project_id, res_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, f"Metadata with key {key} could not be found.", "itemNotFound")
    del doc["metadata"][key]
    cloud.put(kind, doc)
    return json_response(None, 200)


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
        if not auth.is_admin:
            raise ApiError(403, "Policy doesn't allow this to be performed.", "forbidden")
        doc["status"] = body["os-reset_status"].get("status", doc["status"])
    elif "os-force_delete" in body:
        if not auth.is_admin:
            raise ApiError(403, "Policy doesn't allow this to be performed.", "forbidden")
        cloud.delete(SNAPSHOT, snapshot_id)
        return json_response(None, 202)
    else:
        raise ApiError(400, "There is no such action", "badRequest")
    cloud.put(SNAPSHOT, doc)
    return json_response(None, 202)


# -- types, zones, limits, quotas -------------------------------------------------------


@routes.get("/<project_id>/types")
def list_types(project_id: str) -> Response:
    _scope(project_id)
    return json_response({"volume_types": [DEFAULT_TYPE]})


@routes.get("/<project_id>/types/<type_id>")
def get_type(project_id: str, type_id: str) -> Response:
    _scope(project_id)
    if type_id not in (DEFAULT_TYPE["id"], "default", DEFAULT_TYPE["name"]):
        raise ApiError(404, f"Volume type {type_id} could not be found.", "itemNotFound")
    return json_response({"volume_type": DEFAULT_TYPE})


@routes.get("/<project_id>/os-availability-zone")
def availability_zones(project_id: str) -> Response:
    _scope(project_id)
    return json_response({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]})


@routes.get("/<project_id>/limits")
def limits(project_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    used = _usage(cloud, auth.project_id)
    q = {k: cloud.quota(auth.project_id, k) for k in QUOTA_KEYS}
    return json_response(
        {
            "limits": {
                "rate": [],
                "absolute": {
                    "maxTotalVolumes": q["volumes"],
                    "maxTotalVolumeGigabytes": q["gigabytes"],
                    "maxTotalSnapshots": q["snapshots"],
                    "maxTotalBackups": q["backups"],
                    "maxTotalBackupGigabytes": q["backup_gigabytes"],
                    "totalVolumesUsed": used["volumes"],
                    "totalGigabytesUsed": used["gigabytes"],
                    "totalSnapshotsUsed": used["snapshots"],
                    "totalBackupsUsed": 0,
                    "totalBackupGigabytesUsed": 0,
                },
            }
        }
    )


def _quota_values(cloud: LocalCloud, target: str, usage: bool) -> dict[str, Any]:
    used = _usage(cloud, target)
    out: dict[str, Any] = {}
    for key in QUOTA_KEYS:
        limit = cloud.quota(target, key)
        out[key] = (
            {"limit": limit, "in_use": used.get(key, 0), "reserved": 0, "allocated": 0} if usage else limit
        )
    out[f"volumes_{DEFAULT_TYPE['name']}"] = out["volumes"]
    out[f"gigabytes_{DEFAULT_TYPE['name']}"] = out["gigabytes"]
    out[f"snapshots_{DEFAULT_TYPE['name']}"] = out["snapshots"]
    out["id"] = target
    return out


@routes.get("/<project_id>/os-quota-sets/<target>")
def get_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    if target != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Policy doesn't allow volume_extension:quotas:show to be performed.", "forbidden")
    usage = request.args.get("usage", "false").lower() == "true"
    return json_response({"quota_set": _quota_values(current_cloud(), target, usage)})


@routes.get("/<project_id>/os-quota-sets/<target>/defaults")
def get_quota_defaults(project_id: str, target: str) -> Response:
    _scope(project_id)
    defaults = current_cloud().seed_data.get("quotas", {}).get("volume", {})
    out: dict[str, Any] = {k: int(defaults.get(k, -1)) for k in QUOTA_KEYS}
    out["id"] = target
    return json_response({"quota_set": out})


@routes.put("/<project_id>/os-quota-sets/<target>")
def update_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    if not auth.is_admin:
        raise ApiError(
            403, "Policy doesn't allow volume_extension:quotas:update to be performed.", "forbidden"
        )
    cloud = current_cloud()
    body = request_json().get("quota_set")
    if not isinstance(body, dict):
        raise ApiError(400, "Missing required element 'quota_set' in request body.", "badRequest")
    for key, value in body.items():
        base = key.split("_" + str(DEFAULT_TYPE["name"]))[0]
        if base not in QUOTA_KEYS:
            raise ApiError(400, f"Bad key(s) in quota set: {key}", "badRequest")
        cloud.set_quota(target, base, int(value))
    out = _quota_values(cloud, target, False)
    out.pop("id")
    return json_response({"quota_set": out})


@routes.delete("/<project_id>/os-quota-sets/<target>")
def delete_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    if not auth.is_admin:
        raise ApiError(
            403, "Policy doesn't allow volume_extension:quotas:delete to be performed.", "forbidden"
        )
    cloud = current_cloud()
    doc = cloud.store.get("core.quota", target)
    if doc is not None:
        for key in QUOTA_KEYS:
            doc["limits"].pop(key, None)
        cloud.store.put("core.quota", doc)
    return json_response(None, 200)


def register(cloud: LocalCloud) -> None:
    cloud.add_service(
        Service(
            name="volume",
            prefix="/volume/v3",
            blueprint=bp,
            catalog=[
                CatalogEntry("block-storage", "cinder", "/volume/v3/{project_id}"),
                CatalogEntry("volumev3", "cinderv3", "/volume/v3/{project_id}"),
            ],
            render_error=render_error,
            microversion=MicroversionSpec(
                "volume", MIN_MICROVERSION, MAX_MICROVERSION, aliases=("block-storage",)
            ),
        )
    )
    cloud.add_hook("volume.gone", _gone)
