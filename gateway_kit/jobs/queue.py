"""The durable queue, worker side: claim, stage, submit, poll, recover, charge, notify.

Every ``gateway-kit worker`` runs :meth:`JobQueue.tick` each ``JOBS_POLL_INTERVAL`` seconds, at
once when woken (a submission, a local job starting or ending: :mod:`.wakeup`), and again right
away after a pass that changed something. A pass:

1. **heartbeats** (at most once a second): records the worker and extends the lease
   (``lease_until``) of every job it holds;
2. **recovers** (at most once a second) jobs in an active state whose lease ran out (their
   worker died) -- the executor state saved with the job lets this worker carry on polling, and
   ``submit`` being idempotent makes re-staging safe;
3. **claims** queued jobs: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, then (on every
   database) an atomic compare-and-set ``UPDATE ... WHERE id = ? AND version = ? AND state =
   'QUEUED'`` that moves the job to STAGING and names the worker -- only one worker can win it;
4. **advances** the jobs it holds: STAGING -> ``executor.submit`` -> SUBMITTED; then polls them
   until a terminal state, honouring cancel requests -- grouped by destination, with one
   ``executor.poll_many`` call per destination when the executor implements it (SLURM: one
   ``squeue`` per pass for all of them), else ``executor.poll`` per job;
5. settles SUs for jobs that ended, and sends their notifications.

A worker that stops (SIGTERM: a release replacing its VM, systemd stopping it) **hands back** the
jobs it holds (:meth:`JobQueue.hand_back`): they keep their state and executor state, lose their
worker, and the next pass of any worker recovers them at once, instead of after
``JOBS_LEASE_SECONDS``. A worker that dies without stopping (SIGKILL, a lost VM) is still covered
by the lease.

Every write by a worker is a compare-and-set on ``version`` and on ``claimed_by``, so a worker that
lost its lease (paused too long) cannot overwrite the worker that recovered its job.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from ..db import aware, db, table_of
from . import accounting
from .apps import registry, render_argv
from .destinations import destinations
from .executors import CapacityExhausted, Executor, ExecutorError, JobSpec, PollResult
from .inputs import resolve_job_inputs
from .models import Job, JobEvent, Worker, utcnow
from .service import transition
from .states import ACTIVE, TERMINAL, JobState

log = logging.getLogger("gateway_kit.jobs.queue")
EXTENSION_KEY = "gateway_kit.jobs.queue"
_ACTIVE = [s.value for s in ACTIVE]
_POLLED = (JobState.SUBMITTED, JobState.RUNNING, JobState.UNKNOWN)


_JOBS = table_of(Job).c
#: Statements a pass runs, built once (``worker``: this worker's id).
_STAGING_OF = (
    select(_JOBS.id)
    .where(_JOBS.claimed_by == bindparam("worker"), _JOBS.state == JobState.STAGING.value)
    .limit(1)
)
#: By whether the database is PostgreSQL (which skips rows another worker is claiming).
_QUEUED = {
    pg: (q.with_for_update(skip_locked=True) if pg else q)
    for pg in (False, True)
    for q in [
        select(_JOBS.id, _JOBS.version)
        .where(_JOBS.state == JobState.QUEUED.value)
        .order_by(_JOBS.id)
        .limit(bindparam("batch"))
    ]
}
#: The claim's compare-and-set (SET: the parameters besides ``b_id`` and ``b_version``).
_CLAIM = update(table_of(Job)).where(
    _JOBS.id == bindparam("b_id"),
    _JOBS.version == bindparam("b_version"),
    _JOBS.state == JobState.QUEUED.value,
)
_HELD = select(Job).where(Job.claimed_by == bindparam("worker"), Job.state.in_(_ACTIVE)).order_by(Job.id)
_INSERT_EVENT = insert(table_of(JobEvent))


def _ts(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


class JobQueue:
    """The worker side of the queue for one app (one per worker process)."""

    def __init__(self, app: Flask, worker_id: str | None = None) -> None:
        self.app = app
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = float(app.config["JOBS_LEASE_SECONDS"])
        self.batch = int(app.config["JOBS_CLAIM_BATCH"])
        #: Seconds between heartbeats and recovery scans (passes may run much more often).
        self.housekeeping = min(1.0, float(app.config["JOBS_POLL_INTERVAL"]), self.lease / 3)
        self._housekept = float("-inf")
        #: Whether the pass under way changed something (then another pass runs at once).
        self._changed = False
        #: Whether a job that ended here wants a webhook or an email (sent in this pass; those
        #: of jobs other workers ended are looked for at least once a second).
        self._to_notify = False

    # -- one pass ----------------------------------------------------------------------------

    def tick(self) -> bool:
        """One pass; returns True when it changed something, so that another pass runs now."""
        self._changed = False
        # One connection for the whole pass: its many short transactions reuse it (no pool
        # checkout and pre-ping round trip per commit on PostgreSQL).
        with db.engine(self.app).connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            self._pass(session)
        return self._changed

    def _pass(self, session: Session) -> None:
        try:
            periodic = time.monotonic() - self._housekept >= self.housekeeping
            if periodic:
                self._housekept = time.monotonic()
                self.heartbeat(session)
                self.recover(session)
            if self.claim(session):
                self._changed = True
            polled: dict[str, list[Job]] = {}
            staging: list[Job] = []
            for job in self.held(session):
                if JobState(job.state) in _POLLED:
                    polled.setdefault(job.destination, []).append(job)
                elif JobState(job.state) is JobState.STAGING:
                    staging.append(job)
            # Polls first: the jobs that ended free their capacity for those staged next, in the
            # same pass.
            for destination, jobs in polled.items():
                self.poll_destination(session, destination, jobs)
            # (destination, cpus, gpus) that found no capacity in this pass: a job asking for as
            # much or more waits too, without asking the executor again.
            refused: list[tuple[str, int, int]] = []
            for job in staging:
                cpus, gpus = int(job.resources.get("cpus", 1)), int(job.resources.get("gpus", 0))
                if any(d == job.destination and cpus >= c and gpus >= g for d, c, g in refused):
                    continue
                try:
                    if not self.stage_and_submit(session, job):
                        refused.append((job.destination, cpus, gpus))
                except Exception:
                    session.rollback()
                    log.exception("job %s: advancing failed; trying again next pass", job.id)
            if periodic or self._to_notify:
                self._to_notify = False
                self.notify(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def heartbeat(self, session: Session) -> None:
        now = utcnow()
        worker = session.get(Worker, self.worker_id)
        if worker is None:
            session.add(
                Worker(
                    id=self.worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        else:
            worker.heartbeat_at = now
        session.execute(
            update(Job)
            .where(Job.claimed_by == self.worker_id, Job.state.in_(_ACTIVE))
            .values(lease_until=now + timedelta(seconds=self.lease))
            .execution_options(synchronize_session=False)
        )
        session.commit()

    def recover(self, session: Session) -> None:
        """Take over active jobs whose worker stopped heartbeating."""
        now = utcnow()
        stale = session.execute(
            select(Job.id, Job.version, Job.claimed_by, Job.state)
            .where(Job.state.in_(_ACTIVE), or_(Job.claimed_by.is_(None), Job.lease_until < now))
            .order_by(Job.id)
            .limit(50)
        ).all()
        for job_id, version, previous, state in stale:
            result = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.version == version,
                    or_(Job.claimed_by.is_(None), Job.lease_until < now),
                )
                .values(
                    claimed_by=self.worker_id,
                    version=version + 1,
                    lease_until=now + timedelta(seconds=self.lease),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                why = (
                    "handed back by its worker"
                    if previous is None
                    else f"recovered from worker {previous} (no heartbeat for {self.lease:g} s)"
                )
                session.add(
                    JobEvent(
                        job_id=job_id, from_state=state, to_state=state, worker=self.worker_id, message=why
                    )
                )
                log.warning("job %s: %s", job_id, why)
            session.commit()

    def hand_back(self, session: Session) -> list[int]:
        """Give up the active jobs this worker holds (it is stopping): each keeps its state and
        executor state, and has no worker and no lease, so that the next pass of any worker
        recovers it. Returns their ids."""
        held = session.execute(
            select(Job.id, Job.version, Job.state).where(
                Job.claimed_by == self.worker_id, Job.state.in_(_ACTIVE)
            )
        ).all()
        given: list[int] = []
        for job_id, version, state in held:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.version == version, Job.claimed_by == self.worker_id)
                .values(claimed_by=None, lease_until=None, version=version + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                given.append(job_id)
                session.add(
                    JobEvent(
                        job_id=job_id,
                        from_state=state,
                        to_state=state,
                        worker=self.worker_id,
                        message=f"handed back by worker {self.worker_id} (stopping)",
                    )
                )
            session.commit()
        if given:
            log.info("worker %s stopping: handed back jobs %s", self.worker_id, given)
        return given

    def claim(self, session: Session) -> list[int]:
        """Move up to ``JOBS_CLAIM_BATCH`` queued jobs to STAGING under this worker."""
        conn = session.connection()  # prebuilt Core statements (this runs every pass)
        waiting = conn.execute(_STAGING_OF, {"worker": self.worker_id}).first()
        if waiting is not None:  # a job of ours waits for capacity: leave the rest to others
            return []
        rows = conn.execute(_QUEUED[conn.dialect.name == "postgresql"], {"batch": self.batch}).all()
        now = utcnow()
        won: list[int] = []
        for job_id, version in rows:
            result = conn.execute(
                _CLAIM,
                {
                    "b_id": job_id,
                    "b_version": version,
                    "state": JobState.STAGING.value,
                    "claimed_by": self.worker_id,
                    "lease_until": now + timedelta(seconds=self.lease),
                    "version": version + 1,
                    "updated_at": now,
                    "state_reason": "",
                },
            )
            if result.rowcount == 1:
                won.append(job_id)
        if won:
            conn.execute(
                _INSERT_EVENT,
                [
                    {
                        "job_id": job_id,
                        "from_state": JobState.QUEUED.value,
                        "to_state": JobState.STAGING.value,
                        "worker": self.worker_id,
                        "message": f"claimed by worker {self.worker_id}",
                    }
                    for job_id in won
                ],
            )
        session.commit()
        return won

    def held(self, session: Session) -> list[Job]:
        return list(session.scalars(_HELD, {"worker": self.worker_id}))

    # -- advancing one job --------------------------------------------------------------------

    def advance(self, session: Session, job: Job) -> None:
        state = JobState(job.state)
        if state is JobState.STAGING:
            self.stage_and_submit(session, job)
        elif state in _POLLED:
            self.poll(session, job)

    def spec(self, job: Job) -> JobSpec:
        application = registry(self.app).get(job.app_id)
        if application is None:
            raise ExecutorError(f"Application {job.app_id!r} is no longer offered by this gateway.")
        workdir = Path(job.workdir)
        for name, value in job.inputs.items():
            if (
                isinstance(value, dict)
                and "filename" in value
                and not (workdir / "inputs" / value["filename"]).is_file()
            ):
                raise ExecutorError(f"The uploaded file of input {name!r} is missing.")
        inputs = resolve_job_inputs(self.app, application, job)  # e.g. dataset ids -> paths
        return JobSpec(
            job_id=job.id,
            argv=render_argv(application, inputs, job.resources),
            workdir=str(workdir),
            env=dict(application.env),
            app_id=job.app_id,
            cpus=int(job.resources["cpus"]),
            memory_mb=int(job.resources["memory_mb"]),
            gpus=int(job.resources["gpus"]),
            walltime=int(job.resources["walltime"]),
            options=destinations(self.app).options(job.destination),
        )

    def stage_and_submit(self, session: Session, job: Job) -> bool:
        """Stage ``job`` and submit it to its executor; False when it waits for capacity."""
        if job.cancel_requested:
            self.finish(session, job, PollResult(JobState.CANCELED, reason="canceled"))
            return True
        try:
            spec = self.spec(job)
            Path(spec.workdir).mkdir(parents=True, exist_ok=True)
            executor = destinations(self.app).executor(job.destination)
            state = executor.submit(spec)
        except CapacityExhausted as exc:
            log.debug("job %s waits for capacity: %s", job.id, exc.log_message)
            return False
        except ExecutorError as exc:
            self.finish(session, job, PollResult(JobState.FAILED, reason=exc.user_message))
            return True
        if not transition(
            session,
            job,
            JobState.SUBMITTED,
            f"submitted to {job.destination}",
            self.worker_id,
            executor_state=state,
            attempts=job.attempts + 1,
        ):
            log.warning("job %s changed while submitting; it is polled next pass", job.id)
        return True

    def poll_destination(self, session: Session, destination: str, jobs: list[Job]) -> None:
        """Poll the jobs of one destination: one :meth:`Executor.poll_many` call when the
        executor implements it (SLURM: one ``squeue`` for all, even right after a worker restart),
        else :meth:`poll` per job."""
        try:
            executor = destinations(self.app).executor(destination)
            batch = type(executor).poll_many is not Executor.poll_many
        except Exception:
            log.exception("destination %s: no executor; its jobs are polled next pass", destination)
            return
        results: list[PollResult] | None = None
        if batch:
            self.cancel_requested(executor, [job for job in jobs if job.cancel_requested])
            try:
                results = list(executor.poll_many([job.executor_state or {} for job in jobs]))
                if len(results) != len(jobs):
                    raise ExecutorError(f"poll_many answered {len(results)} results for {len(jobs)} jobs")
            except Exception:
                log.exception("destination %s: poll_many failed; polling job by job", destination)
                results = None
        for i, job in enumerate(jobs):
            try:
                if results is None:
                    self.poll(session, job)
                else:
                    self.apply_poll(session, job, results[i])
            except Exception:
                session.rollback()
                log.exception("job %s: advancing failed; trying again next pass", job.id)

    @staticmethod
    def cancel_requested(executor: Executor, jobs: list[Job]) -> None:
        """Cancel these jobs before the batch poll (one ``cancel_many`` when offered)."""
        if not jobs:
            return
        states = [job.executor_state or {} for job in jobs]
        try:
            cancel_many = getattr(executor, "cancel_many", None)
            if callable(cancel_many):
                cancel_many(states)
            else:
                for state in states:
                    executor.cancel(state)
        except Exception as exc:  # the cancel request stays: tried again next pass
            log.warning("jobs %s: cancel failed: %s", [job.id for job in jobs], exc)

    def poll(self, session: Session, job: Job) -> None:
        executor = destinations(self.app).executor(job.destination)
        state = job.executor_state or {}
        if job.cancel_requested:
            executor.cancel(state)
        try:
            result = executor.poll(state)
        except Exception as exc:
            log.warning("job %s: poll failed: %s", job.id, exc)
            result = PollResult(JobState.UNKNOWN, reason="the executor could not tell")
        self.apply_poll(session, job, result)

    def apply_poll(self, session: Session, job: Job, result: PollResult) -> None:
        """Record what a poll saw: a transition, a terminal state, or news for the user."""
        changes: dict[str, Any] = {}
        if result.executor_state is not None:
            changes["executor_state"] = result.executor_state
        current = JobState(job.state)
        if result.state in TERMINAL:
            self.finish(session, job, result)
        elif result.state is not current:
            if result.state is JobState.RUNNING and job.started_at is None:
                changes["started_at"] = _ts(result.started_at) or utcnow()
            if result.state is JobState.SUBMITTED and current is JobState.RUNNING:
                return  # never move backwards
            transition(session, job, result.state, result.reason, self.worker_id, **changes)
        elif result.reason and result.reason != job.state_reason:
            # Same state, news for the user (a burst job's "waiting: quota full ...").
            job.state_reason = result.reason
            session.commit()

    def finish(self, session: Session, job: Job, result: PollResult) -> None:
        """Record a terminal state, settle the SUs, release the executor's hold."""
        now = utcnow()
        current = JobState(job.state)
        started = _ts(result.started_at) or aware(job.started_at)
        finished = _ts(result.finished_at) or now
        seconds = (finished - started).total_seconds() if started else 0.0
        dest = destinations(self.app).options(job.destination)
        charge = accounting.cost(dest, job.resources["cpus"], job.resources["gpus"], seconds)
        new = result.state
        if current is JobState.QUEUED or (
            current is JobState.STAGING and new not in (JobState.FAILED, JobState.CANCELED)
        ):
            new = JobState.FAILED
        ok = transition(
            session,
            job,
            new,
            result.reason,
            self.worker_id,
            also=lambda: accounting.settle(session, job, charge),
            exit_code=result.exit_code,
            started_at=started,
            finished_at=finished,
            claimed_by=None,
            lease_until=None,
            su_charged=charge,
        )
        if not ok:
            return
        self._changed = True
        self._to_notify = self._to_notify or bool(job.webhook_url or job.notify_email)
        if job.executor_state:
            try:
                destinations(self.app).executor(job.destination).release(job.executor_state)
            except Exception:
                log.exception("job %s: releasing its executor resources failed", job.id)

    # -- notifications ----------------------------------------------------------------------

    def notify(self, session: Session) -> None:
        from .notifications import send_notifications

        pending = session.execute(
            select(Job.id, Job.version)
            .where(
                Job.state.in_([s.value for s in TERMINAL]),
                Job.notified.is_(False),
                or_(Job.webhook_url != "", Job.notify_email.is_(True)),
            )
            .limit(20)
        ).all()
        for job_id, version in pending:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.version == version, Job.notified.is_(False))
                .values(notified=True, version=version + 1)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if result.rowcount == 1:  # type: ignore[attr-defined]
                job = session.get(Job, job_id)
                assert job is not None
                for message in send_notifications(self.app, session, job):
                    session.add(
                        JobEvent(
                            job_id=job_id,
                            from_state=job.state,
                            to_state=job.state,
                            message=message,
                            worker=self.worker_id,
                        )
                    )
                session.commit()


