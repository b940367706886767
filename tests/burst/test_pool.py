"""GPU flavors, quota waits, ERROR requeues, agent token isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway_kit.burst import policy
from gateway_kit.jobs.states import TERMINAL, JobState
from tests.burst.conftest import Env, build
from tests.burst.flavors import flavors

DONE = {s.value for s in TERMINAL}


def test_policy_picks_cheapest_fitting_flavor_and_gpu_by_extra_specs() -> None:
    jetstream2 = flavors("m3.tiny", "m3.quad", "g3.small", "g3.large")

    def name(need: policy.Need) -> str | None:
        flavor = policy.choose_flavor(jetstream2, need)
        return flavor.name if flavor else None

    assert name(policy.Need(1, 2, 1024)) == "m3.quad"
    assert name(policy.Need(1, 1, 1024, gpus=1)) == "g3.small"
    assert name(policy.Need(1, 8, 1024, gpus=1)) == "g3.large"
    assert policy.choose_flavor(jetstream2, policy.Need(1, 1, 1024, gpus=2)) is None


def test_gpu_job_lands_on_gpu_flavor(env: Env) -> None:
    job_id = env.submit(gpus=1)
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value
    [inst] = env.instances()
    assert inst.flavor == "g3.small" and inst.gpus == 1


def test_full_quota_waits_with_reason_then_runs(env: Env) -> None:
    env.control("PUT", "/quotas", {"project": "demo", "resource": "instances", "limit": 0})
    job_id = env.submit()
    env.until(lambda: "quota full" in env.job(job_id).state_reason, timeout=20)
    assert env.job(job_id).state == JobState.SUBMITTED.value
    assert "instances" in env.job(job_id).state_reason
    assert env.instances() == []
    env.control("PUT", "/quotas", {"project": "demo", "resource": "instances", "limit": 10})
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value


def test_instance_in_error_requeues_its_job(env: Env) -> None:
    env.control("POST", "/fail-next-create", {"kind": "compute.server"})
    job_id = env.submit()
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value
    first, second = env.instances()[:2]
    assert first.state == "failed" and "ERROR" in first.reason
    assert second.state in ("ready", "deleting", "deleted")


@pytest.fixture()
def slow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    yield from build(tmp_path, monkeypatch, idle_timeout=60.0)


def test_agent_token_is_useless_for_other_jobs_and_instances(slow_env: Env) -> None:
    env = slow_env
    gate = env.tmp / "gate"  # both jobs run until this file exists
    a = env.submit(b"secret a", sleep=str(gate))
    b = env.submit(b"secret b", sleep=str(gate), cpus=2)  # a second instance (m3.small)
    env.until(lambda: all(env.job(j).state == "RUNNING" for j in (a, b)), timeout=60)
    # Read instance A's token from its rootfs, as its agent does.
    from sqlalchemy import select

    from gateway_kit.burst.models import BurstJob
    from gateway_kit.db import db

    with env.app.app_context():
        rows = {r.job_id: r.instance_id for r in db.session.scalars(select(BurstJob))}
    inst_a = next(i for i in env.instances() if i.id == rows[a])
    root = env.plane.directory(inst_a.server_id) / "rootfs"
    token_file = root / "var/lib/gateway-kit-agent/token"
    import json

    token = (
        token_file.read_text().strip()
        if token_file.exists()
        else json.loads((root / "etc/gateway-kit/agent.json").read_text())["token"]
    )
    auth = {"Authorization": f"Bearer {token}"}
    base = env.gateway_url + "/api/v1/agent"
    assert requests.post(base + "/heartbeat", headers=auth, timeout=5).status_code in (200, 401)
    # Another instance's job: its inputs, its logs, its status -- all 404 (or 401 if rotated).
    for method, path in (
        ("GET", f"/jobs/{b}/inputs/data.txt"),
        ("PUT", f"/jobs/{b}/logs/stdout?offset=0"),
        ("POST", f"/jobs/{b}/status"),
    ):
        resp = requests.request(method, base + path, headers=auth, json={"state": "COMPLETED"}, timeout=5)
        assert resp.status_code in (401, 404), (path, resp.status_code)
    # A user's token is not an agent token.
    assert (
        requests.post(base + "/work", headers={"Authorization": "Bearer gkp_x"}, timeout=5).status_code == 401
    )
    gate.touch()
    env.until(lambda: all(env.job(j).state in DONE for j in (a, b)), timeout=60)
    assert (Path(env.job(b).workdir) / "count.txt").read_text().strip() == "8"


def test_an_assigned_job_says_it_waits_for_an_instance_to_boot_and_for_how_long() -> None:
    """The reason a job page shows while its instance boots (the local cloud boots in a blink,
    so the boot is pinned here on rows instead of waited for)."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gateway_kit.burst.executor import BurstExecutor
    from gateway_kit.burst.models import BurstInstance, BurstJob
    from gateway_kit.jobs.models import utcnow

    executor = object.__new__(BurstExecutor)
    executor.pool = SimpleNamespace(policy=SimpleNamespace(boot_seconds=120.0))  # type: ignore[assignment]
    row = BurstInstance(id=7, state="booting", created_at=utcnow() - timedelta(seconds=30))
    bj = BurstJob(job_id=1, instance_id=7, instance_name="gk-burst-x-7", flavor="m3.small")
    rows = SimpleNamespace(get=lambda _model, key: row if key == 7 else None)
    reason = executor._launch_reason(rows, bj)
    left = int(reason.rsplit("about ", 1)[1].split(" ")[0])
    assert (
        reason.startswith("launching an instance (gk-burst-x-7, m3.small): expected about ")
        and 85 <= left <= 90
    )
    row.state = "ready"
    assert executor._launch_reason(rows, bj) == "starting on instance gk-burst-x-7 (m3.small)"


