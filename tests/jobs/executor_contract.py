"""The executor contract suite: every executor (local, slurm, burst...) must pass it.

Reuse it by subclassing :class:`ExecutorContract` in a test module and providing the ``executor``
fixture (and, where the executor needs it, ``make_workdir``)::

    from tests.jobs.executor_contract import ExecutorContract

    class TestSlurmContract(ExecutorContract):
        timeout = 120          # a real scheduler is slower
        walltime = 60          # SLURM counts whole minutes
        same_host = False      # processes are not visible from the test

        @pytest.fixture()
        def executor(self, tmp_path):
            require_service("SLURM", ..., "...")
            return SlurmExecutor("hpc", {...}, settings)

        @pytest.fixture()
        def make_workdir(self, shared_dir):  # a folder the cluster also sees
            ...

The tests only use what :class:`~gateway_kit.jobs.executors.base.Executor` promises: ``submit``,
``poll``, ``cancel``, ``release``, state as JSON, ``stdout.txt``/``stderr.txt``/outputs in
``workdir`` by the time a terminal state is reported. Programs are run with ``python`` (the
attribute ``python``: the interpreter on the execution side).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.executors import Executor, ExecutorError, JobSpec, PollResult
from gateway_kit.jobs.states import TERMINAL, JobState


class ExecutorContract:
    #: Seconds to wait for a job to reach a state.
    timeout: float = 30.0
    #: The walltime used by the walltime test, and how long its program would run.
    walltime: int = 1
    #: True when the test can see the job's processes (to check that cancel ends them all).
    same_host: bool = True
    #: The interpreter on the execution side.
    python: str = sys.executable

    @pytest.fixture()
    def executor(self, tmp_path: Path) -> Executor:
        raise NotImplementedError("a contract subclass provides the executor fixture")

    @pytest.fixture()
    def make_workdir(self, tmp_path: Path) -> Callable[[], Path]:
        def make() -> Path:
            wd = tmp_path / f"job-{uuid.uuid4().hex[:8]}"
            wd.mkdir()
            return wd

        return make

    # -- helpers --------------------------------------------------------------------------------

    _next_id = 1000

    def job_spec(self, workdir: Path, argv: list[str], **kw: Any) -> JobSpec:
        """The spec of a new job (a subclass whose executor needs a job row makes it here)."""
        ExecutorContract._next_id += 1
        return JobSpec(
            job_id=kw.pop("job_id", ExecutorContract._next_id), argv=argv, workdir=str(workdir), **kw
        )

    def spec(self, workdir: Path, code: str, *args: str, **kw: Any) -> JobSpec:
        return self.job_spec(workdir, [self.python, "-c", code, *args], **kw)

    def wait(
        self,
        executor: Executor,
        state: dict[str, Any],
        until: frozenset[JobState] | set[JobState] = TERMINAL,
        timeout: float | None = None,
    ) -> PollResult:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            result = executor.poll(state)
            assert isinstance(result, PollResult) and isinstance(result.state, JobState)
            if result.executor_state is not None:
                state = result.executor_state
            if result.state in until:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"job stayed {result.state} ({result.reason}); wanted {until}")
            time.sleep(0.05)

    # -- the contract ---------------------------------------------------------------------------

    def test_completes_with_logs_and_outputs(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        wd = make_workdir()
        code = (
            "import sys; print('to stdout'); print('to stderr', file=sys.stderr); "
            "open('result.txt', 'w').write('42')"
        )
        state = executor.submit(self.spec(wd, code))
        json.dumps(state)  # the state is JSON
        result = self.wait(executor, state)
        assert result.state is JobState.COMPLETED, result.reason
        assert result.exit_code in (0, None)
        assert "to stdout" in (wd / "stdout.txt").read_text()
        assert "to stderr" in (wd / "stderr.txt").read_text()
        assert (wd / "result.txt").read_text() == "42"
        executor.release(state)

    def test_failure_reports_exit_status(self, executor: Executor, make_workdir: Callable[[], Path]) -> None:
        wd = make_workdir()
        state = executor.submit(self.spec(wd, "import sys; sys.exit(3)"))
        result = self.wait(executor, state)
        assert result.state is JobState.FAILED
        assert result.exit_code == 3
        assert "3" in result.reason
        executor.release(state)

    def test_argv_arrives_literally(self, executor: Executor, make_workdir: Callable[[], Path]) -> None:
        wd = make_workdir()
        nasty = ["a b", "; rm -rf /", "$(touch pwned)", "`id`", "x\ny", "'\"", "*", "-n", ""]
        code = "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))"
        state = executor.submit(self.spec(wd, code, *nasty))
        assert self.wait(executor, state).state is JobState.COMPLETED
        assert json.loads((wd / "argv.json").read_text()) == nasty
        assert not (wd / "pwned").exists()
        executor.release(state)

    def test_state_restores_in_another_instance(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        """A restarted worker carries on from the saved JSON state alone."""
        wd = make_workdir()
        state = executor.submit(self.spec(wd, "import time; time.sleep(0.5); print('late')"))
        saved = json.loads(json.dumps(state))
        fresh = type(executor)(executor.destination, executor.options, executor.settings)
        result = self.wait(fresh, saved)
        assert result.state is JobState.COMPLETED, result.reason
        assert "late" in (wd / "stdout.txt").read_text()
        fresh.release(saved)

    def test_submit_is_idempotent(self, executor: Executor, make_workdir: Callable[[], Path]) -> None:
        """A second submit of the same job (a recovering worker) returns the same run."""
        wd = make_workdir()
        spec = self.spec(wd, "import time; open('runs.txt', 'a').write('run\\n'); time.sleep(0.5)")
        first = executor.submit(spec)
        again = executor.submit(spec)
        assert again == first
        assert self.wait(executor, first).state is JobState.COMPLETED
        assert (wd / "runs.txt").read_text() == "run\n"
        executor.release(first)

    def test_cancel_ends_the_job_and_its_children(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        wd = make_workdir()
        code = (
            "import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "open('child.pid', 'w').write(str(child.pid))\n"
            "print('started', flush=True)\n"
            "time.sleep(120)\n"
        )
        state = executor.submit(self.spec(wd, code, walltime=300))
        self.wait(executor, state, {JobState.RUNNING})
        deadline = time.monotonic() + (self.timeout if self.same_host else 0)
        # The file exists before its pid is written: wait for the content (only where the test
        # sees the job's files while it runs).
        while time.monotonic() < deadline and not (
            (wd / "child.pid").exists() and (wd / "child.pid").read_text().strip()
        ):
            time.sleep(0.05)
        executor.cancel(state)
        result = self.wait(executor, state)
        assert result.state is JobState.CANCELED
        if self.same_host:
            pid = int((wd / "child.pid").read_text())
            deadline = time.monotonic() + 10
            while _running(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _running(pid), "cancel left a process of the job running"
        executor.cancel(state)  # idempotent
        assert executor.poll(state).state is JobState.CANCELED
        executor.release(state)

    def test_cancel_after_the_end_changes_nothing(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        wd = make_workdir()
        state = executor.submit(self.spec(wd, "print('quick')"))
        assert self.wait(executor, state).state is JobState.COMPLETED
        executor.cancel(state)
        assert executor.poll(state).state is JobState.COMPLETED
        executor.release(state)
        executor.release(state)  # idempotent

    def test_walltime_is_enforced(self, executor: Executor, make_workdir: Callable[[], Path]) -> None:
        wd = make_workdir()
        state = executor.submit(self.spec(wd, "import time; time.sleep(300)", walltime=self.walltime))
        result = self.wait(executor, state, timeout=self.timeout + self.walltime)
        assert result.state is JobState.TIMED_OUT, result.reason
        executor.release(state)

    def test_a_program_that_cannot_start_fails_cleanly(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        wd = make_workdir()
        spec = self.job_spec(wd, ["/nonexistent/program", "x"])
        try:
            state = executor.submit(spec)
        except ExecutorError:
            return  # refusing at submit is fine
        result = self.wait(executor, state)
        assert result.state is JobState.FAILED
        executor.release(state)

    def test_environment_from_the_spec_reaches_the_job(
        self, executor: Executor, make_workdir: Callable[[], Path]
    ) -> None:
        wd = make_workdir()
        code = "import os; print(os.environ.get('GK_TEST_VALUE'))"
        state = executor.submit(self.spec(wd, code, env={"GK_TEST_VALUE": "from-spec"}))
        assert self.wait(executor, state).state is JobState.COMPLETED
        assert (wd / "stdout.txt").read_text().strip() == "from-spec"
        executor.release(state)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
