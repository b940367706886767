"""Real ``gateway-kit worker`` processes on one queue: no job runs twice, a worker killed with
SIGKILL mid-job has its job recovered by another, and a worker stopped with SIGTERM hands its job
back at once. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.jobs.models import Job, JobEvent
from gateway_kit.jobs.service import Submission, submit

from ..conftest import make_user
from .conftest import jobs_settings, make_jobs_app, seed_project

COUNT_APP = """
[[application]]
id = "count"
version = "1"
command = ["{python}", "-c", "import os, sys, time; open(sys.argv[1], 'a').write(os.environ['GK_JOB_ID'] + chr(10)); [time.sleep(0.05) for _ in iter(lambda: os.path.exists(sys.argv[2]), True)]", "{log}", "{gate}"]
"""


class Workers:
    def __init__(self, tmp_path: Path, database_url: str, lease: float = 2.0) -> None:
        self.tmp_path = tmp_path
        self.runs = tmp_path / "runs.log"
        #: ``count`` jobs run until this file exists: a test decides when they end, not the clock.
        self.gate = tmp_path / "gate"
        extra = tmp_path / "extra-apps"
        extra.mkdir()
        (extra / "count.toml").write_text(
            COUNT_APP.replace("{python}", sys.executable)
            .replace("{log}", str(self.runs))
            .replace("{gate}", str(self.gate))
        )
        settings = jobs_settings(tmp_path, DATABASE_URL=database_url, JOBS_LEASE_SECONDS=lease)
        settings["JOBS_APPLICATION_FILES"] = [*settings["JOBS_APPLICATION_FILES"], str(extra)]
        self.settings = settings
        self.app = make_jobs_app(tmp_path, **{k: v for k, v in settings.items()})
        self.user = make_user(self.app, "alice")
        seed_project(self.app, "astro", [self.user], 1000.0)
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
        # The instance folder is ./instance of the working directory (see app.default_instance_path).
        env["GATEWAY_KIT_ENV"] = "testing"
        for key, value in self.settings.items():
            env[f"GATEWAY_KIT_{key}"] = value if isinstance(value, str) else json.dumps(value)
        return env

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway_kit", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp_path,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def submit(self, app_id: str, **inputs: Any) -> int:
        with self.app.app_context():
            user = db.session.merge(self.user)
            job, _ = submit(db.session, user, Submission(application=app_id, inputs=inputs))
            return job.id

    def jobs(self) -> list[Job]:
        with db.session_scope(self.app) as s:
            rows = list(s.scalars(select(Job).order_by(Job.id)))
            for r in rows:
                s.expunge(r)
            return rows

    def wait(self, what: Callable[[list[Job]], bool], timeout: float = 40) -> list[Job]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs()
            if what(jobs):
                return jobs
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in self.tmp_path.glob("w*.log"))
                raise AssertionError(f"timed out: {[(j.id, j.state) for j in jobs]}\n{logs}")
            time.sleep(0.1)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture()
def workers(tmp_path: Path, database_url: str) -> Iterator[Workers]:
    w = Workers(tmp_path, database_url)
    try:
        yield w
    finally:
        w.stop()
        db.engine(w.app).dispose()


def test_two_workers_never_run_a_job_twice(workers: Workers) -> None:
    ids = [workers.submit("count") for _ in range(16)]
    workers.start("w1")
    workers.start("w2")

    def claimers() -> set[str | None]:
        with db.session_scope(workers.app) as s:
            return {e.worker for e in s.scalars(select(JobEvent).where(JobEvent.to_state == "STAGING"))}

    # While the gate is shut no job ends, so one worker holds at most 8 running (the host's slots)
    # and 4 waiting for a slot (it then claims no more): the other worker must claim the rest.
    workers.wait(lambda js: len(claimers()) == 2, timeout=60)
    workers.gate.touch()
    jobs = workers.wait(lambda js: all(j.state == "COMPLETED" for j in js), timeout=60)
    assert [j.id for j in jobs] == ids
    runs = workers.runs.read_text().split()
    assert sorted(map(int, runs)) == ids, "a job ran twice or not at all"


def test_sigkilled_worker_has_its_running_job_recovered(workers: Workers) -> None:
    job_id = workers.submit("count")
    first = workers.start("w1")
    # The job runs until the gate opens: RUNNING is its state until then, not a passing one.
    workers.wait(lambda js: js[0].state == "RUNNING", timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    workers.start("w2")
    # w2 takes the job over once w1's lease runs out (the queue's own event says so).
    workers.wait(lambda js: _recovered(workers, job_id), timeout=60)
    workers.gate.touch()
    (job,) = workers.wait(lambda js: js[0].state in ("COMPLETED", "FAILED"), timeout=60)
    assert job.state == "COMPLETED", job.state_reason
    assert workers.runs.read_text().split() == [str(job_id)]  # it ran once, to the end
    assert job.su_charged is not None and job.su_charged > 0


def _recovered(workers: Workers, job_id: int) -> bool:
    with db.session_scope(workers.app) as s:
        messages = [e.message for e in s.scalars(select(JobEvent).where(JobEvent.job_id == job_id))]
    return any("recovered from worker" in m for m in messages)


def test_sigkilled_worker_with_queued_work_loses_nothing(workers: Workers) -> None:
    ids = [workers.submit("count") for _ in range(6)]
    first = workers.start("w1")
    workers.wait(lambda js: any(j.state != "QUEUED" for j in js), timeout=60)
    first.send_signal(signal.SIGKILL)  # holding claimed (gated) jobs
    first.wait()
    workers.start("w2")
    workers.gate.touch()
    jobs = workers.wait(lambda js: all(j.state == "COMPLETED" for j in js), timeout=60)
    assert [j.id for j in jobs] == ids
    assert sorted(map(int, workers.runs.read_text().split())) == ids


def test_sigtermed_worker_hands_back_its_running_job_at_once(tmp_path: Path, database_url: str) -> None:
    """A worker stopped as a release stops it (SIGTERM) gives its job back before it exits: the
    next worker takes it over at once, though the lease (an hour here) has far to run."""
    workers = Workers(tmp_path, database_url, lease=3600.0)
    try:
        job_id = workers.submit("count")
        first = workers.start("w1")
        workers.wait(lambda js: js[0].state == "RUNNING", timeout=60)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        (job,) = workers.jobs()
        assert job.state == "RUNNING" and job.claimed_by is None and job.lease_until is None
        workers.start("w2")
        workers.wait(lambda js: _events(workers, job_id)[-1:] == ["handed back by its worker"], timeout=60)
        assert any(m.startswith("handed back by worker ") for m in _events(workers, job_id))
        workers.gate.touch()
        (job,) = workers.wait(lambda js: js[0].state in ("COMPLETED", "FAILED"), timeout=60)
        assert job.state == "COMPLETED", job.state_reason
        assert workers.runs.read_text().split() == [str(job_id)]  # it ran once, to the end
    finally:
        workers.stop()
        db.engine(workers.app).dispose()


def _events(workers: Workers, job_id: int) -> list[str]:
    with db.session_scope(workers.app) as s:
        query = select(JobEvent.message).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        return list(s.scalars(query))