def test_a_job_its_restarted_instance_no_longer_runs_is_requeued(env: Env) -> None:
    """The instance is stopped and started again (its processes end, its agent starts again and
    heartbeats, well within the heartbeat timeout): the job the gateway still counts as running
    there goes back to the queue and runs again, instead of staying RUNNING forever."""
    from gateway_kit.burst.models import BurstJob
    from gateway_kit.db import db
    from gateway_kit.localcloud.dataplane import KIND

    gate = env.tmp / "gate"
    job_id = env.submit(sleep=str(gate))
    env.until(lambda: env.job(job_id).state == "RUNNING", timeout=60)
    [inst] = env.instances()
    conn = env.conn()
    conn.compute.stop_server(inst.server_id)
    # Powered off (its processes, the job's with them, ended), then on again: the agent restarts.
    env.until(lambda: env.cloud.cloud.store.get(KIND, inst.server_id)["power"] == "off", tick=False)
    conn.compute.start_server(inst.server_id)

    def requeued() -> bool:
        bj = db.session.get(BurstJob, job_id)
        return bj is not None and bj.requeues == 1

    env.until(requeued, timeout=60)
    gate.touch()
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value, env.job(job_id).state_reason
    # Requeued by the heartbeat, not by a failure of the instance: it was not replaced.
    assert [i.id for i in env.instances()] == [inst.id]


def test_a_silent_instances_running_job_is_requeued_only_once_its_server_is_gone(env: Env) -> None:
    """The agent is SIGKILLed while its job runs (the job's processes live on): the instance
    fails after the heartbeat timeout, but its job goes back to the queue only once the server is
    deleted (its deletes fail here for a while), so it never runs twice at the same time."""
    import os
    import signal

    from gateway_kit.burst.models import BurstJob
    from gateway_kit.db import db
    from gateway_kit.localcloud.testing import LocalCloudController

    gate = env.tmp / "gate"
    job_id = env.submit(sleep=str(gate))
    env.until(lambda: env.job(job_id).state == "RUNNING", timeout=60)
    [inst] = env.instances()
    control = LocalCloudController(env.cloud.url)
    refuse = control.error_rate("compute", "DELETE", path=inst.server_id)  # the server stays for now
    config = str(env.plane.directory(inst.server_id) / "rootfs" / "etc" / "gateway-kit" / "agent.json")

    def cmdline(proc: Path) -> bytes:
        try:
            return (proc / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            return b""

    agents = [
        int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and config.encode() in cmdline(p)
    ]
    assert agents
    for pid in agents:
        os.kill(pid, signal.SIGKILL)
    env.until(lambda: next(i for i in env.instances() if i.id == inst.id).state == "failed", timeout=60)
    for _ in range(3):  # a few passes with the server still there: the job is still held
        env.tick()
    with env.app.app_context():
        bj = db.session.get(BurstJob, job_id)
        assert bj is not None and (bj.state, bj.requeues, bj.instance_id) == ("running", 0, inst.id)
        assert "requeued once its server is deleted" in bj.wait_reason
    assert env.conn().compute.find_server(inst.server_id) is not None
    control.remove_rule(refuse)

    def requeued() -> bool:
        bj = db.session.get(BurstJob, job_id)
        return bj is not None and bj.requeues == 1

    env.until(requeued, timeout=60)
    gate.touch()
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    assert env.job(job_id).state == JobState.COMPLETED.value, env.job(job_id).state_reason


def test_a_cancel_nobody_asked_for_requeues_the_job(env: Env) -> None:
    """An instance shutting down sends SIGTERM to every process; the job's runner takes it for a
    cancel and its agent may still report CANCELED: without a cancel request that is not the
    job's end but its instance's, and the job goes back to the queue."""
    import json

    from gateway_kit.burst.models import BurstJob
    from gateway_kit.db import db

    gate = env.tmp / "gate"
    job_id = env.submit(sleep=str(gate))
    env.until(lambda: env.job(job_id).state == "RUNNING", timeout=60)
    [inst] = env.instances()
    root = env.plane.directory(inst.server_id) / "rootfs"
    token_file = root / "var/lib/gateway-kit-agent/token"
    token = (
        token_file.read_text().strip()
        if token_file.exists()
        else json.loads((root / "etc/gateway-kit/agent.json").read_text())["token"]
    )
    resp = requests.post(
        f"{env.gateway_url}/api/v1/agent/jobs/{job_id}/status",
        headers={"Authorization": f"Bearer {token}"},
        json={"state": "CANCELED", "exit_code": None, "reason": "canceled"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["state"] == "requeued", resp.text
    with env.app.app_context():
        bj = db.session.get(BurstJob, job_id)
        assert bj is not None and (bj.state, bj.requeues) == ("waiting", 1)
        assert "without a cancel request" in bj.wait_reason
    assert env.job(job_id).state not in DONE
