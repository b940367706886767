"""Glance v2 for the local cloud (``/image``).

Images with Glance's lifecycle (``queued`` -> ``saving`` -> ``active``, ``deactivated``,
deleted = 404), visibility (public/private/shared/community, private images invisible to
other projects), JSON-patch updates, tags, data upload/download (kept in the state directory),
and the images Nova's ``createImage`` makes (see :func:`create_snapshot_image`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    http_title,
    json_response,
    new_id,
    now_iso,
    require_token,
)
from gateway_kit.localcloud.rest import Routes, after_marker, limited
from gateway_kit.localcloud.store import Doc

bp = Blueprint("image", __name__, url_prefix="/image")
routes = Routes(bp)

IMAGE = "image.image"

_CORE = (
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "created_at",
    "updated_at",
    "tags",
)
_READ_ONLY = (
    "id",
    "status",
    "owner",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
)
_DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
_CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")


def render_error(err: ApiError) -> Response:
    # Glance answers webob error pages; the SDK strips the markup for the message.
    title = http_title(err.status, (400, 401, 403, 404, 409, 413, 415, 429))
    body = (
        f"<html>\n <head>\n  <title>{err.status} {title}</title>\n </head>\n <body>\n"
        f"  <h1>{err.status} {title}</h1>\n  {err.message}<br /><br />\n\n\n\n </body>\n"
        "</html>"
    )
    return Response(body, status=err.status, mimetype="text/html")


def _visible(doc: Doc, auth: AuthContext) -> bool:
    return (
        auth.is_admin
        or doc["visibility"] in ("public", "community")
        or doc["owner"] == auth.project_id
        or (doc["visibility"] == "shared" and auth.project_id in doc.get("_members", []))
    )


def view(doc: Doc) -> dict[str, Any]:
    out = {k: doc.get(k) for k in _CORE}
    out.update(doc.get("properties", {}))
    out["self"] = f"/v2/images/{doc['id']}"
    out["file"] = f"/v2/images/{doc['id']}/file"
    out["schema"] = "/v2/schemas/image"
    return out


def _lookup(image_id: str, auth: AuthContext) -> Doc:
    doc = current_cloud().get(IMAGE, image_id)
    if doc is None or not _visible(doc, auth):
        raise ApiError(404, f"No image found with ID {image_id}")
    return doc


def _changeable(image_id: str, auth: AuthContext, verb: str) -> Doc:
    """The image, if the caller's project owns it or the caller is an admin (else 403 "You are
    not permitted to ``verb`` this image.")."""
    doc = _lookup(image_id, auth)
    if doc["owner"] != auth.project_id and not auth.is_admin:
        raise ApiError(403, f"You are not permitted to {verb} this image.")
    return doc


def new_image(cloud: LocalCloud, owner: str, body: dict[str, Any]) -> Doc:
    now = now_iso()
    props = {k: v for k, v in body.items() if k not in _CORE and k not in _READ_ONLY}
    props.update(body.get("properties", {}) if isinstance(body.get("properties"), dict) else {})
    props.pop("properties", None)
    doc: Doc = {
        "id": body.get("id") or new_id(),
        "name": body.get("name"),
        "status": "queued",
        "visibility": body.get("visibility", "shared"),
        "protected": bool(body.get("protected", False)),
        "os_hidden": bool(body.get("os_hidden", False)),
        "owner": owner,
        "disk_format": body.get("disk_format"),
        "container_format": body.get("container_format"),
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "os_hash_algo": None,
        "os_hash_value": None,
        "min_disk": int(body.get("min_disk", 0)),
        "min_ram": int(body.get("min_ram", 0)),
        "created_at": now,
        "updated_at": now,
        "tags": list(body.get("tags", [])),
        "properties": props,
    }
    return doc


