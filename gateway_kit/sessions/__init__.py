"""Interactive sessions: web servers (JupyterLab, dashboards) started for a user and reached
through the gateway's session proxy.

A session flows: a user launches an interactive :class:`~gateway_kit.jobs.apps.Application`
(page or ``POST /api/v1/sessions``) -> :mod:`.service` validates it, reserves the SUs of its full
duration and stores it ``queued`` -> the worker's ``sessions`` task (:mod:`.lifecycle`) starts the
server through the destination's launcher (:mod:`.launchers`), waits for its readiness check
(``starting`` -> ``ready``), watches its activity, its end time and end requests, stops it
(``ending`` -> ``ended``, or ``failed``) and settles the wall-time charge in the SU ledger ->
:mod:`.proxy` (an ASGI app under uvicorn, next to the WSGI gateway) forwards HTTP and WebSocket
traffic under ``/sessions/<id>/`` to the server, for its owner and the people it is shared with.
"""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "sessions",
    __name__,
    commands=[
        Command("sessions", ".cli:sessions", "Interactive sessions: the session proxy, and what runs.")
    ],
    requires=("identity", "jobs"),
    order=70,
)
