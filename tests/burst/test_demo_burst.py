"""``gateway-kit demo`` bursts: its example application routed to the burst destination runs on a
local-cloud instance that the demo launched (issue 7's "Done when")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import make_token, make_user


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    instance: Path
    url: str
    headers: dict[str, str]

    def get(self, path: str) -> Any:
        resp = requests.get(self.url + path, headers=self.headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def submit(self, message: str) -> int:
        resp = requests.post(self.url + "/api/v1/jobs", headers=self.headers, timeout=10,
                             json={"application": "burst-hello", "inputs": {"message": message}})
        assert resp.status_code == 201, resp.text
        assert resp.json()["destination"] == "burst"
        return int(resp.json()["id"])

    def wait(self, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.get(f"/api/v1/jobs/{job_id}")
            if job["state"] in {"COMPLETED", "FAILED", "CANCELED"}:
                return job
            assert self.proc.poll() is None, "the demo stopped"
            assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
            time.sleep(0.3)

    def burst_rows(self, sql: str) -> list[tuple[Any, ...]]:
        import sqlite3

        with sqlite3.connect(self.instance / "gateway.db") as con:
            return list(con.execute(sql))


def api_token(instance: Path) -> str:
    """A token for a new user, made with the app's own functions against the demo's database."""
    from gateway_kit import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{instance / 'gateway.db'}"},
                     instance_path=str(instance))
    user = make_user(app, "burster")
    return make_token(app, user, ["jobs:read", "jobs:write"])


@pytest.fixture()
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    instance = tmp_path / "instance"
    ready = tmp_path / "ready.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    for key in [k for k in os.environ if k.startswith("GATEWAY_KIT_")]:
        monkeypatch.delenv(key)  # the token app must read the demo's database, nothing else
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "demo", "--port", "0", "--instance", str(instance),
         "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "demo did not become ready"
            time.sleep(0.2)
        url = ready.read_text().rstrip("/")
        token = api_token(instance)
        yield Demo(proc, instance, url, {"Authorization": f"Bearer {token}"})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert proc.returncode == 0, out[-4000:]
    assert "burst         destination 'burst'" in out


def test_demo_burst_example_runs_on_an_instance_the_demo_launched(demo: Demo) -> None:
    job_id = demo.submit("hello from the test")
    job = demo.wait(job_id)
    assert job["state"] == "COMPLETED", job["state_reason"]
    [(state, instance_name, flavor)] = demo.burst_rows(
        f"SELECT state, instance_name, flavor FROM burst_jobs WHERE job_id = {job_id}")
    assert state == "done" and instance_name.startswith("gk-burst-burst-") and flavor == "m3.tiny"
    [(address, server_id)] = demo.burst_rows(
        "SELECT address, server_id FROM burst_instances")
    assert address.startswith("127.100.")
    # It ran in that instance's directory of the local cloud's data plane.
    resp = requests.get(f"{demo.url}/api/v1/jobs/{job_id}/logs", headers=demo.headers,
                        params={"stream": "stdout"}, timeout=10)
    assert resp.status_code == 200, resp.text
    stdout = resp.json()["data"]
    assert stdout.startswith("hello from the test\n"), stdout
    rootfs = demo.instance / "localcloud" / "dataplane" / server_id / "rootfs"
    assert f"running in {rootfs}/" in stdout, stdout
