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
