"""The sessions feature's ``init_app``: API, pages and the worker's ``sessions`` task."""

from __future__ import annotations

from flask import Flask

from ..worker import WorkerTask, register_task
from . import api, web
from .lifecycle import run_sessions


def init_app(app: Flask) -> None:
    api.init_app(app)
    web.init_app(app)
    register_task(app, WorkerTask("sessions", float(app.config["SESSIONS_POLL_INTERVAL"]), run_sessions))
