"""The executor contract.

Every executor (``local``, ``slurm``, ``burst``...) subclasses :class:`Executor` and passes the
contract suite in ``tests/jobs/executor_contract.py``.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ...errors import GatewayError
from ..states import JobState

#: A job that serves on the network (an interactive session's server) writes
#: ``{"host": ..., "port": ...}`` here, relative to its directory, once it knows its port. An
#: executor whose jobs run elsewhere without a shared file system (``burst``) reports the port back
#: so that the same file appears in the gateway's job directory, with the host the gateway
#: recorded for that machine (never one the machine names itself).
SERVER_ADDRESS_FILE = ".gk/session-address.json"
#: In a job's argv, stands for the Python that runs the kit where the job runs (the ``burst``
#: agent puts its own interpreter there: the gateway's path means nothing on an instance).
KIT_PYTHON_MARK = "@@gateway-kit-python@@"
#: In a job's argv, stands for the address of the machine the job runs on, for servers to listen
#: on (the ``burst`` agent puts its instance's address there).
KIT_ADDRESS_MARK = "@@gateway-kit-address@@"


class ExecutorError(GatewayError):
    """The executor cannot run this job (a permanent failure: the job becomes FAILED)."""

    status = 502
    reason = "executor_error"
    title = "Executor error"


class CapacityExhausted(ExecutorError):
    """No room for the job right now; the queue tries again later (the job stays STAGING)."""

    status = 503
    reason = "capacity_exhausted"
    title = "No capacity"


@dataclass(frozen=True)
class JobSpec:
    """What to run, prepared by the queue; plain data so that it can travel as JSON.

    :param job_id: the gateway's job id; an executor uses it to make :meth:`Executor.submit`
        idempotent (name the SLURM job, tag the cloud server...).
    :param argv: the program and its arguments, already expanded; never hand it to a shell.
    :param workdir: the job's directory on the gateway host. Inputs are staged under
        ``workdir/inputs``; the executor makes ``stdout.txt``, ``stderr.txt`` and the outputs
        appear in it (remote executors copy them back, at the latest before reporting a terminal
        state).
    :param env: extra environment variables (from the application definition, never the user).
    :param cpus/memory_mb/gpus/walltime: the resources requested; ``walltime`` in seconds.
    :param options: the destination's table from ``JOBS_DESTINATIONS_MAP`` (executor options).
    """

    job_id: int
    argv: list[str]
    workdir: str
    env: dict[str, str] = field(default_factory=dict)
    cpus: int = 1
    memory_mb: int = 1024
    gpus: int = 0
    walltime: int = 3600
    app_id: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.workdir)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class PollResult:
    """What :meth:`Executor.poll` saw.

    :param state: SUBMITTED, RUNNING, UNKNOWN or a terminal state.
    :param exit_code: the program's exit status when known (terminal states).
    :param reason: a short sentence for the user ("exit status 3", "walltime of 60 s reached").
    :param executor_state: the new opaque state to persist, or None to keep the old one.
    :param started_at: when the job started running (epoch seconds), if the executor knows.
    :param finished_at: when it ended (epoch seconds), if known; SUs are charged for
        ``finished_at - started_at`` (the queue's own observations when these are None).
    """

    state: JobState
    exit_code: int | None = None
    reason: str = ""
    executor_state: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None


class Executor(abc.ABC):
    """Runs jobs somewhere; one instance per destination per worker process.

    **Lifecycle.** A worker builds the executor of each destination once with
    ``Executor(name, options, settings)``. For each job the queue then calls:

    1. :meth:`submit` once the job is STAGING (its ``workdir`` exists, inputs staged). It starts the
       job (or hands it to a scheduler) and returns the executor's **state**: a JSON-serialisable
       ``dict`` (a pid, a SLURM job id, a server id...) that only the executor interprets. The queue
       stores it with the job and moves the job to SUBMITTED. ``submit`` raises
       :class:`CapacityExhausted` when the job cannot start *yet* (the queue retries it later) and
       :class:`ExecutorError` when it can never run (the job FAILS with that message).

       ``submit`` **must be idempotent per** ``spec.job_id``: a worker may die after the job
       started but before its state was saved; the worker that recovers the job calls ``submit``
       again, and the executor must then return the state of the run already started (found by the
       pid file in ``workdir``, the SLURM job name, the server's metadata) instead of starting a
       second one.
    2. :meth:`poll` with that state, every ``JOBS_POLL_INTERVAL`` seconds, until it reports a
       terminal state (COMPLETED, FAILED, CANCELED, TIMED_OUT). It never raises for a job's own
       failure: it returns FAILED with a reason. When it cannot tell (scheduler unreachable, a
       native state it does not know), it returns UNKNOWN and is asked again later. By the time it
       returns a terminal state, ``stdout.txt``, ``stderr.txt`` and the outputs are in ``workdir``.
       The walltime is enforced by the executor: a job past it ends as TIMED_OUT.
    3. :meth:`cancel` with the state, when the user cancels. It must end everything the job
       started (the whole process group, the SLURM job, the server) and is idempotent: canceling a
       finished or already canceled job does nothing. A following :meth:`poll` reports CANCELED
       (or the terminal state the job reached first).
    4. :meth:`release` once the job is terminal and accounted, to free what the executor held for
       it (slots, scratch space, a cloud server). Idempotent.

    **Restarts.** The state is the only thing that survives a worker: a *different* worker process,
    possibly on another host for remote executors, may call :meth:`poll`, :meth:`cancel` or
    :meth:`release` with a state saved by another instance. An executor keeps nothing required in
    memory; it may cache.

    **Concurrency.** The queue guarantees that a job is held by one worker at a time, but several
    workers may call one executor class for different jobs at once, on one host or several.
    """

    #: The short name the executor is registered under (entry point ``gateway_kit.executors``).
    name: ClassVar[str] = ""
    #: How this executor's jobs take dataset inputs (what a feature's input resolver gives them,
    #: see :mod:`gateway_kit.data.jobinputs`): ``"local-view"`` (files on the worker's host, as a
    #: read-only view in the job folder), ``"shared-path"`` (the dataset's folder on a filesystem
    #: the compute nodes share) or ``"download"`` (a URL the job fetches them from).
    dataset_access: ClassVar[str] = "download"

    def __init__(self, destination: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        """
        :param destination: the destination's name.
        :param options: the destination's table from ``JOBS_DESTINATIONS_MAP``.
        :param settings: the app's settings (``JOBS_*`` and the rest); read, never modified.
        """
        self.destination = destination
        self.options = dict(options)
        self.settings = settings

    @abc.abstractmethod
    def submit(self, spec: JobSpec) -> dict[str, Any]:
        """Start the job; return the opaque state (see the class docstring)."""

    @abc.abstractmethod
    def poll(self, state: Mapping[str, Any]) -> PollResult:
        """Report where the job is (see the class docstring)."""

    @abc.abstractmethod
    def cancel(self, state: Mapping[str, Any]) -> None:
        """End the job and everything it started; idempotent."""

    def poll_many(self, states: Sequence[Mapping[str, Any]]) -> list[PollResult]:
        """Poll several jobs at once (one ``squeue`` for all); default: :meth:`poll` each."""
        return [self.poll(s) for s in states]

    def release(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Free what the executor holds for a finished job; idempotent. Default: nothing."""
