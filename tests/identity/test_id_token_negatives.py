"""Every rejected login answers a clear error page and stores nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from gateway_kit.db import db
from gateway_kit.identity.models import Identity, User, UserSession
from gateway_kit.identity.views import safe_next

from ..conftest import make_app
from .conftest import authorize, sign_in_at_provider, start_login
from .craftidp import CraftIdP


@pytest.fixture()
def craft_app(tmp_path: Path, craft: CraftIdP) -> Any:
    craft.published = [craft.key]
    return make_app(tmp_path, IDENTITY_PROVIDERS={"craft": craft.config()})


def nothing_stored(app: Any) -> bool:
    with app.app_context():
        return all(
            db.session.scalar(select(func.count()).select_from(m)) == 0 for m in (User, Identity, UserSession)
        )


def crafted_callback(
    app: Any, mode: str, *, state: str | None = "from-login", nonce: str | None = None
) -> Any:
    client = app.test_client()
    params = parse_qs(urlsplit(start_login(client, "craft")).query)
    real_state, real_nonce = params["state"][0], params["nonce"][0]
    query: dict[str, str] = {"code": f"{mode}.{nonce or real_nonce}"}
    if state is not None:
        query["state"] = real_state if state == "from-login" else state
    resp = client.get("/login/callback/craft", query_string=query)
    return resp, client


def test_crafted_provider_happy_path(craft_app: Any) -> None:
    resp, client = crafted_callback(craft_app, "ok")
    assert resp.status_code == 302
    assert client.get("/api/v1/me").get_json()["username"] == "crafted"


#: Each defect, and the reason the log must give (so each case fails for its own reason).
DEFECTS = {
    "wrong_nonce": "Invalid claim: 'nonce'",
    "missing_nonce": "Missing claim: 'nonce'",
    "expired": "expired",
    "not_yet_valid": "not yet valid",
    "issued_in_future": "issued in the future",
    "wrong_aud": "Invalid claim: 'aud'",
    "other_azp": "Invalid claim: 'azp'",
    "wrong_iss": "Invalid claim: 'iss'",
    "alg_none": "'none' is not allowed",
    "hs256_with_client_secret": "'HS256' is not allowed",
    "tampered": "bad_signature",
    "unknown_kid": "No key for kid",
    "no_sub": "Missing claim: 'sub'",
    "no_id_token": "no id_token",
}


@pytest.mark.parametrize("mode", sorted(DEFECTS))
def test_bad_id_token_is_rejected(craft_app: Any, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    resp, client = crafted_callback(craft_app, mode)
    assert resp.status_code == 400, (mode, resp.get_data(as_text=True))
    page = resp.get_data(as_text=True)
    assert "Login failed" in page and "Traceback" not in page
    assert DEFECTS[mode] in caplog.text
    assert nothing_stored(craft_app)
    assert client.get("/api/v1/me").status_code == 401


def test_unknown_kid_is_refetched_once(craft_app: Any, craft: CraftIdP) -> None:
    before = craft.jwks_fetches
    resp, _ = crafted_callback(craft_app, "unknown_kid")
    assert resp.status_code == 400
    assert craft.jwks_fetches - before == 2  # first fetch, then exactly one refetch


def test_key_rotation_works_through_refetch(craft_app: Any, craft: CraftIdP) -> None:
    assert crafted_callback(craft_app, "ok")[0].status_code == 302  # JWKS with key-a cached
    craft.published = [craft.key, craft.other_key]
    resp, _ = crafted_callback(craft_app, "unknown_kid")  # signed with key-b
    assert resp.status_code == 302


@pytest.mark.parametrize("state", [None, "forged-state"])
def test_wrong_or_missing_state_is_rejected(craft_app: Any, state: str | None) -> None:
    resp, _ = crafted_callback(craft_app, "ok", state=state)
    assert resp.status_code == 400 and "state" in resp.get_data(as_text=True)
    assert nothing_stored(craft_app)


def test_provider_error_answer_is_shown(craft_app: Any) -> None:
    client = craft_app.test_client()
    start_login(client, "craft")
    resp = client.get("/login/callback/craft?error=access_denied&state=x")
    assert resp.status_code == 400 and "access_denied" in resp.get_data(as_text=True)


def test_discovery_issuer_mismatch_is_refused(tmp_path: Path, craft: CraftIdP) -> None:
    app = make_app(tmp_path, IDENTITY_PROVIDERS={"craft": craft.config(issuer="https://other.example")})
    resp = app.test_client().get("/login/craft")
    assert resp.status_code == 400 and "issuer" in resp.get_data(as_text=True)


def test_replayed_code_is_rejected(idp_app: Any) -> None:
    client = idp_app.test_client()
    callback = sign_in_at_provider(start_login(client), "alan", "alan-dev-password")
    assert client.get(callback).status_code == 302
    # the same callback again: state already used
    again = idp_app.test_client()
    start_login(again)
    assert again.get(callback).status_code == 400
    # the old code with a fresh, valid state: the provider refuses the used code
    code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh_state = parse_qs(urlsplit(start_login(again)).query)["state"][0]
    resp = again.get("/login/callback/dev", query_string={"code": code, "state": fresh_state})
    assert resp.status_code == 400 and "invalid_grant" in resp.get_data(as_text=True)
    with idp_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "http://localhost.evil.example/",
        "javascript:alert(1)",
        "https:evil.example",
        "/%0d%0aSet-Cookie:x",
    ],
)
def test_open_redirect_next_is_neutralised(target: str, idp_app: Any) -> None:
    with idp_app.test_request_context("/"):
        assert urlsplit(safe_next(target)).netloc == ""
        assert not safe_next(target).startswith("//")


def test_open_redirect_next_through_full_login(idp_app: Any) -> None:
    from .conftest import full_login

    resp = full_login(idp_app.test_client(), "alan", next_url="//evil.example/steal")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    with idp_app.test_request_context("/"):
        assert safe_next("http://localhost/jobs?x=1") == "/jobs?x=1"


def test_devidp_refuses_unregistered_redirect_uri(devidp: str) -> None:
    resp = authorize(
        devidp,
        redirect_uri="https://evil.example/cb",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method="S256",
    )
    assert resp.status_code == 400 and "Location" not in resp.headers
