"""The example applications on a ``slurm`` destination, through the app, on the real SLURM.

The app is built with a ``slurm`` destination (``JOBS_DESTINATIONS_MAP``) that every application is
routed to (``JOBS_ROUTING_RULES``), and the example applications. Jobs are submitted through the
REST API with a personal access token and run by the real queue (:func:`run_queue`, what
``gateway-kit worker`` runs each pass) until COMPLETED; outputs are downloaded through the API and
the SUs charged are checked against SLURM's own start and end times. A counting wrapper around the
executor's transport shows one ``squeue`` per poll cycle for all the active jobs -- also on the
first pass of a new worker that took the jobs over (its executor knows none of them).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.jobs.destinations import destinations
from gateway_kit.jobs.models import Job
from gateway_kit.jobs.queue import EXTENSION_KEY, JobQueue, run_queue
from gateway_kit.jobs.states import ACTIVE, JobState
from gateway_kit.slurm.executor import SlurmExecutor
from gateway_kit.slurm.testing import ScriptedTransport, requested_ids, result, squeue_lines
from gateway_kit.slurm.transport import CommandResult, Transport
from tests.conftest import make_token, make_user
from tests.jobs.conftest import make_jobs_app, seed_project

#: One SU per CPU-second: the charge is then SLURM's elapsed seconds times the CPUs, exactly.
SU_PER_CPU_HOUR = 3600.0
SLEEPERS = 4


class Counting(Transport):
    """Wraps a transport; records the commands of each pass by program name."""

    name = "counting"

    def __init__(self, inner: Transport) -> None:
        super().__init__()
        self.inner = inner
        self.now: Counter[str] = Counter()

    def _run(self, argv: list[str], *, stdin: str | None, timeout: float) -> CommandResult:
        self.now[Path(argv[0]).name] += 1
        return self.inner.run(argv, stdin=stdin, timeout=timeout)

    def take(self) -> Counter[str]:
        seen, self.now = self.now, Counter()
        return seen


def counting_executor(app: Any) -> Counting:
    """A fresh ``slurm`` executor (as in a new worker process) with a counting transport."""
    dests = destinations(app)
    dests._executors.pop("slurm", None)
    ex = dests.executor("slurm")
    assert isinstance(ex, SlurmExecutor)
    counter = Counting(ex.transport)
    ex.transport = counter
    return counter


@pytest.fixture()
def slurm_app(slurm_dir: Path, tmp_path: Path, database_url: str) -> Any:
    return make_jobs_app(
        tmp_path,
        DATABASE_URL=database_url,
        JOBS_DESTINATIONS_MAP={
            "local": {"executor": "local"},
            "slurm": {"executor": "slurm", "partition": "debug", "su_per_cpu_hour": SU_PER_CPU_HOUR},
        },
        JOBS_ROUTING_RULES={"*": "slurm"},
        SLURM_POLL_CACHE_SECONDS=0.0,
        SLURM_SUBMIT_RETRIES=0,
        SLURM_JOB_NAME_PREFIX=f"gka{int(time.time()) % 100000}",
    )


def active_count(app: Any) -> int:
    with db.session_scope(app) as s:
        return len(s.scalars(select(Job.id).where(Job.state.in_([st.value for st in ACTIVE]))).all())


def slurm_times(slurm_job_id: str) -> tuple[float, float]:
    """Start and end of a finished job as SLURM records them (``scontrol show job``)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", slurm_job_id],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    # SLURM prints local time; the executor reads it the same way.
    return (
        datetime.fromisoformat(fields["StartTime"]).timestamp(),
        datetime.fromisoformat(fields["EndTime"]).timestamp(),
    )