def create_snapshot_image(
    cloud: LocalCloud, project_id: str, name: str, server: Doc, metadata: dict[str, Any]
) -> Doc:
    """The image a Nova ``createImage`` action makes: ``queued`` -> ``saving`` -> ``active``."""
    base = cloud.store.get(IMAGE, server.get("image_id") or "") or {}
    doc = new_image(
        cloud,
        project_id,
        {
            "name": name,
            "visibility": "private",
            "disk_format": base.get("disk_format", "qcow2"),
            "container_format": base.get("container_format", "bare"),
            "min_disk": base.get("min_disk", 0),
            "min_ram": base.get("min_ram", 0),
            "properties": {
                **metadata,
                "image_type": "snapshot",
                "instance_uuid": server["id"],
                "base_image_ref": server.get("image_id") or "",
                "owner_project_name": "",
                "user_id": server.get("user_id", ""),
            },
        },
    )
    size = int(base.get("size") or 1073741824)
    digest = hashlib.md5(doc["id"].encode(), usedforsecurity=False).hexdigest()
    cloud.transition(
        IMAGE,
        doc,
        {"status": "saving"},
        {
            "status": "active",
            "size": size,
            "virtual_size": size,
            "checksum": digest,
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(doc["id"].encode()).hexdigest(),
        },
        create=True,
        error={"status": "killed"},
    )
    cloud.put(IMAGE, doc)
    return doc


def _blob_path(cloud: LocalCloud, image_id: str) -> Path | None:
    if cloud.config.state_dir is None:
        return None
    return cloud.config.state_dir / "images" / image_id


@routes.get("")
@routes.get("/")
def versions() -> Response:
    url = current_cloud().url("/image/v2/")
    vals = [
        {
            "id": f"v2.{n}",
            "status": "CURRENT" if n == 16 else "SUPPORTED",
            "links": [{"rel": "self", "href": url}],
        }
        for n in range(16, -1, -1)
    ]
    return json_response({"versions": vals}, 300)


@routes.get("/v2/images")
def list_images() -> Response:
    auth = require_token()
    docs = [d for d in current_cloud().list(IMAGE) if _visible(d, auth)]
    args = request.args
    if "visibility" in args:
        docs = [d for d in docs if d["visibility"] == args["visibility"]]
    elif not auth.is_admin:
        docs = [d for d in docs if d["visibility"] != "community" or d["owner"] == auth.project_id]
    for key in ("name", "status", "owner", "disk_format", "container_format", "id"):
        if key in args:
            want = args[key]
            if want.startswith("in:"):
                options = want[3:].split(",")
                docs = [d for d in docs if str(d.get(key)) in options]
            else:
                docs = [d for d in docs if str(d.get(key)) == want]
    if "os_hidden" in args:
        docs = [d for d in docs if str(d["os_hidden"]).lower() == args["os_hidden"].lower()]
    else:
        docs = [d for d in docs if not d["os_hidden"]]
    for tag in args.getlist("tag"):
        docs = [d for d in docs if tag in d.get("tags", [])]
    for key in args:
        if (
            key
            not in (
                "name",
                "status",
                "owner",
                "disk_format",
                "container_format",
                "id",
                "visibility",
                "os_hidden",
                "tag",
                "limit",
                "marker",
                "sort_key",
                "sort_dir",
                "sort",
                "member_status",
            )
            and key not in _CORE
        ):
            docs = [d for d in docs if str(d.get("properties", {}).get(key)) == args[key]]
    sort_key = args.get("sort_key", "created_at")
    docs.sort(key=lambda d: str(d.get(sort_key) or ""), reverse=args.get("sort_dir", "desc") == "desc")
    docs = after_marker(docs, args.get("marker"), not_found=lambda m: ApiError(400, f"marker {m} not found"))
    body: dict[str, Any] = {"first": "/v2/images", "schema": "/v2/schemas/images"}
    limit = args.get("limit")
    if limit and len(docs) > len(page := limited(docs, limit)):
        docs = page
        body["next"] = f"/v2/images?marker={docs[-1]['id']}&limit={limit}"
    body["images"] = [view(d) for d in docs]
    return json_response(body)


