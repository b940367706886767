"""The sessions feature's ``init_app``: API, pages and the worker's ``sessions`` task."""

from __future__ import annotations

from flask import Flask

from ..jobs.reservations import add_reservation_source
from ..jobs.wakeup import Waker
from ..worker import WorkerTask, register_task
from . import api, web, workshops
from .lifecycle import run_sessions


def init_app(app: Flask) -> None:
    api.init_app(app)
    web.init_app(app)
    add_reservation_source(app, workshops.reservations)  # burst pools pre-warm for workshops
    # Woken like the job queue (gateway_kit.jobs.wakeup): by a launch or an end request, and by the
    # local supervisors of session servers starting and ending.
    register_task(
        app,
        WorkerTask("sessions", float(app.config["SESSIONS_POLL_INTERVAL"]), run_sessions, waker=Waker),
    )
