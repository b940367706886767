"""Defect 3: ADMIN_USERS binds only to identities nobody else can claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.errors import ConfigError
from gateway_kit.identity.accounts import resolve_login
from gateway_kit.identity.providers import CILogonProvider, Profile
from tests.conftest import make_app

UNI = "https://login.uni.example"
SOCIAL = "https://social.example"


def _provider(authoritative: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "oidc", "client_id": "gw", "discovery_url": "http://127.0.0.1:1/x"}
    if authoritative is not None:
        entry["authoritative_email_domains"] = authoritative
    return entry


def _login(app: Any, profile: Profile) -> str:
    with app.app_context():
        user = resolve_login(db.session, profile, app.config)
        db.session.commit()
        return str(user.role)


def _app(tmp_path: Path, admins: list[str]) -> Any:
    return make_app(
        tmp_path,
        ADMIN_USERS=admins,
        IDENTITY_PROVIDERS={"uni": _provider(["uni.example"]), "social": _provider()},
    )


def test_a_listed_email_from_a_second_provider_does_not_make_an_admin(tmp_path: Path) -> None:
    app = _app(tmp_path, ["ada@uni.example"])
    impostor = Profile("social", SOCIAL, "s-1", email="ada@uni.example", email_verified=True)
    assert _login(app, impostor) == "user"
    unverified = Profile("uni", UNI, "u-2", email="ada@uni.example", email_verified=False)
    assert _login(app, unverified) == "user"
    ada = Profile("uni", UNI, "u-1", email="Ada@uni.example", email_verified=True)
    assert _login(app, ada) == "admin"


def test_issuer_subject_pairs_match_exactly(tmp_path: Path) -> None:
    app = _app(tmp_path, [f"{UNI}#u-7"])
    assert _login(app, Profile("social", SOCIAL, "u-7")) == "user"
    assert _login(app, Profile("uni", UNI, "u-7")) == "admin"


def test_usernames_are_refused_at_start_up(tmp_path: Path) -> None:
    # Before: a username entry made whoever first claimed the unused name an admin.
    with pytest.raises(ConfigError, match="usernames are not accepted"):
        _app(tmp_path, ["root"])
    with pytest.raises(ConfigError, match="authoritative_email_domains must be a list"):
        make_app(tmp_path, IDENTITY_PROVIDERS={"uni": {**_provider(), "authoritative_email_domains": "x"}})


def test_cilogon_does_not_take_institution_emails_as_verified() -> None:
    prov = CILogonProvider("cilogon", {"kind": "cilogon", "client_id": "c"})
    claims = {"iss": "https://cilogon.org", "sub": "u/1", "email": "ada@uni.example", "idp": "urn:x"}
    assert prov.profile(claims).email_verified is False
    assert prov.profile({**claims, "email_verified": "false"}).email_verified is False
    assert prov.profile({**claims, "email_verified": True}).email_verified is True
