"""Identity API under ``/api/v1``: who am I, and personal access tokens (create, list, revoke)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import db
from ..errors import BadRequest, Forbidden
from .access import api_auth, current_scopes, current_user
from .models import Identity, User
from .tokens import SCOPES, create_token, revoke_token, token_json, tokens_of

bp = Blueprint("identity_api", __name__, url_prefix="/api/v1")


def _me() -> User:
    user = current_user()
    assert user is not None  # api_auth guarantees it
    return user


@bp.get("/me")
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
@api_auth("profile")
def list_tokens() -> ResponseReturnValue:
    return jsonify({"tokens": [token_json(t) for t in tokens_of(db.session, _me().id)]})


@bp.post("/tokens")
@api_auth("profile")
def create() -> ResponseReturnValue:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('Send a JSON object: {"name": ..., "scopes": [...], "days": 30}.')
    scopes = body.get("scopes") or []
    days = body.get("days")
    if (
        not isinstance(scopes, list)
        or not all(isinstance(s, str) for s in scopes)
        or (days is not None and (not isinstance(days, int) or isinstance(days, bool)))
    ):
        raise BadRequest("'scopes' must be a list of strings and 'days' an integer.")
    # A token can only mint tokens no stronger than itself.
    beyond = {s for s in scopes if s in SCOPES} - current_scopes()
    if beyond:
        raise Forbidden(f"You cannot grant scopes you do not hold: {', '.join(sorted(beyond))}.")
    row, text = create_token(db.session, _me(), str(body.get("name", "")), scopes, days)
    db.session.commit()
    out = token_json(row)
    out["token"] = text  # shown once
    resp = jsonify(out)
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.delete("/tokens/<int:token_id>")
@api_auth("profile")
def revoke(token_id: int) -> ResponseReturnValue:
    revoke_token(db.session, token_id, _me().id)
    db.session.commit()
    return "", 204


def init_api(app: Flask) -> None:
    app.register_blueprint(bp)
