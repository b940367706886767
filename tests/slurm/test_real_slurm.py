"""The executor contract against the real SLURM started by .ci/services.sh.

submit, run, complete (outputs in the job directory), failure with exit code, cancel, timeout,
GPU request on fake gres, impossible requests and unknown partitions rejected at submit with
SLURM's message, metacharacters arriving literally, one squeue per poll cycle.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.executors.base import CapacityExhausted, ExecutorError, JobSpec
from gateway_kit.jobs.states import JobState
from gateway_kit.slurm.executor import SlurmExecutor

from .conftest import wait_state, wait_terminal

pytestmark = pytest.mark.slurm

MakeEx = Callable[..., SlurmExecutor]
MakeSpec = Callable[..., JobSpec]


@pytest.fixture(scope="module")
def timeout_job(slurm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Submitted when the module starts: SLURM's smallest walltime is one minute, so this job runs
    while the other tests do, and test_timeout (last) collects it."""
    from .conftest import SETTINGS

    ex = SlurmExecutor(
        "ci", {"executor": "slurm"}, {**SETTINGS, "SLURM_JOB_NAME_PREFIX": f"gkto{os.getpid()}"}
    )
    d = tmp_path_factory.mktemp("timeout")
    spec = JobSpec(job_id=1, argv=["sleep", "600"], workdir=str(d), walltime=60, memory_mb=100)
    return ex, ex.submit(spec), time.monotonic()


def test_submit_run_complete_outputs_in_workdir(
    make_executor: MakeEx, make_spec: MakeSpec, timeout_job: Any
) -> None:
    ex = make_executor({"partition": "debug"})
    spec = make_spec(["sh", "-c", "echo out; echo err >&2; echo data > result.txt"])
    state = ex.submit(spec)
    assert state["slurm_job_id"].isdigit()
    res = wait_terminal(ex, state)
    assert res.state is JobState.COMPLETED and res.exit_code == 0
    wd = Path(spec.workdir)
    assert (wd / "stdout.txt").read_text() == "out\n"
    assert (wd / "stderr.txt").read_text() == "err\n"
    assert (wd / "result.txt").read_text() == "data\n"
    assert res.started_at is not None and res.finished_at is not None
    assert ex.submit(spec) == state  # idempotent per job id


def test_failure_reports_exit_code(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    ex = make_executor()
    state = ex.submit(make_spec(["sh", "-c", "exit 3"]))
    res = wait_terminal(ex, state)
    assert res.state is JobState.FAILED and res.exit_code == 3 and res.reason == "exit status 3"


def test_shell_metacharacters_arrive_literally(
    make_executor: MakeEx, make_spec: MakeSpec, tmp_path: Path
) -> None:
    canary = tmp_path / "pwned"
    nasty = [f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}", "a'b\"c", "x\ny", "*"]
    ex = make_executor()
    spec = make_spec(["printf", "%s\\n", *nasty], env={"GK_VALUE": f"$(touch {canary})"})
    res = wait_terminal(ex, ex.submit(spec))
    assert res.state is JobState.COMPLETED
    assert (Path(spec.workdir) / "stdout.txt").read_text() == "\n".join(nasty) + "\n"
    assert not canary.exists()


def test_cancel_running_job(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    ex = make_executor()
    state = ex.submit(make_spec(["sleep", "300"]))
    assert wait_state(ex, state, JobState.RUNNING).state is JobState.RUNNING
    ex.cancel(state)
    res = wait_terminal(ex, state, timeout=30)
    assert res.state is JobState.CANCELED
    ex.cancel(state)  # idempotent


def test_cancel_pending_job(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    ex = make_executor({"extra_options": ["--begin=now+1hour"]})
    state = ex.submit(make_spec(["true"]))
    res = ex.poll(state)
    assert res.state is JobState.SUBMITTED and "BeginTime" in res.reason
    ex.cancel(state)
    assert wait_terminal(ex, state, timeout=15).state is JobState.CANCELED


def test_gpu_request_on_fake_gres(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    ex = make_executor({"partition": "gpu"})
    spec = make_spec(["sh", "-c", "echo gres=$SLURM_JOB_GPUS"], gpus=2)
    res = wait_terminal(ex, ex.submit(spec))
    assert res.state is JobState.COMPLETED
    assert "#SBATCH --gres=gpu:2" in (Path(spec.workdir) / "job.sbatch").read_text()
    assert (Path(spec.workdir) / "stdout.txt").read_text().startswith("gres=")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"gpus": 3}, "Requested node configuration is not available"),
        ({"cpus": 64}, "More processors requested than permitted"),
        ({"memory_mb": 10_000_000}, "Memory specification can not be satisfied"),
    ],
)
def test_impossible_request_rejected_at_submit(
    make_executor: MakeEx, make_spec: MakeSpec, kw: dict[str, int], message: str
) -> None:
    with pytest.raises(ExecutorError) as exc:
        make_executor().submit(make_spec(["true"], **kw))
    assert not isinstance(exc.value, CapacityExhausted)
    assert message in exc.value.user_message


def test_unknown_partition_is_a_clear_message(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    with pytest.raises(ExecutorError) as exc:
        make_executor({"partition": "nope"}).submit(make_spec(["true"]))
    assert exc.value.user_message == (
        "SLURM rejected the job: invalid partition specified: nope; Invalid partition name specified "
        "(destination 'ci' names partition 'nope')"
    )


def test_many_jobs_one_squeue_per_cycle(make_executor: MakeEx, make_spec: MakeSpec) -> None:
    ex = make_executor(SLURM_POLL_CACHE_SECONDS=5.0)
    states = [ex.submit(make_spec(["true"])) for _ in range(20)]
    submitted = ex.transport.commands_run
    deadline = time.monotonic() + 60
    cycles = 0
    final: dict[str, Any] = {}
    while len(final) < len(states) and time.monotonic() < deadline:
        ex._snapshot_at = -1e9  # a new cycle; like the queue, poll only the unfinished jobs
        for s in states:
            if s["slurm_job_id"] not in final:
                res = ex.poll(s)
                if res.state.terminal:
                    final[s["slurm_job_id"]] = res
        cycles += 1
        time.sleep(0.3)
    assert [r.state for r in final.values()] == [JobState.COMPLETED] * len(states)
    assert ex.transport.commands_run - submitted == cycles


def test_timeout(timeout_job: Any) -> None:
    """Runs last in this module: the job was submitted when the module started."""
    ex, state, started = timeout_job
    res = wait_terminal(ex, state, timeout=150, interval=1.0)
    assert res.state is JobState.TIMED_OUT, res
    assert res.reason.startswith("TIMEOUT")
    assert time.monotonic() - started >= 55
