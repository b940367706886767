"""The cloud boundary (gateway_kit.cloud) and the settings it reads; sealing in the core."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from keystoneauth1 import exceptions as ksa

from gateway_kit import create_app, sealing
from gateway_kit.cloud import Advice, Cloud, cloud_name, connect, translate
from gateway_kit.errors import ConfigError, QuotaExceeded


def test_cloud_name_feature_override_falls_back_to_cloud_name() -> None:
    config = {"CLOUD_NAME": "main", "CERTS_CLOUD_NAME": "", "BURST_CLOUD_NAME": "burst-cloud"}
    assert cloud_name(config) == "main"
    assert cloud_name(config, "certs") == "main"
    assert cloud_name(config, "burst") == "burst-cloud"
    assert cloud_name(config, "data") == "main"  # a feature without an override setting


def test_unknown_cloud_names_the_setting_and_connects_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    cloud = connect({"CLOUD_NAME": "x", "BURST_CLOUD_NAME": "nowhere"}, "burst")  # nothing opened yet
    assert cloud.name == "nowhere"
    with pytest.raises(ConfigError, match=r"'nowhere' is not in clouds.yaml.*BURST_CLOUD_NAME or CLOUD_NAME"):
        _ = cloud.conn


def test_translate_uses_the_callers_advice() -> None:
    quota = ksa.http.Forbidden(message="Quota exceeded for instances", http_status=403)
    err = translate(quota, "create server a", Advice(quota="Free {which} now."))
    assert isinstance(err, QuotaExceeded)
    assert err.user_message.endswith("Free instances now.")
    busy = ksa.http.ServiceUnavailable(message="down", http_status=503)
    assert translate(busy, "list servers", Advice(busy="Come back.")).user_message.endswith("Come back.")
    assert Cloud("c").advice == Advice()


def test_deprecated_setting_names_still_work(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = Fernet.generate_key().decode()
    app = create_app(
        {"ENV": "testing", "CERTS_ENCRYPTION_KEY": key, "BURST_CLOUD": "old-name"},
        instance_path=str(tmp_path),
    )
    assert app.config["ENCRYPTION_KEY"] == key == app.config["CERTS_ENCRYPTION_KEY"]
    assert app.config["BURST_CLOUD_NAME"] == "old-name" == app.config["BURST_CLOUD"]
    assert "CERTS_ENCRYPTION_KEY is deprecated; use ENCRYPTION_KEY" in caplog.text
    # The current name wins over its alias in the same layer.
    both = create_app(
        {"ENV": "testing", "BURST_CLOUD": "old", "BURST_CLOUD_NAME": "new"}, instance_path=str(tmp_path)
    )
    assert both.config["BURST_CLOUD_NAME"] == "new"
    with pytest.raises(ConfigError, match=r"ENCRYPTION_KEY \(given as CERTS_ENCRYPTION_KEY\)"):
        create_app({"CERTS_ENCRYPTION_KEY": "short"}, instance_path=str(tmp_path))


def test_sealing_reads_what_certs_sealed_before() -> None:
    config = {"ENCRYPTION_KEY": "", "SECRET_KEY": "dev", "ENV": "development"}
    token = sealing.seal(config, b"secret")
    assert sealing.unseal({"CERTS_ENCRYPTION_KEY": "", "SECRET_KEY": "dev"}, token) == b"secret"
    with pytest.raises(sealing.UnreadableSecret, match="A stored password cannot be decrypted"):
        sealing.unseal({**config, "SECRET_KEY": "other"}, token, "A stored password")