def queue_for(app: Flask) -> JobQueue:
    if EXTENSION_KEY not in app.extensions:
        app.extensions[EXTENSION_KEY] = JobQueue(app)
    found: JobQueue = app.extensions[EXTENSION_KEY]
    return found


def run_queue(app: Flask) -> bool:
    """The worker task registered by the jobs feature (True: run again now)."""
    return queue_for(app).tick()


def stop_queue(app: Flask) -> None:
    """The jobs task's ``stop``: hand back the jobs this worker process holds."""
    queue = app.extensions.get(EXTENSION_KEY)
    if queue is None:  # it never ran a pass, so it holds nothing
        return
    with db.session_scope(app) as session:
        queue.hand_back(session)


def wait_for(app: Flask, job_id: int, states: set[JobState], timeout: float, tick: bool = True) -> Job:
    """Run passes (or just wait) until job ``job_id`` is in one of ``states`` (tests, CLI)."""
    deadline = time.monotonic() + timeout
    while True:
        if tick:
            queue_for(app).tick()
        with db.session_scope(app) as session:
            job = session.get(Job, job_id)
            assert job is not None
            if JobState(job.state) in states:
                session.expunge(job)
                return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is {job.state}, not in {sorted(states)} after {timeout} s")
        time.sleep(0.05)
