"""Users."""

from __future__ import annotations

from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    json_response,
    new_id,
    new_secret,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import APPCRED, ASSIGNMENT, USER, _admin, _create_request, _hash, _link, routes, user_view
from .projects import _list_filter

# -- users ------------------------------------------------------------------------------


@routes.get("/v3/users")
def list_users() -> Response:
    auth = require_token()
    _admin(auth)
    docs = _list_filter(current_cloud().list(USER), ("name", "domain_id", "enabled"))
    return json_response({"users": [user_view(u) for u in docs], "links": _link("/users")})


def _get_user(user_id: str, auth: AuthContext) -> Doc:
    if auth.user_id != user_id and not auth.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action: identity:get_user.")
    doc = current_cloud().get(USER, user_id)
    if doc is None:
        raise ApiError(404, f"Could not find user: {user_id}.")
    return doc


@routes.get("/v3/users/<user_id>")
def get_user(user_id: str) -> Response:
    auth = require_token()
    return json_response({"user": user_view(_get_user(user_id, auth))})


@routes.post("/v3/users")
def create_user() -> Response:
    body, name = _create_request(
        USER,
        "user",
        "Conflict occurred attempting to store user - Duplicate entry found with name {name} at domain ID "
        "default.",
    )
    doc = _new_user(
        name,
        str(body.get("password") or new_secret()),
        email=body.get("email"),
        default_project_id=body.get("default_project_id"),
        description=body.get("description"),
        enabled=body.get("enabled", True),
    )
    current_cloud().put(USER, doc)
    return json_response({"user": user_view(doc)}, 201)


def _new_user(name: str, password: str, **extra: Any) -> Doc:
    user_id = new_id().replace("-", "")
    doc = {"id": user_id, "name": name, "domain_id": "default", "password_hash": _hash(password, user_id)}
    doc.update({k: v for k, v in extra.items() if v is not None})
    return doc


@routes.patch("/v3/users/<user_id>")
def update_user(user_id: str) -> Response:
    auth = require_token()
    doc = _get_user(user_id, auth)
    body = request_json().get("user") or {}
    if not auth.is_admin and set(body) - {"password", "original_password"}:
        raise ApiError(403, "You are not authorized to perform the requested action.")
    for key in ("name", "email", "enabled", "description", "default_project_id"):
        if key in body:
            doc[key] = body[key]
    if "password" in body:
        doc["password_hash"] = _hash(str(body["password"]), doc["id"])
    current_cloud().put(USER, doc)
    return json_response({"user": user_view(doc)})


@routes.delete("/v3/users/<user_id>")
def delete_user(user_id: str) -> Response:
    auth = require_token()
    _admin(auth)
    cloud = current_cloud()
    _get_user(user_id, auth)
    cloud.delete(USER, user_id)
    for a in cloud.list(ASSIGNMENT, lambda a: a["user_id"] == user_id):
        cloud.delete(ASSIGNMENT, a["id"])
    for c in cloud.list(APPCRED, lambda c: c["user_id"] == user_id):
        cloud.delete(APPCRED, c["id"])
    return json_response(None, 204)
