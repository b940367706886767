"""API access with access tokens issued by a configured provider (JWT, audience checked).

The happy path runs over real HTTP through the development provider (its access tokens are RFC 9068
JWTs whose ``aud`` holds the RFC 8707 ``resource`` the client asked for). The negative cases use the
crafting provider of ``craftidp.py``, which signs whatever token a test needs with its published key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from gateway_kit.db import db
from gateway_kit.errors import GatewayError
from gateway_kit.identity import provider_tokens
from gateway_kit.identity.models import Identity, User

from ..conftest import make_app, make_token, make_user
from .conftest import CLIENT_ID, CLIENT_SECRET, dev_provider_config, full_login, sign_in_at_provider
from .craftidp import CLIENT_SECRET as CRAFT_SECRET
from .craftidp import CraftIdP, _b64

API_AUDIENCE = "https://gateway.example.org/api"
REDIRECT_URI = "http://127.0.0.1:5000/login/callback/dev"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the development provider, over real HTTP ---------------------------------------------------


def provider_access_token(issuer: str, username: str, scope: str, resource: str | None = API_AUDIENCE) -> str:
    """Run the authorization-code flow (PKCE) against the development provider as a client would;
    return the access token from its token endpoint."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": "s",
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    callback = sign_in_at_provider(f"{issuer}/authorize?{query}", username, f"{username}-dev-password")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    if resource is not None:
        data["resource"] = resource
    resp = requests.post(f"{issuer}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


@pytest.fixture()
def api_app(tmp_path: Path, devidp: str) -> Any:
    return make_app(
        tmp_path, IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp, api_audience=API_AUDIENCE)}
    )


def test_dev_provider_issues_rfc9068_access_tokens_with_the_resource_as_audience(devidp: str) -> None:
    token = provider_access_token(devidp, "alan", "openid profile jobs:read")
    header = jwt.decode(token, _dev_key_set(devidp)).header
    claims = jwt.decode(token, _dev_key_set(devidp)).claims
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header.get("kid")
    assert claims["iss"] == devidp and claims["sub"] == "dev-alan"
    assert claims["aud"] == [CLIENT_ID, API_AUDIENCE] and claims["client_id"] == CLIENT_ID
    assert claims["scope"] == "openid profile jobs:read" and claims["exp"] > time.time()
    # the access token still works at the provider's userinfo endpoint
    info = requests.get(f"{devidp}/userinfo", headers=bearer(token), timeout=10)
    assert info.status_code == 200 and info.json()["sub"] == "dev-alan"
    # RFC 8707: a resource that is not an absolute URI is refused with invalid_target
    resp = requests.post(
        f"{devidp}/token",
        data={"grant_type": "authorization_code", "code": "x", "resource": "not a uri"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_target"


def _dev_key_set(issuer: str) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(requests.get(f"{issuer}/jwks.json", timeout=10).json())


def test_provider_access_token_works_on_the_api(api_app: Any, devidp: str) -> None:
    assert full_login(api_app.test_client(), "alan").status_code == 302  # links the identity
    token = provider_access_token(devidp, "alan", "openid profile jobs:read")
    client = api_app.test_client()
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.get_data(as_text=True)
    assert me.get_json()["username"] == "alan" and me.get_json()["scopes"] == ["jobs:read", "profile"]
    assert client.get("/api/v1/applications", headers=bearer(token)).status_code == 200
    # scope limiting: jobs:write was not granted to this token
    assert client.post("/api/v1/jobs", json={}, headers=bearer(token)).status_code == 403
    # personal access tokens keep working next to provider tokens
    with api_app.app_context():
        alan = db.session.query(User).filter_by(username="alan").one()
    assert client.get("/api/v1/me", headers=bearer(make_token(api_app, alan, ["profile"]))).status_code == 200


def test_provider_scopes_are_narrowed_to_the_role(api_app: Any, devidp: str) -> None:
    full_login(api_app.test_client(), "alan")  # a plain user
    token = provider_access_token(devidp, "alan", "openid profile jobs:write admin operator")
    me = api_app.test_client().get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["scopes"] == ["jobs:write", "profile"]
    # without the kit's profile scope, /me is forbidden (authenticated, but not allowed)
    token = provider_access_token(devidp, "alan", "openid jobs:read")
    assert api_app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 403


def test_dev_token_without_our_audience_is_401(
    api_app: Any, devidp: str, caplog: pytest.LogCaptureFixture
) -> None:
    full_login(api_app.test_client(), "alan")
    token = provider_access_token(devidp, "alan", "openid profile", resource=None)
    assert api_app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "Invalid claim: 'aud'" in caplog.text
    # the gateway's own ID token (aud = client id) is no API token either
    with api_app.app_context():
        from gateway_kit.identity.models import UserSession

        id_token = db.session.query(UserSession).one().id_token
    assert api_app.test_client().get("/api/v1/me", headers=bearer(id_token)).status_code == 401


def test_dev_token_of_a_subject_without_an_account_is_401(
    api_app: Any, devidp: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = provider_access_token(devidp, "grace", "openid profile")  # grace never logged in here
    assert api_app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "no account is linked to subject 'dev-grace'" in caplog.text


def test_provider_tokens_are_refused_where_no_provider_has_an_api_audience(
    tmp_path: Path, devidp: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp)})
    full_login(app.test_client(), "alan")
    token = provider_access_token(devidp, "alan", "openid profile")
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "no provider has api_audience set" in caplog.text


def test_api_audience_must_differ_from_the_client_id(tmp_path: Path, devidp: str) -> None:
    with pytest.raises(GatewayError, match="api_audience must differ from client_id"):
        make_app(tmp_path, IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp, api_audience=CLIENT_ID)})


