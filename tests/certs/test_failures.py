"""Failure paths: each ends with a clear message and no challenge TXT left in Designate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.certs import renewal, service
from gateway_kit.certs.errors import AcmeRejected, DnsTimeout, ZoneNotOwned
from gateway_kit.certs.models import PendingChallenge
from gateway_kit.db import db
from tests.certs.conftest import BLOCKED, FOREIGN_ZONE, ZONE, Cloud, Pebble, certs_config


def _pending(app: Any) -> int:
    with db.session_scope(app) as sess:
        return sess.query(PendingChallenge).count()


def test_zone_of_another_project(certs_app: Any, cloud: Cloud) -> None:
    name = "portal." + FOREIGN_ZONE.rstrip(".")
    with pytest.raises(ZoneNotOwned, match=f"No DNS zone of this project on cloud 'local' holds {name}"):
        service.issue(certs_app, [name])
    info = service.show(certs_app, name)
    assert info["status"] == "failed" and "No DNS zone" in info["last_result"]
    assert info["next_attempt_at"] is not None  # back-off scheduled
    assert cloud.challenge_records(cloud.connect("local-alt")) == []
    assert _pending(certs_app) == 0


def test_txt_never_active_times_out_and_is_removed(tmp_path: Path, cloud: Cloud, pebble: Pebble) -> None:
    from tests.conftest import make_app

    app = make_app(tmp_path, **certs_config(cloud, pebble, CERTS_DNS_TIMEOUT=0.5))
    cloud.control("POST", "/hold", {"kind": "dns.recordset", "id": "next"})
    try:
        with pytest.raises(DnsTimeout, match="stayed PENDING in Designate"):
            service.issue(app, ["held." + ZONE.rstrip(".")])
    finally:
        cloud.control("POST", "/reset")
    for rs in cloud.challenge_records():  # still held: its delete (sent by the cleanup) waits
        assert rs.action == "DELETE"
        cloud.control("POST", "/release", {"kind": "dns.recordset", "id": rs.id})
    cloud.wait_no_challenge_records()
    assert _pending(app) == 0


def test_ca_rejects_the_order(certs_app: Any, cloud: Cloud) -> None:
    with pytest.raises(AcmeRejected) as err:
        service.issue(certs_app, [BLOCKED])
    assert err.value.user_message.startswith(
        "The certificate authority refused to accept the order: Order included an identifier "
        "for which issuance is forbidden by policy"
    )
    assert BLOCKED in err.value.user_message
    cloud.wait_no_challenge_records()
    assert _pending(certs_app) == 0


_CHILD = r"""
import sys, time
from gateway_kit import create_app
from gateway_kit.certs import dns01, service

def stall(self):
    open(sys.argv[1], "w").write("published")
    time.sleep(600)

dns01.DesignateChallenges.wait_visible = stall
app = create_app(__CONFIG__, instance_path=sys.argv[2])
service.issue(app, ["killed.gw-test.org"])
"""


def test_killed_mid_challenge_next_run_cleans_up(tmp_path: Path, cloud: Cloud, pebble: Pebble) -> None:
    from tests.conftest import make_app

    config = {"ENV": "testing", **certs_config(cloud, pebble)}
    app = make_app(tmp_path, **config)  # migrated database shared with the child
    marker = tmp_path / "marker"
    script = _CHILD.replace("__CONFIG__", repr(config))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", script, str(marker), str(tmp_path / "instance")], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the child process ended before publishing"
            assert time.monotonic() < deadline, "the child never published its challenge"
            time.sleep(0.05)
        assert [r.name for r in cloud.challenge_records()] == ["_acme-challenge.killed.gw-test.org."]
        assert _pending(app) == 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    renewal.run(app)  # the worker's next pass (any issue/renew does the same first)
    cloud.wait_no_challenge_records()
    assert _pending(app) == 0
