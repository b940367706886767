"""The data feature: dataset pages and API, and the worker task for backups and upload expiry."""

from __future__ import annotations

import logging

from flask import Flask

from ..db import db
from ..jobs.inputs import add_input_checker, add_input_choices, add_input_resolver
from ..worker import WorkerTask, register_task
from . import api, backups, jobinputs, uploads, views

log = logging.getLogger("gateway_kit.data")


def run_maintenance(app: Flask) -> None:
    """Scheduled backups (when due) and the removal of expired uploads."""
    with db.session_scope(app) as session:
        uploads.expire(session, app.config)
    archive = backups.run_scheduled(app.config)
    if archive is not None:
        log.info("scheduled backup %s done", archive.name)


def init_app(app: Flask) -> None:
    api.init_app(app)
    views.init_app(app)
    register_task(app, WorkerTask("data.backups", 300.0, run_maintenance))
    add_input_resolver(app, jobinputs.job_inputs)
    add_input_checker(app, jobinputs.check_dataset_inputs)
    add_input_choices(app, "dataset", jobinputs.dataset_choices)
