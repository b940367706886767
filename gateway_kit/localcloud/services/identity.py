"""Keystone v3 for the local cloud (``/identity``).

Password, token and application-credential authentication; tokens that expire (``token_ttl``)
and can be revoked; projects, domains (only ``default``), users, roles, role assignments and
application credentials, with the admin-only operations refused (403) to other users. The
catalog of every token is built from the registered services and the request's Host.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    Service,
    current_cloud,
    http_title,
    json_response,
    new_id,
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
    auth = require_token()
    _admin(auth)
    body = request_json().get("project") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    if _one(PROJECT, "name", name) is not None:
        raise ApiError(
            409,
            f"Conflict occurred attempting to store project - it is not "
            f"permitted to have two projects with the same name in the same "
            f"domain : {name}.",
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
    auth = require_token()
    _admin(auth)
    body = request_json().get("user") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    if _one(USER, "name", name) is not None:
        raise ApiError(
            409,
            f"Conflict occurred attempting to store user - Duplicate entry "
            f"found with name {name} at domain ID default.",
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


@routes.route("/v3/projects/<project_id>/users/<user_id>/roles/<role_id>", "HEAD", "GET")
def check_grant(project_id: str, user_id: str, role_id: str) -> Response:
    _admin(require_token())
    _assignment_parts(project_id, user_id, role_id)
    if current_cloud().get(ASSIGNMENT, f"{user_id}:{project_id}:{role_id}") is None:
        raise ApiError(
            404,
            f"Could not find role assignment with role: {role_id}, "
            f"user or group: {user_id}, project, domain, or system: "
            f"{project_id}.",
        )
    return json_response(None, 204)


@routes.delete("/v3/projects/<project_id>/users/<user_id>/roles/<role_id>")
def revoke(project_id: str, user_id: str, role_id: str) -> Response:
    _admin(require_token())
    _assignment_parts(project_id, user_id, role_id)
    if not current_cloud().delete(ASSIGNMENT, f"{user_id}:{project_id}:{role_id}"):
        raise ApiError(
            404,
            f"Could not find role assignment with role: {role_id}, "
            f"user or group: {user_id}, project, domain, or system: "
            f"{project_id}.",
        )
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


# -- application credentials ------------------------------------------------------------


def _own_user(user_id: str, auth: AuthContext) -> None:
    if auth.user_id != user_id:
        raise ApiError(
            403,
            "You are not authorized to perform the requested action: identity:list_application_credentials.",
        )


@routes.get("/v3/users/<user_id>/application_credentials")
def list_appcreds(user_id: str) -> Response:
    auth = require_token()
    _own_user(user_id, auth)
    docs = current_cloud().list(APPCRED, lambda c: c["user_id"] == user_id)
    if "name" in request.args:
        docs = [c for c in docs if c["name"] == request.args["name"]]
    return json_response(
        {
            "application_credentials": [appcred_view(c) for c in docs],
            "links": _link(f"/users/{user_id}/application_credentials"),
        }
    )


@routes.get("/v3/users/<user_id>/application_credentials/<cred_id>")
def get_appcred(user_id: str, cred_id: str) -> Response:
    auth = require_token()
    _own_user(user_id, auth)
    doc = current_cloud().get(APPCRED, cred_id)
    if doc is None or doc["user_id"] != user_id:
        raise ApiError(404, f"Could not find application credential: {cred_id}.")
    return json_response({"application_credential": appcred_view(doc)})


@routes.post("/v3/users/<user_id>/application_credentials")
def create_appcred(user_id: str) -> Response:
    auth = require_token()
    _own_user(user_id, auth)
    body = request_json().get("application_credential") or {}
    name = body.get("name")
    if not name:
        raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
    cloud = current_cloud()
    if cloud.list(APPCRED, lambda c: c["user_id"] == user_id and c["name"] == name):
        raise ApiError(
            409,
            "Conflict occurred attempting to store application_credential "
            "- Duplicate application credential.",
        )
    available = {r["name"]: r for r in cloud.list(ROLE) if r["name"] in auth.roles}
    roles = list(available.values())
    if body.get("roles"):
        roles = []
        for ref in body["roles"]:
            match = [
                r for r in available.values() if ref.get("id") == r["id"] or ref.get("name") == r["name"]
            ]
            if not match:
                raise ApiError(
                    403,
                    "You are not authorized to perform the requested action: "
                    "roles not held by the user cannot be delegated.",
                )
            roles.append(match[0])
    secret = str(body.get("secret") or new_secret())
    cred_id = new_id().replace("-", "")
    doc = make_appcred(
        cred_id,
        name,
        secret,
        user_id,
        auth.project_id,
        roles,
        description=body.get("description"),
        unrestricted=bool(body.get("unrestricted", False)),
        expires_at=body.get("expires_at"),
    )
    cloud.put(APPCRED, doc)
    return json_response({"application_credential": appcred_view(doc, secret)}, 201)


def make_appcred(
    cred_id: str, name: str, secret: str, user_id: str, project_id: str, roles: list[Doc], **extra: Any
) -> Doc:
    from datetime import datetime

    doc: Doc = {
        "id": cred_id,
        "name": name,
        "user_id": user_id,
        "project_id": project_id,
        "secret_hash": _hash(secret, cred_id),
        "roles": [{"id": r["id"], "name": r["name"]} for r in roles],
    }
    doc.update({k: v for k, v in extra.items() if v is not None})
    if doc.get("expires_at"):
        text = str(doc["expires_at"]).replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        doc["expires_ts"] = parsed.timestamp()
    return doc


@routes.delete("/v3/users/<user_id>/application_credentials/<cred_id>")
def delete_appcred(user_id: str, cred_id: str) -> Response:
    auth = require_token()
    _own_user(user_id, auth)
    cloud = current_cloud()
    doc = cloud.get(APPCRED, cred_id)
    if doc is None or doc["user_id"] != user_id:
        raise ApiError(404, f"Could not find application credential: {cred_id}.")
    cloud.delete(APPCRED, cred_id)
    for tok in cloud.list(TOKEN, lambda t: t.get("appcred_id") == cred_id):
        cloud.delete(TOKEN, tok["id"])
    return json_response(None, 204)


# -- services and endpoints (read-only, from the catalog) -------------------------------


@routes.get("/v3/services")
def list_services() -> Response:
    auth = require_token()
    out = [
        {
            "id": e["id"],
            "type": e["type"],
            "name": e["name"],
            "enabled": True,
            "links": _link("/services/" + e["id"]),
        }
        for e in current_cloud().catalog(auth.project_id)
    ]
    return json_response({"services": out, "links": _link("/services")})


@routes.get("/v3/endpoints")
def list_endpoints() -> Response:
    auth = require_token()
    out = []
    for entry in current_cloud().catalog(auth.project_id):
        for ep in entry["endpoints"]:
            out.append(
                {**ep, "service_id": entry["id"], "enabled": True, "links": _link("/endpoints/" + ep["id"])}
            )
    return json_response({"endpoints": out, "links": _link("/endpoints")})


@routes.get("/v3/regions")
def list_regions() -> Response:
    require_token()
    region = current_cloud().config.region
    return json_response(
        {
            "regions": [
                {
                    "id": region,
                    "description": "",
                    "parent_region_id": None,
                    "links": _link("/regions/" + region),
                }
            ],
            "links": _link("/regions"),
        }
    )


# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    projects: dict[str, Doc] = {}
    for p in data.get("projects", []):
        doc = {
            "id": new_id().replace("-", ""),
            "name": p["name"],
            "description": p.get("description", ""),
            "domain_id": "default",
            "enabled": True,
            "tags": [],
        }
        cloud.put(PROJECT, doc)
        projects[p["name"]] = doc
    roles: dict[str, Doc] = {}
    for r in data.get("roles", []):
        doc = {"id": new_id().replace("-", ""), "name": r["name"]}
        cloud.put(ROLE, doc)
        roles[r["name"]] = doc
    users: dict[str, Doc] = {}
    for u in data.get("users", []):
        default = projects.get(u.get("default_project", ""))
        doc = _new_user(
            u["name"],
            u["password"],
            email=u.get("email"),
            default_project_id=default["id"] if default else None,
            enabled=True,
        )
        cloud.put(USER, doc)
        users[u["name"]] = doc
        for pname, rnames in (u.get("roles") or {}).items():
            for rname in rnames:
                assign(cloud, doc["id"], projects[pname]["id"], roles[rname]["id"])
    for c in data.get("application_credentials", []):
        user = users[c["user"]]
        project = projects[c["project"]]
        held = [
            roles[r] for r in roles if cloud.get(ASSIGNMENT, f"{user['id']}:{project['id']}:{roles[r]['id']}")
        ]
        cloud.put(
            APPCRED,
            make_appcred(
                c["id"], c["name"], c["secret"], user["id"], project["id"], held, unrestricted=False
            ),
        )


def register(cloud: LocalCloud) -> None:
    cloud.add_service(
        Service(
            name="identity",
            prefix="/identity",
            blueprint=bp,
            catalog=[CatalogEntry("identity", "keystone", "/identity")],
            render_error=render_error,
            seed=seed,
        )
    )
