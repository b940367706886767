"""The Jetstream2 example: its spec, settings and clouds.yaml template are valid, and the spec
deploys on the local cloud, whose catalogue has Jetstream2's flavor, image and network names.

The hosting feature's spec loader does the validation (gateway_kit.hosting.spec); the deployment
runs the real engine against the local cloud over HTTP, with only the cloud name changed.
"""

import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_kit.hosting.testing import FAST_SETTINGS

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent.parent
SPEC = HERE / "deploy.toml"
ZONE = "bio230001.projects.jetstream-cloud.org."

spec_module = pytest.importorskip(
    "gateway_kit.hosting.spec", reason="the hosting feature (gateway_kit.hosting) is not installed"
)


def test_spec_is_valid() -> None:
    spec = spec_module.load_spec(SPEC)
    assert spec.name == "seqstats" and spec.cloud == "jetstream2"
    roles = {r.name: r for r in spec.roles}
    assert (roles["web"].count, roles["web"].flavor) == (2, "m3.small")
    assert {r.image for r in spec.roles} == {"Featured-Ubuntu24"}
    assert spec.dns.zone == ZONE and spec.dns.create_zone is False


def test_flavors_and_images_are_jetstream2_names() -> None:
    """The local cloud's seed mirrors Jetstream2's catalogue, so the names here are real ones."""
    seed = tomllib.loads((REPO / "gateway_kit" / "localcloud" / "seed.toml").read_text())
    flavors = {f["name"] for f in seed["flavors"]}
    images = {i["name"] for i in seed["images"]}
    spec = spec_module.load_spec(SPEC)
    assert {r.flavor for r in spec.roles} <= flavors
    assert {r.image for r in spec.roles} <= images
    settings = tomllib.loads((HERE / "gateway.toml").read_text())
    assert set(settings["jobs_destinations_map"]["burst"]["flavors"]) <= flavors
    assert settings["burst"]["image"] in images


def test_clouds_yaml_template_holds_no_secret() -> None:
    clouds = yaml.safe_load((HERE / "clouds.yaml.template").read_text())["clouds"]
    js2 = clouds["jetstream2"]
    assert js2["auth_type"] == "v3applicationcredential"
    assert js2["auth"]["application_credential_secret"] == "REPLACE-ME"
    assert js2["auth"]["auth_url"].startswith("https://js2.jetstream-cloud.org:5000/")


def test_settings_load_in_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway_kit import create_app
    from gateway_kit.jobs.destinations import destinations

    sys.path.insert(0, str(HERE.parent / "seqstats"))  # the plugin this deployment runs
    monkeypatch.setenv("GATEWAY_KIT_CONFIG", str(HERE / "gateway.toml"))
    monkeypatch.setenv("GATEWAY_KIT_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("GATEWAY_KIT_DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.db'}")
    monkeypatch.setenv("CILOGON_CLIENT_SECRET", "not-a-real-secret")
    # Only the folders move into the test's temporary directory.
    app = create_app(
        {"DATA_ROOT": str(tmp_path / "datasets"), "DATA_BACKUP_DIR": str(tmp_path / "backups")},
        instance_path=str(tmp_path / "instance"),
    )
    assert app.config["ENV"] == "production" and app.config["CLOUD_NAME"] == "jetstream2"
    assert app.config["BURST_CLOUD"] == "jetstream2"
    assert app.config["IDENTITY_PROVIDERS"]["cilogon"]["kind"] == "cilogon"
    with app.app_context():
        dest = destinations(app)
        assert set(dest) == {"local", "hpc", "burst"}
        from gateway_kit.jobs.apps import registry

        routes = {a.id: dest.route(a) for a in registry(app).all()}
    assert routes == {
        "composition": "local",
        "dataset-composition": "local",
        "kmers": "hpc",
        "kmers-gpu": "burst",
    }


FAST = {
    **FAST_SETTINGS,
    # The local cloud leaves members added after the health monitor OFFLINE (see
    # tests/hosting/conftest.py); production waits for ONLINE.
    "HOSTING_MEMBER_HEALTHY": ["ONLINE", "NO_MONITOR", "OFFLINE"],
}


@pytest.fixture()
def local_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from gateway_kit.localcloud.clock import ClockConfig
    from gateway_kit.localcloud.core import LocalCloudConfig
    from gateway_kit.localcloud.server import LocalCloudServer

    server = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(mode="time", delay=0.02))).start()
    clouds = server.write_clouds_yaml(tmp_path / "clouds.yaml")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    yield server
    server.stop()


def test_spec_deploys_on_the_local_cloud(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway_kit import create_app
    from gateway_kit.db import upgrade
    from gateway_kit.errors import ConfigError
    from gateway_kit.hosting.engine import engine_for

    app = create_app({"ENV": "testing", **FAST}, instance_path=str(tmp_path / "instance"))
    upgrade(app)
    engine = engine_for(app, cloud_name="local")  # the spec says "jetstream2"
    try:
        conn = engine.cloud.conn
        # Jetstream2 creates each allocation's zone; the spec only adds records to it.
        conn.dns.create_zone(name=ZONE, email="admin@example.org")
        spec = spec_module.load_spec(SPEC)
        assert engine.plan(spec).counts()["create"] > 10
        monkeypatch.delenv("CILOGON_CLIENT_SECRET", raising=False)
        with pytest.raises(ConfigError, match="CILOGON_CLIENT_SECRET is not set"):
            engine.apply(spec)  # [secrets] names the operator's variable: nothing is made without it
        assert not [s for s in conn.compute.servers() if s.name.startswith("seqstats-")]
        assert not list(conn.network.security_groups(name="seqstats"))
        monkeypatch.setenv("CILOGON_CLIENT_SECRET", "cilogon-secret-for-the-test")
        engine.apply(spec)
        deployment, rows = engine.status("seqstats")
        assert deployment.status == "ready" and not any(r.drift for r in rows)
        names = sorted(s.name for s in conn.compute.servers() if s.name.startswith("seqstats-"))
        assert names == ["seqstats-database-1", "seqstats-web-1", "seqstats-web-2"]
        records = {r.name for r in conn.dns.recordsets(conn.dns.find_zone(ZONE))}
        assert f"seqstats.{ZONE}" in records and f"www.{ZONE}" in records
        assert engine.apply(spec).empty
        engine.destroy("seqstats")
        assert conn.dns.find_zone(ZONE, ignore_missing=True) is not None  # not ours to delete
    finally:
        engine.cloud.close()
