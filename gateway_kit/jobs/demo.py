"""The jobs part of ``gateway-kit demo``: example applications, a demo project and allocation."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ..demo import DemoContext

if TYPE_CHECKING:
    from flask import Flask

DEMO_PROJECT = "demo"
DEMO_SUS = 1000.0

#: The demo's burst destination (on the local cloud, whose data plane runs its instances).
BURST_DESTINATION = "burst"
BURST_APP = "burst-hello"
BURST_OPTIONS: dict[str, Any] = {
    "executor": "burst",
    "cloud": "local",
    "image": "cirros-0.6.2-x86_64-disk",
    "su_per_cpu_hour": 1.0,
    "su_per_gpu_hour": 4.0,
    "min_instances": 0,
    "max_instances": 2,
    "idle_timeout": 60.0,
    "charge_project": DEMO_PROJECT,
}
BURST_HELLO = (
    "import os, sys; where = os.getcwd(); print(sys.argv[1]); print('running in', where); "
    "open('where.txt', 'w').write(where + '\\n')"
)


class JobsDemoPart:
    """Enables the example applications and a community allocation every demo user may charge."""

    name = "jobs"
    order = 50  # before the worker (80), which must see the same settings
    #: The local mail outbox's controller (None: not started).
    outbox: Any = None

    def start(self, ctx: DemoContext) -> None:
        ctx.add_plugin("gateway_kit.jobs.examples")
        ctx.settings.setdefault("JOBS_COMMUNITY_PROJECT", DEMO_PROJECT)
        ctx.settings.setdefault("JOBS_POLL_INTERVAL", 0.5)
        ctx.say(
            "jobs          example applications: echo, wordcount, sleep, pi, dataset-stats; "
            f"{DEMO_SUS:g} SUs on project '{DEMO_PROJECT}'"
        )
        if ctx.settings.get("CLOUD_NAME") == "local" and ctx.web_url:
            add_burst_destination(ctx)
        self.outbox = None if ctx.settings.get("JOBS_SMTP_HOST") else self._start_outbox(ctx)

    def _start_outbox(self, ctx: DemoContext) -> Any:
        """The local mail outbox (see :mod:`.mailbox`), when aiosmtpd is installed."""
        from .mailbox import start_outbox

        folder = ctx.instance_path / "demo-mail"
        port = ctx.free_port()
        outbox = start_outbox(folder, ctx.host, port)
        if outbox is None:
            ctx.say("mail          no outbox (pip install aiosmtpd for one): e-mail is not offered")
            return None
        ctx.settings.update(JOBS_SMTP_HOST=ctx.host, JOBS_SMTP_PORT=port, JOBS_DEMO_MAILBOX=str(folder))
        ctx.say(f"mail          local outbox smtp://{ctx.host}:{port}; read it at {ctx.web_url}/demo/mail")
        return outbox

    def ready(self, app: Flask) -> None:
        seed_demo(app)

    def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.stop()


def add_burst_destination(ctx: DemoContext) -> None:
    """A burst destination on the demo's local cloud, and the application routed to it.

    The agents on the instances call the gateway at the demo's web URL. Destinations, routing rules
    and application files extend what the gateway's settings declare.
    """
    from ..settings import load_settings

    loaded = load_settings(ctx.instance_path).values
    table = dict(ctx.settings.get("JOBS_DESTINATIONS_MAP") or loaded["JOBS_DESTINATIONS_MAP"])
    table.setdefault(BURST_DESTINATION, dict(BURST_OPTIONS))  # the settings may declare their own
    rules = dict(ctx.settings.get("JOBS_ROUTING_RULES") or loaded["JOBS_ROUTING_RULES"])
    rules.setdefault(BURST_APP, BURST_DESTINATION)
    appfile = ctx.instance_path / "demo-apps" / f"{BURST_APP}.toml"
    appfile.parent.mkdir(parents=True, exist_ok=True)
    appfile.write_text(burst_app_toml(), encoding="utf-8")
    files = list(ctx.settings.get("JOBS_APPLICATION_FILES") or loaded["JOBS_APPLICATION_FILES"])
    if str(appfile) not in files:
        files.append(str(appfile))
    ctx.settings["JOBS_DESTINATIONS_MAP"] = table
    ctx.settings["JOBS_ROUTING_RULES"] = rules
    ctx.settings["JOBS_APPLICATION_FILES"] = files
    ctx.settings.setdefault("BURST_AGENT_URL", ctx.web_url)
    ctx.settings.setdefault("BURST_HEARTBEAT_INTERVAL", 2.0)
    ctx.settings.setdefault("BURST_RECONCILE_INTERVAL", 1.0)
    ctx.say(
        f"burst         destination '{BURST_DESTINATION}': application '{BURST_APP}' runs on "
        "local-cloud instances the demo launches (agents call "
        f"{ctx.settings['BURST_AGENT_URL']}; console: /operator/burst)"
    )


def burst_app_toml() -> str:
    """The burst example's definition (TOML, so that the web app and the worker both load it)."""
    from .apps import literal

    command = [sys.executable, "-c", literal(BURST_HELLO), "{message}"]
    return "\n".join(
        [
            f"id = {json.dumps(BURST_APP)}",
            'title = "Hello from a burst instance"',
            'version = "1.0"',
            'description = "Runs on an on-demand instance of the local cloud that the gateway launches '
            'for it (the burst destination), and says where it ran."',
            f"destinations = [{json.dumps(BURST_DESTINATION)}]",
            f"command = {json.dumps(command)}",
            'outputs = ["where.txt"]',
            "[[inputs]]",
            'name = "message"',
            'type = "string"',
            "min_length = 1",
            "max_length = 500",
            'default = "Hello from the cloud!"',
            "[resources]",
            "cpus = 1",
            "memory_mb = 256",
            "walltime = 300",
            "",
        ]
    )


def seed_demo(app: Flask, **_: Any) -> None:
    """Create the demo project with an allocation (once)."""
    # Imported here: the demo loads its parts before it starts their processes, and these
    # imports would delay that (the app imports them meanwhile).
    from sqlalchemy import select

    from ..db import db
    from ..identity.models import Project
    from . import accounting
    from .models import Allocation

    with db.session_scope(app) as session:
        project = session.scalars(select(Project).where(Project.name == DEMO_PROJECT)).first()
        if project is None:
            project = Project(name=DEMO_PROJECT, title="Demo community allocation")
            session.add(project)
            session.flush()
        has = session.scalars(select(Allocation).where(Allocation.project_id == project.id)).first()
        if has is None:
            accounting.set_allocation(session, project, DEMO_SUS, None, top_up=True, note="demo allocation")
