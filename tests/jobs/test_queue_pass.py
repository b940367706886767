"""One worker pass: jobs that ended free their capacity for the jobs staged next in the same pass,
and jobs waiting for capacity are offered to the executor once per pass, first come first."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.jobs.destinations import destinations
from gateway_kit.jobs.models import Job
from gateway_kit.jobs.queue import JobQueue
from gateway_kit.jobs.service import Submission, submit

from .conftest import World


def _submit(world: World, n: int) -> list[int]:
    with world.app.test_request_context():
        me = db.session.merge(world.alice)
        return [
            submit(db.session, me, Submission(application="echo", inputs={"message": "x"}))[0].id
            for _ in range(n)
        ]


def _states(world: World) -> list[str]:
    with db.session_scope(world.app) as s:
        return list(s.scalars(select(Job.state).order_by(Job.id)))


def _workdir(world: World, job_id: int) -> Path:
    with db.session_scope(world.app) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return Path(job.workdir)


def test_a_pass_stages_the_next_job_in_the_capacity_an_ended_job_freed(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(JOBS_LOCAL_MAX_CONCURRENT=1)
    first, second, third = _submit(world, 3)
    queue = JobQueue(world.app, worker_id="w1")
    executor = destinations(world.app).executor("local")
    offered: list[int] = []
    submit_to_executor = executor.submit

    def counting(spec: Any) -> Any:
        offered.append(spec.job_id)
        return submit_to_executor(spec)

    executor.submit = counting  # type: ignore[method-assign]
    queue.tick()
    # One slot: the first runs; the second is refused; the third, no larger, is not offered.
    assert offered == [first, second]
    assert _states(world)[1:] == ["STAGING", "STAGING"]
    status = _workdir(world, first) / ".gk" / "status.json"
    deadline = time.monotonic() + 30
    while not status.exists():
        assert time.monotonic() < deadline, "the first job did not end"
        time.sleep(0.02)
    queue.tick()
    # The pass that records the first job's end gives its slot to the second at once.
    assert _states(world)[0] == "COMPLETED"
    assert _states(world)[1] in ("SUBMITTED", "RUNNING", "COMPLETED")
    assert _states(world)[2] == "STAGING"
    # ... and offers the third once (refused: the second holds the slot).
    assert offered == [first, second, second, third]
