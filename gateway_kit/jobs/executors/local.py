"""The ``local`` executor: jobs as process groups on the gateway host.

Each job runs under a small supervisor (:mod:`.runner`) in a session of its own, so jobs survive
the worker that started them and a restarted worker picks them up from the saved state. Supervisors
are forked by one long-lived launcher per executor (``runner.py --serve``, standard library only):
a launch costs about a millisecond instead of a Python start-up per job.
CPUs and GPUs are slots shared by every worker on the host (a lock file in ``JOBS_DIR``); GPU jobs
get ``CUDA_VISIBLE_DEVICES`` naming the GPUs assigned to them.

Options (destination table, each overriding the ``JOBS_LOCAL_*`` setting): ``max_concurrent``,
``cpus``, ``gpus`` (list of GPU ids, or ``["auto"]``), ``kill_grace``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...process_lifetime import LIFELINE_ENV, lifeline_fds
from ..jobfiles import read_job_file
from ..settings import host_cpus
from ..states import JobState
from ..wakeup import wake_dir
from . import runner
from .base import CapacityExhausted, Executor, ExecutorError, JobSpec, PollResult

log = logging.getLogger("gateway_kit.jobs.local")

#: Environment passed through from the worker to jobs. Nothing else: the worker's environment
#: holds the gateway's secrets (database URL, secret key) and jobs run user-chosen inputs.
PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
#: Seconds the launcher may take to answer one launch.
LAUNCH_TIMEOUT = 10.0


def detect_gpus() -> list[str]:
    """GPU ids from ``nvidia-smi -L`` (``GPU 0: ...`` lines); [] without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str) -> list[str]:
    ids = []
    for line in text.splitlines():
        head = line.split(":", 1)[0].strip()
        if head.startswith("GPU ") and head[4:].strip().isdigit():
            ids.append(head[4:].strip())
    return ids


def _alive(pid: int | None, start: int | None) -> bool:
    """Whether ``pid`` runs and is the process we started (not a reused pid, not a zombie)."""
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    after = stat.rsplit(")", 1)[1].split()
    if after[0] in ("Z", "X"):
        return False
    return start is None or int(after[19]) == start


