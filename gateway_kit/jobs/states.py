"""Job states and the one table of allowed transitions.

Every state change goes through :func:`check_transition`; the queue records each as a
:class:`~gateway_kit.jobs.models.JobEvent`. Executors map their native states onto
:class:`JobState` in one table of their own; a native state they do not know becomes
:attr:`JobState.UNKNOWN` (with a warning), never ``None``.
"""

from __future__ import annotations

import enum

from ..errors import Conflict


class JobState(enum.StrEnum):
    QUEUED = "QUEUED"
    STAGING = "STAGING"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"
    #: The executor cannot tell (its scheduler is unreachable, a native state we do not know).
    UNKNOWN = "UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELED, JobState.TIMED_OUT}
)
#: States in which the job is held by a worker and an executor knows about it (or is about to).
ACTIVE: frozenset[JobState] = frozenset(
    {JobState.STAGING, JobState.SUBMITTED, JobState.RUNNING, JobState.UNKNOWN}
)

_ENDINGS = {JobState.COMPLETED, JobState.FAILED, JobState.CANCELED, JobState.TIMED_OUT}

#: The one table: state -> the states it may move to.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.STAGING, JobState.CANCELED, JobState.FAILED}),
    # STAGING -> QUEUED: staging was interrupted and the job goes back to the queue.
    JobState.STAGING: frozenset({JobState.SUBMITTED, JobState.QUEUED, JobState.FAILED, JobState.CANCELED}),
    JobState.SUBMITTED: frozenset({JobState.RUNNING, JobState.UNKNOWN, *_ENDINGS}),
    JobState.RUNNING: frozenset({JobState.UNKNOWN, *_ENDINGS}),
    JobState.UNKNOWN: frozenset({JobState.SUBMITTED, JobState.RUNNING, *_ENDINGS}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
}


def can_transition(old: JobState, new: JobState) -> bool:
    return new in TRANSITIONS[old]


def check_transition(old: JobState, new: JobState) -> None:
    """Raise :class:`~gateway_kit.errors.Conflict` unless ``old -> new`` is in the table."""
    if not can_transition(old, new):
        raise Conflict(f"A job in state {old} cannot move to {new}.")


def parse_state(value: str) -> JobState:
    """The JobState named ``value``; :attr:`JobState.UNKNOWN` for anything else."""
    try:
        return JobState(value)
    except ValueError:
        return JobState.UNKNOWN
