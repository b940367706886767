"""Authorization matrix: every endpoint that exists so far x role x ownership.

Another user's object answers 404 (never its content); pages redirect anonymous visitors to the
login page; the API answers 401; admin pages answer 403 to non-admins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.identity.models import ApiToken, Identity

from ..conftest import login, make_app, make_token, make_user
from .conftest import dev_provider_config

#: Blueprints whose every endpoint must appear in the matrix.
COVERED_BLUEPRINTS = {"web", "api", "observability", "identity", "identity_api"}
ROLES = ["anon", "user", "operator", "admin"]

# (method, path, body, {actor: expected status}); {own_token} / {other_token} / {own_ident} /
# {other_ident} / {other_user} are filled in per actor. Destructive cases come last.
PAGE = {"anon": 302, "user": 200, "operator": 200, "admin": 200}
ADMIN_GET = {"anon": 302, "user": 403, "operator": 403, "admin": 200}
ADMIN_POST = {"anon": 302, "user": 403, "operator": 403, "admin": 302}
API = {"anon": 401, "user": 200, "operator": 200, "admin": 200}
CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/api/", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/healthz", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/metrics", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/login", None, dict.fromkeys(ROLES, 200)),
    ("GET", "/login/dev", None, dict.fromkeys(ROLES, 302)),
    ("GET", "/login/nosuch", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/login/callback/dev", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/profile", None, PAGE),
    ("POST", "/profile/link/dev", {}, dict.fromkeys(ROLES, 302)),
    ("POST", "/profile/tokens", {"name": "t", "scopes": ["profile"]}, PAGE),
    ("POST", "/profile/tokens/{other_token}/revoke", {}, {**dict.fromkeys(ROLES, 404), "anon": 302}),
    ("POST", "/profile/identities/{other_ident}/unlink", {}, {**dict.fromkeys(ROLES, 404), "anon": 302}),
    ("POST", "/profile/identities/{own_ident}/unlink", {}, {**dict.fromkeys(ROLES, 400), "anon": 302}),
    ("GET", "/admin/users", None, ADMIN_GET),
    ("GET", "/admin/users/{other_user}", None, ADMIN_GET),
    ("GET", "/admin/users/999999", None, {**ADMIN_GET, "admin": 404}),
    ("POST", "/admin/users/{other_user}/role", {"role": "operator"}, ADMIN_POST),
    ("POST", "/admin/users/{other_user}/enable", {}, ADMIN_POST),
    ("GET", "/api/v1/me", None, API),
    ("GET", "/api/v1/tokens", None, API),
    (
        "POST",
        "/api/v1/tokens",
        {"name": "t", "scopes": ["profile"]},
        {**API, "user": 201, "operator": 201, "admin": 201},
    ),
    ("DELETE", "/api/v1/tokens/{other_token}", None, {**dict.fromkeys(ROLES, 404), "anon": 401}),
    ("DELETE", "/api/v1/tokens/{own_token}", None, {**API, "user": 204, "operator": 204, "admin": 204}),
    ("POST", "/profile/tokens/{own_token}/revoke", {}, {**PAGE, "user": 302, "operator": 302, "admin": 302}),
    ("POST", "/admin/tokens/{other_token}/revoke", {}, ADMIN_POST),
    ("POST", "/admin/users/{other_user}/disable", {}, ADMIN_POST),
    ("POST", "/logout", {}, dict.fromkeys(ROLES, 302)),
]


def _ident(app: Any, user: Any, sub: str) -> int:
    with app.app_context():
        row = Identity(user_id=user.id, provider="dev", issuer="http://idp.test", subject=sub)
        db.session.add(row)
        db.session.commit()
        return row.id


def _token_id(app: Any, user: Any) -> int:
    make_token(app, user, ["profile"])
    with app.app_context():
        return int(
            db.session.scalars(
                select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
            ).first()
            or 0
        )


@pytest.mark.parametrize("actor", ROLES)
def test_matrix(tmp_path: Path, devidp: str, actor: str) -> None:
    app = make_app(tmp_path, IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp)})
    bob = make_user(app, "bob")
    me = make_user(app, "me", role="user" if actor == "anon" else actor)
    ids = {
        "other_user": bob.id,
        "other_token": _token_id(app, bob),
        "own_token": _token_id(app, me),
        "other_ident": _ident(app, bob, "bob-sub"),
        "own_ident": _ident(app, me, "me-sub"),
    }
    client = app.test_client()
    if actor == "anon":
        client.get("/")
        with client.session_transaction() as s:
            s["gk_csrf"] = "anon-csrf"
        client.environ_base["HTTP_X_CSRF_TOKEN"] = "anon-csrf"
    else:
        login(client, me)
    for method, template, body, expected in CASES:
        path = template.format(**ids)
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json" if path.startswith("/api/") else "data"] = body
        resp = client.open(path, method=method, **kwargs)
        assert resp.status_code == expected[actor], (actor, method, path, resp.get_data(as_text=True)[:300])
        text = resp.get_data(as_text=True)
        if resp.status_code == 404:
            assert "bob-sub" not in text and "bob@example.org" not in text
        if path == "/api/v1/tokens" and method == "GET" and resp.status_code == 200:
            owners = {t["id"] for t in resp.get_json()["tokens"]}
            assert ids["other_token"] not in owners and ids["own_token"] in owners
        if path == "/profile" and resp.status_code == 200:
            assert "bob-sub" not in text


def test_matrix_covers_every_endpoint(idp_app: Any) -> None:
    adapter = idp_app.url_map.bind("localhost")
    covered = set()
    for method, template, _body, _exp in CASES:
        path = template.format(other_user=1, other_token=1, own_token=1, other_ident=1, own_ident=1)
        endpoint, _args = adapter.match(path, method=method)
        covered.add(endpoint)
    existing = {
        r.endpoint
        for r in idp_app.url_map.iter_rules()
        if r.endpoint.split(".")[0] in COVERED_BLUEPRINTS and not r.endpoint.endswith("static")
    }
    assert existing - covered == set(), "add the new endpoints to the matrix"
