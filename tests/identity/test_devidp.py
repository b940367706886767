"""The development OpenID provider itself: loopback only, banner, discovery, packaged users file."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from gateway_kit.cli import main
from gateway_kit.identity.devprovider import DevIdPConfigError, serve_devidp
from gateway_kit.identity.devprovider.cli import DEFAULT_USERS

from .conftest import USERS_FILE, authorize


def test_refuses_non_loopback_unless_forced() -> None:
    with pytest.raises(DevIdPConfigError, match="loopback"):
        serve_devidp(USERS_FILE, host="0.0.0.0")
    result = CliRunner().invoke(main, ["devidp", "serve", "--host", "192.0.2.1", "--port", "0"])
    assert result.exit_code == 1 and "refusing to listen" in result.output


def test_discovery_and_banner(devidp: str) -> None:
    doc = requests.get(f"{devidp}/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == devidp and doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["end_session_endpoint"] == f"{devidp}/logout"
    assert "none" not in doc["id_token_signing_alg_values_supported"]
    page = requests.get(devidp, timeout=10)
    assert "DEVELOPMENT OpenID provider" in page.text and page.headers["X-Development-Only"] == "true"


def test_pkce_is_required(devidp: str) -> None:
    resp = authorize(devidp)  # no code_challenge
    assert resp.status_code in (302, 400)
    if resp.status_code == 302:
        assert "error=invalid_request" in resp.headers["Location"]


def test_bad_users_file(tmp_path: Path) -> None:
    bad = tmp_path / "users.toml"
    bad.write_text("[[users]]\nusername = 'x'\n")
    with pytest.raises(DevIdPConfigError, match="password"):
        serve_devidp(bad)


def test_packaged_users_file_matches_auth_example() -> None:
    assert DEFAULT_USERS.read_text() == USERS_FILE.read_text()