def _group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    # Files under a job's .gk may be replaced by the job: never read through a link or a FIFO.
    try:
        data: dict[str, Any] = json.loads(read_job_file(path.parent, path.name).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _read_own(path: Path) -> dict[str, Any]:
    """A JSON object from a file of the executor's own (not a job's): {} when absent or bad."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read() or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Launcher:
    """The executor's end of ``runner.py --serve``: started on first use, restarted if it died.

    The launcher gets only ``PATH``, ``LANG`` and the demo's lifeline from the worker's
    environment: nothing it (or a supervisor it forks) holds is a gateway secret.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", LIFELINE_ENV) if k in os.environ}
        with open(self.log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", runner.__file__, "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=lifeline_fds(),  # under `gateway-kit demo`: jobs end with the demo
            )
        # When the executor goes, the launcher reads EOF and exits; its supervisors live on.
        weakref.finalize(self, Launcher._stop, proc)
        return proc

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def launch(self, workdir: Path) -> dict[str, Any]:
        """Start the supervisor of ``workdir`` (or find the one started before); its pid and start."""
        request = (json.dumps({"workdir": str(workdir)}) + "\n").encode()
        with self._lock:
            for attempt in (1, 2):
                proc = self._proc
                if proc is None or proc.poll() is not None:
                    proc = self._proc = self._start()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(request)
                    proc.stdin.flush()
                    ready, _, _ = select.select([proc.stdout], [], [], LAUNCH_TIMEOUT)
                    line = proc.stdout.readline() if ready else b""
                except OSError:
                    line = b""
                if line:
                    answer: dict[str, Any] = json.loads(line)
                    if "error" in answer:
                        raise ExecutorError(f"Could not start the local runner: {answer['error']}")
                    return answer
                log.warning("the local launcher did not answer (attempt %d); restarting it", attempt)
                proc.kill()
                proc.wait()
                self._proc = None
        raise ExecutorError("The local launcher does not answer (see .launcher.log in the jobs folder).")


class LocalExecutor(Executor):
    """Runs each job as a process group on this host. See the module docstring."""

    name = "local"
    dataset_access = "local-view"

    def __init__(self, destination: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(destination, options, settings)
        self.max_concurrent = int(options.get("max_concurrent", settings.get("JOBS_LOCAL_MAX_CONCURRENT", 4)))
        self.cpus = int(options.get("cpus", settings.get("JOBS_LOCAL_CPUS", 0))) or host_cpus()
        gpus = list(options.get("gpus", settings.get("JOBS_LOCAL_GPUS", ["auto"])))
        self.gpus: list[str] = detect_gpus() if gpus == ["auto"] else [str(g) for g in gpus]
        self.kill_grace = float(options.get("kill_grace", settings.get("JOBS_LOCAL_KILL_GRACE", 5)))
        root = Path(settings.get("JOBS_DIR") or Path(settings["INSTANCE_PATH"]) / "jobs")
        root.mkdir(parents=True, exist_ok=True)
        self._slots_file = root / ".local-slots.json"
        self._lock_file = root / ".local-slots.lock"
        self._wake_dir = str(wake_dir(settings)) if settings.get("JOBS_DIR") else None
        self._launcher = Launcher(root / ".launcher.log")

    # -- slots, shared by every worker on this host ---------------------------------------------

    @contextlib.contextmanager
    def _slots(self) -> Iterator[dict[str, Any]]:
        with open(self._lock_file, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                slots = _read_own(self._slots_file)
                # Entries of jobs that ended while no worker was there to release them.
                for key in [
                    k for k, v in slots.items() if (Path(v["workdir"]) / ".gk" / "status.json").exists()
                ]:
                    del slots[key]
                yield slots
                # Rewritten in place (every reader holds the lock) and cut to length after
                # writing: on ext4 a rename over the old file or a truncation to zero flushes
                # it to disk (auto_da_alloc), milliseconds twice per job.
                fd = os.open(self._slots_file, os.O_RDWR | os.O_CREAT, 0o600)
                with open(fd, "r+", encoding="utf-8") as f:
                    f.write(json.dumps(slots))
                    f.truncate()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reserve(self, spec: JobSpec) -> list[str]:
        if spec.cpus > self.cpus:
            raise ExecutorError(
                f"The job asks for {spec.cpus} CPUs; destination {self.destination} has {self.cpus}."
            )
        if spec.gpus > len(self.gpus):
            raise ExecutorError(
                f"The job asks for {spec.gpus} GPUs; destination {self.destination} has {len(self.gpus)}."
            )
        with self._slots() as slots:
            key = str(spec.job_id)
            if key in slots:  # idempotent: a retried submit keeps its slots
                held: list[str] = slots[key]["gpus"]
                return held
            used_cpus = sum(int(v["cpus"]) for v in slots.values())
            used_gpus = {g for v in slots.values() for g in v["gpus"]}
            free_gpus = [g for g in self.gpus if g not in used_gpus]
            if (
                len(slots) >= self.max_concurrent
                or used_cpus + spec.cpus > self.cpus
                or len(free_gpus) < spec.gpus
            ):
                raise CapacityExhausted(
                    f"{len(slots)} jobs run on {self.destination}, using {used_cpus}/{self.cpus} "
                    f"CPUs and {len(used_gpus)}/{len(self.gpus)} GPUs."
                )
            gpus = free_gpus[: spec.gpus]
            slots[key] = {"cpus": spec.cpus, "gpus": gpus, "workdir": spec.workdir}
            return gpus

    def _free(self, job_id: Any) -> None:
        with self._slots() as slots:
            slots.pop(str(job_id), None)

    # -- the contract --------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> dict[str, Any]:
        meta = spec.path / ".gk"
        meta.mkdir(parents=True, exist_ok=True)
        existing = _read(meta / "runner.json")
        if existing is not None:  # started before (by us or a worker that died): same run
            gpus = self._reserve_quietly(spec)
            return self._state(spec, existing, gpus)
        gpus = self._reserve(spec)
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.setdefault("PATH", os.defpath)
        env.setdefault("LANG", "C.UTF-8")
        tmp = spec.path / "tmp"
        tmp.mkdir(exist_ok=True)
        env.update(
            HOME=str(spec.path), TMPDIR=str(tmp), GK_JOB_ID=str(spec.job_id), OMP_NUM_THREADS=str(spec.cpus)
        )
        if self.gpus:  # hide every GPU from jobs that were not given one
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        env.update(spec.env)
        runner_spec = {
            "argv": spec.argv,
            "env": env,
            "walltime": spec.walltime,
            # An address-space limit breaks CUDA (it reserves huge virtual ranges): GPU jobs
            # rely on the slot model instead.
            "memory_mb": spec.memory_mb if spec.gpus == 0 else 0,
            "kill_grace": self.kill_grace,
            "wake_dir": self._wake_dir,
        }
        # No reader before the launch below (a retried submit writes it again): no atomic rename.
        (meta / "spec.json").write_text(json.dumps(runner_spec), encoding="utf-8")
        try:
            info = self._launcher.launch(spec.path)
        except ExecutorError:
            self._free(spec.job_id)
            raise
        return self._state(spec, info, gpus)

    def _reserve_quietly(self, spec: JobSpec) -> list[str]:
        try:
            return self._reserve(spec)
        except ExecutorError:  # capacity counted already or changed: keep running what runs
            return []

    def _state(self, spec: JobSpec, info: Mapping[str, Any], gpus: list[str]) -> dict[str, Any]:
        return {
            "job_id": spec.job_id,
            "workdir": spec.workdir,
            "pid": info.get("pid"),
            "start": info.get("start"),
            "walltime": spec.walltime,
            "gpus": gpus,
            "cpus": spec.cpus,
        }

    def poll(self, state: Mapping[str, Any]) -> PollResult:
        meta = Path(state["workdir"]) / ".gk"
        status = _read(meta / "status.json")
        if status is not None:
            return PollResult(
                state=JobState(status["state"])
                if status["state"] in JobState.__members__
                else JobState.UNKNOWN,
                exit_code=status.get("exit_code"),
                reason=status.get("reason", ""),
                started_at=status.get("started"),
                finished_at=status.get("finished"),
            )
        started = _read(meta / "started.json")
        if _alive(state.get("pid"), state.get("start")):
            if started is None:
                return PollResult(JobState.SUBMITTED)
            return PollResult(JobState.RUNNING, started_at=started.get("started"))
        # The runner is gone without a status: killed along with its host session, or OOM.
        if (status := _read(meta / "status.json")) is not None:  # it finished just now
            return self.poll(state)
        if started is not None and _group_alive(started.get("pgid")):
            # The job outlived its runner: enforce the walltime from here.
            if time.time() > float(started["started"]) + float(state["walltime"]):
                self._kill_group(int(started["pgid"]))
                return self._finish(meta, "TIMED_OUT", f"walltime of {state['walltime']} s reached", started)
            return PollResult(JobState.RUNNING, started_at=started.get("started"))
        return self._finish(meta, "FAILED", "the job's supervisor ended unexpectedly", started)

    def _finish(self, meta: Path, state: str, reason: str, started: Mapping[str, Any] | None) -> PollResult:
        began: float | None = started.get("started") if started else None
        ended = time.time()
        data = {"state": state, "exit_code": None, "reason": reason, "started": began, "finished": ended}
        try:
            fd = os.open(meta / "status.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # the runner got there first: its word counts
            return self.poll({"workdir": str(meta.parent)})
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        return PollResult(JobState(state), reason=reason, started_at=began, finished_at=ended)

    def _kill_group(self, pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def cancel(self, state: Mapping[str, Any]) -> None:
        meta = Path(state["workdir"]) / ".gk"
        if (meta / "status.json").exists():
            return
        if _alive(state.get("pid"), state.get("start")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(state["pid"]), signal.SIGTERM)  # the runner ends the group
            deadline = time.monotonic() + self.kill_grace + 5
            while time.monotonic() < deadline and not (meta / "status.json").exists():
                time.sleep(0.02)
            if (meta / "status.json").exists():
                return
        started = _read(meta / "started.json")
        if started is not None:
            self._kill_group(int(started["pgid"]))
        self._finish(meta, "CANCELED", "canceled", started)

    def release(self, state: Mapping[str, Any]) -> None:
        self._free(state.get("job_id"))
