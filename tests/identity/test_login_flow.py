"""The whole login flow over real HTTP against the development provider, through Authlib's client."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select

from gateway_kit.db import db
from gateway_kit.identity.models import Identity, Project, User, UserSession

from .conftest import full_login, sign_in_at_provider, start_login


def count(app: Any, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_login_page_lists_providers(idp_app: Any) -> None:
    html = idp_app.test_client().get("/login").get_data(as_text=True)
    assert 'id="provider-dev"' in html and "Development provider" in html


def test_authorization_request_uses_pkce_s256_state_and_nonce(idp_app: Any, devidp: str) -> None:
    authz = start_login(idp_app.test_client())
    params = parse_qs(urlsplit(authz).query)
    assert authz.startswith(f"{devidp}/authorize?")
    assert params["code_challenge_method"] == ["S256"] and len(params["code_challenge"][0]) == 43
    assert params["state"][0] and params["nonce"][0] and params["response_type"] == ["code"]
    assert params["scope"][0].split() == ["openid", "email", "profile", "org.cilogon.userinfo"]
    assert params["redirect_uri"] == ["http://localhost/login/callback/dev"]


def test_full_login_creates_account_and_signs_in(idp_app: Any) -> None:
    client = idp_app.test_client()
    resp = full_login(client, "alan", next_url="/profile?tab=tokens")
    assert resp.status_code == 302 and resp.headers["Location"] == "/profile?tab=tokens"
    page = client.get("/").get_data(as_text=True)
    assert 'id="signed-in-as">Alan Turing<' in page
    with idp_app.app_context():
        user = db.session.scalars(select(User)).one()
        ident = db.session.scalars(select(Identity)).one()
        assert (user.username, user.role, user.email) == ("alan", "user", "alan@example.org")
        assert ident.subject == "dev-alan" and ident.issuer.startswith("http://127.0.0.1:")
        assert ident.claims["eppn"] == "alan@example.org" and ident.idp.endswith("shibboleth")
        assert "nonce" not in ident.claims
        assert [m.project.name for m in user.memberships] == ["astro"]
    me = client.get("/api/v1/me").get_json()
    assert me["username"] == "alan" and me["identities"][0]["subject"] == "dev-alan"


def test_roles_from_groups_and_same_account_on_second_login(idp_app: Any) -> None:
    full_login(idp_app.test_client(), "ada")
    full_login(idp_app.test_client(), "grace")
    full_login(idp_app.test_client(), "ada")
    with idp_app.app_context():
        roles = dict(db.session.execute(select(User.username, User.role)).all())
    assert roles == {"ada": "admin", "grace": "operator"}
    assert count(idp_app, Identity) == 2 and count(idp_app, Project) == 1


def test_session_is_rotated_at_login(idp_app: Any) -> None:
    client = idp_app.test_client()
    client.get("/login")  # an anonymous session with a CSRF token
    with client.session_transaction() as s:
        s["planted"] = "by-attacker"
        before = s.get("gk_csrf")
    full_login(client, "alan")
    with client.session_transaction() as s:
        assert "planted" not in s and s["gk_csrf"] != before and s["gk_sid"]


def test_wrong_password_stays_at_provider(idp_app: Any) -> None:
    authz = start_login(idp_app.test_client())
    resp = requests.post(
        authz, data={"username": "alan", "password": "nope"}, allow_redirects=False, timeout=10
    )
    assert resp.status_code == 401 and "Location" not in resp.headers


def test_logout_ends_session_here_and_at_provider(idp_app: Any, devidp: str) -> None:
    client = idp_app.test_client()
    full_login(client, "alan")
    resp = client.post("/logout", data={"csrf_token": _csrf(client)})
    assert resp.status_code == 302
    loc = resp.headers["Location"]
    assert loc.startswith(f"{devidp}/logout?") and "id_token_hint=" in loc
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost%2F" in loc
    assert (
        requests.get(loc, allow_redirects=False, timeout=10)
        .headers["Location"]
        .startswith("http://localhost/")
    )
    assert client.get("/profile").status_code == 302
    with idp_app.app_context():
        rec = db.session.scalars(select(UserSession)).one()
        assert rec.revoked_at is not None and rec.id_token == ""


def test_link_second_identity_from_profile(idp_app: Any) -> None:
    client = idp_app.test_client()
    full_login(client, "alan")
    resp = client.post("/profile/link/dev", data={"csrf_token": _csrf(client)})
    assert resp.status_code == 302
    callback = sign_in_at_provider(resp.headers["Location"], "grace", "grace-dev-password")
    assert client.get(callback).headers["Location"] == "/profile"
    with idp_app.app_context():
        user = db.session.scalars(select(User)).one()
        subjects = sorted(db.session.scalars(select(Identity.subject)))
    assert user.username == "alan" and subjects == ["dev-alan", "dev-grace"]
    # grace's identity now signs in as alan's account, never a new one
    other = idp_app.test_client()
    full_login(other, "grace")
    assert other.get("/api/v1/me").get_json()["username"] == "alan"


def test_linking_an_identity_of_another_account_is_refused(idp_app: Any) -> None:
    full_login(idp_app.test_client(), "grace")
    client = idp_app.test_client()
    full_login(client, "alan")
    resp = client.post("/profile/link/dev", data={"csrf_token": _csrf(client)})
    resp = client.get(sign_in_at_provider(resp.headers["Location"], "grace", "grace-dev-password"))
    assert resp.status_code == 409
    assert count(idp_app, Identity) == 2


def test_disabled_account_cannot_log_in(idp_app: Any) -> None:
    full_login(idp_app.test_client(), "alan")
    with idp_app.app_context():
        db.session.scalars(select(User)).one().disabled = True
        db.session.commit()
    resp = full_login(idp_app.test_client(), "alan")
    assert resp.status_code == 403


def test_access_rules_deny_by_domain(tmp_path: Any, devidp: str) -> None:
    from ..conftest import make_app
    from .conftest import dev_provider_config

    app = make_app(
        tmp_path,
        IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp)},
        IDENTITY_ACCESS_RULES={"deny": {"email_domains": ["example.org"]}},
    )
    assert full_login(app.test_client(), "alan").status_code == 403
    assert count(app, User) == 0 and count(app, Identity) == 0
    assert full_login(app.test_client(), "ada").status_code == 302


def _csrf(client: Any) -> str:
    with client.session_transaction() as s:
        return str(s["gk_csrf"])
