"""Errors raised by the SLURM adapter, placed in the executor contract's tree.

* :class:`SlurmUnavailable` is a :class:`~gateway_kit.jobs.executors.base.CapacityExhausted`: the
  queue keeps the job and submits it again later; a job is never marked failed for an outage.
* :class:`SubmitRejected` is an :class:`~gateway_kit.jobs.executors.base.ExecutorError`: SLURM will
  never run the job as asked, the job fails with SLURM's own message.
"""

from __future__ import annotations

from ..jobs.executors.base import CapacityExhausted, ExecutorError


class SlurmUnavailable(CapacityExhausted):
    """The controller (or the login node) cannot be reached: try again later.

    Raised for ``Unable to contact slurm controller``, timeouts, SSH connection failures, munge
    errors and ``Slurm temporarily unable to accept job``.
    """

    reason = "slurm_unavailable"
    title = "The batch cluster is unavailable"


class SubmitRejected(ExecutorError):
    """SLURM refused the job at submission; ``user_message`` carries SLURM's own words."""

    status = 422
    reason = "slurm_rejected"
    title = "The batch cluster rejected the job"


class SlurmCommandError(ExecutorError):
    """A SLURM command failed for a reason that is neither a rejection nor an outage."""

    reason = "slurm_command_failed"
    title = "A batch cluster command failed"
