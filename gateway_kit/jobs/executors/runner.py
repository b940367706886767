"""The supervisor of local jobs, and the launcher that starts supervisors in a few milliseconds.

Standard library only: the file is run by path with ``python -I -S`` and never imports the
package, so a start costs no package imports.

``python -I -S runner.py --serve`` is the **launcher**: one long-lived process per
:class:`~gateway_kit.jobs.executors.local.LocalExecutor`. For each line ``{"workdir": ...}`` on its
stdin it claims ``WORKDIR/.gk/runner.json`` with O_EXCL (a second launch of the same job answers
the first one's pid, which is what makes ``LocalExecutor.submit`` idempotent), forks a supervisor
in a session of its own and answers one JSON line with the supervisor's pid and start time. A fork
of this small process costs about a millisecond, where starting a Python supervisor costs tens.
Supervisors outlive the launcher and the worker (a worker killed mid-job does not take its jobs
with it). ``python -I -S runner.py WORKDIR`` supervises one job without a launcher.

A **supervisor**:

1. starts the job's argv (from ``.gk/spec.json``) as the leader of a new process group, in
   ``WORKDIR``, with stdout and stderr to ``stdout.txt`` and ``stderr.txt``, a clean environment
   and an address-space limit (the memory limit);
2. ends the whole group at the walltime or on SIGTERM (cancel): SIGTERM, a grace period, SIGKILL;
3. writes ``.gk/status.json`` (state, exit code, reason, start and end times) atomically;
4. wakes the workers (a datagram to each socket in the spec's ``wake_dir``; see
   :mod:`gateway_kit.jobs.wakeup`) when the job starts and when it ends, so that they record
   the change at once instead of at their next poll.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _exit_with_lifeline() -> None:
    """Under ``gateway-kit demo`` the job ends with the demo, however the demo ends (not with the
    worker, whose successor resumes the job): :mod:`gateway_kit.process_lifetime`, loaded by path
    (it is standard library only) so that this file still imports nothing of the package."""
    if "GATEWAY_KIT_LIFELINE_FD" not in os.environ:
        return
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "process_lifetime.py"
    spec = importlib.util.spec_from_file_location("_gateway_kit_process_lifetime", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.exit_with_lifeline(signal.SIGTERM)


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


def poke(wake_dir: str | os.PathLike[str] | None) -> None:
    """Send one byte to every worker socket in ``wake_dir`` (never blocks, never fails).

    The byte means only "look again": a worker that receives it runs its next pass now.
    A socket nobody listens on any more (its worker died) is removed.
    """
    if not wake_dir:
        return
    try:
        names = os.listdir(wake_dir)
    except OSError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for name in names:
            if not name.endswith(".sock"):
                continue
            path = os.path.join(wake_dir, name)
            try:
                sock.sendto(b"!", path)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:  # a full queue already holds a wake-up: nothing to add
                pass


def _end_group(pgid: int, grace: float, child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    child.wait()


def claim(meta: Path, pid: int) -> dict[str, Any] | None:
    """Write ``runner.json`` for supervisor ``pid`` unless it exists; None if it did."""
    try:
        fd = os.open(meta / "runner.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    info = {"pid": pid, "start": proc_start_ticks(pid)}
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    return info


def _append_no_link(path: Path) -> Any:
    """Open a log for appending; a symbolic link in its place fails (the job must not make the
    supervisor write through a link to another file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o600), "ab")


def main(workdir: str, *, claimed: bool = False) -> int:
    """Supervise the job in ``workdir`` until it ends (``claimed``: the launcher wrote
    ``runner.json`` for this process already)."""
    wd = Path(workdir)
    meta = wd / ".gk"
    if not claimed and claim(meta, os.getpid()) is None:
        return 0  # another runner owns this job
    spec = json.loads((meta / "spec.json").read_text(encoding="utf-8"))
    wake_dir = spec.get("wake_dir")
    canceled = False
    # Signals wake the wait below through a pipe: SIGCHLD when the job ends, SIGTERM to cancel.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)

    def on_term(_sig: int, _frame: Any) -> None:
        nonlocal canceled
        canceled = True

    signal.signal(signal.SIGTERM, on_term)
    _exit_with_lifeline()
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    memory = int(spec.get("memory_mb") or 0)

    def limits() -> None:  # runs in the child between fork and exec
        limit = memory * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    started = time.time()
    status: dict[str, Any] = {"started": started}
    try:
        with _append_no_link(wd / "stdout.txt") as out, _append_no_link(wd / "stderr.txt") as err:
            child = subprocess.Popen(
                spec["argv"],
                cwd=wd,
                env=spec["env"],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=limits if memory > 0 else None,
            )
    except OSError as exc:
        status.update(
            state="FAILED",
            exit_code=None,
            finished=time.time(),
            reason=f"could not start {spec['argv'][0]!r}: {exc.strerror or exc}",
        )
        write_json_atomic(meta / "status.json", status)
        poke(wake_dir)
        return 0
    write_json_atomic(
        meta / "started.json", {"pgid": child.pid, "started": started, "start": proc_start_ticks(child.pid)}
    )
    if child.poll() is None:  # a job that ended already is reported once, below
        poke(wake_dir)
    deadline = started + float(spec["walltime"])
    grace = float(spec.get("kill_grace", 5.0))
    state = ""
    while child.poll() is None:
        if canceled:
            state = "CANCELED"
            _end_group(child.pid, grace, child)
            break
        left = deadline - time.time()
        if left <= 0:
            state = "TIMED_OUT"
            _end_group(child.pid, grace, child)
            break
        # Woken by SIGCHLD or SIGTERM; the timeout is a safety net and the walltime.
        select.select([wake_r], [], [], min(left, 5.0))
        with contextlib.suppress(BlockingIOError):
            os.read(wake_r, 512)
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
    poke(wake_dir)
    return 0


def _supervise_forked(meta: Path) -> None:
    """In the forked child: become a session leader with clean signals and stdio, then supervise."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(meta / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - until the process ends
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        code = main(str(meta.parent), claimed=True)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def serve(stdin: Any = None, stdout: Any = None) -> int:
    """The launcher loop: one JSON request per line in, one JSON answer per line out."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    # Supervisors are reaped by the kernel: this process never waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in stdin:
        try:
            meta = Path(json.loads(line)["workdir"]) / ".gk"
            existing = meta / "runner.json"
            if existing.exists():
                answer: dict[str, Any] = json.loads(existing.read_text(encoding="utf-8"))
            else:
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(write_end)
                    os.read(read_end, 1)  # wait until runner.json names this process
                    os.close(read_end)
                    _supervise_forked(meta)
                os.close(read_end)
                info = claim(meta, pid)
                if info is None:  # claimed meanwhile by a runner started another way
                    os.kill(pid, signal.SIGKILL)
                    info = json.loads(existing.read_text(encoding="utf-8"))
                os.write(write_end, b"x")
                os.close(write_end)
                answer = info
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(serve())
    sys.exit(main(sys.argv[1]))
