"""The ``burst`` executor: jobs on instances of a pool the kit launches and deletes.

A destination ``{executor = "burst", cloud = "local", max_instances = 4, idle_timeout = 300,
su_per_hour_cap = 0, min_instances = 0, jobs_per_instance = 0, flavors = [], image = "...",
charge_project = "..."}`` (see :class:`gateway_kit.burst.policy.PoolPolicy`).

Like a batch scheduler, the pool has its own queue: :meth:`BurstExecutor.submit` records the job
(idempotent per job id) and returns at once; the job is then SUBMITTED while it waits for room
(``poll`` reports why -- quota full, spend cap, pool at maximum -- as the reason), RUNNING once an
agent took it, and terminal once the agent has uploaded its outputs and reported. An instance
that fails puts its jobs back in the pool's queue (bounded); a job is only ever held by one
instance, whose token alone may report for it.

State (opaque to the queue): ``{"job_id": N, "destination": NAME}``; everything else is in the
``burst_jobs`` table, so any worker can poll, cancel or release any job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from ..errors import CloudError
from ..jobs.executors.base import Executor, ExecutorError, JobSpec, PollResult
from ..jobs.models import utcnow
from ..jobs.states import JobState, parse_state
from . import policy
from .models import BurstInstance, BurstJob
from .pool import Pool, aware, store_spec

_LAST: dict[str, float] = {}
_LAST_LOCK = threading.Lock()


class BurstExecutor(Executor):
    """Runs each job on a pool instance through the instance's agent. See the module docstring."""

    name = "burst"

    def __init__(self, destination: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(destination, options, settings)
        self.pool = Pool(destination, options, settings)

    def reconcile(self, force: bool = False) -> None:
        """A pool pass, at most once a second per destination in this process."""
        key = f"{id(self.settings)}:{self.destination}"
        with _LAST_LOCK:
            if not force and time.monotonic() - _LAST.get(key, 0.0) < 1.0:
                return
            _LAST[key] = time.monotonic()
        try:
            self.pool.reconcile()
        except CloudError as exc:
            import logging

            logging.getLogger("gateway_kit.burst").warning(
                "burst pool %s: %s", self.destination, exc.log_message
            )

    def submit(self, spec: JobSpec) -> dict[str, Any]:
        need = policy.Need(key=spec.job_id, cpus=spec.cpus, memory_mb=spec.memory_mb, gpus=spec.gpus)
        try:
            flavors = self.pool.flavors()
        except CloudError as exc:
            from ..jobs.executors.base import CapacityExhausted

            raise CapacityExhausted(f"The cloud cannot be reached: {exc.user_message}") from exc
        if policy.choose_flavor(flavors, need, self.pool.policy.flavors) is None:
            raise ExecutorError(
                f"No flavor of destination {self.destination} has {spec.cpus} "
                f"CPUs, {spec.memory_mb} MiB and {spec.gpus} GPUs."
            )
        with self.pool.sessions() as session:
            if session.get(BurstJob, spec.job_id) is None:  # idempotent per job id
                data = store_spec(self.settings, spec)
                session.add(
                    BurstJob(
                        job_id=spec.job_id,
                        destination=self.destination,
                        spec=data,
                        state="waiting",
                        wait_reason="",
                        requeues=0,
                        cancel_requested=False,
                        instance_name="",
                        flavor="",
                        su_share=0.0,
                        created_at=utcnow(),
                    )
                )
                session.commit()
        self.reconcile(force=True)
        return {"job_id": spec.job_id, "destination": self.destination}

    def poll(self, state: Mapping[str, Any]) -> PollResult:
        self.reconcile()
        with self.pool.sessions() as session:
            bj = session.get(BurstJob, int(state["job_id"]))
            if bj is None:
                return PollResult(JobState.FAILED, reason="the burst pool has no record of it")
            if bj.state == "done" and bj.result:
                r = bj.result
                return PollResult(
                    parse_state(str(r.get("state"))),
                    exit_code=r.get("exit_code"),
                    reason=str(r.get("reason", "")),
                    started_at=r.get("started"),
                    finished_at=r.get("finished"),
                )
            if bj.state == "running":
                started = aware(bj.started_at)
                return PollResult(
                    JobState.RUNNING,
                    reason=f"running on {bj.instance_name} ({bj.flavor})",
                    started_at=started.timestamp() if started else None,
                )
            if bj.state == "assigned":
                return PollResult(JobState.SUBMITTED, reason=self._launch_reason(session, bj))
            return PollResult(JobState.SUBMITTED, reason=f"waiting: {bj.wait_reason or 'for an instance'}")

    def _launch_reason(self, session: Any, bj: BurstJob) -> str:
        """What a job assigned to an instance waits for: the instance's boot (with the time it
        is expected to take, from the pool's ``boot_seconds``), or its agent taking the job."""
        row = session.get(BurstInstance, bj.instance_id) if bj.instance_id else None
        if row is None or row.state not in ("launching", "booting"):
            return f"starting on instance {bj.instance_name} ({bj.flavor})"
        since = aware(row.created_at) or utcnow()
        left = max(5, round(self.pool.policy.boot_seconds - (utcnow() - since).total_seconds()))
        return f"launching an instance ({bj.instance_name}, {bj.flavor}): expected about {left} s more"

    def cancel(self, state: Mapping[str, Any]) -> None:
        with self.pool.sessions() as session:
            bj = session.get(BurstJob, int(state["job_id"]))
            if bj is None or bj.state == "done" or bj.cancel_requested:
                return
            bj.cancel_requested = True  # the agent ends a running job on its next heartbeat
            session.commit()
        self.reconcile(force=True)

    def release(self, state: Mapping[str, Any]) -> None:
        """Nothing to free per job: idle instances are deleted by the pool's idle timeout."""