# -- crafted tokens: every defect is a 401 for its own reason ------------------------------------


@pytest.fixture()
def craft_app(tmp_path: Path, craft: CraftIdP) -> Any:
    craft.published = [craft.key]
    app = make_app(tmp_path, IDENTITY_PROVIDERS={"craft": craft.config(api_audience=API_AUDIENCE)})
    user = make_user(app, "crafted", role="operator")
    with db.session_scope(app) as s:
        s.add(Identity(user_id=user.id, provider="craft", issuer=craft.issuer, subject="crafted-user"))
    return app


def access_claims(craft: CraftIdP, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": craft.issuer,
        "sub": "crafted-user",
        "aud": [API_AUDIENCE, "other-api"],
        "client_id": "some-cli",
        "iat": now,
        "exp": now + 300,
        "scope": "openid profile jobs:read operator",
        "jti": secrets.token_hex(8),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def crafted(craft: CraftIdP, mode: str) -> str:
    now = int(time.time())

    def sign(claims: dict[str, Any], key: Any = craft.key) -> str:
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key)

    if mode == "ok":
        return sign(access_claims(craft))
    if mode == "wrong_aud":
        return sign(access_claims(craft, aud="craft-client"))
    if mode == "no_aud":
        return sign(access_claims(craft, aud=None))
    if mode == "expired":
        return sign(access_claims(craft, iat=now - 3600, exp=now - 1800))
    if mode == "no_exp":
        return sign(access_claims(craft, exp=None))
    if mode == "not_yet_valid":
        return sign(access_claims(craft, nbf=now + 1800))
    if mode == "issued_in_future":
        return sign(access_claims(craft, iat=now + 1800, exp=now + 3600))
    if mode == "wrong_iss":
        return sign(access_claims(craft, iss="https://evil.example"))
    if mode == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(access_claims(craft))}."
    if mode == "hs256_with_client_secret":
        key = OctKey.import_key(CRAFT_SECRET)
        return jwt.encode({"alg": "HS256"}, access_claims(craft), key, algorithms=["HS256"])
    if mode == "tampered":
        header, _payload, sig = sign(access_claims(craft)).split(".")
        return f"{header}.{_b64(access_claims(craft, scope='admin jobs:write'))}.{sig}"
    if mode == "unknown_kid":
        return sign(access_claims(craft), key=craft.other_key)
    if mode == "unknown_subject":
        return sign(access_claims(craft, sub="someone-else"))
    if mode == "garbage":
        return "eyJ.not-base64!.x"
    raise ValueError(mode)


def test_crafted_access_token_works(craft_app: Any, craft: CraftIdP) -> None:
    client = craft_app.test_client()
    me = client.get("/api/v1/me", headers=bearer(crafted(craft, "ok")))
    assert me.status_code == 200, me.get_data(as_text=True)
    assert me.get_json()["username"] == "crafted"
    assert me.get_json()["scopes"] == ["jobs:read", "operator", "profile"]


