"""slurmctld down and jobs vanishing, on the real SLURM (the controller is stopped and restarted).

Runs after test_real_slurm.py (file order): the restart with ``-c`` (clear state) forgets every job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway_kit.jobs.executors.base import JobSpec
from gateway_kit.jobs.states import JobState
from gateway_kit.slurm.executor import SlurmExecutor

from .conftest import wait_state, wait_terminal

pytestmark = pytest.mark.slurm
#: Stops and restarts slurmctld: no other test run may use SLURM meanwhile (conftest.slurm_lock).
SLURM_EXCLUSIVE = True


def _ctld_pid(slurm_dir: Path) -> int | None:
    try:
        pid = int((slurm_dir / "slurmctld.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _start_ctld(ignore_state: bool) -> None:
    subprocess.run(["/usr/sbin/slurmctld", *(["-c"] if ignore_state else [])], check=True)


@pytest.fixture()
def controller(slurm_dir: Path) -> Iterator[Callable[[], None]]:
    """Stops slurmctld on request; always leaves it running afterwards."""

    def stop() -> None:
        pid = _ctld_pid(slurm_dir)
        assert pid, "slurmctld is not running"
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if _ctld_pid(slurm_dir) is None:
                return
            time.sleep(0.1)
        raise AssertionError("slurmctld did not stop")

    yield stop
    if _ctld_pid(slurm_dir) is None:
        _start_ctld(ignore_state=False)
    for _ in range(100):
        out = subprocess.run(
            ["sinfo", "-h", "-n", "gknode1", "-o", "%T"], capture_output=True, text=True, check=False
        )
        if out.stdout.strip() in ("idle", "mixed", "allocated"):
            break
        time.sleep(0.2)


def test_controller_down_then_jobs_vanish(
    controller: Callable[[], None],
    make_executor: Callable[..., SlurmExecutor],
    make_spec: Callable[..., JobSpec],
) -> None:
    ex = make_executor(
        SLURM_SUBMIT_RETRIES=10, SLURM_RETRY_DELAY=0.5, SLURM_COMMAND_TIMEOUT=20.0, SLURM_UNREACHABLE_WAIT=1.0
    )
    running = ex.submit(make_spec(["sleep", "300"]))
    assert wait_state(ex, running, JobState.RUNNING).state is JobState.RUNNING

    controller()
    # Polling while the controller is down: UNKNOWN, never FAILED.
    res = ex.poll(running)
    assert res.state is JobState.UNKNOWN and "cannot be reached" in res.reason

    # A submission waits and retries; the controller comes back (started with -c: it forgets its jobs) meanwhile.
    restarter = threading.Timer(2.0, _start_ctld, kwargs={"ignore_state": True})
    restarter.start()
    try:
        new = ex.submit(make_spec(["echo", "after the outage"]))
    finally:
        restarter.join()
    assert wait_terminal(ex, new, timeout=60).state is JobState.COMPLETED

    # The job submitted before the restart is gone from the queue (and there is no accounting).
    res = ex.poll(running)
    assert res.state is JobState.FAILED
    assert res.reason == (
        f"SLURM job {running['slurm_job_id']} vanished from the queue and no accounting record was found"
    )
