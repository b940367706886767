"""Pure parts: names that fit, sealing of keys, settings, warning levels (no services needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from gateway_kit import create_app
from gateway_kit.certs import names, sealing, service
from gateway_kit.certs.errors import BadName, CertError
from gateway_kit.errors import ConfigError

LONG = "gw-instance-7f3a9c-allocation-tg-cis230042.projects-jetstream2.gw-test.org"


def test_normalise_names() -> None:
    assert names.normalise("Portal.Example.ORG.") == "portal.example.org"
    assert names.normalise("*.apps.example.org") == "*.apps.example.org"
    assert names.normalise("bücher.example.org") == "xn--bcher-kva.example.org"
    for bad in (
        "localhost",
        "a..example.org",
        "-x.example.org",
        "a.*.example.org",
        "x" * 64 + ".example.org",
    ):
        with pytest.raises(BadName):
            names.normalise(bad)


def test_plan_names_keeps_a_common_name_that_fits() -> None:
    assert names.plan_names(["a.example.org", "A.example.org."]).names == ["a.example.org"]
    plan = names.plan_names([LONG, "short.gw-test.org"])
    assert plan.names == ["short.gw-test.org", LONG] and plan.warnings
    with pytest.raises(BadName, match=r"at most 64 in the common name\. Add a short alias such as"):
        names.plan_names([LONG])
    plan = names.plan_names([LONG], add_alias=True)
    alias = plan.names[0]
    assert len(alias) <= 64 and alias.endswith(".projects-jetstream2.gw-test.org")
    assert alias == names.short_alias(LONG)  # stable across runs
    with pytest.raises(BadName):
        names.plan_names([])


def test_sealing_round_trip_and_key_rules() -> None:
    key = Fernet.generate_key().decode()
    cfg = {"CERTS_ENCRYPTION_KEY": key, "SECRET_KEY": "s", "ENV": "development"}
    token = sealing.seal(cfg, b"-----BEGIN PRIVATE KEY-----secret")
    assert b"secret" not in token.encode() and sealing.unseal(cfg, token).endswith(b"secret")
    other = {**cfg, "CERTS_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    with pytest.raises(CertError, match="cannot be decrypted"):
        sealing.unseal(other, token)
    derived = {"CERTS_ENCRYPTION_KEY": "", "SECRET_KEY": "dev", "ENV": "development"}
    assert sealing.unseal(derived, sealing.seal(derived, b"k")) == b"k"
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY must be set in production"):
        sealing.seal({**derived, "ENV": "production"}, b"k")


def test_settings_validation_and_presets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CERTS_ENCRYPTION_KEY"):
        create_app({"CERTS_ENCRYPTION_KEY": "short"}, instance_path=str(tmp_path))
    with pytest.raises(ConfigError, match="CERTS_DIRECTORY_URL"):
        create_app({"CERTS_DIRECTORY_URL": "letsencrypt-prod"}, instance_path=str(tmp_path))
    with pytest.raises(ConfigError, match="CERTS_DNS_NAMESERVERS"):
        create_app({"CERTS_DNS_NAMESERVERS": ["127.0.0.1"]}, instance_path=str(tmp_path))
    app = create_app({"ENV": "testing"}, instance_path=str(tmp_path))
    assert service.directory_url(app) == "https://acme-v02.api.letsencrypt.org/directory"
    assert (
        service.directory_url(app, staging=True) == "https://acme-staging-v02.api.letsencrypt.org/directory"
    )
    assert service.directory_url(app, "https://ca.example.org/dir") == "https://ca.example.org/dir"


def test_warning_levels() -> None:
    assert [service.warning_level(d) for d in (None, 45, 30, 20, 14, 8, 7, 1, -2)] == [
        None,
        None,
        30,
        30,
        14,
        14,
        7,
        7,
        7,
    ]
