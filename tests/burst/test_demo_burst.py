"""``gateway-kit demo`` bursts: its example application routed to the burst destination runs on a
local-cloud instance that the demo launched (issue 7's "Done when")."""

from __future__ import annotations

import contextlib
import json
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

from gateway_kit.jobs.demo import BURST_DESTINATION, BURST_OPTIONS
from tests.conftest import make_token, make_user
from tests.demo_support import demo_env, running_demo, stop_process_group


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
        resp = requests.post(
            self.url + "/api/v1/jobs",
            headers=self.headers,
            timeout=10,
            json={"application": "burst-hello", "inputs": {"message": message}},
        )
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

    app = create_app({"DATABASE_URL": f"sqlite:///{instance / 'gateway.db'}"}, instance_path=str(instance))
    user = make_user(app, "burster")
    return make_token(app, user, ["jobs:read", "jobs:write"])


@contextlib.contextmanager
def run_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway_toml: str = "") -> Iterator[Demo]:
    """The real ``gateway-kit demo`` (its instance's gateway.toml first written, if given)."""
    instance = tmp_path / "instance"
    if gateway_toml:
        instance.mkdir(parents=True)
        (instance / "gateway.toml").write_text(gateway_toml)
    env = demo_env()
    for key in [k for k in os.environ if k.startswith("GATEWAY_KIT_")]:
        monkeypatch.delenv(key)  # the token app must read the demo's database, nothing else
    with running_demo(tmp_path, env=env, instance=instance, ready_timeout=120, stop_timeout=60) as running:
        token = api_token(instance)
        yield Demo(running.proc, instance, running.url, {"Authorization": f"Bearer {token}"})
    assert running.proc.returncode == 0, running.output[-4000:]
    assert "burst         destination 'burst'" in running.output


@pytest.fixture()
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    with run_demo(tmp_path, monkeypatch) as running:
        yield running


def test_demo_burst_example_runs_on_an_instance_the_demo_launched(demo: Demo) -> None:
    job_id = demo.submit("hello from the test")
    job = demo.wait(job_id)
    assert job["state"] == "COMPLETED", job["state_reason"]
    [(state, instance_name, flavor)] = demo.burst_rows(
        f"SELECT state, instance_name, flavor FROM burst_jobs WHERE job_id = {job_id}"
    )
    assert state == "done" and instance_name.startswith("gk-burst-burst-") and flavor == "m3.tiny"
    [(address, server_id)] = demo.burst_rows("SELECT address, server_id FROM burst_instances")
    assert address.startswith("127.100.")
    # It ran in that instance's directory of the local cloud's data plane.
    resp = requests.get(
        f"{demo.url}/api/v1/jobs/{job_id}/logs", headers=demo.headers, params={"stream": "stdout"}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    stdout = resp.json()["data"]
    assert stdout.startswith("hello from the test\n"), stdout
    rootfs = demo.instance / "localcloud" / "dataplane" / server_id / "rootfs"
    assert f"running in {rootfs}/" in stdout, stdout


def toml_inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_inline(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _demo_worker(instance: Path) -> int:
    """The pid of the demo's ``gateway-kit worker`` child."""
    marker = f"GATEWAY_KIT_INSTANCE={instance}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[1:4] == [b"-m", b"gateway_kit", b"worker"] and marker in environ:
            found.append(int(entry.name))
    assert len(found) == 1, found
    return found[0]


#: A job that runs until the test opens its gate (a file): "running" is then a state it holds, not a
#: moment a poll must land in.
GATED = """
import os, sys, time
print("started", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.1)
print("done", flush=True)
"""


def _gated_app(folder: Path, gate: Path) -> Path:
    command = json.dumps([sys.executable, "-c", GATED, str(gate)])
    path = folder / "gated.toml"
    path.write_text(
        f'[[application]]\nid = "gated"\ntitle = "Gated"\nversion = "1"\ncommand = {command}\n'
        "[application.resources]\nwalltime = 600\n"
    )
    return path


def test_sigkill_of_the_worker_mid_burst_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's worker is killed (SIGKILL) while a burst job runs on its instance; another
    worker recovers the job after its lease and it completes, having run exactly once."""
    # A gated application, routed to the burst destination; leases are short.
    gate = tmp_path / "gate"
    app_file = _gated_app(tmp_path, gate)
    table = {"local": {"executor": "local"}, BURST_DESTINATION: BURST_OPTIONS}
    toml = (
        f"JOBS_LEASE_SECONDS = 2.0\nJOBS_DESTINATIONS_MAP = {toml_inline(table)}\n"
        f'JOBS_ROUTING_RULES = {{gated = "{BURST_DESTINATION}"}}\n'
        f"JOBS_APPLICATION_FILES = {json.dumps([str(app_file)])}\n"
    )
    replacement: subprocess.Popen[bytes] | None = None
    with run_demo(tmp_path, monkeypatch, toml) as demo:
        try:
            resp = requests.post(
                demo.url + "/api/v1/jobs",
                headers=demo.headers,
                timeout=10,
                json={"application": "gated", "inputs": {}},
            )
            assert resp.status_code == 201 and resp.json()["destination"] == "burst", resp.text
            job_id = int(resp.json()["id"])

            def stdout() -> str:
                data: str = demo.get(f"/api/v1/jobs/{job_id}/logs?stream=stdout")["data"]
                return data

            # Running on the instance (its log streams) *and* seen RUNNING by the worker (its next
            # poll of the pool: the log may arrive first); it stays so until the gate opens.
            deadline = time.monotonic() + 120
            while "started" not in stdout() or demo.get(f"/api/v1/jobs/{job_id}")["state"] != "RUNNING":
                assert time.monotonic() < deadline, demo.get(f"/api/v1/jobs/{job_id}")
                time.sleep(0.2)
            # Mid-burst: the agent on the instance runs the job; the worker that holds it dies.
            pid = _demo_worker(demo.instance)
            environ = dict(
                item.split("=", 1)
                for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                if "=" in item
            )
            os.killpg(pid, signal.SIGKILL)
            assert demo.get(f"/api/v1/jobs/{job_id}")["state"] == "RUNNING"
            replacement = subprocess.Popen(
                [sys.executable, "-m", "gateway_kit", "worker"],
                env=environ,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            gate.touch()
            job = demo.wait(job_id, timeout=120)
            assert job["state"] == "COMPLETED", job["state_reason"]
            out = stdout()
            assert out.count("started") == 1 and out.count("done") == 1, out
            [(state, requeues)] = demo.burst_rows(
                f"SELECT state, requeues FROM burst_jobs WHERE job_id = {job_id}"
            )
            assert (state, requeues) == ("done", 0)
            [(server_id,)] = demo.burst_rows("SELECT server_id FROM burst_instances")
            agent_jobs = (
                demo.instance
                / "localcloud"
                / "dataplane"
                / server_id
                / "rootfs"
                / "var"
                / "lib"
                / "gateway-kit-agent"
                / "jobs"
            )
            assert [d.name for d in agent_jobs.glob(f"job-{job_id}-*")] == [f"job-{job_id}-1"]
        finally:
            if replacement is not None:
                stop_process_group(replacement, timeout=30)
