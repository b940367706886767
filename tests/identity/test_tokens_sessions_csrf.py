"""Personal access tokens, server-side sessions (timeouts, revocation) and CSRF enforcement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.identity.models import ApiToken, UserSession, utcnow

from ..conftest import login, make_token, make_user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_lifecycle_through_the_api(app: Any) -> None:
    alice = make_user(app, "alice")
    client = app.test_client()
    login(client, alice)
    resp = client.post("/api/v1/tokens", json={"name": "laptop", "scopes": ["jobs:read"], "days": 7})
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    created = resp.get_json()
    token = created["token"]
    assert token.startswith("gkp_") and created["scopes"] == ["jobs:read"]
    with app.app_context():
        row = db.session.get(ApiToken, created["id"])
        assert row is not None and token not in (row.digest, row.prefix) and len(row.digest) == 64
    listed = client.get("/api/v1/tokens").get_json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
    anon = app.test_client()
    # jobs:read does not include profile
    assert anon.get("/api/v1/me", headers=bearer(token)).status_code == 403
    assert client.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert anon.get("/api/v1/tokens", headers=bearer(token)).status_code == 401


def test_bearer_token_authenticates_and_is_csrf_exempt(app: Any) -> None:
    bob = make_user(app, "bob")
    token = make_token(app, bob, ["profile"])
    client = app.test_client()
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["scopes"] == ["profile"]
    resp = client.post("/api/v1/tokens", json={"name": "child", "scopes": ["profile"]}, headers=bearer(token))
    assert resp.status_code == 201
    # a token cannot mint a stronger one
    resp = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["jobs:write"]}, headers=bearer(token))
    assert resp.status_code == 403


def test_bearer_request_leaves_the_cookie_session_alone(app: Any) -> None:
    ann, ben = make_user(app, "ann"), make_user(app, "ben")
    client = app.test_client()
    login(client, ann)
    assert "Set-Cookie" in client.get("/profile").headers  # a signed-in page refreshes its cookie
    resp = client.get("/api/v1/me", headers=bearer(make_token(app, ben, ["profile"])))
    # the token is the credential: the answer is ben's, and the cookie is neither read nor sent
    assert resp.status_code == 200 and resp.get_json()["username"] == "ben"
    assert "Set-Cookie" not in resp.headers
    assert client.get("/api/v1/me").get_json()["username"] == "ann"


def test_revoked_expired_and_garbage_tokens_are_401(app: Any) -> None:
    carol = make_user(app, "carol")
    revoked, expired = make_token(app, carol, ["profile"]), make_token(app, carol, ["profile"])
    with app.app_context():
        rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        rows[0].revoked_at = utcnow()
        rows[1].expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    client = app.test_client()
    for token in (revoked, expired, "gkp_" + "x" * 43, "not-a-token"):
        resp = client.get("/api/v1/me", headers=bearer(token))
        assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_token_scopes_validation(app: Any) -> None:
    dave = make_user(app, "dave")
    client = app.test_client()
    login(client, dave)
    assert client.post("/api/v1/tokens", json={"name": "a", "scopes": ["admin"]}).status_code == 403
    for body in (
        {"name": "a", "scopes": ["nope"]},
        {"name": "a", "scopes": []},
        {"name": "", "scopes": ["profile"]},
        {"name": "a", "scopes": ["profile"], "days": 100000},
    ):
        assert client.post("/api/v1/tokens", json=body).status_code == 422, body


def test_token_narrows_when_role_drops(app: Any) -> None:
    erin = make_user(app, "erin", role="admin")
    token = make_token(app, erin, ["profile", "admin"])
    with app.app_context():
        from gateway_kit.identity.models import User

        db.session.scalars(select(User).where(User.username == "erin")).one().role = "user"
        db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).get_json()["scopes"] == ["profile"]


def test_profile_page_shows_new_token_once(app: Any) -> None:
    frank = make_user(app, "frank")
    client = app.test_client()
    login(client, frank)
    resp = client.post(
        "/profile/tokens", data={"name": "ci", "scopes": ["jobs:read", "jobs:write"], "days": "5"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="new-token"' in html
    token = html.split('id="new-token"')[1].split("<code>")[1].split("</code>")[0]
    assert token.startswith("gkp_")
    assert token not in client.get("/profile").get_data(as_text=True)
    with app.app_context():
        row = db.session.scalars(select(ApiToken)).one()
    assert client.post(f"/profile/tokens/{row.id}/revoke").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_missing_or_wrong_csrf_token_is_refused(app: Any) -> None:
    gina = make_user(app, "gina")
    client = app.test_client()
    csrf = login(client, gina)
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    cases = [
        ("/logout", {}),
        ("/profile/tokens", {"name": "x", "scopes": ["profile"]}),
        ("/logout", {"csrf_token": "wrong"}),
        ("/profile/link/dev", {}),
    ]
    for path, data in cases:
        resp = client.post(path, data=data)
        assert resp.status_code == 403 and "security token" in resp.get_data(as_text=True), path
    # session-authenticated API writes need the header too
    resp = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["profile"]})
    assert resp.status_code == 403 and resp.get_json()["type"].endswith("csrf_failed")
    assert (
        client.post(
            "/api/v1/tokens", json={"name": "x", "scopes": ["profile"]}, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 201
    )
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all().__len__() == 1
    assert client.get("/profile").status_code == 200  # still signed in: nothing happened
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302


def test_csrf_token_is_rendered_in_forms(app: Any) -> None:
    hank = make_user(app, "hank")
    client = app.test_client()
    csrf = login(client, hank)
    html = client.get("/profile").get_data(as_text=True)
    assert f'name="csrf_token" value="{csrf}"' in html


def _age_session(app: Any, **delta: timedelta) -> None:
    with app.app_context():
        rec = db.session.scalars(select(UserSession)).one()
        for field, d in delta.items():
            setattr(rec, field, getattr(rec, field) - d)
        db.session.commit()


def test_idle_timeout_signs_out(app: Any) -> None:
    ivy = make_user(app, "ivy")
    client = app.test_client()
    login(client, ivy)
    assert client.get("/profile").status_code == 200
    _age_session(app, last_seen_at=timedelta(minutes=121), created_at=timedelta(minutes=121))
    assert client.get("/profile").status_code == 302


def test_absolute_timeout_signs_out(app: Any) -> None:
    jack = make_user(app, "jack")
    client = app.test_client()
    login(client, jack)
    _age_session(app, created_at=timedelta(hours=25))
    assert client.get("/api/v1/me").status_code == 401


def test_disabling_a_user_revokes_sessions_and_tokens_at_once(app: Any) -> None:
    admin, kim = make_user(app, "root", role="admin"), make_user(app, "kim")
    kim_browser, admin_browser = app.test_client(), app.test_client()
    login(kim_browser, kim)
    token = make_token(app, kim, ["profile"])
    assert kim_browser.get("/profile").status_code == 200
    login(admin_browser, admin)
    assert admin_browser.post(f"/admin/users/{kim.id}/disable").status_code == 302
    assert kim_browser.get("/profile").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    with app.app_context():
        assert all(r.revoked_at is not None for r in db.session.scalars(select(ApiToken)))
        assert all(
            s.revoked_at is not None
            for s in db.session.scalars(select(UserSession).where(UserSession.user_id == kim.id))
        )
    # enabling again does not resurrect the old session or tokens
    assert admin_browser.post(f"/admin/users/{kim.id}/enable").status_code == 302
    assert kim_browser.get("/profile").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_admin_cannot_disable_or_demote_self(app: Any) -> None:
    root = make_user(app, "root", role="admin")
    client = app.test_client()
    login(client, root)
    assert client.post(f"/admin/users/{root.id}/disable").status_code == 403
    assert client.post(f"/admin/users/{root.id}/role", data={"role": "user"}).status_code == 403


def test_session_cookie_flags(app: Any) -> None:
    client = app.test_client()
    login(client, make_user(app, "lee"))
    resp = client.get("/profile")
    client.get("/")
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert resp.status_code == 200


def test_production_cookies_are_secure(tmp_path: Any) -> None:
    from gateway_kit import create_app

    app = create_app(
        {"ENV": "production", "SECRET_KEY": "x" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"},
        instance_path=str(tmp_path),
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