def run_passes(
    app: Any,
    counter: Counting,
    until: Callable[[], bool],
    timeout: float,
    passes: list[tuple[int, Counter[str]]],
) -> None:
    """Run queue passes (what a worker does every JOBS_POLL_INTERVAL) until ``until()``;
    record (active jobs before the pass, commands it ran) for each."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the jobs did not get there in time"
        active = active_count(app)
        run_queue(app)
        passes.append((active, counter.take()))
        time.sleep(0.3)


@pytest.mark.slurm
def test_example_applications_run_on_slurm_through_the_api(slurm_app: Any, slurm_dir: Path) -> None:
    app = slurm_app
    user = make_user(app, "hpcuser")
    seed_project(app, "hpc", [user], 100_000.0)
    c = app.test_client()
    h = {"Authorization": f"Bearer {make_token(app, user, ['jobs:read', 'jobs:write'])}"}
    counter = counting_executor(app)

    submissions: Sequence[dict[str, Any]] = [
        {"application": "echo", "inputs": {"message": "hello $(slurm) `id`; *"}},
        {"application": "pi", "inputs": {"samples": 20000, "seed": 7}},
        *({"application": "sleep", "inputs": {"seconds": 12}} for _ in range(SLEEPERS)),
        {"application": "sleep", "inputs": {"seconds": 600}},
    ]  # canceled through the API
    ids: list[int] = []
    for body in submissions:
        r = c.post("/api/v1/jobs", headers=h, json=body)
        assert r.status_code == 201, r.json
        assert r.json["destination"] == "slurm"
        ids.append(r.json["id"])
    echo_id, pi_id, sleeper_ids, doomed = ids[0], ids[1], ids[2:-1], ids[-1]

    def state(job_id: int) -> str:
        return str(c.get(f"/api/v1/jobs/{job_id}", headers=h).json["state"])

    # -- worker 1: stage, submit, poll until the sleepers are in SLURM -------------------------
    passes: list[tuple[int, Counter[str]]] = []
    run_passes(
        app,
        counter,
        lambda: all(state(i) in ("SUBMITTED", "RUNNING") for i in [*sleeper_ids, doomed]),
        60,
        passes,
    )
    assert sum(p[1]["sbatch"] for p in passes) == len(ids)
    assert any(active >= SLEEPERS and seen["squeue"] == 1 for active, seen in passes), passes
    before = [(a, Counter({k: n for k, n in seen.items() if k != "sbatch"})) for a, seen in passes]

    # -- worker 1 dies; worker 2 (fresh executor: knows no SLURM job) takes the jobs over --------
    worker2 = JobQueue(app, worker_id="worker-2")
    app.extensions[EXTENSION_KEY] = worker2
    counter = counting_executor(app)
    time.sleep(worker2.lease + 0.5)  # worker 1's leases run out
    active = active_count(app)
    assert active >= SLEEPERS
    run_queue(app)
    first = counter.take()
    # One squeue for all the jobs it took over, never an sbatch; a busy host may have let a sleeper
    # end meanwhile, which adds at most one (batched) sacct.
    assert first["squeue"] == 1 and set(first) <= {"squeue", "sacct"} and first["sacct"] <= 1, (
        f"first pass of the new worker, {active} active jobs: {dict(first)}"
    )
    with db.session_scope(app) as s:
        held = s.scalars(select(Job).where(Job.id.in_([*sleeper_ids, doomed]))).all()
        assert {j.claimed_by for j in held if not JobState(j.state).terminal} == {"worker-2"}

    # -- a cancel through the API: scancel and the poll in the same pass ----------------------------
    assert c.post(f"/api/v1/jobs/{doomed}/cancel", headers=h).status_code == 202
    run_queue(app)
    seen = counter.take()  # (+ one sacct if a sleeper has just ended)
    assert seen["scancel"] == 1 and seen["squeue"] == 1 and set(seen) <= {"scancel", "squeue", "sacct"}, seen

    # -- on to the end (worker 2's first pass counts: it polled every active job) ---------------
    passes = [(active, first)]
    run_passes(app, counter, lambda: active_count(app) == 0, 120, passes)
    for _active, seen in passes + before:
        # (scancel again while SLURM still shows the canceled job ending: idempotent)
        assert seen["squeue"] <= 1 and seen["sacct"] <= 1 and seen["scancel"] <= 1, dict(seen)
        assert set(seen) <= {"squeue", "sacct", "scancel"}, dict(seen)
    multi = [seen for active, seen in passes if active >= 2]
    assert multi, "no pass polled several active jobs"
    assert all(seen["squeue"] == 1 for seen in multi)

    for job_id in ids:
        shown = c.get(f"/api/v1/jobs/{job_id}", headers=h).json
        wanted = JobState.CANCELED if job_id == doomed else JobState.COMPLETED
        assert shown["state"] == wanted.value, shown

    # -- outputs through the API ------------------------------------------------------------------
    outs = {o["path"]: o for o in c.get(f"/api/v1/jobs/{echo_id}/outputs", headers=h).json["outputs"]}
    body = c.get(outs["echo.txt"]["url"], headers=h)
    assert body.status_code == 200 and body.data.decode() == "hello $(slurm) `id`; *\n"
    outs = {o["path"]: o for o in c.get(f"/api/v1/jobs/{pi_id}/outputs", headers=h).json["outputs"]}
    result = json.loads(c.get(outs["result.json"]["url"], headers=h).data)
    assert result["samples"] == 20000 and 3.0 < result["pi"] < 3.3
    log = c.get(f"/api/v1/jobs/{pi_id}/logs?stream=stdout&offset=0", headers=h).json
    assert "pi ~" in log["data"]

    # -- SUs from SLURM's start and end times -----------------------------------------------------
    total = 0.0
    with db.session_scope(app) as s:
        jobs = {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(ids)))}
        for job_id in ids:
            job = jobs[job_id]
            start, end = slurm_times(str((job.executor_state or {})["slurm_job_id"]))
            assert job.started_at is not None and job.finished_at is not None
            assert _epoch(job.started_at) == start and _epoch(job.finished_at) == end
            cpus = int(job.resources["cpus"])
            assert job.su_charged == pytest.approx((end - start) * cpus, abs=1e-6)
            total += job.su_charged or 0.0
        sleeper_charges = [jobs[i].su_charged or 0.0 for i in sleeper_ids]
    assert all(s >= 12 for s in sleeper_charges), sleeper_charges
    usage = c.get("/api/v1/usage", headers=h).json["projects"][0]
    assert usage["su_used"] == pytest.approx(total, abs=1e-6) and usage["su_reserved"] == 0


def test_queue_restart_polls_all_jobs_with_one_squeue_scripted(tmp_path: Path) -> None:
    """Without a cluster: a new worker's first pass over N SLURM jobs runs one squeue, not N."""
    app = make_jobs_app(
        tmp_path,
        JOBS_DESTINATIONS_MAP={"slurm": {"executor": "slurm"}},
        JOBS_ROUTING_RULES={"*": "slurm"},
        JOBS_CLAIM_BATCH=50,
        SLURM_POLL_CACHE_SECONDS=0.0,
    )
    user = make_user(app, "u")
    seed_project(app, "p", [user], 1000.0)
    c = app.test_client()
    h = {"Authorization": f"Bearer {make_token(app, user, ['jobs:write'])}"}
    n = 12
    for _ in range(n):
        assert c.post("/api/v1/jobs", headers=h, json={"application": "echo"}).status_code == 201
    next_id = iter(range(500, 600))

    def scripted(app: Any) -> ScriptedTransport:
        t = ScriptedTransport(
            [
                ("^sbatch", lambda argv, _: result(f"{next(next_id)}\n")),
                (
                    "^squeue",
                    lambda argv, _: result(squeue_lines({i: "RUNNING" for i in requested_ids(argv)})),
                ),
            ]
        )
        dests = destinations(app)
        dests._executors.pop("slurm", None)
        ex = dests.executor("slurm")
        assert isinstance(ex, SlurmExecutor)
        ex.transport = t
        return t

    t = scripted(app)
    run_queue(app)  # claims and submits
    assert [a[0] for a in t.calls] == ["sbatch"] * n
    run_queue(app)
    assert [a[0] for a in t.calls[n:]] == ["squeue"]
    # a new worker with a fresh executor takes the jobs over when the leases run out
    worker2 = JobQueue(app, worker_id="worker-2")
    app.extensions[EXTENSION_KEY] = worker2
    t = scripted(app)
    time.sleep(worker2.lease + 0.2)
    run_queue(app)
    assert [a[0] for a in t.calls] == ["squeue"]
    assert sorted(requested_ids(t.calls[0])) == [str(i) for i in range(500, 500 + n)]
    with db.session_scope(app) as s:
        assert set(s.scalars(select(Job.state)).all()) == {"RUNNING"}


def _epoch(value: datetime) -> float:
    from datetime import UTC

    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
