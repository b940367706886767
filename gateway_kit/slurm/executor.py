"""The ``slurm`` executor: jobs run on a SLURM cluster.

A destination ``{executor = "slurm", partition = "debug", account = "...", qos = "...",
extra_options = ["--constraint=avx2"], gpu_option = "gres"|"gpus", gpu_type = "a100",
setup = ["module load foo"], transport = "local"|"ssh", ssh_host = "login.example.org",
ssh_user = "gateway", ssh_port = 22}`` sends jobs there.

**Shared filesystem.** The job's ``workdir`` must be the same path on the gateway and on the compute
nodes (NFS, Lustre...): SLURM writes ``stdout.txt``/``stderr.txt`` and the application writes its
outputs straight into it, and the gateway collects them from there. (On NFS, attribute caching can
delay a file by a few seconds after the job ends.)

**State.** :meth:`submit` returns ``{"slurm_job_id": "123", "name": "gk-dest-42"}``.

**One command per poll cycle.** The queue calls :meth:`poll_many` once per pass with every active job
of the destination (:meth:`cancel_many` first for the jobs being canceled): one ``squeue`` for all of
them, plus one ``sacct`` for the jobs squeue no longer knows -- also on a new worker's first pass,
when this instance tracks nothing yet. A caller that polls job by job with :meth:`poll` is answered
from one ``squeue`` over every job this instance tracks (cached for ``SLURM_POLL_CACHE_SECONDS``).

**Faults.** Controller unreachable (``Unable to contact slurm controller``: slurmctld busy, restarting
or failing over): every command is run again every ``SLURM_RETRY_DELAY`` seconds for up to
``SLURM_UNREACHABLE_WAIT`` seconds, as SLURM's own clients do (``MessageTimeout``); a blip is not an
outage. Past that, :meth:`submit` tries ``SLURM_SUBMIT_RETRIES`` more times (looking the job up by
name before each new ``sbatch``: one that timed out may have reached the controller), then raises
:class:`~.errors.SlurmUnavailable` (the queue retries later); :meth:`poll` reports UNKNOWN, never
FAILED. A job gone from squeue and from sacct (or with accounting disabled) is FAILED with a reason.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..jobs.executors.base import Executor, JobSpec, PollResult
from ..jobs.jobfiles import read_job_file
from ..jobs.states import JobState
from . import commands as cmd
from .errors import SlurmCommandError, SlurmUnavailable, SubmitRejected
from .transport import CommandResult, LocalShell, SshTarget, SSHTransport, Transport

log = logging.getLogger(__name__)

MARKER = "slurm.json"


def build_transport(destination: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> Transport:
    """The transport a destination names (``local`` by default, or ``ssh``)."""
    kind = options.get("transport", "local")
    if kind == "local":
        conf = options.get("slurm_conf") or settings.get("SLURM_CONF") or ""
        return LocalShell(
            bin_dir=str(settings.get("SLURM_BIN_DIR", "")), env={"SLURM_CONF": str(conf)} if conf else None
        )
    if kind == "ssh":
        host = options.get("ssh_host")
        if not host or not isinstance(host, str):
            raise ConfigError(f"Destination {destination!r}: transport 'ssh' needs 'ssh_host'.")
        target = SshTarget(
            host,
            user=str(options.get("ssh_user", "")),
            port=int(options.get("ssh_port", 22)),
            key_file=str(settings.get("SLURM_SSH_KEY", "")),
            known_hosts=str(settings.get("SLURM_SSH_KNOWN_HOSTS", "")),
        )
        return SSHTransport(target)
    raise ConfigError(
        f"Destination {destination!r}: unknown SLURM transport {kind!r}; choose 'local' or 'ssh'."
    )


def _epoch(text: str) -> float | None:
    text = text.strip()
    if not text or text in ("N/A", "Unknown", "None"):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()  # local time, as SLURM prints it
    except ValueError:
        return None


def describe(status: cmd.NativeStatus) -> str:
    """A short sentence for the job page."""
    native = status.native_state
    if status.state is JobState.COMPLETED:
        return ""
    if native == "TIMEOUT":
        return "TIMEOUT: the job reached its walltime and SLURM stopped it"
    if native == "OUT_OF_MEMORY":
        return "OUT_OF_MEMORY: the job used more memory than it requested"
    if native == "NODE_FAIL":
        return "NODE_FAIL: a node running the job failed"
    if native == "PREEMPTED":
        return "PREEMPTED: SLURM preempted the job for a higher-priority one"
    if native == "BOOT_FAIL":
        return "BOOT_FAIL: the node for the job failed to boot"
    if native == "DEADLINE":
        return "DEADLINE: the job could not finish before its deadline"
    if status.state is JobState.FAILED:
        if status.signal:
            return f"killed by signal {status.signal}"
        if status.exit_code is not None:
            return f"exit status {status.exit_code}"
        return status.reason or "SLURM reports FAILED"
    if status.state is JobState.CANCELED:
        return "canceled"
    if status.state is JobState.SUBMITTED and status.reason:
        return f"waiting in SLURM's queue: {status.reason}"
    return status.reason


class SlurmExecutor(Executor):
    """Submits jobs with ``sbatch``, follows them with one ``squeue`` per cycle, cancels with
    ``scancel``. See the module docstring; the lifecycle is the base class's."""

    name = "slurm"
    dataset_access = "shared-path"

    def __init__(
        self,
        destination: str,
        options: Mapping[str, Any],
        settings: Mapping[str, Any],
        *,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(destination, options, settings)
        where = f"Destination {destination!r}"
        self.dest_options = cmd.DestinationOptions.from_mapping(options, where=where)
        self.transport = transport or build_transport(destination, options, settings)
        self.timeout = float(settings.get("SLURM_COMMAND_TIMEOUT", 30.0))
        self.retries = int(settings.get("SLURM_SUBMIT_RETRIES", 1))
        self.retry_delay = float(settings.get("SLURM_RETRY_DELAY", 2.0))
        self.unreachable_wait = float(settings.get("SLURM_UNREACHABLE_WAIT", 20.0))
        self.cache_seconds = float(settings.get("SLURM_POLL_CACHE_SECONDS", 1.0))
        self.prefix = cmd.job_name(str(settings.get("SLURM_JOB_NAME_PREFIX", "gk")))
        template_path = str(settings.get("SLURM_BATCH_TEMPLATE", "") or "")
        self.template = Path(template_path).read_text() if template_path else cmd.DEFAULT_TEMPLATE
        self._lock = threading.Lock()
        #: Job ids seen by this instance and not yet reported terminal.
        self._tracked: set[str] = set()
        self._snapshot: dict[str, cmd.NativeStatus] = {}
        self._snapshot_ids: set[str] = set()
        self._snapshot_at = -1e9
        self._snapshot_error: str = ""
        #: False once sacct said accounting is disabled (then it is not asked again).
        self._sacct_usable = True

    # -- submit ---------------------------------------------------------------------------------

    def slurm_name(self, spec: JobSpec) -> str:
        return cmd.job_name(f"{self.prefix}-{self.destination}-{spec.job_id}")

    def batch_job(self, spec: JobSpec) -> cmd.BatchJob:
        return cmd.BatchJob(
            name=self.slurm_name(spec),
            workdir=spec.workdir,
            argv=tuple(spec.argv),
            resources=cmd.BatchResources(
                cpus=spec.cpus, memory_mb=spec.memory_mb, gpus=spec.gpus, walltime=spec.walltime or None
            ),
            destination=self.dest_options,
            environment=dict(spec.env),
        )

    def submit(self, spec: JobSpec) -> dict[str, Any]:
        marker = spec.path / MARKER
        previous = _read_json(marker)
        if previous and previous.get("slurm_job_id"):
            return {"slurm_job_id": str(previous["slurm_job_id"]), "name": previous.get("name", "")}
        job = self.batch_job(spec)
        if previous and previous.get("submitting"):
            # A worker died between sbatch and recording its answer: find the job by name.
            found = self._find_by_name(job.name)
            if found:
                state = {"slurm_job_id": found, "name": job.name}
                _write_json(marker, state)
                return state
        try:
            script = cmd.render_batch_script(job, self.template)
        except ValueError as exc:
            raise SubmitRejected(f"The job cannot be written as a batch script: {exc}") from exc
        (spec.path / "job.sbatch").write_text(script)
        _write_json(marker, {"submitting": True, "name": job.name, "at": time.time()})
        job_id = self._sbatch(job, script)
        state = {"slurm_job_id": job_id, "name": job.name}
        _write_json(marker, state)
        with self._lock:
            self._tracked.add(job_id)
        log.info("slurm: job %s submitted as SLURM job %s (%s)", spec.job_id, job_id, self.destination)
        return state

    def _sbatch(self, job: cmd.BatchJob, script: str) -> str:
        argv = cmd.sbatch_argv(job)
        attempt = 0
        while True:
            try:
                result = self._run(argv, stdin=script)
                return cmd.parse_sbatch(result.returncode, result.stdout, result.stderr)
            except SlurmUnavailable as exc:
                if attempt >= self.retries or _not_transient(exc):
                    raise
                attempt += 1
                log.warning(
                    "slurm: sbatch failed (%s); retry %d/%d in %.1fs",
                    exc.log_message,
                    attempt,
                    self.retries,
                    self.retry_delay,
                )
                time.sleep(self.retry_delay)
                found = self._submitted_as(job.name)
                if found:
                    return found
            except SubmitRejected as exc:
                if self.dest_options.partition and "partition" in exc.user_message.lower():
                    exc.user_message = (
                        f"{exc.user_message} (destination {self.destination!r} "
                        f"names partition {self.dest_options.partition!r})"
                    )
                raise

    def _submitted_as(self, name: str) -> str | None:
        """The id of the job named ``name`` if an sbatch that failed reached the controller after
        all (a timeout on the answer), else None (also when the controller cannot say)."""
        try:
            return self._find_by_name(name)
        except SlurmUnavailable:
            return None

    def _run(self, argv: list[str], *, stdin: str | None = None) -> CommandResult:
        """Run a SLURM command; again every ``retry_delay`` seconds while the controller cannot be
        contacted, for up to ``unreachable_wait`` seconds. Returns the last result (or raises the
        transport's :class:`SlurmUnavailable`) once the window is spent."""
        deadline = time.monotonic() + self.unreachable_wait
        while True:
            try:
                result = self.transport.run(argv, stdin=stdin, timeout=self.timeout)
            except SlurmUnavailable as exc:
                if _not_transient(exc) or time.monotonic() + self.retry_delay >= deadline:
                    raise
                why = exc.log_message
            else:
                unreachable = result.returncode != 0 and cmd.is_unavailable(result.stderr)
                if not unreachable or time.monotonic() + self.retry_delay >= deadline:
                    return result
                why = result.stderr.strip()
            log.info("slurm: %s: %s; again in %.1fs", argv[0], why, self.retry_delay)
            time.sleep(max(self.retry_delay, 0.05))

    def _find_by_name(self, name: str) -> str | None:
        result = self._run(["squeue", "--noheader", "--states=all", f"--name={name}", "--Format=JobID:|"])
        if result.returncode != 0:
            if cmd.is_unavailable(result.stderr):
                raise SlurmUnavailable(
                    "The batch cluster cannot be reached.", log_message=result.stderr.strip()
                )
            return None
        ids = [ln.split("|")[0].strip() for ln in result.stdout.splitlines() if ln.strip()]
        return ids[-1] if ids else None

    # -- poll -----------------------------------------------------------------------------------

    def poll(self, state: Mapping[str, Any]) -> PollResult:
        return self.poll_many([state])[0]

    def poll_many(self, states: Sequence[Mapping[str, Any]]) -> list[PollResult]:
        """Poll many jobs with one ``squeue`` (plus one ``sacct`` if some vanished).

        Batch hook beyond the base contract: a caller holding many states gets them all at once;
        :meth:`poll` uses it too, sharing one snapshot between the polls of one cycle.
        """
        ids = [str(s.get("slurm_job_id", "")) for s in states]
        wanted = {i for i in ids if i}
        with self._lock:
            self._tracked |= wanted
            fresh = time.monotonic() - self._snapshot_at < self.cache_seconds and wanted <= self._snapshot_ids
            if not fresh:
                self._refresh(sorted(self._tracked, key=_id_key))
            results = [self._result(i) for i in ids]
            for job_id, res in zip(ids, results, strict=True):
                if res.state.terminal:
                    self._tracked.discard(job_id)
        return results

    def _refresh(self, ids: list[str]) -> None:
        self._snapshot_at = time.monotonic()
        self._snapshot_ids = set(ids)
        self._snapshot = {}
        self._snapshot_error = ""
        if not ids:
            return
        try:
            result = self._run(cmd.squeue_argv(ids))
        except SlurmUnavailable as exc:
            self._snapshot_error = exc.log_message
            return
        if result.returncode != 0 and not cmd.squeue_found_nothing(result.returncode, result.stderr):
            self._snapshot_error = result.stderr.strip() or f"squeue exit {result.returncode}"
            return
        self._snapshot = cmd.parse_squeue(result.stdout) if result.returncode == 0 else {}
        missing = [i for i in ids if i not in self._snapshot]
        if missing and self._sacct_usable:
            self._snapshot.update(self._sacct(missing))

    def _sacct(self, ids: list[str]) -> dict[str, cmd.NativeStatus]:
        try:
            result = self._run(cmd.sacct_argv(ids))
        except SlurmUnavailable:
            return {}
        if cmd.accounting_disabled(result.returncode, result.stdout, result.stderr):
            self._sacct_usable = False
            return {}
        if result.returncode != 0:
            return {}
        return cmd.parse_sacct(result.stdout)

    def _result(self, job_id: str) -> PollResult:
        if not job_id:
            return PollResult(JobState.FAILED, reason="no SLURM job id was recorded for this job")
        status = self._snapshot.get(job_id)
        if status is None:
            if self._snapshot_error:
                log.warning("slurm: cannot poll %s: %s", job_id, self._snapshot_error)
                return PollResult(
                    JobState.UNKNOWN, reason="the batch cluster cannot be reached; still checking"
                )
            return PollResult(
                JobState.FAILED,
                reason=(f"SLURM job {job_id} vanished from the queue and no accounting record was found"),
            )
        if status.state is JobState.UNKNOWN:
            return PollResult(JobState.UNKNOWN, reason=f"SLURM state {status.native_state}")
        exit_code = status.exit_code if status.state.terminal else None
        if status.state is JobState.FAILED and status.signal and exit_code in (None, 0):
            exit_code = 128 + status.signal
        return PollResult(
            status.state,
            exit_code=exit_code,
            reason=describe(status),
            started_at=_epoch(status.start),
            finished_at=_epoch(status.end),
        )

    # -- cancel / release -----------------------------------------------------------------------

    def cancel(self, state: Mapping[str, Any]) -> None:
        self.cancel_many([state])

    def cancel_many(self, states: Sequence[Mapping[str, Any]]) -> None:
        """``scancel`` for all the jobs in one command; finished or unknown jobs are fine."""
        ids = [str(s["slurm_job_id"]) for s in states if s.get("slurm_job_id")]
        if not ids:
            return
        result = self._run(cmd.scancel_argv(ids))
        if result.returncode != 0:
            low = result.stderr.lower()
            if cmd.is_unavailable(result.stderr):
                raise SlurmUnavailable(
                    "The batch cluster cannot be reached to cancel the job.",
                    log_message=result.stderr.strip(),
                )
            if "invalid job id" not in low and "already completing or completed" not in low:
                raise SlurmCommandError("scancel failed.", log_message=result.stderr.strip())
        with self._lock:
            self._snapshot_at = -1e9  # the next poll must see the cancellation


def _not_transient(exc: SlurmUnavailable) -> bool:
    """True for an outage that waiting does not end (the SLURM commands are not installed)."""
    return isinstance(exc.__cause__, FileNotFoundError)


def _id_key(job_id: str) -> tuple[int, str]:
    head = job_id.split("_")[0].split("+")[0]
    return (int(head) if head.isdigit() else 0, job_id)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:  # the marker lives in the job directory: never read it through a link
        data = json.loads(read_job_file(path.parent, path.name))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(data)))
    os.replace(tmp, path)
