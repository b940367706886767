"""Identity API under ``/api/v1``: who am I, and personal access tokens (create, list, revoke)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..api.openapi import add_schema, add_tag, document, ref
from ..db import db
from ..errors import BadRequest, Forbidden, ValidationError
from .access import api_auth, current_scopes, current_user
from .models import Identity, User
from .tokens import SCOPES, create_token, revoke_token, token_json, tokens_of

bp = Blueprint("identity_api", __name__, url_prefix="/api/v1")


def _me() -> User:
    user = current_user()
    assert user is not None  # api_auth guarantees it
    return user


@bp.get("/me")
@document(
    summary="Who am I: account, role, the scopes of this request, identities, projects",
    tags=["identity"],
    scopes=["profile"],
    responses={"200": ref("Me")},
)
@api_auth("profile")
def me() -> ResponseReturnValue:
    user = _me()
    identities = db.session.scalars(select(Identity).where(Identity.user_id == user.id)).all()
    return jsonify(
        {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "role": user.role,
            "scopes": sorted(current_scopes()),
            "identities": [
                {"provider": i.provider, "issuer": i.issuer, "subject": i.subject, "idp": i.idp}
                for i in identities
            ],
            "projects": [{"name": m.project.name, "role": m.role} for m in user.memberships],
        }
    )


@bp.get("/tokens")
@document(
    summary="List my personal access tokens (never their secret)",
    tags=["identity"],
    scopes=["profile"],
    responses={"200": {"type": "object", "properties": {"tokens": {"type": "array", "items": ref("Token")}}}},
)
@api_auth("profile")
def list_tokens() -> ResponseReturnValue:
    return jsonify({"tokens": [token_json(t) for t in tokens_of(db.session, _me().id)]})


@bp.post("/tokens")
@document(
    summary="Create a personal access token (its secret is in this answer only)",
    tags=["identity"],
    scopes=["profile"],
    description="A token carries at most the scopes of the request creating it and of its "
    "owner's role; asking for more answers 403 (a scope the caller does not hold) or 422.",
    request={"application/json": ref("TokenRequest")},
    responses={"201": ref("NewToken")},
)
@api_auth("profile")
def create() -> ResponseReturnValue:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('Send a JSON object: {"name": ..., "scopes": [...], "days": 30}.')
    errors = [
        {"field": key, "message": "is not a known field (expected name, scopes, days)"}
        for key in body
        if key not in ("name", "scopes", "days")
    ]
    name, scopes, days = body.get("name", ""), body.get("scopes", []), body.get("days")
    if not isinstance(name, str):
        errors.append({"field": "name", "message": "must be a string of 1 to 100 characters"})
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        errors.append({"field": "scopes", "message": "must be a list of scope names: " + ", ".join(SCOPES)})
    if isinstance(days, float) and days.is_integer():
        days = int(days)  # 30.0 is the integer 30 in JSON
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        errors.append({"field": "days", "message": "must be a whole number of days"})
    if errors:
        raise ValidationError(errors)
    # A token can only mint tokens no stronger than itself.
    beyond = {s for s in scopes if s in SCOPES} - current_scopes()
    if beyond:
        raise Forbidden(f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}.")
    row, text = create_token(db.session, _me(), name, scopes, days)
    db.session.commit()
    out = token_json(row)
    out["token"] = text  # shown once
    resp = jsonify(out)
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.delete("/tokens/<int:token_id>")
@document(summary="Revoke one of my tokens", tags=["identity"], scopes=["profile"], responses={"204": None})
@api_auth("profile")
def revoke(token_id: int) -> ResponseReturnValue:
    revoke_token(db.session, token_id, _me().id)
    db.session.commit()
    return "", 204


_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def init_api(app: Flask) -> None:
    app.register_blueprint(bp)
    add_tag(app, "identity", "Who am I, and personal access tokens.")
    scope = {"enum": list(SCOPES), "description": "; ".join(f"{k}: {v}" for k, v in SCOPES.items())}
    add_schema(
        app,
        "Me",
        {
            "type": "object",
            "required": ["id", "username", "role", "scopes"],
            "properties": {
                "id": {"type": "integer"},
                "username": {"type": "string"},
                "display_name": {"type": "string"},
                "email": {"type": ["string", "null"]},
                "role": {"enum": ["user", "operator", "admin"]},
                "scopes": {"type": "array", "items": scope},
                "identities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "provider": {"type": "string"},
                            "issuer": {"type": "string"},
                            "subject": {"type": "string"},
                            "idp": {"type": ["string", "null"]},
                        },
                    },
                },
                "projects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "role": {"type": "string"}},
                    },
                },
            },
        },
    )
    add_schema(
        app,
        "TokenRequest",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "scopes"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "scopes": {"type": "array", "minItems": 1, "items": scope},
                "days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": int(app.config["IDENTITY_TOKEN_MAX_DAYS"]),
                    "description": f"default {app.config['IDENTITY_TOKEN_DEFAULT_DAYS']}",
                },
            },
        },
    )
    add_schema(
        app,
        "Token",
        {
            "type": "object",
            "required": ["id", "name", "prefix", "scopes", "created_at", "expires_at", "state"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "prefix": {"type": "string", "description": "the token's first characters"},
                "scopes": {"type": "array", "items": scope},
                "created_at": _TIME,
                "expires_at": _TIME,
                "last_used_at": _TIME_OR_NULL,
                "revoked_at": _TIME_OR_NULL,
                "state": {"enum": ["active", "expired", "revoked"]},
            },
        },
    )
    add_schema(
        app,
        "NewToken",
        {
            "allOf": [
                ref("Token"),
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": {"token": {"type": "string", "description": "shown this once"}},
                },
            ]
        },
    )
