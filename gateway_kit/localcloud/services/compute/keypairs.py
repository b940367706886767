"""Nova keypairs: import or generate, list, show, delete."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
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
from gateway_kit.localcloud.store import Doc

from .common import KEYPAIR, _admin, _paginate_docs_by, at_least, routes

# -- keypairs ---------------------------------------------------------------------------

_KEY_NAME = re.compile(r"^[a-zA-Z0-9 _\-@.]{1,255}$")


def _fingerprint(public_key: str) -> str:
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValueError("not an OpenSSH public key")
    blob = base64.b64decode(parts[1], validate=True)
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def _generate_key(name: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, f"{public} Generated-by-Nova"


def keypair_view(doc: Doc, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": doc["name"],
        "public_key": doc["public_key"],
        "fingerprint": doc["fingerprint"],
    }
    if at_least("2.2"):
        out["type"] = doc.get("type", "ssh")
    if detail:
        out.update(
            {
                "user_id": doc["user_id"],
                "created_at": doc["created_at"],
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
                "id": doc["seq"],
            }
        )
    return out


def _keypair_owner(auth: AuthContext) -> str:
    user = request.args.get("user_id")
    if user and user != auth.user_id:
        if not at_least("2.10"):
            raise ApiError(400, "user_id requires microversion 2.10", "badRequest")
        _admin(auth, "os_compute_api:os-keypairs:index")
        return user
    return auth.user_id


def _find_keypair(user_id: str, name: str) -> Doc:
    doc = current_cloud().get(KEYPAIR, f"{user_id}:{name}")
    if doc is None:
        raise ApiError(404, f"Keypair {name} not found for user {user_id}", "itemNotFound")
    return doc


@routes.get("/os-keypairs")
def list_keypairs() -> Response:
    auth = require_token()
    owner = _keypair_owner(auth)
    docs = current_cloud().list(KEYPAIR, lambda k: k["user_id"] == owner)
    docs.sort(key=lambda k: k["name"])
    if at_least("2.35"):
        docs = _paginate_docs_by(docs, "name")
    return json_response({"keypairs": [{"keypair": keypair_view(d, False)} for d in docs]})


@routes.get("/os-keypairs/<name>")
def get_keypair(name: str) -> Response:
    auth = require_token()
    return json_response({"keypair": keypair_view(_find_keypair(_keypair_owner(auth), name), True)})


@routes.post("/os-keypairs")
def create_keypair() -> Response:
    auth = require_token()
    body = request_json().get("keypair")
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(
            400, "Invalid input for field/attribute keypair. 'name' is a required property", "badRequest"
        )
    name = str(body["name"])
    if not _KEY_NAME.match(name):
        raise ApiError(
            400,
            "Invalid input for field/attribute name. Value: "
            f"{name}. '{name}' does not match the allowed pattern",
            "badRequest",
        )
    user_id = auth.user_id
    if body.get("user_id") and body["user_id"] != auth.user_id:
        _admin(auth, "os_compute_api:os-keypairs:create")
        user_id = body["user_id"]
    cloud = current_cloud()
    if cloud.store.get(KEYPAIR, f"{user_id}:{name}") is not None:
        raise ApiError(409, f"Key pair '{name}' already exists.", "conflictingRequest")
    used = cloud.store.count(KEYPAIR, lambda k: k["user_id"] == user_id)
    if cloud.over_quota(auth.project_id, "key_pairs", used, 1):
        raise ApiError(403, "Quota exceeded, too many key pairs.", "forbidden")
    private = None
    public = body.get("public_key")
    if public is None:
        if at_least("2.92"):
            raise ApiError(
                400,
                "Invalid input for field/attribute keypair. 'public_key' is a required property",
                "badRequest",
            )
        private, public = _generate_key(name)
    try:
        fingerprint = _fingerprint(public)
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint", "badRequest") from exc
    seq = cloud.store.count(KEYPAIR) + 1
    doc = {
        "id": f"{user_id}:{name}",
        "name": name,
        "user_id": user_id,
        "public_key": public,
        "fingerprint": fingerprint,
        "type": body.get("type", "ssh"),
        "created_at": now_iso(micro=True),
        "seq": seq,
    }
    cloud.put(KEYPAIR, doc)
    out = keypair_view(doc, False)
    out["user_id"] = user_id
    if private is not None:
        out["private_key"] = private
    return json_response({"keypair": out}, 201 if at_least("2.2") else 200)


@routes.delete("/os-keypairs/<name>")
def delete_keypair(name: str) -> Response:
    auth = require_token()
    doc = _find_keypair(_keypair_owner(auth), name)
    current_cloud().delete(KEYPAIR, doc["id"])
    return json_response(None, 204 if at_least("2.2") else 202)
