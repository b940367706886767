"""The jobs part of ``gateway-kit demo``: example applications, a demo project and allocation."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select

from ..db import db
from ..demo import DemoContext
from ..identity.models import Project
from . import accounting
from .models import Allocation

DEMO_PROJECT = "demo"
DEMO_SUS = 1000.0


class JobsDemoPart:
    """Enables the example applications and a community allocation every demo user may charge."""

    name = "jobs"
    order = 50  # before the worker (80), which must see the same settings

    def start(self, ctx: DemoContext) -> None:
        plugins = ctx.settings.get("PLUGINS", [])
        if isinstance(plugins, str):
            plugins = json.loads(plugins) if plugins.startswith("[") else plugins.split(",")
        if "gateway_kit.jobs.examples" not in plugins:
            plugins = [*plugins, "gateway_kit.jobs.examples"]
        ctx.settings["PLUGINS"] = plugins
        ctx.settings.setdefault("JOBS_COMMUNITY_PROJECT", DEMO_PROJECT)
        ctx.settings.setdefault("JOBS_POLL_INTERVAL", 0.5)
        ctx.say("jobs          example applications: echo, wordcount, sleep, pi; "
                f"{DEMO_SUS:g} SUs on project '{DEMO_PROJECT}'")

    def ready(self, app: Flask) -> None:
        seed_demo(app)

    def stop(self) -> None:
        pass


def seed_demo(app: Flask, **_: Any) -> None:
    """Create the demo project with an allocation (once)."""
    with db.session_scope(app) as session:
        project = session.scalars(select(Project).where(Project.name == DEMO_PROJECT)).first()
        if project is None:
            project = Project(name=DEMO_PROJECT, title="Demo community allocation")
            session.add(project)
            session.flush()
        has = session.scalars(select(Allocation).where(Allocation.project_id == project.id)).first()
        if has is None:
            accounting.set_allocation(session, project, DEMO_SUS, None, top_up=True,
                                      note="demo allocation")