@routes.get("/v2/images/<image_id>")
def get_image(image_id: str) -> Response:
    auth = require_token()
    return json_response(view(_lookup(image_id, auth)))


@routes.post("/v2/images")
def create_image() -> Response:
    auth = require_token()
    from gateway_kit.localcloud.core import request_json

    body = request_json()
    for key in _READ_ONLY:
        if key in body and key != "id":
            raise ApiError(403, f"Attribute '{key}' is read-only.")
    if body.get("disk_format") not in (None, *_DISK_FORMATS):
        raise ApiError(
            400,
            f"Invalid value '{body['disk_format']}' for parameter "
            "'disk_format': Provided object does not match schema "
            "'image': ...",
        )
    if body.get("container_format") not in (None, *_CONTAINER_FORMATS):
        raise ApiError(400, f"Invalid value '{body['container_format']}' for parameter 'container_format'")
    if body.get("visibility") == "public" and not auth.is_admin:
        raise ApiError(403, "You are not authorized to complete publicize_image action.")
    cloud = current_cloud()
    if body.get("id") and cloud.store.get(IMAGE, body["id"]):
        raise ApiError(409, f"Image with identifier {body['id']} already exists!")
    doc = new_image(cloud, auth.project_id, body)
    cloud.put(IMAGE, doc)
    return json_response(view(doc), 201, {"Location": cloud.url(f"/image/v2/images/{doc['id']}")})


@routes.patch("/v2/images/<image_id>")
def update_image(image_id: str) -> Response:
    auth = require_token()
    import json

    cloud = current_cloud()
    doc = _changeable(image_id, auth, "modify")
    ctype = request.headers.get("Content-Type", "")
    if "openstack-images-v2.1-json-patch" not in ctype and "json-patch" not in ctype:
        raise ApiError(415, f"Unsupported Content-Type {ctype}")
    try:
        ops = json.loads(request.get_data() or b"[]")
    except ValueError as exc:
        raise ApiError(400, "Malformed JSON in request body.") from exc
    for op in ops:
        path = str(op.get("path", "")).lstrip("/")
        kind = op.get("op")
        if path in _READ_ONLY:
            raise ApiError(403, f"Attribute '{path}' is read-only.")
        if path.startswith("tags"):
            if kind in ("add", "replace"):
                doc["tags"] = list(op["value"]) if path == "tags" else doc["tags"] + [op["value"]]
            continue
        if path in _CORE:
            if kind == "remove":
                raise ApiError(403, f"Attribute '{path}' is reserved.")
            if path == "visibility" and op["value"] == "public" and not auth.is_admin:
                raise ApiError(403, "You are not authorized to complete publicize_image action.")
            doc[path] = op["value"]
        else:
            props = doc.setdefault("properties", {})
            if kind == "remove":
                if path not in props:
                    raise ApiError(409, f"Property {path} does not exist.")
                props.pop(path)
            elif kind == "add" or path in props:
                props[path] = op["value"]
            else:
                raise ApiError(409, f"Property {path} does not exist.")
    doc["updated_at"] = now_iso()
    cloud.put(IMAGE, doc)
    return json_response(view(doc))


