"""The supervisor of one local job: ``python -m gateway_kit.jobs.executors.runner WORKDIR``.

Started by :class:`~gateway_kit.jobs.executors.local.LocalExecutor` in a session of its own, so it
outlives the worker that started it (a worker killed mid-job does not take its jobs with it). It:

1. claims ``WORKDIR/.gk/runner.json`` with O_EXCL -- a second runner for the same job exits at
   once, which is what makes ``LocalExecutor.submit`` idempotent;
2. starts the job's argv (from ``.gk/spec.json``) as the leader of a new process group, in
   ``WORKDIR``, with stdout and stderr to ``stdout.txt`` and ``stderr.txt``, a clean environment
   and an address-space limit (the memory limit);
3. ends the whole group at the walltime or on SIGTERM (cancel): SIGTERM, a grace period, SIGKILL;
4. writes ``.gk/status.json`` (state, exit code, reason, start and end times) atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gateway_kit.process_lifetime import exit_with_lifeline


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to detect pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _end_group(pgid: int, grace: float, child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    child.wait()


def main(workdir: str) -> int:
    wd = Path(workdir)
    meta = wd / ".gk"
    try:
        fd = os.open(meta / "runner.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return 0  # another runner owns this job
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "start": proc_start_ticks(os.getpid())}, f)
    spec = json.loads((meta / "spec.json").read_text(encoding="utf-8"))
    canceled = False

    def on_term(_sig: int, _frame: Any) -> None:
        nonlocal canceled
        canceled = True

    signal.signal(signal.SIGTERM, on_term)
    # Under `gateway-kit demo` the job ends with the demo, however the demo ends (not with the
    # worker, whose successor resumes the job).
    exit_with_lifeline(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    memory = int(spec.get("memory_mb") or 0)

    def limits() -> None:  # runs in the child between fork and exec
        if memory > 0:
            limit = memory * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    started = time.time()
    status: dict[str, Any] = {"started": started}
    try:
        with open(wd / "stdout.txt", "ab") as out, open(wd / "stderr.txt", "ab") as err:
            child = subprocess.Popen(
                spec["argv"],
                cwd=wd,
                env=spec["env"],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=limits,
            )
    except OSError as exc:
        status.update(
            state="FAILED",
            exit_code=None,
            finished=time.time(),
            reason=f"could not start {spec['argv'][0]!r}: {exc.strerror or exc}",
        )
        write_json_atomic(meta / "status.json", status)
        return 0
    write_json_atomic(
        meta / "started.json", {"pgid": child.pid, "started": started, "start": proc_start_ticks(child.pid)}
    )
    deadline = started + float(spec["walltime"])
    grace = float(spec.get("kill_grace", 5.0))
    state = ""
    while True:
        try:
            child.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            pass
        if canceled:
            state = "CANCELED"
            _end_group(child.pid, grace, child)
            break
        if time.time() >= deadline:
            state = "TIMED_OUT"
            _end_group(child.pid, grace, child)
            break
    # Whatever the job left running in its group ends with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    code = child.returncode
    if state == "CANCELED":
        reason = "canceled"
    elif state == "TIMED_OUT":
        reason = f"walltime of {int(float(spec['walltime']))} s reached"
    elif code == 0:
        state, reason = "COMPLETED", "exit status 0"
    elif code < 0:
        state, reason = "FAILED", f"killed by signal {-code}"
    else:
        state, reason = "FAILED", f"exit status {code}"
    status.update(state=state, exit_code=code, reason=reason, finished=time.time())
    write_json_atomic(meta / "status.json", status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
