"""A burst job end to end on the local cloud's data plane."""

from __future__ import annotations

from pathlib import Path

from gateway_kit.jobs.states import TERMINAL, JobState
from tests.burst.conftest import Env


def test_burst_job_end_to_end(env: Env) -> None:
    job_id = env.submit(b"twelve bytes")
    # An instance is created for it, boots, and its agent runs the job.
    env.until(lambda: env.job(job_id).state in {s.value for s in TERMINAL}, timeout=60)
    job = env.job(job_id)
    assert job.state == JobState.COMPLETED.value, job.state_reason
    assert (Path(job.workdir) / "count.txt").read_text().strip() == "12"
    assert (Path(job.workdir) / "stdout.txt").read_text() == f"run {job_id}\n"
    assert (Path(job.workdir) / "stderr.txt").read_text() == "done\n"
    [inst] = env.instances()
    assert inst.flavor == "m3.tiny" and inst.address.startswith("127.100.")
    # After the idle timeout the instance is deleted, and its SUs charged.
    env.until(lambda: env.instances()[0].state == "deleted", timeout=20)
    env.until(lambda: not list(env.conn().compute.servers()), timeout=10, tick=False)
    inst = env.instances()[0]
    assert inst.su_charged > 0
    # The charge is split: the job's share to its user, the instance's idle time to no user.
    from sqlalchemy import select

    from gateway_kit.db import db
    from gateway_kit.jobs.models import LedgerEntry

    with env.app.app_context():
        rows = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == "charge", LedgerEntry.note.contains(inst.name))
        ).all()
        mine = [r for r in rows if r.job_id == job_id]
        assert len(mine) == 1 and mine[0].user_id == job.user_id and mine[0].amount < 0, rows
        assert abs(sum(r.amount for r in rows) + inst.su_charged) < 1e-6, rows
        assert all(r.user_id is None for r in rows if r.job_id is None)