@routes.delete("/v2/images/<image_id>")
def delete_image(image_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _changeable(image_id, auth, "delete")
    if doc["protected"]:
        raise ApiError(403, f"Image {image_id} is protected and cannot be deleted.")
    cloud.delete(IMAGE, image_id)
    blob = _blob_path(cloud, image_id)
    if blob is not None and blob.exists():
        blob.unlink()
    return json_response(None, 204)


@routes.put("/v2/images/<image_id>/file")
def upload(image_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _changeable(image_id, auth, "upload data to")
    if doc["status"] != "queued":
        raise ApiError(409, f"Image status transition from {doc['status']} to saving is not allowed")
    if not doc.get("disk_format") or not doc.get("container_format"):
        raise ApiError(400, "Properties disk_format, container_format must be set prior to saving data.")
    data = request.get_data()
    blob = _blob_path(cloud, image_id)
    if blob is not None:
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
    doc.update(
        {
            "status": "active",
            "size": len(data),
            "virtual_size": None,
            "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
            "updated_at": now_iso(),
        }
    )
    cloud.put(IMAGE, doc)
    return json_response(None, 204)


@routes.get("/v2/images/<image_id>/file")
def download(image_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _lookup(image_id, auth)
    if doc["status"] != "active":
        return json_response(None, 204)
    blob = _blob_path(cloud, image_id)
    data = blob.read_bytes() if blob is not None and blob.exists() else b""
    return Response(
        data, mimetype="application/octet-stream", headers={"Content-MD5": doc.get("checksum") or ""}
    )


@routes.put("/v2/images/<image_id>/tags/<tag>")
def add_tag(image_id: str, tag: str) -> Response:
    auth = require_token()
    doc = _lookup(image_id, auth)
    if tag not in doc["tags"]:
        doc["tags"].append(tag)
        current_cloud().put(IMAGE, doc)
    return json_response(None, 204)


@routes.delete("/v2/images/<image_id>/tags/<tag>")
def remove_tag(image_id: str, tag: str) -> Response:
    auth = require_token()
    doc = _lookup(image_id, auth)
    if tag not in doc["tags"]:
        raise ApiError(404, f"Tag {tag} not found")
    doc["tags"].remove(tag)
    current_cloud().put(IMAGE, doc)
    return json_response(None, 204)


@routes.post("/v2/images/<image_id>/actions/<action>")
def image_action(image_id: str, action: str) -> Response:
    auth = require_token()
    doc = _changeable(image_id, auth, "change")
    if action == "deactivate" and doc["status"] in ("active", "deactivated"):
        doc["status"] = "deactivated"
    elif action == "reactivate" and doc["status"] in ("active", "deactivated"):
        doc["status"] = "active"
    else:
        raise ApiError(403, f"Not allowed to {action} image in status '{doc['status']}'")
    current_cloud().put(IMAGE, doc)
    return json_response(None, 204)


@routes.get("/v2/schemas/<name>")
def schema(name: str) -> Response:
    require_token()
    if name in ("member", "members"):
        member = {
            "name": "member",
            "properties": {
                k: {"type": "string"}
                for k in ("created_at", "updated_at", "image_id", "member_id", "schema", "status")
            },
        }
        if name == "member":
            return json_response(member)
        return json_response(
            {
                "name": "members",
                "properties": {"members": {"type": "array", "items": member}, "schema": {"type": "string"}},
                "links": [{"rel": "describedby", "href": "{schema}"}],
            }
        )
    if name not in ("image", "images"):
        raise ApiError(404, f"Schema {name} not found")
    image = {
        "name": "image",
        "properties": {k: {} for k in _CORE},
        "additionalProperties": {"type": "string"},
    }
    if name == "image":
        return json_response(image)
    return json_response(
        {
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"},
            },
            "links": [
                {"rel": "first", "href": "{first}"},
                {"rel": "next", "href": "{next}"},
                {"rel": "describedby", "href": "{schema}"},
            ],
        }
    )


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    admin = next((p["id"] for p in cloud.store.all("identity.project") if p["name"] == "admin"), "")
    for spec in data.get("images", []):
        doc = new_image(cloud, admin, {k: v for k, v in spec.items() if k != "size"})
        size = int(spec.get("size", 0))
        doc.update(
            {
                "status": "active",
                "size": size,
                "virtual_size": size,
                "checksum": hashlib.md5(doc["id"].encode(), usedforsecurity=False).hexdigest(),
                "os_hash_algo": "sha512",
                "os_hash_value": hashlib.sha512(doc["id"].encode()).hexdigest(),
            }
        )
        cloud.put(IMAGE, doc)


def register(cloud: LocalCloud) -> None:
    cloud.serve(bp, render_error, ("image", "glance"), seed=seed)
