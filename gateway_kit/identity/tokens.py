"""Personal access tokens: created (shown once), stored hashed, expiring, scoped, revocable.

A token is ``gkp_`` followed by 43 URL-safe characters (256 random bits). The database keeps its
SHA-256 digest and a short prefix for display. A token's effective scopes are its own scopes
intersected with what its owner's role allows *now*, so demoting a user narrows their tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..db import as_loaded, aware, db, utc_iso
from ..errors import NotFound, Unauthorized, ValidationError
from .models import ApiToken, User, utcnow
from .scopes import ROLE_SCOPES

TOKEN_PREFIX = "gkp_"
#: Every scope a token may carry, with what it allows.
SCOPES: dict[str, str] = {
    "profile": "read your profile",
    "jobs:read": "list and read your jobs",
    "jobs:write": "submit and cancel jobs",
    "datasets:read": "list and download your datasets",
    "datasets:write": "upload and delete datasets",
    "operator": "operator views",
    "admin": "administration",
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    sess: Session, user: User, name: str, scopes: list[str], days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the token text (never stored)."""

    cfg = current_app.config
    errors: list[dict[str, str]] = []
    allowed = ROLE_SCOPES.get(user.role, frozenset())
    scopes = sorted(set(scopes))
    if not scopes:
        errors.append({"field": "scopes", "message": "choose at least one scope"})
    for s in scopes:
        if s not in SCOPES:
            errors.append({"field": "scopes", "message": f"unknown scope {s!r}; valid: {', '.join(SCOPES)}"})
        elif s not in allowed:
            errors.append({"field": "scopes", "message": f"your role cannot grant {s!r}"})
    days = cfg["IDENTITY_TOKEN_DEFAULT_DAYS"] if days is None else days
    if not 1 <= days <= cfg["IDENTITY_TOKEN_MAX_DAYS"]:
        errors.append({"field": "days", "message": f"between 1 and {cfg['IDENTITY_TOKEN_MAX_DAYS']} days"})
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors.append({"field": "name", "message": "a name of 1 to 100 characters"})
    if errors:
        raise ValidationError(errors)
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        digest=digest(text),
        prefix=text[:10],
        scopes=scopes,
        expires_at=utcnow() + timedelta(days=days),
    )
    sess.add(row)
    sess.flush()
    return row, text


_USER_COLUMNS = tuple(User.__table__.columns)
_TOKEN_LOOKUP = (
    select(ApiToken.id, ApiToken.scopes, ApiToken.expires_at, ApiToken.last_used_at, *_USER_COLUMNS)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.digest == bindparam("digest"), ApiToken.revoked_at.is_(None))
)
_TOKEN_USED = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def authenticate_token(token: str) -> tuple[User, frozenset[str]]:
    """The token authenticator (``app.extensions["gateway_kit.token_auth"]``).

    One indexed lookup (the digest is unique) that returns the token's columns and its owner;
    ``last_used_at`` is written at most once a minute, as one UPDATE.
    """

    bad = Unauthorized("The access token is invalid, expired or revoked.")
    if not token.startswith(TOKEN_PREFIX):
        raise bad
    sess = db.session
    # A Core row on the session's connection, the owner built from its columns (no ORM loading).
    row = sess.connection().execute(_TOKEN_LOOKUP, {"digest": digest(token)}).first()
    now = utcnow()
    if row is None:
        raise bad
    token_id, scopes, expires_at, last_used_at = row[:4]
    user = as_loaded(sess, User, {c.key: v for c, v in zip(_USER_COLUMNS, row[4:], strict=True)})
    if aware(expires_at) <= now or user.disabled:
        raise bad
    if last_used_at is None or now - aware(last_used_at) > timedelta(minutes=1):
        sess.execute(_TOKEN_USED, {"token_id": token_id, "now": now})
        sess.commit()
    return user, frozenset(scopes) & ROLE_SCOPES.get(user.role, frozenset())


def tokens_of(sess: Session, user_id: int) -> list[ApiToken]:
    return list(
        sess.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(sess: Session, token_id: int, owner_id: int | None) -> ApiToken:
    """Revoke a token of ``owner_id`` (``None``: any owner, for admins); 404 otherwise."""
    row = sess.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def revoke_all_tokens(sess: Session, user_id: int) -> None:
    sess.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def token_json(row: ApiToken) -> dict[str, Any]:
    now = utcnow()
    state = "revoked" if row.revoked_at else "expired" if aware(row.expires_at) <= now else "active"
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "created_at": utc_iso(row.created_at),
        "expires_at": utc_iso(row.expires_at),
        "last_used_at": utc_iso(row.last_used_at),
        "revoked_at": utc_iso(row.revoked_at),
        "state": state,
    }
