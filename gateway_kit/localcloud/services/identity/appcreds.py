"""Application credentials."""

from __future__ import annotations

from typing import Any

from flask import Response, request

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

from .common import APPCRED, ROLE, TOKEN, _hash, _link, appcred_view, routes

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
