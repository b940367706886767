"""SLURM test fixtures: a real SLURM (started by .ci/services.sh) or a scripted transport."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.executors.base import JobSpec
from gateway_kit.slurm.executor import SlurmExecutor
from tests.conftest import require_service

HOW = (
    "source .ci/services.sh && services_install && start_slurm (exports GK_TEST_SLURM=1, "
    "SLURM_CONF and GK_TEST_SLURM_DIR)"
)


def sinfo_answers() -> bool:
    if not os.environ.get("GK_TEST_SLURM") or not shutil.which("sinfo"):
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "debug" in out.stdout


@pytest.fixture(scope="module", autouse=True)
def slurm_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """One SLURM serves every test run on this machine (two checkouts may run the suite at once):
    a module that uses it holds a shared lock on a file beside it; a module that changes the
    cluster itself (stops slurmctld, installs power hooks: ``SLURM_EXCLUSIVE = True``) holds it
    exclusively, so it never restarts the controller under another run's jobs."""
    where = os.environ.get("GK_TEST_SLURM_DIR")
    if not where or not os.environ.get("GK_TEST_SLURM"):
        yield
        return
    exclusive = getattr(request.module, "SLURM_EXCLUSIVE", False)
    with open(Path(where) / "test-runs.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)  # waits for the other run
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def slurm_dir() -> Path:
    require_service("SLURM", sinfo_answers(), HOW)
    return Path(os.environ["GK_TEST_SLURM_DIR"])


@pytest.fixture(scope="session")
def jobs_root(slurm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Job directories must be readable/writable by slurmd (root here): any tmp dir does.
    return tmp_path_factory.mktemp("slurm-jobs")


SETTINGS: dict[str, Any] = {
    "SLURM_POLL_CACHE_SECONDS": 0.0,
    "SLURM_SUBMIT_RETRIES": 0,
    "SLURM_RETRY_DELAY": 0.2,
    # a controller too busy to answer for a moment (a loaded host) is waited out, as in production
    "SLURM_UNREACHABLE_WAIT": 60.0,
    "SLURM_COMMAND_TIMEOUT": 30.0,
}


@pytest.fixture()
def make_executor(slurm_dir: Path) -> Callable[..., SlurmExecutor]:
    def make(options: dict[str, Any] | None = None, **settings: Any) -> SlurmExecutor:
        opts = {"executor": "slurm", **(options or {})}
        return SlurmExecutor(
            "ci", opts, {**SETTINGS, **settings, "SLURM_JOB_NAME_PREFIX": f"gkt{os.getpid()}"}
        )

    return make


_counter = iter(range(1, 1_000_000))


@pytest.fixture()
def make_spec(jobs_root: Path) -> Callable[..., JobSpec]:
    def make(argv: list[str], **kw: Any) -> JobSpec:
        job_id = kw.pop("job_id", None) or int(time.time() * 1000) % 10_000_000 * 100 + next(_counter)
        workdir = jobs_root / f"job-{job_id}"
        workdir.mkdir(parents=True, exist_ok=True)
        kw.setdefault("memory_mb", 100)
        kw.setdefault("walltime", 300)
        return JobSpec(job_id=job_id, argv=argv, workdir=str(workdir), **kw)

    return make


def wait_terminal(
    ex: SlurmExecutor, state: dict[str, Any], timeout: float = 60.0, interval: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        res = ex.poll(state)
        if res.state.terminal or time.monotonic() > deadline:
            return res
        time.sleep(interval)


def wait_state(ex: SlurmExecutor, state: dict[str, Any], wanted: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        res = ex.poll(state)
        if res.state == wanted or res.state.terminal or time.monotonic() > deadline:
            return res
        time.sleep(0.1)
