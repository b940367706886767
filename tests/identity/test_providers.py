"""Provider backends: configuration, selection by kind, and one contract run per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway_kit import create_app
from gateway_kit.errors import ConfigError
from gateway_kit.identity.providers import CILogonProvider, build_providers

from ..conftest import make_app
from .conftest import dev_provider_config, sign_in_at_provider


@pytest.mark.parametrize("kind", ["oidc", "cilogon", "custos"])
def test_every_backend_logs_in_against_the_dev_provider(tmp_path: Path, devidp: str, kind: str) -> None:
    extra = {"idphint": ["https://idp.example.edu/idp/shibboleth"]} if kind == "cilogon" else {}
    cfg = dev_provider_config(devidp, kind=kind, **extra)
    if kind != "oidc":
        cfg.pop("groups_claim")  # use the backend's default (isMemberOf / groups)
    app = make_app(
        tmp_path, IDENTITY_PROVIDERS={"dev": cfg}, IDENTITY_ROLE_RULES={"operator": ["gk-demo-operators"]}
    )
    client = app.test_client()
    authz = client.get("/login/dev").headers["Location"]
    if kind == "cilogon":
        assert parse_qs(urlsplit(authz).query)["idphint"] == ["https://idp.example.edu/idp/shibboleth"]
    loc = urlsplit(sign_in_at_provider(authz, "grace", "grace-dev-password"))
    assert client.get(f"/login/callback/dev?{loc.query}").status_code == 302
    me = client.get("/api/v1/me").get_json()
    assert me["username"] == "grace"
    # oidc is configured with isMemberOf, CILogon reads it by default; Custos reads "groups" (absent)
    assert me["role"] == ("user" if kind == "custos" else "operator")


def test_unknown_kind_lists_installed() -> None:
    with pytest.raises(ConfigError, match="installed kinds: cilogon, custos, oidc"):
        build_providers({"x": {"kind": "saml", "client_id": "c", "discovery_url": "https://x"}})


def test_bad_provider_table_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"IDENTITY_PROVIDERS.*client_id"):
        create_app(
            {"ENV": "testing", "IDENTITY_PROVIDERS": {"x": {"kind": "oidc"}}}, instance_path=str(tmp_path)
        )
    with pytest.raises(ConfigError, match="unknown key"):
        create_app(
            {
                "ENV": "testing",
                "IDENTITY_PROVIDERS": {"x": {"kind": "oidc", "client_id": "c", "secret": "typo"}},
            },
            instance_path=str(tmp_path),
        )


def test_cilogon_defaults_and_secret_from_environment(tmp_path: Path, monkeypatch: Any) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[identity_providers.cilogon]\nkind = "cilogon"\nclient_id = "cilogon:/client_id/1"\n'
        'client_secret_env = "CILOGON_SECRET"\nselected_idp = "https://idp.example.edu"\n'
    )
    monkeypatch.setenv("GATEWAY_KIT_CONFIG", str(config))
    monkeypatch.setenv("CILOGON_SECRET", "s3cret-value")
    app = create_app({"ENV": "testing"}, instance_path=str(tmp_path))
    prov = app.extensions["gateway_kit.identity_providers"]["cilogon"]
    assert isinstance(prov, CILogonProvider)
    assert prov.discovery_url == "https://cilogon.org/.well-known/openid-configuration"
    assert prov.scopes == ["openid", "email", "profile", "org.cilogon.userinfo"]
    assert prov.authorize_params() == {"selected_idp": "https://idp.example.edu"}
    assert prov.client_secret() == "s3cret-value"
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "Your institution (CILogon)" in html and "s3cret" not in html


def test_provider_settings_are_masked(tmp_path: Path) -> None:
    from gateway_kit.settings import all_settings, mask

    assert mask(all_settings()["IDENTITY_PROVIDERS"], {"x": {"client_secret": "abc"}}) == "***"
