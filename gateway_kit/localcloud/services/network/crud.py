"""The generic collection routes ``/v2.0/<coll>[/<id>]``: list, show, create, update, delete through
the per-collection handler tables, plus versions and extensions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    json_response,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.store import Doc

from .common import COLLECTIONS, EXTENSIONS, RULE, SG, _not_found, _visible, collection, routes, view
from .effects import _check_quota, default_security_group
from .listing import _filter, _paginate

# -- generic CRUD -----------------------------------------------------------------------


def _lookup(coll: str, res_id: str, auth: AuthContext) -> Doc:
    kind, singular, _ = COLLECTIONS[coll]
    doc = current_cloud().get(kind, res_id)
    if doc is None or not _visible(doc, kind, auth):
        raise _not_found(singular, res_id)
    return doc


def _owner_check(doc: Doc, auth: AuthContext, singular: str) -> None:
    if not auth.is_admin and doc.get("project_id") != auth.project_id:
        raise _not_found(singular, doc["id"])


@routes.get("")
@routes.get("/")
def versions() -> Response:
    return json_response(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": current_cloud().url("/networking/v2.0/")}],
                }
            ]
        }
    )


@routes.get("/v2.0/extensions")
def extensions() -> Response:
    require_token()
    return json_response(
        {
            "extensions": [
                {"alias": a, "name": n, "description": n, "updated": "2013-01-20T00:00:00-00:00", "links": []}
                for a, n in EXTENSIONS
            ]
        }
    )


@routes.get("/v2.0/extensions/<alias>")
def extension(alias: str) -> Response:
    require_token()
    for a, n in EXTENSIONS:
        if a == alias:
            return json_response(
                {
                    "extension": {
                        "alias": a,
                        "name": n,
                        "description": n,
                        "updated": "2013-01-20T00:00:00-00:00",
                        "links": [],
                    }
                }
            )
    raise ApiError(404, f"Extension with alias {alias} does not exist", "HTTPNotFound")


@routes.get("/v2.0/<coll>")
def list_collection(coll: str) -> Response:
    kind = collection(coll)[0]
    auth = require_token()
    cloud = current_cloud()
    if kind in (SG, RULE):
        default_security_group(cloud, auth.project_id)
    docs = [view(kind, d, auth) for d in cloud.list(kind) if _visible(d, kind, auth)]
    return json_response(_paginate(coll, _filter(docs)))


@routes.get("/v2.0/<coll>/<res_id>")
def show(coll: str, res_id: str) -> Response:
    kind, singular, _ = collection(coll)
    auth = require_token()
    out = view(kind, _lookup(coll, res_id, auth), auth)
    fields = request.args.getlist("fields")
    if fields:
        out = {k: v for k, v in out.items() if k in fields}
    return json_response({singular: out})


def _body(singular: str) -> dict[str, Any]:
    body = request_json().get(singular)
    if not isinstance(body, dict):
        raise ApiError(400, f"Resource body required: expecting '{singular}'.", "HTTPBadRequest")
    return body


def _target_project(body: dict[str, Any], auth: AuthContext) -> str:
    project = body.get("project_id") or body.get("tenant_id") or auth.project_id
    require_policy(auth.is_admin or project == auth.project_id, "this operation", "PolicyNotAuthorized")
    return str(project)


CREATORS: dict[str, Callable[[dict[str, Any], AuthContext], Doc]] = {}
UPDATERS: dict[str, Callable[[Doc, dict[str, Any], AuthContext], Doc]] = {}
DELETERS: dict[str, Callable[[Doc, AuthContext], None]] = {}


@routes.post("/v2.0/<coll>")
def create(coll: str) -> Response:
    kind, singular, resource = collection(coll)
    auth = require_token()
    body = _body(singular)
    project = _target_project(body, auth)
    if coll != "ports":
        _check_quota(current_cloud(), resource, kind, project)
    doc = CREATORS[coll](body, auth)
    return json_response({singular: view(kind, doc, auth)}, 201)


@routes.put("/v2.0/<coll>/<res_id>")
def update(coll: str, res_id: str) -> Response:
    kind, singular, _ = collection(coll)
    if coll == "security-group-rules":
        raise ApiError(405, "The resource could not be found.", "HTTPNotFound")
    auth = require_token()
    doc = _lookup(coll, res_id, auth)
    _owner_check(doc, auth, singular)
    body = _body(singular)
    for key in ("id", "tenant_id", "project_id", "created_at", "updated_at", "revision_number"):
        if key in body and body[key] != doc.get(key):
            raise ApiError(400, f"Cannot update read-only attribute {key}", "HTTPBadRequest")
    doc = UPDATERS[coll](doc, body, auth)
    doc["updated_at"] = now_iso()
    doc["revision_number"] = doc.get("revision_number", 0) + 1
    current_cloud().put(kind, doc)
    return json_response({singular: view(kind, doc, auth)})


@routes.delete("/v2.0/<coll>/<res_id>")
def delete(coll: str, res_id: str) -> Response:
    kind, singular, _ = collection(coll)
    auth = require_token()
    doc = _lookup(coll, res_id, auth)
    _owner_check(doc, auth, singular)
    DELETERS[coll](doc, auth)
    current_cloud().delete(kind, doc["id"])
    return json_response(None, 204)
