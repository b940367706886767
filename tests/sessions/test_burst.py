"""A session on the ``burst`` destination: an instance of the local cloud (its data plane really
runs the user data, hence ``gateway-kit agent``) takes the server as a job, the agent reports the
port, the proxy reaches the server at the instance's address; ending it cancels the job and the
idle instance is deleted."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from gateway_kit.burst.models import BurstInstance, BurstJob
from gateway_kit.db import db
from gateway_kit.identity.models import Project
from gateway_kit.jobs.accounting import set_allocation
from gateway_kit.localcloud import dataplane
from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer

from .conftest import RunningProxy, World


def burst_destination() -> dict[str, Any]:
    return {
        "executor": "burst",
        "cloud": "local",
        "image": "cirros-0.6.2-x86_64-disk",
        "su_per_cpu_hour": 1.0,
        "max_instances": 2,
        "idle_timeout": 1.0,
        "charge_project": "burst-ops",
    }


class BurstWorld(World):
    """:class:`World` with a local cloud (data plane on), a ``burst`` destination ``cloud`` beside
    ``local`` and the gateway served over HTTP (the agents call it)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
        self.cloud = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(delay=0.05))).start()
        monkeypatch.setenv(
            "OS_CLIENT_CONFIG_FILE", str(self.cloud.write_clouds_yaml(tmp_path / "clouds.yaml"))
        )
        self.plane = dataplane.enable(self.cloud.cloud, Path(tempfile.mkdtemp(prefix="gk-dp-")), interval=0.1)
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.gateway_url = f"http://127.0.0.1:{port}"
        super().__init__(
            tmp_path,
            JOBS_DESTINATIONS_MAP={"local": {"executor": "local"}, "cloud": burst_destination()},
            BURST_AGENT_URL=self.gateway_url,
            BURST_HEARTBEAT_INTERVAL=0.3,
            BURST_BOOT_TIMEOUT=30.0,
            **settings,
        )
        with db.session_scope(self.app) as s:
            ops = Project(name="burst-ops", title="burst-ops")
            s.add(ops)
            s.flush()
            set_allocation(s, ops, 1000.0, None, top_up=False)
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        try:
            self.end_all()
        finally:
            dataplane.disable(self.cloud.cloud)
            self.server.shutdown()
            self.cloud.stop()

    def instances(self) -> list[BurstInstance]:
        with self.app.app_context():
            rows = list(db.session.scalars(select(BurstInstance).order_by(BurstInstance.id)))
            for r in rows:
                db.session.expunge(r)
            return rows


@pytest.fixture()
def burst_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BurstWorld]:
    w = BurstWorld(tmp_path, monkeypatch)
    try:
        yield w
    finally:
        w.close()


def test_hello_web_on_burst(burst_world: BurstWorld) -> None:
    world = burst_world
    # The user picks where it runs, among the destinations that run sessions; local by default.
    form = world.client.get("/interactive/launch/hello-web").get_data(as_text=True)
    assert '<option value="local" data-rate="1.0" selected>' in form and '<option value="cloud"' in form
    bad = world.client.post("/api/v1/sessions", json={"application": "hello-web", "destination": "mars"})
    assert bad.status_code == 422
    assert (
        bad.get_json()["errors"][0]["message"]
        == "'hello-web' cannot run sessions on 'mars' (it can on: local, cloud)"
    )
    r = world.client.post("/api/v1/sessions", json={"application": "hello-web", "destination": "cloud"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["destination"] == "cloud"
    sid = r.get_json()["id"]
    row = world.run_until(sid, {"ready", "failed"}, timeout=90)
    assert row.state == "ready", row.state_reason
    [inst] = world.instances()
    # The proxy goes to the instance's own address, which the gateway recorded (not the agent).
    assert row.backend_host == inst.address and inst.address.startswith("127.100.")
    with world.app.app_context():
        bj = db.session.get(BurstJob, -sid)
        assert bj is not None and bj.state == "running"
        # The server's token is sealed in the pool's record too (it travels in the environment).
        token = row.token(world.app.config)
        assert token not in json.dumps(bj.spec) and "env_sealed" in bj.spec

    proxy = RunningProxy(world.app)
    try:
        cookie = {"Cookie": f"session={world.client.get_cookie('session').value}"}
        page = httpx.get(f"{proxy.url}/sessions/{sid}/", headers=cookie, trust_env=False)
        assert page.status_code == 200 and f"Hello from session /sessions/{sid}/" in page.text
        bobs = {"Cookie": f"session={world.bob_client.get_cookie('session').value}"}
        assert httpx.get(f"{proxy.url}/sessions/{sid}/", headers=bobs, trust_env=False).status_code == 404
    finally:
        proxy.stop()

    # An agent names a port, never a host; another instance's token (or none) reaches nothing.
    root = world.plane.directory(inst.server_id) / "rootfs"
    token_file = root / "var/lib/gateway-kit-agent/token"
    agent_token = (
        token_file.read_text().strip()
        if token_file.exists()
        else json.loads((root / "etc/gateway-kit/agent.json").read_text())["token"]
    )
    url = f"{world.gateway_url}/api/v1/agent/jobs/{-sid}/address"
    auth = {"Authorization": f"Bearer {agent_token}"}
    bad = httpx.post(url, json={"port": 0, "host": "169.254.169.254"}, headers=auth, trust_env=False)
    assert bad.status_code in (401, 422)  # 401 if the agent renewed its token meanwhile
    assert httpx.post(url, json={"port": 80}, trust_env=False).status_code in (401, 403)
    other = f"{world.gateway_url}/api/v1/agent/jobs/{-sid - 1}/address"
    assert httpx.post(other, json={"port": 80}, headers=auth, trust_env=False).status_code in (401, 404)

    world.client.delete(f"/api/v1/sessions/{sid}")
    row = world.run_until(sid, {"ended", "failed"}, timeout=60)
    assert row.state == "ended" and row.su_charged is not None and row.su_charged > 0
    # The agent ends the server (a heartbeat's cancel); the idle instance is then deleted.
    with world.app.app_context():
        from gateway_kit.burst.feature import reconcile_all

        for _ in range(300):
            reconcile_all(world.app)
            if world.instances()[0].state == "deleted":
                break
            __import__("time").sleep(0.1)
    assert world.instances()[0].state == "deleted"
