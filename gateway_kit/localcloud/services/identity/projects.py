"""Domains (the default one) and projects."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    json_response,
    new_id,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import (
    ASSIGNMENT,
    DEFAULT_DOMAIN,
    PROJECT,
    _admin,
    _create_request,
    _link,
    project_view,
    routes,
)
from .tokens import _user_projects

# -- domains ----------------------------------------------------------------------------


def _domain_view() -> dict[str, Any]:
    return {
        **DEFAULT_DOMAIN,
        "description": "The default domain",
        "enabled": True,
        "tags": [],
        "options": {},
        "links": _link("/domains/default"),
    }


@routes.get("/v3/domains")
def list_domains() -> Response:
    require_token()
    name = request.args.get("name")
    doms = [_domain_view()] if name in (None, "Default") else []
    return json_response({"domains": doms, "links": _link("/domains")})


@routes.get("/v3/domains/<domain_id>")
def get_domain(domain_id: str) -> Response:
    require_token()
    if domain_id != "default":
        raise ApiError(404, f"Could not find domain: {domain_id}.")
    return json_response({"domain": _domain_view()})


# -- projects ---------------------------------------------------------------------------


def _list_filter(docs: list[Doc], keys: tuple[str, ...]) -> list[Doc]:
    for key in keys:
        if key in request.args:
            want = request.args[key]
            if key == "enabled":
                docs = [d for d in docs if str(d.get("enabled", True)).lower() == want.lower()]
            else:
                docs = [d for d in docs if str(d.get(key, "default" if key == "domain_id" else "")) == want]
    return docs


@routes.get("/v3/projects")
def list_projects() -> Response:
    auth = require_token()
    cloud = current_cloud()
    docs = cloud.list(PROJECT) if auth.is_admin else _user_projects(auth.user_id)
    docs = _list_filter(docs, ("name", "domain_id", "enabled", "parent_id"))
    return json_response(
        {
            "projects": [project_view(p) for p in docs],
            "links": {**_link("/projects"), "next": None, "previous": None},
        }
    )


def _get_project(project_id: str, auth: AuthContext) -> Doc:
    doc = current_cloud().get(PROJECT, project_id)
    if doc is None:
        raise ApiError(404, f"Could not find project: {project_id}.")
    if not auth.is_admin and doc["id"] != auth.project_id:
        raise ApiError(403, "You are not authorized to perform the requested action: identity:get_project.")
    return doc


@routes.get("/v3/projects/<project_id>")
def get_project(project_id: str) -> Response:
    auth = require_token()
    return json_response({"project": project_view(_get_project(project_id, auth))})


@routes.post("/v3/projects")
def create_project() -> Response:
    body, name = _create_request(
        PROJECT,
        "project",
        "Conflict occurred attempting to store project - it is not permitted to have two projects "
        "with the same name in the same domain : {name}.",
    )
    doc = {
        "id": new_id().replace("-", ""),
        "name": name,
        "description": body.get("description", ""),
        "domain_id": body.get("domain_id", "default"),
        "enabled": body.get("enabled", True),
        "tags": body.get("tags", []),
    }
    current_cloud().put(PROJECT, doc)
    return json_response({"project": project_view(doc)}, 201)


@routes.patch("/v3/projects/<project_id>")
def update_project(project_id: str) -> Response:
    auth = require_token()
    _admin(auth)
    doc = _get_project(project_id, auth)
    body = request_json().get("project") or {}
    for key in ("name", "description", "enabled", "tags"):
        if key in body:
            doc[key] = body[key]
    current_cloud().put(PROJECT, doc)
    return json_response({"project": project_view(doc)})


@routes.delete("/v3/projects/<project_id>")
def delete_project(project_id: str) -> Response:
    auth = require_token()
    _admin(auth)
    cloud = current_cloud()
    _get_project(project_id, auth)
    cloud.delete(PROJECT, project_id)
    for a in cloud.list(ASSIGNMENT, lambda a: a["project_id"] == project_id):
        cloud.delete(ASSIGNMENT, a["id"])
    return json_response(None, 204)


@routes.get("/v3/users/<user_id>/projects")
def list_user_projects(user_id: str) -> Response:
    auth = require_token()
    if auth.user_id != user_id and not auth.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    return json_response(
        {
            "projects": [project_view(p) for p in _user_projects(user_id)],
            "links": _link(f"/users/{user_id}/projects"),
        }
    )
