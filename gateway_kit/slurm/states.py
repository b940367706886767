"""SLURM's native job states mapped onto the kit's :class:`~gateway_kit.jobs.states.JobState`.

This is the one table. Both spellings SLURM prints are listed: the long names (``squeue -O State``,
``sacct``) and the compact codes (``squeue -O StateCompact``). A state missing from the table maps to
:attr:`JobState.UNKNOWN` with a warning in the log, never to ``None``.

Some endings are not plain failures and keep their SLURM name as the job's reason so that the job page
can say why: ``TIMEOUT`` (the walltime ran out), ``OUT_OF_MEMORY``, ``NODE_FAIL``, ``PREEMPTED``,
``BOOT_FAIL`` and ``DEADLINE``.
"""

from __future__ import annotations

import logging

from ..jobs.states import JobState

log = logging.getLogger(__name__)

#: native state (long name or compact code) -> kit state
NATIVE_STATES: dict[str, JobState] = {
    # waiting for resources, or for cloud nodes to boot (CONFIGURING)
    "PENDING": JobState.SUBMITTED,
    "PD": JobState.SUBMITTED,
    "CONFIGURING": JobState.SUBMITTED,
    "CF": JobState.SUBMITTED,
    "REQUEUED": JobState.SUBMITTED,
    "RQ": JobState.SUBMITTED,
    "REQUEUE_HOLD": JobState.SUBMITTED,
    "RH": JobState.SUBMITTED,
    "REQUEUE_FED": JobState.SUBMITTED,
    "RF": JobState.SUBMITTED,
    "RESV_DEL_HOLD": JobState.SUBMITTED,
    "RD": JobState.SUBMITTED,
    "SPECIAL_EXIT": JobState.SUBMITTED,
    "SE": JobState.SUBMITTED,  # held after a special exit code
    # started (COMPLETING: the script has ended, SLURM is cleaning up; the final state follows)
    "RUNNING": JobState.RUNNING,
    "R": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "CG": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "S": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "ST": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "SI": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "SO": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "RS": JobState.RUNNING,
    # endings
    "COMPLETED": JobState.COMPLETED,
    "CD": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "F": JobState.FAILED,
    "CANCELLED": JobState.CANCELED,
    "CA": JobState.CANCELED,
    "REVOKED": JobState.CANCELED,
    "RV": JobState.CANCELED,  # federation: it runs on another cluster
    "TIMEOUT": JobState.TIMED_OUT,
    "TO": JobState.TIMED_OUT,
    "DEADLINE": JobState.TIMED_OUT,
    "DL": JobState.TIMED_OUT,
    "OUT_OF_MEMORY": JobState.FAILED,
    "OOM": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "NF": JobState.FAILED,
    "PREEMPTED": JobState.FAILED,
    "PR": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "BF": JobState.FAILED,
}

_COMPACT_TO_LONG: dict[str, str] = {
    "PD": "PENDING",
    "CF": "CONFIGURING",
    "RQ": "REQUEUED",
    "RH": "REQUEUE_HOLD",
    "RF": "REQUEUE_FED",
    "RD": "RESV_DEL_HOLD",
    "SE": "SPECIAL_EXIT",
    "R": "RUNNING",
    "CG": "COMPLETING",
    "S": "SUSPENDED",
    "ST": "STOPPED",
    "SI": "SIGNALING",
    "SO": "STAGE_OUT",
    "RS": "RESIZING",
    "CD": "COMPLETED",
    "F": "FAILED",
    "CA": "CANCELLED",
    "RV": "REVOKED",
    "TO": "TIMEOUT",
    "DL": "DEADLINE",
    "OOM": "OUT_OF_MEMORY",
    "NF": "NODE_FAIL",
    "PR": "PREEMPTED",
    "BF": "BOOT_FAIL",
}

#: Endings whose SLURM name is the reason shown on the job page.
REASON_STATES: frozenset[str] = frozenset(
    {"TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED"}
)


def normalize(native: str) -> str:
    """The long SLURM name for ``native``.

    ``sacct`` prints ``CANCELLED by 1000`` and flags such as ``COMPLETING+``; only the first word,
    without the flags, is the state.
    """
    word = native.strip().split(" ", 1)[0].rstrip("+*").upper()
    return _COMPACT_TO_LONG.get(word, word)


def map_state(native: str) -> JobState:
    """The kit state for a SLURM state; :attr:`JobState.UNKNOWN` (with a warning) if not in the table."""
    name = normalize(native)
    state = NATIVE_STATES.get(name)
    if state is None:
        log.warning("SLURM state %r is not in the state table; reporting UNKNOWN", native)
        return JobState.UNKNOWN
    return state
