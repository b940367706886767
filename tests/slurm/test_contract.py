"""The shared executor contract (tests/jobs/executor_contract.py) against the real SLURM.

The same suite the ``local`` executor passes, run on the single-node cluster started by
``.ci/services.sh``. SLURM runs the jobs on this host (slurmd as root, job directories in the
test's tmp path, which is also the "shared filesystem"), so the interpreter and the process checks
of the suite apply as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_kit.slurm.executor import SlurmExecutor
from tests.jobs.executor_contract import ExecutorContract

from .conftest import SETTINGS

pytestmark = pytest.mark.slurm


class TestSlurmContract(ExecutorContract):
    #: A real scheduler: submit, schedule, start and end take seconds, not milliseconds.
    timeout = 120.0
    #: SLURM's time limits are whole minutes (``--time`` rounds up to 1 minute), and slurmctld
    #: checks limits every ~30 s: the walltime test waits ``timeout + walltime``.
    walltime = 60
    #: slurmd runs on this host, so the test can see the job's processes (proctrack/linuxproc).
    same_host = True

    @pytest.fixture()
    def executor(self, slurm_dir: Path) -> SlurmExecutor:  # slurm_dir: require_service("SLURM")
        return SlurmExecutor(
            "ci",
            {"executor": "slurm", "partition": "debug"},
            {**SETTINGS, "SLURM_JOB_NAME_PREFIX": f"gkc{os.getpid()}"},
        )
