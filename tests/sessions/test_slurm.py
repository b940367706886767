"""A session as a batch job on the real SLURM: the node picks the port and reports it (batch
connect), the proxy reaches the server, ending the session cancels the job."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from ..conftest import require_service
from ..slurm.conftest import HOW, sinfo_answers, slurm_lock  # noqa: F401  (autouse: the one SLURM, shared)
from .conftest import RunningProxy, World

pytestmark = pytest.mark.slurm


def test_hello_web_on_slurm(tmp_path: Path) -> None:
    require_service("SLURM", sinfo_answers(), HOW)
    world = World(
        tmp_path,
        JOBS_DESTINATIONS_MAP={
            "local": {"executor": "local"},
            "cluster": {
                "executor": "slurm",
                "partition": "debug",
                "su_per_cpu_hour": 2.0,
                "session_bind": "127.0.0.1",
            },
        },
        JOBS_ROUTING_RULES={"hello-web": "cluster"},
        SLURM_POLL_CACHE_SECONDS=0.0,
        SLURM_JOB_NAME_PREFIX=f"gks{os.getpid()}",
    )
    proxy = None
    try:
        estimate = world.client.post("/api/v1/sessions/estimate", json={"application": "hello-web"})
        assert estimate.get_json()["destination"] == "cluster" and estimate.get_json()["su_estimate"] == 1.0
        r = world.client.post("/api/v1/sessions", json={"application": "hello-web"})
        assert r.status_code == 201, r.get_json()
        row = world.run_until(r.get_json()["id"], {"ready", "failed"}, timeout=120)
        assert row.state == "ready", row.state_reason
        job_id = (row.launcher_state or {})["executor"]["slurm_job_id"]
        assert row.backend_host == "127.0.0.1" and row.backend_port > 0
        proxy = RunningProxy(world.app)
        page = httpx.get(
            f"{proxy.url}/sessions/{row.id}/",
            headers={"Cookie": f"session={world.client.get_cookie('session').value}"},
            trust_env=False,
        )
        assert page.status_code == 200 and "Hello from session" in page.text
        world.client.delete(f"/api/v1/sessions/{row.id}")
        row = world.run_until(row.id, {"ended", "failed"}, timeout=120)
        assert row.state == "ended" and row.su_charged is not None and row.su_charged > 0
        squeue = subprocess.run(
            ["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True, check=False
        )
        assert squeue.stdout.strip() in ("", "CANCELLED", "COMPLETING"), squeue.stdout
    finally:
        if proxy is not None:
            proxy.stop()
        world.end_all()
