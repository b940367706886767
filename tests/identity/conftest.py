"""Identity fixtures: the development OpenID provider as a real HTTP server, and login helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from gateway_kit.identity.devprovider import serve_devidp

from ..conftest import make_app
from .craftidp import CraftIdP

USERS_FILE = Path(__file__).resolve().parents[2] / "auth" / "dev-users.toml"
CLIENT_ID = "gateway-kit-dev"
CLIENT_SECRET = "gateway-kit-dev-secret"


@pytest.fixture(scope="session")
def devidp() -> Iterator[str]:
    """The development OpenID provider on a free loopback port; yields its issuer URL."""
    srv, issuer = serve_devidp(USERS_FILE)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield issuer
    srv.shutdown()


@pytest.fixture(scope="module")
def craft() -> Iterator[CraftIdP]:
    """A provider that signs whatever a test crafts (one per test module)."""
    idp = CraftIdP()
    yield idp
    idp.stop()


def authorize(issuer: str, **params: str) -> requests.Response:
    """GET the provider's ``/authorize`` (not following redirects) with the dev client's code-flow
    parameters, overridden or extended by ``params``."""
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": "http://127.0.0.1:5000/login/callback/dev",
        "state": "s",
        "nonce": "n",
        **params,
    }
    return requests.get(f"{issuer}/authorize", params=query, allow_redirects=False, timeout=10)


def dev_provider_config(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "oidc",
        "title": "Development provider",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "discovery_url": f"{issuer}/.well-known/openid-configuration",
        "scopes": ["openid", "email", "profile", "org.cilogon.userinfo"],
        "groups_claim": "isMemberOf",
        **extra,
    }


@pytest.fixture()
def idp_app(tmp_path: Path, devidp: str) -> Any:
    return make_app(
        tmp_path,
        IDENTITY_PROVIDERS={"dev": dev_provider_config(devidp)},
        IDENTITY_ROLE_RULES={"admin": ["gk-demo-admins"], "operator": ["gk-demo-operators"]},
        IDENTITY_PROJECT_MAP={"astro-lab": "astro"},
    )


def start_login(client: Any, provider: str = "dev", next_url: str | None = None) -> str:
    """GET /login/<provider>; return the provider's authorization URL we are sent to."""
    resp = client.get(f"/login/{provider}", query_string={"next": next_url} if next_url else None)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return str(resp.headers["Location"])


def sign_in_at_provider(authz_url: str, username: str, password: str) -> str:
    """Fill in the development provider's login page over HTTP; return our callback path+query."""
    browser = requests.Session()
    page = browser.get(authz_url, timeout=10)
    assert page.status_code == 200 and "DEVELOPMENT" in page.text
    resp = browser.post(
        authz_url, data={"username": username, "password": password}, allow_redirects=False, timeout=10
    )
    assert resp.status_code == 302, resp.text
    loc = urlsplit(resp.headers["Location"])
    return f"{loc.path}?{loc.query}"


def full_login(
    client: Any, username: str = "alan", password: str | None = None, next_url: str | None = None
) -> Any:
    authz = start_login(client, next_url=next_url)
    callback = sign_in_at_provider(authz, username, password or f"{username}-dev-password")
    return client.get(callback)