#: Each defect, and the reason the log must give (so each case fails for its own reason).
DEFECTS = {
    "wrong_aud": "Invalid claim: 'aud'",
    "no_aud": "Missing claim: 'aud'",
    "expired": "expired",
    "no_exp": "Missing claim: 'exp'",
    "not_yet_valid": "not yet valid",
    "issued_in_future": "issued in the future",
    "wrong_iss": "issuer 'https://evil.example' is not a provider",
    "alg_none": "algorithm 'none' is not allowed",
    "hs256_with_client_secret": "algorithm 'HS256' is not allowed",
    "tampered": "bad_signature",
    "unknown_kid": "No key for kid: 'key-b'",
    "unknown_subject": "no account is linked to subject 'someone-else'",
    "garbage": "malformed JWT",
}


@pytest.mark.parametrize("mode", sorted(DEFECTS))
def test_bad_provider_token_is_401(
    craft_app: Any, craft: CraftIdP, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    resp = craft_app.test_client().get("/api/v1/me", headers=bearer(crafted(craft, mode)))
    assert resp.status_code == 401, (mode, resp.get_data(as_text=True))
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.get_json()["detail"] == provider_tokens.INVALID
    assert DEFECTS[mode] in caplog.text


def test_disabled_user_is_401(craft_app: Any, craft: CraftIdP, caplog: pytest.LogCaptureFixture) -> None:
    token = crafted(craft, "ok")
    with db.session_scope(craft_app) as s:
        s.query(User).filter_by(username="crafted").one().disabled = True
    assert craft_app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "is disabled" in caplog.text


def test_unknown_kid_refetches_the_jwks_once_then_rotation_works(craft_app: Any, craft: CraftIdP) -> None:
    client = craft_app.test_client()
    assert client.get("/api/v1/me", headers=bearer(crafted(craft, "ok"))).status_code == 200
    before = craft.jwks_fetches
    rotated = crafted(craft, "unknown_kid")
    assert client.get("/api/v1/me", headers=bearer(rotated)).status_code == 401
    assert craft.jwks_fetches == before + 1  # refetched once, the kid stayed unknown
    # more made-up kids within the refetch interval do not hammer the provider
    assert client.get("/api/v1/me", headers=bearer(rotated)).status_code == 401
    assert craft.jwks_fetches == before + 1
    # the provider rotates its key: once the interval has passed, the new key is fetched and works
    craft.published = [craft.key, craft.other_key]
    with craft_app.app_context():
        prov = craft_app.extensions["gateway_kit.identity_providers"]["craft"]
        prov.client.jwks_refetched_at -= provider_tokens.JWKS_REFETCH_INTERVAL
    assert client.get("/api/v1/me", headers=bearer(rotated)).status_code == 200
    assert craft.jwks_fetches == before + 2


def test_unreachable_provider_is_503_not_401(
    craft_app: Any, craft: CraftIdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    prov = craft_app.extensions["gateway_kit.identity_providers"]["craft"]

    def down(*_a: Any, **_k: Any) -> Any:
        raise requests.ConnectionError("down")

    monkeypatch.setattr(prov.client, "fetch_jwk_set", down)
    resp = craft_app.test_client().get("/api/v1/me", headers=bearer(crafted(craft, "ok")))
    assert resp.status_code == 503


def test_scopes_claim_is_configurable_and_may_be_a_list(tmp_path: Path, craft: CraftIdP) -> None:
    craft.published = [craft.key]
    app = make_app(
        tmp_path,
        IDENTITY_PROVIDERS={"craft": craft.config(api_audience=API_AUDIENCE, api_scopes_claim="scp")},
    )
    user = make_user(app, "crafted")  # a plain user: 'operator' is dropped
    with db.session_scope(app) as s:
        s.add(Identity(user_id=user.id, provider="craft", issuer=craft.issuer, subject="crafted-user"))
    claims = access_claims(
        craft, scope="admin jobs:write", scp=["profile", "jobs:read", "operator", "not-a-kit-scope"]
    )
    token = jwt.encode({"alg": "RS256", "kid": craft.key.kid}, claims, craft.key)
    me = app.test_client().get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["scopes"] == ["jobs:read", "profile"]
