"""SlurmExecutor against a scripted transport: edge cases a real SLURM cannot produce on demand
(and command counting). The real path is in test_real_slurm.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.executors.base import CapacityExhausted, ExecutorError, JobSpec
from gateway_kit.jobs.states import JobState
from gateway_kit.slurm.executor import SlurmExecutor
from gateway_kit.slurm.testing import ScriptedTransport, requested_ids, result, squeue_lines

DOWN = result(stderr="slurm_load_jobs error: Unable to contact slurm controller (connect failure)", rc=1)


def executor(transport: ScriptedTransport, **settings: Any) -> SlurmExecutor:
    base = {
        "SLURM_POLL_CACHE_SECONDS": 60.0,
        "SLURM_SUBMIT_RETRIES": 0,
        "SLURM_RETRY_DELAY": 0.0,
        "SLURM_UNREACHABLE_WAIT": 0.0,
    }
    return SlurmExecutor(
        "hpc", {"executor": "slurm", "partition": "debug"}, {**base, **settings}, transport=transport
    )


def spec(tmp_path: Path, job_id: int = 1) -> JobSpec:
    d = tmp_path / str(job_id)
    d.mkdir(exist_ok=True)
    return JobSpec(job_id=job_id, argv=["/bin/true"], workdir=str(d))


@pytest.mark.parametrize("active", [1, 100, 1000])
def test_one_squeue_per_poll_cycle(active: int) -> None:
    t = ScriptedTransport(
        [("^squeue", lambda argv, _: result(squeue_lines({i: "RUNNING" for i in requested_ids(argv)})))]
    )
    ex = executor(t)
    states = [{"slurm_job_id": str(1000 + i)} for i in range(active)]
    # the first cycle of a fresh worker: it learns its jobs (poll_many: one command for all)
    assert all(r.state is JobState.RUNNING for r in ex.poll_many(states))
    assert t.commands_run == 1
    assert len(requested_ids(t.calls[0])) == active
    for _cycle in range(3):  # the queue then polls one job at a time, every cycle
        ex._snapshot_at = -1e9  # the cycle's cache has expired
        assert all(ex.poll(s).state is JobState.RUNNING for s in states)
    assert t.commands_run == 1 + 3


def test_a_restarted_worker_needs_one_command_per_cycle_from_its_second_cycle() -> None:
    t = ScriptedTransport(
        [("^squeue", lambda argv, _: result(squeue_lines({i: "RUNNING" for i in requested_ids(argv)})))]
    )
    ex = executor(t)
    states = [{"slurm_job_id": str(1000 + i)} for i in range(20)]
    for s in states:
        ex.poll(s)  # the first cycle learns the ids one by one
    ex._snapshot_at = -1e9
    before = t.commands_run
    for s in states:
        ex.poll(s)
    assert t.commands_run == before + 1


def test_finished_jobs_leave_the_poll_set() -> None:
    t = ScriptedTransport(
        [
            (
                "^squeue",
                lambda argv, _: result(
                    squeue_lines({i: ("COMPLETED" if i == "1" else "RUNNING") for i in requested_ids(argv)})
                ),
            )
        ]
    )
    ex = executor(t, SLURM_POLL_CACHE_SECONDS=0.0)
    ex.poll_many([{"slurm_job_id": "1"}, {"slurm_job_id": "2"}])
    ex.poll({"slurm_job_id": "2"})
    assert requested_ids(t.calls[-1]) == ["2"]


def test_vanished_job_resolved_from_sacct() -> None:
    t = ScriptedTransport(
        [
            ("^squeue", result(squeue_lines({"2": "RUNNING"}))),
            ("^sacct", result("1|NODE_FAIL|0:0|None|n1|2024-01-01T10:00:00|2024-01-01T10:00:01\n")),
        ]
    )
    ex = executor(t)
    r1, r2 = ex.poll_many([{"slurm_job_id": "1"}, {"slurm_job_id": "2"}])
    assert r1.state is JobState.FAILED and r1.reason.startswith("NODE_FAIL")
    assert r2.state is JobState.RUNNING
    assert [c[0] for c in t.calls] == ["squeue", "sacct"]
    assert "--jobs=1" in t.calls[1]


def test_vanished_job_without_accounting_fails_with_reason() -> None:
    t = ScriptedTransport(
        [
            ("^squeue", result(stderr="slurm_load_jobs error: Invalid job id specified", rc=1)),
            ("^sacct", result(stderr="Slurm accounting storage is disabled", rc=1)),
        ]
    )
    ex = executor(t, SLURM_POLL_CACHE_SECONDS=0.0)
    r = ex.poll({"slurm_job_id": "7"})
    assert r.state is JobState.FAILED and "vanished" in r.reason
    ex.poll({"slurm_job_id": "8"})
    assert [c[0] for c in t.calls] == ["squeue", "sacct", "squeue"]  # sacct not asked again


def test_controller_down_poll_is_unknown_never_failed() -> None:
    t = ScriptedTransport([("^squeue", DOWN)])
    r = executor(t).poll({"slurm_job_id": "3"})
    assert r.state is JobState.UNKNOWN and "cannot be reached" in r.reason


def test_unknown_native_state_is_unknown() -> None:
    t = ScriptedTransport([("^squeue", result(squeue_lines({"3": "WEIRD_NEW_STATE"})))])
    r = executor(t).poll({"slurm_job_id": "3"})
    assert r.state is JobState.UNKNOWN and "WEIRD_NEW_STATE" in r.reason


@pytest.mark.parametrize(
    ("native", "state", "reason"),
    [
        ("TIMEOUT", JobState.TIMED_OUT, "TIMEOUT"),
        ("OUT_OF_MEMORY", JobState.FAILED, "OUT_OF_MEMORY"),
        ("NODE_FAIL", JobState.FAILED, "NODE_FAIL"),
        ("PREEMPTED", JobState.FAILED, "PREEMPTED"),
        ("DEADLINE", JobState.TIMED_OUT, "DEADLINE"),
        ("BOOT_FAIL", JobState.FAILED, "BOOT_FAIL"),
    ],
)
def test_reasons_surface(native: str, state: JobState, reason: str) -> None:
    t = ScriptedTransport([("^squeue", result(squeue_lines({"3": native})))])
    r = executor(t).poll({"slurm_job_id": "3"})
    assert r.state is state and r.reason.startswith(reason)
    assert r.started_at is not None and r.finished_at is not None


def test_submit_retries_while_controller_is_down_then_succeeds(tmp_path: Path) -> None:
    answers = iter(
        [
            result(
                stderr="sbatch: error: Batch job submission failed: Unable to contact "
                "slurm controller (connect failure)",
                rc=1,
            ),
            result("42\n"),
        ]
    )
    t = ScriptedTransport([("^sbatch", lambda argv, stdin: next(answers)), ("--name=", result(""))])
    state = executor(t, SLURM_SUBMIT_RETRIES=2).submit(spec(tmp_path))
    # before sbatch again: is the job there after all? (no: sbatch again)
    assert state["slurm_job_id"] == "42" and [c[0] for c in t.calls] == ["sbatch", "squeue", "sbatch"]


def test_submit_gives_up_as_capacity_exhausted_so_the_queue_retries(tmp_path: Path) -> None:
    t = ScriptedTransport(
        [("^sbatch", result(stderr="Unable to contact slurm controller", rc=1)), ("--name=", DOWN)]
    )
    with pytest.raises(CapacityExhausted):
        executor(t, SLURM_SUBMIT_RETRIES=1).submit(spec(tmp_path))
    assert [c[0] for c in t.calls] == ["sbatch", "squeue", "sbatch"]


def test_an_sbatch_that_timed_out_but_reached_the_controller_is_not_submitted_twice(tmp_path: Path) -> None:
    t = ScriptedTransport(
        [
            ("^sbatch", result(stderr="sbatch: error: Socket timed out on send/recv operation", rc=1)),
            ("--name=gk-hpc-5", result("51|\n")),
        ]
    )
    assert executor(t, SLURM_SUBMIT_RETRIES=3).submit(spec(tmp_path, 5))["slurm_job_id"] == "51"
    assert [c[0] for c in t.calls] == ["sbatch", "squeue"]


def test_every_command_waits_out_a_controller_blip() -> None:
    """Unable to contact the controller for a moment (slurmctld busy or restarting) is retried
    within SLURM_UNREACHABLE_WAIT, for polls and cancels as for submissions; then it is an outage."""
    answers = iter([DOWN, DOWN, result(squeue_lines({"7": "RUNNING"}))])
    scancels = iter([result(stderr="scancel: error: Unable to contact slurm controller", rc=1), result()])
    t = ScriptedTransport(
        [("^squeue", lambda argv, _: next(answers)), ("^scancel", lambda argv, _: next(scancels))]
    )
    ex = executor(t, SLURM_UNREACHABLE_WAIT=60.0)
    assert ex.poll({"slurm_job_id": "7"}).state is JobState.RUNNING
    ex.cancel({"slurm_job_id": "7"})
    assert [c[0] for c in t.calls] == ["squeue"] * 3 + ["scancel"] * 2

    down = ScriptedTransport([("^squeue", DOWN)])
    res = executor(down, SLURM_UNREACHABLE_WAIT=0.3, SLURM_RETRY_DELAY=0.1).poll({"slurm_job_id": "7"})
    assert res.state is JobState.UNKNOWN and down.commands_run >= 2


def test_submit_rejected_is_an_executor_error_with_slurms_words(tmp_path: Path) -> None:
    t = ScriptedTransport(
        [
            (
                "^sbatch",
                result(
                    stderr="sbatch: error: Batch job submission failed: Invalid partition name specified",
                    rc=1,
                ),
            )
        ]
    )
    with pytest.raises(ExecutorError) as exc:
        executor(t).submit(spec(tmp_path))
    assert not isinstance(exc.value, CapacityExhausted)
    assert "Invalid partition name specified" in exc.value.user_message
    assert "'debug'" in exc.value.user_message


def test_submit_is_idempotent_after_a_crash_between_sbatch_and_saving(tmp_path: Path) -> None:
    s = spec(tmp_path, 9)
    t = ScriptedTransport([("^sbatch", result("77\n")), ("--name=", result("77|\n"))])
    ex = executor(t)
    first = ex.submit(s)
    assert ex.submit(s) == first and t.commands_run == 1  # the marker answers
    # a worker died after sbatch ran, before it recorded the id:
    (Path(s.workdir) / "slurm.json").write_text('{"submitting": true, "name": "gk-hpc-9"}')
    assert ex.submit(s)["slurm_job_id"] == "77"
    assert [c[0] for c in t.calls] == ["sbatch", "squeue"]


def test_cancel_is_one_command_and_idempotent() -> None:
    t = ScriptedTransport(
        [
            (
                "^scancel",
                result(stderr="scancel: error: Kill job error on job id 5: Invalid job id specified", rc=1),
            )
        ]
    )
    ex = executor(t)
    ex.cancel_many([{"slurm_job_id": "5"}, {"slurm_job_id": "6"}])
    ex.cancel({})
    assert t.calls == [["scancel", "5", "6"]]
