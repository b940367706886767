"""Roles and role assignments."""

from __future__ import annotations

from flask import Response, request

from gateway_kit.localcloud.core import ApiError, LocalCloud, current_cloud, json_response, require_token
from gateway_kit.localcloud.store import Doc

from .common import ASSIGNMENT, PROJECT, ROLE, USER, _admin, _link, role_view, routes, user_roles
from .projects import _list_filter

# -- roles and assignments --------------------------------------------------------------


@routes.get("/v3/roles")
def list_roles() -> Response:
    require_token()
    docs = _list_filter(current_cloud().list(ROLE), ("name",))
    return json_response({"roles": [role_view(r) for r in docs], "links": _link("/roles")})


@routes.get("/v3/roles/<role_id>")
def get_role(role_id: str) -> Response:
    require_token()
    doc = current_cloud().get(ROLE, role_id)
    if doc is None:
        raise ApiError(404, f"Could not find role: {role_id}.")
    return json_response({"role": role_view(doc)})


def _assignment_parts(project_id: str, user_id: str, role_id: str) -> tuple[Doc, Doc, Doc]:
    cloud = current_cloud()
    project = cloud.get(PROJECT, project_id)
    if project is None:
        raise ApiError(404, f"Could not find project: {project_id}.")
    user = cloud.get(USER, user_id)
    if user is None:
        raise ApiError(404, f"Could not find user: {user_id}.")
    role = cloud.get(ROLE, role_id)
    if role is None:
        raise ApiError(404, f"Could not find role: {role_id}.")
    return project, user, role


@routes.put("/v3/projects/<project_id>/users/<user_id>/roles/<role_id>")
def grant(project_id: str, user_id: str, role_id: str) -> Response:
    _admin(require_token())
    _assignment_parts(project_id, user_id, role_id)
    assign(current_cloud(), user_id, project_id, role_id)
    return json_response(None, 204)


def _no_assignment(project_id: str, user_id: str, role_id: str) -> ApiError:
    return ApiError(
        404,
        f"Could not find role assignment with role: {role_id}, "
        f"user or group: {user_id}, project, domain, or system: "
        f"{project_id}.",
    )


@routes.route("/v3/projects/<project_id>/users/<user_id>/roles/<role_id>", "HEAD", "GET")
def check_grant(project_id: str, user_id: str, role_id: str) -> Response:
    _admin(require_token())
    _assignment_parts(project_id, user_id, role_id)
    if current_cloud().get(ASSIGNMENT, f"{user_id}:{project_id}:{role_id}") is None:
        raise _no_assignment(project_id, user_id, role_id)
    return json_response(None, 204)


@routes.delete("/v3/projects/<project_id>/users/<user_id>/roles/<role_id>")
def revoke(project_id: str, user_id: str, role_id: str) -> Response:
    _admin(require_token())
    _assignment_parts(project_id, user_id, role_id)
    if not current_cloud().delete(ASSIGNMENT, f"{user_id}:{project_id}:{role_id}"):
        raise _no_assignment(project_id, user_id, role_id)
    return json_response(None, 204)


@routes.get("/v3/projects/<project_id>/users/<user_id>/roles")
def list_grants(project_id: str, user_id: str) -> Response:
    _admin(require_token())
    return json_response(
        {
            "roles": [role_view(r) for r in user_roles(user_id, project_id)],
            "links": _link(f"/projects/{project_id}/users/{user_id}/roles"),
        }
    )


@routes.get("/v3/role_assignments")
def list_assignments() -> Response:
    auth = require_token()
    cloud = current_cloud()
    docs = cloud.list(ASSIGNMENT)
    if not auth.is_admin:
        docs = [a for a in docs if a["user_id"] == auth.user_id]
    if "user.id" in request.args:
        docs = [a for a in docs if a["user_id"] == request.args["user.id"]]
    if "scope.project.id" in request.args:
        docs = [a for a in docs if a["project_id"] == request.args["scope.project.id"]]
    if "role.id" in request.args:
        docs = [a for a in docs if a["role_id"] == request.args["role.id"]]
    out = [
        {
            "role": {"id": a["role_id"]},
            "user": {"id": a["user_id"]},
            "scope": {"project": {"id": a["project_id"]}},
            "links": {
                "assignment": cloud.url(
                    f"/identity/v3/projects/{a['project_id']}/users/{a['user_id']}/roles/{a['role_id']}"
                )
            },
        }
        for a in docs
    ]
    return json_response({"role_assignments": out, "links": _link("/role_assignments")})


def assign(cloud: LocalCloud, user_id: str, project_id: str, role_id: str) -> None:
    cloud.put(
        ASSIGNMENT,
        {
            "id": f"{user_id}:{project_id}:{role_id}",
            "user_id": user_id,
            "project_id": project_id,
            "role_id": role_id,
        },
    )
