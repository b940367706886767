"""Deprecated proxy APIs (microversion < 2.36): images and floating IP pools through Nova."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    json_response,
    request_json,
    require_token,
)
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import _paginate_docs, at_least, routes

# -- deprecated proxies (microversion < 2.36) -------------------------------------------


def _proxy_api(name: str) -> None:
    if at_least("2.36"):
        raise ApiError(404, "The resource could not be found.", "itemNotFound")


def _nova_image_view(doc: Doc) -> dict[str, Any]:
    cloud = current_cloud()
    status = {
        "active": "ACTIVE",
        "queued": "SAVING",
        "saving": "SAVING",
        "deactivated": "INACTIVE",
        "killed": "ERROR",
    }.get(doc["status"], "UNKNOWN")
    return {
        "id": doc["id"],
        "name": doc.get("name"),
        "status": status,
        "created": doc["created_at"],
        "updated": doc["updated_at"],
        "minDisk": doc.get("min_disk", 0),
        "minRam": doc.get("min_ram", 0),
        "progress": 100 if status == "ACTIVE" else 25,
        "metadata": {k: str(v) for k, v in doc.get("properties", {}).items()},
        "OS-EXT-IMG-SIZE:size": doc.get("size"),
        "links": [
            {"rel": "self", "href": cloud.url(f"/compute/v2.1/images/{doc['id']}")},
            {"rel": "bookmark", "href": cloud.url(f"/compute/images/{doc['id']}")},
            {
                "rel": "alternate",
                "type": "application/vnd.openstack.image",
                "href": cloud.url(f"/image/images/{doc['id']}"),
            },
        ],
    }


def _nova_images(auth: AuthContext) -> list[Doc]:
    return [
        d
        for d in current_cloud().list("image.image")
        if auth.is_admin or d["visibility"] in ("public", "community") or d["owner"] == auth.project_id
    ]


def _nova_image(image_id: str, auth: AuthContext) -> Doc:
    for doc in _nova_images(auth):
        if doc["id"] == image_id:
            return doc
    raise ApiError(404, "Image not found.", "itemNotFound")


@routes.get("/images")
@routes.get("/images/detail")
def nova_list_images() -> Response:
    _proxy_api("images")
    auth = require_token()
    docs = _nova_images(auth)
    if "name" in request.args:
        docs = [d for d in docs if d.get("name") == request.args["name"]]
    docs = _paginate_docs(docs)
    if request.path.endswith("/detail"):
        return json_response({"images": [_nova_image_view(d) for d in docs]})
    return json_response(
        {
            "images": [
                {k: v for k, v in _nova_image_view(d).items() if k in ("id", "name", "links")} for d in docs
            ]
        }
    )


@routes.get("/images/<image_id>")
def nova_get_image(image_id: str) -> Response:
    _proxy_api("images")
    return json_response({"image": _nova_image_view(_nova_image(image_id, require_token()))})


@routes.delete("/images/<image_id>")
def nova_delete_image(image_id: str) -> Response:
    _proxy_api("images")
    auth = require_token()
    doc = _nova_image(image_id, auth)
    if doc["owner"] != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Not allowed to delete this image.", "forbidden")
    current_cloud().delete("image.image", image_id)
    return json_response(None, 204)


def _image_meta_doc(image_id: str) -> Doc:
    _proxy_api("images")
    auth = require_token()
    doc = _nova_image(image_id, auth)
    if request.method != "GET" and doc["owner"] != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Not allowed to modify this image.", "forbidden")
    return doc


@routes.route("/images/<image_id>/metadata", "GET", "POST", "PUT")
def nova_image_metadata(image_id: str) -> Response:
    doc = _image_meta_doc(image_id)
    props = doc.setdefault("properties", {})
    if request.method != "GET":
        meta = request_json().get("metadata")
        if not isinstance(meta, dict):
            raise ApiError(400, "Malformed request body", "badRequest")
        if request.method == "PUT":
            props.clear()
        props.update({k: str(v) for k, v in meta.items()})
        current_cloud().put("image.image", doc)
    return json_response({"metadata": {k: str(v) for k, v in props.items()}})


@routes.route("/images/<image_id>/metadata/<key>", "GET", "PUT", "DELETE")
def nova_image_meta_item(image_id: str, key: str) -> Response:
    doc = _image_meta_doc(image_id)
    props = doc.setdefault("properties", {})
    if request.method == "PUT":
        meta = request_json().get("meta")
        if not isinstance(meta, dict) or key not in meta:
            raise ApiError(400, "Request body and URI mismatch", "badRequest")
        props[key] = str(meta[key])
        current_cloud().put("image.image", doc)
        return json_response({"meta": {key: props[key]}})
    if key not in props:
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    if request.method == "DELETE":
        del props[key]
        current_cloud().put("image.image", doc)
        return json_response(None, 204)
    return json_response({"meta": {key: str(props[key])}})


@routes.get("/os-floating-ip-pools")
def floating_ip_pools() -> Response:
    _proxy_api("os-floating-ip-pools")
    require_token()
    pools = [{"name": n["name"]} for n in current_cloud().list(neutron.NETWORK) if n.get("router:external")]
    return json_response({"floating_ip_pools": pools})
