"""Jobs: application definitions, the durable job queue, executors and SU accounting.

A job flows: a user submits inputs for an :class:`~gateway_kit.jobs.apps.Application` (page or
API) -> :mod:`~gateway_kit.jobs.service` validates them, checks the project's allocation, stores a
``QUEUED`` job -> a ``gateway-kit worker`` claims it (:mod:`~gateway_kit.jobs.queue`), stages its
working directory and hands it to the executor of its destination
(:mod:`~gateway_kit.jobs.executors`) -> the worker polls the executor until a terminal state ->
the job is charged (:mod:`~gateway_kit.jobs.accounting`) and notifications go out
(:mod:`~gateway_kit.jobs.notifications`).
"""

from ..features import Feature

FEATURE = Feature.standard(
    "jobs",
    __name__,
    requires=("identity",),
    order=20,
)
