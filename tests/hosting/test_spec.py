"""The spec: the example validates; typos and bad values are named by field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway_kit.errors import ValidationError
from gateway_kit.hosting.plan import classify, desired_resources
from gateway_kit.hosting.spec import load_spec, parse_spec, spec_from_json

from .conftest import STANDARD


def _data() -> dict:
    return tomllib.loads(STANDARD.read_text())


def test_standard_example_is_valid_and_round_trips() -> None:
    spec = load_spec(STANDARD)
    assert [r.name for r in spec.roles] == ["web", "database"]
    assert spec_from_json(spec.to_json()) == spec
    keys = [d.key for d in desired_resources(spec)]
    assert keys.count("server:web-1") == 1 and "member:web-2" in keys and "record:www" in keys
    assert keys.index("lb") < keys.index("member:web-1") < keys.index("record:www")


def test_typo_names_the_field_and_suggests() -> None:
    data = _data()
    data["roles"]["web"]["flavour"] = data["roles"]["web"].pop("flavor")
    with pytest.raises(ValidationError) as err:
        parse_spec(data)
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert "did you mean 'flavor'" in fields["roles.web.flavour"]
    assert "roles.web.flavor" in fields


def test_bad_values_are_all_reported() -> None:
    data = _data()
    data["name"] = "Bad Name"
    data["load_balancer"]["role"] = "webb"
    data["load_balancer"]["algorithm"] = "ROUND_ROBBIN"
    data["dns"]["zone"] = "example.org"
    data["volumes"]["datasets"]["attach_to"] = "databse"
    with pytest.raises(ValidationError) as err:
        parse_spec(data)
    fields = {e["field"] for e in err.value.errors}
    assert {
        "name",
        "load_balancer.role",
        "load_balancer.algorithm",
        "dns.zone",
        "volumes.datasets.attach_to",
    } <= fields
    assert "did you mean 'web'" in err.value.user_message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[roles.web\n')
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert "line 2" in err.value.user_message


def test_classify_changes() -> None:
    assert classify("server", {"flavor": "a", "image": "x"}, {"flavor": "b", "image": "x"})[0] == "resize"
    assert classify("server", {"flavor": "a", "image": "x"}, {"flavor": "a", "image": "y"})[0] == "replace"
    assert classify("volume", {"size": 1}, {"size": 2})[0] == "extend"
    with pytest.raises(ValidationError):
        classify("volume", {"size": 2}, {"size": 1})
    assert classify("recordset", {"records": ["1"]}, {"records": ["2"]})[0] == "update"


def test_kit_templates_are_named_and_an_unknown_one_lists_them() -> None:
    from gateway_kit.hosting import cloudinit

    spec = load_spec(STANDARD)
    path = cloudinit.resolve(spec.role("database").cloud_init or "", spec.base_dir)
    assert path.is_relative_to(cloudinit.FOLDER) and path.is_file()
    data = _data()
    data["roles"]["web"]["cloud_init"] = "gateway-kit:nginx"
    with pytest.raises(ValidationError) as err:
        parse_spec(data)
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert "gateway-kit:web" in fields["roles.web.cloud_init"]
    assert "gateway-kit:postgres-on-volume" in fields["roles.web.cloud_init"]


def test_secret_sources_and_app_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway_kit.errors import ConfigError
    from gateway_kit.hosting.userdata import new_secret

    data = _data()
    data["secrets"] = {"oidc": "vault:x", "Bad-Name": "env:X"}
    data["app"] = {"requirement": "--index-url=http://evil", "settings": "missing.toml"}
    with pytest.raises(ValidationError) as err:
        parse_spec(data, tmp_path)
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert "env:VARIABLE" in fields["secrets.oidc"] and "secrets.Bad-Name" in fields
    assert "no options" in fields["app.requirement"] and "cannot read" in fields["app.settings"]

    (tmp_path / "smtp").write_text("from-a-file\n")
    data["secrets"] = {"oidc": "env:GK_TEST_OIDC", "smtp": "file:smtp"}
    data["app"] = {"requirement": "my-portal==1.2"}
    spec = parse_spec(data, tmp_path)
    assert spec_from_json(spec.to_json()) == spec
    assert new_secret(spec, "smtp") == "from-a-file"
    monkeypatch.delenv("GK_TEST_OIDC", raising=False)
    with pytest.raises(ConfigError, match="GK_TEST_OIDC is not set"):
        new_secret(spec, "oidc")
    monkeypatch.setenv("GK_TEST_OIDC", "from-the-env")
    assert new_secret(spec, "oidc") == "from-the-env"
    assert len(new_secret(spec, "secret_key")) >= 64
    with pytest.raises(ConfigError, match=r"\[secrets\] table"):
        new_secret(spec, "smtp_password")
