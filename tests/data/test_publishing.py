"""Publishing a dataset under its own DNS name (Designate CNAME) against the local cloud."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_kit.cli import main
from gateway_kit.data import publishing
from gateway_kit.data.models import Dataset
from gateway_kit.db import db
from gateway_kit.errors import ValidationError
from gateway_kit.localcloud.testing import RunningLocalCloud, running_local_cloud

from .conftest import World


@pytest.fixture()
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path / "lc", delay=0.05) as running:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(running.clouds_yaml))
        yield running


def test_publish_cname_idempotent_and_served(cloud: RunningLocalCloud, tmp_path: Path) -> None:
    conn = cloud.connect()
    zone = conn.dns.wait_for_status(
        conn.dns.create_zone(name="gw.example.org.", email="ops@example.org"),
        "ACTIVE",
        interval=0.05,
        wait=10,
    )
    world = World(tmp_path, DATA_DNS_ZONE="gw.example.org.", DATA_DNS_TARGET="portal.gw.example.org.")
    alice = world.client("alice")
    uid = world.create(alice, name="Sky atlas", visibility="public")
    runner = world.app.test_cli_runner()
    out = runner.invoke(main, ["datasets", "publish", uid, "atlas"])
    assert out.exit_code == 0, out.output
    rsets = [r for r in conn.dns.recordsets(zone) if r.type == "CNAME"]
    assert [(r.name, r.records) for r in rsets] == [("atlas.gw.example.org.", ["portal.gw.example.org."])]
    # Again: nothing changes (idempotent); a new target updates the record in place.
    assert runner.invoke(main, ["datasets", "publish", uid, "atlas"]).exit_code == 0
    with world.app.app_context():
        ds = db.session.query(Dataset).filter_by(uid=uid).one()
        publishing.ensure_published(conn, db.session, ds, "atlas", "gw.example.org", "lb2.gw.example.org")
        with pytest.raises(ValidationError):
            publishing.fqdn("Not_A_Label", "gw.example.org.")
    rsets = [r for r in conn.dns.recordsets(zone) if r.type == "CNAME"]
    assert [r.records for r in rsets] == [["lb2.gw.example.org."]]
    # The gateway answers the published name with the dataset's page.
    page = world.client().get("/", base_url="https://atlas.gw.example.org")
    assert page.status_code == 200 and b"Sky atlas" in page.data and b'id="dataset-id"' in page.data
    # Another name gets the home page (whose panel may list the public dataset among others).
    assert b'id="dataset-id"' not in world.client().get("/", base_url="https://other.example").data
    out = runner.invoke(main, ["datasets", "unpublish", uid])
    assert out.exit_code == 0, out.output
    assert runner.invoke(main, ["datasets", "unpublish", uid]).exit_code == 0  # already gone
    assert [r for r in conn.dns.recordsets(zone) if r.type == "CNAME" and r.action != "DELETE"] == []


def test_publish_into_a_missing_zone_fails_cleanly(cloud: RunningLocalCloud, tmp_path: Path) -> None:
    world = World(tmp_path, DATA_DNS_ZONE="nozone.example.org.", DATA_DNS_TARGET="lb.example.")
    uid = world.create(world.client("alice"))
    out = world.app.test_cli_runner().invoke(main, ["datasets", "publish", uid, "x"])
    assert out.exit_code == 1 and "Designate refused" in out.output
