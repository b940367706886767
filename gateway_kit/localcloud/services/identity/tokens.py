"""Version discovery and tokens: issue (password, token, application credential), validate, check,
revoke, catalog and scoped projects.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import ApiError, current_cloud, json_response, request_json, require_token
from gateway_kit.localcloud.store import Doc

from .common import (
    APPCRED,
    ASSIGNMENT,
    PROJECT,
    TOKEN,
    USER,
    _hash,
    _issue,
    _link,
    _one,
    _project,
    _token_body,
    _user,
    project_view,
    routes,
    user_roles,
)

# -- version discovery ------------------------------------------------------------------


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": current_cloud().url("/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


@routes.get("")
@routes.get("/")
def versions() -> Response:
    return json_response({"versions": {"values": [_version_doc()]}}, 300)


@routes.get("/v3")
@routes.get("/v3/")
def version_v3() -> Response:
    return json_response({"version": _version_doc()})


# -- tokens -----------------------------------------------------------------------------


@routes.post("/v3/auth/tokens")
def issue_token() -> Response:
    body = request_json()
    auth = body.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise ApiError(400, "Expecting to find identity in auth.")
    identity = auth["identity"]
    methods = identity.get("methods") or []
    cloud = current_cloud()
    unauthorized = ApiError(401, "The request you have made requires authentication.")
    if "application_credential" in methods:
        ref = identity.get("application_credential") or {}
        cred = None
        if "id" in ref:
            cred = cloud.get(APPCRED, str(ref["id"]))
        elif "name" in ref:
            owner = _user(ref.get("user") or {})
            if owner is not None:
                found = cloud.list(
                    APPCRED, lambda c: c["name"] == ref["name"] and c["user_id"] == owner["id"]
                )
                cred = found[0] if found else None
        if cred is None or cred["secret_hash"] != _hash(str(ref.get("secret", "")), cred["id"]):
            raise unauthorized
        if cred.get("expires_ts") and cred["expires_ts"] <= time.time():
            raise unauthorized
        user = cloud.get(USER, cred["user_id"])
        project = cloud.get(PROJECT, cred["project_id"])
        if user is None or project is None or not user.get("enabled", True):
            raise unauthorized
        roles = [
            r for r in user_roles(user["id"], project["id"]) if r["id"] in {x["id"] for x in cred["roles"]}
        ]
        return _issue(user, project, roles, ["application_credential"], cred)
    if "password" in methods:
        ref = (identity.get("password") or {}).get("user") or {}
        user = _user(ref)
        if user is None or user["password_hash"] != _hash(str(ref.get("password", "")), user["id"]):
            raise unauthorized
        if not user.get("enabled", True):
            raise unauthorized
    elif "token" in methods:
        tok = cloud.get(TOKEN, str((identity.get("token") or {}).get("id", "")))
        if tok is None or tok["expires"] <= time.time():
            raise unauthorized
        user = cloud.get(USER, tok["user_id"])
        if user is None:
            raise unauthorized
    else:
        raise ApiError(401, "Attempted to authenticate with an unsupported method.")
    scope = auth.get("scope") or {}
    if scope.get("project"):
        project = _project(scope["project"])
    elif scope.get("system") or scope.get("domain"):
        # System and domain scopes are modelled as the admin project for admins.
        if not any(
            r["name"] == "admin" for p in cloud.list(PROJECT) for r in user_roles(user["id"], p["id"])
        ):
            raise unauthorized
        project = _one(PROJECT, "name", "admin") or _project({"name": "admin"})
    elif user.get("default_project_id"):
        project = _project({"id": user["default_project_id"]})
    else:
        raise ApiError(401, "An unscoped token cannot be issued by the local cloud; give a project scope.")
    roles = user_roles(user["id"], project["id"])
    if not roles:
        raise ApiError(401, f"User {user['id']} has no access to project {project['id']}.")
    return _issue(user, project, roles, [m for m in methods if m in ("password", "token")])


def _subject() -> Doc:
    cloud = current_cloud()
    tok = cloud.get(TOKEN, request.headers.get("X-Subject-Token", ""))
    if tok is None or tok["expires"] <= time.time():
        raise ApiError(404, "Could not find token: " + request.headers.get("X-Subject-Token", ""))
    return tok


@routes.get("/v3/auth/tokens")
def validate_token() -> Response:
    require_token()
    tok = _subject()
    return json_response({"token": _token_body(tok)}, 200, {"X-Subject-Token": tok["id"]})


@routes.route("/v3/auth/tokens", "HEAD")
def check_token() -> Response:
    require_token()
    _subject()
    return json_response(None, 200)


@routes.delete("/v3/auth/tokens")
def revoke_token() -> Response:
    require_token()
    tok = _subject()
    current_cloud().delete(TOKEN, tok["id"])
    return json_response(None, 204)


@routes.get("/v3/auth/catalog")
def auth_catalog() -> Response:
    auth = require_token()
    return json_response(
        {"catalog": current_cloud().catalog(auth.project_id), "links": _link("/auth/catalog")}
    )


@routes.get("/v3/auth/projects")
def auth_projects() -> Response:
    auth = require_token()
    return json_response(
        {
            "projects": [project_view(p) for p in _user_projects(auth.user_id)],
            "links": _link("/auth/projects"),
        }
    )


def _user_projects(user_id: str) -> list[Doc]:
    cloud = current_cloud()
    ids = {a["project_id"] for a in cloud.list(ASSIGNMENT, lambda a: a["user_id"] == user_id)}
    return [p for p in cloud.list(PROJECT) if p["id"] in ids]
