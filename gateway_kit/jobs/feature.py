"""The jobs feature's ``init_app``: settings -> destinations, applications, API, pages, worker."""

from __future__ import annotations

from flask import Flask

from ..api.openapi import add_hook
from ..worker import WorkerTask, register_task
from . import api, files_web, mailbox, web
from .apps import EXTENSION_KEY as APPS_KEY
from .apps import ApplicationRegistry, load_files
from .destinations import EXTENSION_KEY as DEST_KEY
from .destinations import Destinations
from .queue import run_queue, stop_queue
from .wakeup import Waker


def init_app(app: Flask) -> None:
    dests = Destinations(app.config)
    app.extensions[DEST_KEY] = dests
    app.extensions[APPS_KEY] = ApplicationRegistry(dests.table)
    load_files(app, app.config["JOBS_APPLICATION_FILES"])
    api.init_app(app)
    web.init_app(app)
    files_web.init_app(app)
    mailbox.init_app(app)
    add_hook(app, api.add_application_schemas)
    interval = float(app.config["JOBS_POLL_INTERVAL"])
    register_task(app, WorkerTask("jobs", interval, run_queue, waker=Waker, stop=stop_queue))
