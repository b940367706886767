"""Neutron tags on any collection."""

from __future__ import annotations

from flask import Response, request

from gateway_kit.localcloud.core import ApiError, current_cloud, json_response, request_json, require_token
from gateway_kit.localcloud.store import Doc

from .common import collection, routes
from .crud import _lookup

# -- tags -------------------------------------------------------------------------------


def _tag_target(coll: str, res_id: str) -> tuple[str, Doc]:
    kind = collection(coll)[0]
    return kind, _lookup(coll, res_id, require_token())


@routes.get("/v2.0/<coll>/<res_id>/tags")
def get_tags(coll: str, res_id: str) -> Response:
    _, doc = _tag_target(coll, res_id)
    return json_response({"tags": doc.get("tags", [])})


def _put_tags(coll: str, res_id: str, keep: bool) -> list[str]:
    """Replace (``keep`` false) or extend the resource's tags with the request's list."""
    kind, doc = _tag_target(coll, res_id)
    tags = request_json().get("tags")
    if not isinstance(tags, list):
        raise ApiError(400, "Invalid tags body", "HTTPBadRequest")
    doc["tags"] = sorted((set(doc.get("tags", [])) if keep else set()) | {str(t) for t in tags})
    current_cloud().put(kind, doc)
    return list(doc["tags"])


@routes.put("/v2.0/<coll>/<res_id>/tags")
def set_tags(coll: str, res_id: str) -> Response:
    return json_response({"tags": _put_tags(coll, res_id, keep=False)})


@routes.post("/v2.0/<coll>/<res_id>/tags")
def add_tags(coll: str, res_id: str) -> Response:
    return json_response({"tags": _put_tags(coll, res_id, keep=True)}, 201)


@routes.delete("/v2.0/<coll>/<res_id>/tags")
def clear_tags(coll: str, res_id: str) -> Response:
    kind, doc = _tag_target(coll, res_id)
    doc["tags"] = []
    current_cloud().put(kind, doc)
    return json_response(None, 204)


@routes.route("/v2.0/<coll>/<res_id>/tags/<tag>", "GET", "PUT", "DELETE")
def one_tag(coll: str, res_id: str, tag: str) -> Response:
    kind, doc = _tag_target(coll, res_id)
    tags = doc.get("tags", [])
    if request.method == "PUT":
        doc["tags"] = sorted(set(tags) | {tag})
        current_cloud().put(kind, doc)
        return json_response(None, 201)
    if tag not in tags:
        raise ApiError(404, f"Tag {tag} could not be found.", "TagNotFound")
    if request.method == "DELETE":
        tags.remove(tag)
        doc["tags"] = tags
        current_cloud().put(kind, doc)
    return json_response(None, 204)
