"""The shared executor contract (tests/jobs/executor_contract.py) against the ``burst`` executor.

The same suite the ``local`` and ``slurm`` executors pass, run on a pool of the local cloud's data
plane: the gateway is served over HTTP, each instance really boots and runs the agent from its user
data, and the agent pulls the job, runs it, streams its logs, uploads its outputs and reports. One
environment serves the whole module and its instance stays up between tests (a long idle timeout),
so only the first test waits for a boot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.burst.executor import BurstExecutor
from gateway_kit.db import db
from gateway_kit.jobs.executors import JobSpec
from gateway_kit.jobs.models import Job
from tests.burst.conftest import Env, build
from tests.jobs.executor_contract import ExecutorContract


@pytest.fixture(scope="module")
def pool_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from build(tmp_path_factory.mktemp("burst-contract"), monkeypatch, idle_timeout=600.0)


class TestBurstContract(ExecutorContract):
    #: An instance boots before the first job runs, and the agent heartbeats every 0.3 s.
    timeout = 90.0
    #: The job runs on an instance: its files reach the workdir only when it ends.
    same_host = False

    @pytest.fixture()
    def executor(self, pool_env: Env) -> BurstExecutor:
        self.env = pool_env
        env = pool_env
        return BurstExecutor("cloud", env.app.config["JOBS_DESTINATIONS_MAP"]["cloud"], env.app.config)

    def job_spec(self, workdir: Path, argv: list[str], **kw: Any) -> JobSpec:
        """A job row first: the agent API serves only jobs the gateway knows (and their workdir)."""
        with self.env.app.app_context():
            job = Job(
                user_id=self.env.user.id,
                app_id="contract",
                app_version="1",
                destination="cloud",
                workdir=str(workdir),
            )
            db.session.add(job)
            db.session.commit()
            job_id = job.id
        return JobSpec(job_id=job_id, argv=argv, workdir=str(workdir), **kw)
