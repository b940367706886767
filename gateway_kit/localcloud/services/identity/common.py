"""Keystone's shared pieces: the blueprint, resource kinds, the error shape, how users, projects, roles
and application credentials are rendered, lookups and token issue.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Blueprint, Response

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    http_title,
    json_response,
    new_secret,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import Routes
from gateway_kit.localcloud.store import Doc

bp = Blueprint("identity", __name__, url_prefix="/identity")
routes = Routes(bp)

PROJECT = "identity.project"
USER = "identity.user"
ROLE = "identity.role"
ASSIGNMENT = "identity.assignment"
APPCRED = "identity.appcred"
TOKEN = "identity.token"

DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
#: Statuses Keystone's error bodies title (others: "Error").
_TITLED = (400, 401, 403, 404, 405, 409, 429, 500, 503)


def render_error(err: ApiError) -> Response:
    return json_response(
        {
            "error": {
                "code": err.status,
                "title": http_title(err.status, _TITLED),
                "message": err.message,
            }
        },
        err.status,
    )


def _hash(secret: str, salt: str) -> str:
    return hashlib.sha256((salt + ":" + secret).encode()).hexdigest()


def _link(path: str) -> dict[str, Any]:
    return {"self": current_cloud().url("/identity/v3" + path)}


def _admin(auth: AuthContext) -> None:
    if not auth.is_admin:
        raise ApiError(403, "You are not authorized to perform the requested action.")


# -- rendering --------------------------------------------------------------------------


def project_view(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "name": doc["name"],
        "domain_id": doc.get("domain_id", "default"),
        "description": doc.get("description", ""),
        "enabled": doc.get("enabled", True),
        "is_domain": False,
        "parent_id": doc.get("parent_id") or doc.get("domain_id", "default"),
        "tags": doc.get("tags", []),
        "options": doc.get("options", {}),
        "links": _link("/projects/" + doc["id"]),
    }


def user_view(doc: Doc) -> dict[str, Any]:
    out = {
        "id": doc["id"],
        "name": doc["name"],
        "domain_id": doc.get("domain_id", "default"),
        "enabled": doc.get("enabled", True),
        "password_expires_at": None,
        "options": doc.get("options", {}),
        "links": _link("/users/" + doc["id"]),
    }
    if doc.get("default_project_id"):
        out["default_project_id"] = doc["default_project_id"]
    if doc.get("email"):
        out["email"] = doc["email"]
    if doc.get("description") is not None:
        out["description"] = doc["description"]
    return out


def role_view(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "name": doc["name"],
        "domain_id": None,
        "description": doc.get("description"),
        "options": {},
        "links": _link("/roles/" + doc["id"]),
    }


def appcred_view(doc: Doc, secret: str | None = None) -> dict[str, Any]:
    out = {
        "id": doc["id"],
        "name": doc["name"],
        "description": doc.get("description"),
        "user_id": doc["user_id"],
        "project_id": doc["project_id"],
        "roles": [{"id": r["id"], "name": r["name"], "domain_id": None} for r in doc["roles"]],
        "expires_at": doc.get("expires_at"),
        "unrestricted": doc.get("unrestricted", False),
        "access_rules": doc.get("access_rules", []),
        "links": _link(f"/users/{doc['user_id']}/application_credentials/{doc['id']}"),
    }
    if secret is not None:
        out["secret"] = secret
    return out


# -- lookup helpers ---------------------------------------------------------------------


def _one(kind: str, key: str, value: str) -> Doc | None:
    found = current_cloud().list(kind, lambda d: d.get(key) == value)
    return found[0] if found else None


def _create_request(kind: str, key: str, conflict: str) -> tuple[dict[str, Any], str]:
    """An admin's request to create a ``key`` (``project``, ``user``): its body and its name,
    which no other ``kind`` has (else Keystone's 409, ``conflict`` with ``{name}``)."""
    _admin(require_token())
    body = request_json().get(key) or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    if _one(kind, "name", name) is not None:
        raise ApiError(409, conflict.format(name=name))
    return body, str(name)


def _project(ref: dict[str, Any]) -> Doc:
    cloud = current_cloud()
    doc = None
    if "id" in ref:
        doc = cloud.get(PROJECT, str(ref["id"]))
    elif "name" in ref:
        doc = _one(PROJECT, "name", str(ref["name"]))
    if doc is None:
        raise ApiError(401, "The request you have made requires authentication.")
    return doc


def _user(ref: dict[str, Any]) -> Doc | None:
    cloud = current_cloud()
    if "id" in ref:
        return cloud.get(USER, str(ref["id"]))
    if "name" in ref:
        return _one(USER, "name", str(ref["name"]))
    return None


def user_roles(user_id: str, project_id: str) -> list[Doc]:
    cloud = current_cloud()
    ids = [
        a["role_id"]
        for a in cloud.list(ASSIGNMENT, lambda a: a["user_id"] == user_id and a["project_id"] == project_id)
    ]
    return [r for r in (cloud.get(ROLE, i) for i in ids) if r is not None]


def _issue(
    user: Doc, project: Doc, roles: list[Doc], methods: list[str], appcred: Doc | None = None
) -> Response:
    cloud = current_cloud()
    token = "lc-" + new_secret(32)
    issued = time.time()
    expires = issued + cloud.config.token_ttl
    if appcred is not None and appcred.get("expires_ts") and appcred["expires_ts"] < expires:
        expires = appcred["expires_ts"]
    cloud.put(
        TOKEN,
        {
            "id": token,
            "user_id": user["id"],
            "user_name": user["name"],
            "project_id": project["id"],
            "project_name": project["name"],
            "domain_id": project.get("domain_id", "default"),
            "roles": [r["name"] for r in roles],
            "methods": methods,
            "issued": issued,
            "expires": expires,
            "appcred_id": appcred["id"] if appcred else None,
        },
    )
    return json_response(
        {"token": _token_body(cloud.get(TOKEN, token) or {})}, 201, {"X-Subject-Token": token}
    )


def _token_body(tok: Doc) -> dict[str, Any]:
    cloud = current_cloud()
    project = cloud.get(PROJECT, tok["project_id"]) or {"id": tok["project_id"], "name": tok["project_name"]}
    roles = [r for r in cloud.list(ROLE) if r["name"] in tok["roles"]]
    body: dict[str, Any] = {
        "methods": tok["methods"],
        "user": {
            "id": tok["user_id"],
            "name": tok["user_name"],
            "domain": dict(DEFAULT_DOMAIN),
            "password_expires_at": None,
        },
        "audit_ids": [tok["id"][-22:]],
        "expires_at": now_iso(tok["expires"], micro=True) + "Z",
        "issued_at": now_iso(tok["issued"], micro=True) + "Z",
        "project": {"id": project["id"], "name": project["name"], "domain": dict(DEFAULT_DOMAIN)},
        "is_domain": False,
        "roles": [{"id": r["id"], "name": r["name"]} for r in roles],
        "catalog": cloud.catalog(tok["project_id"]),
    }
    if tok.get("appcred_id"):
        cred = cloud.get(APPCRED, tok["appcred_id"])
        if cred is not None:
            body["application_credential"] = {
                "id": cred["id"],
                "name": cred["name"],
                "restricted": not cred.get("unrestricted", False),
            }
    return body
