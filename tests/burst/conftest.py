"""A gateway served over HTTP, a local cloud over HTTP with its data plane, one burst destination.

Instances of the local cloud really run their user data: the agent started by
``gateway_kit/hosting/cloudinit/burst-agent.yaml.j2`` pulls work from the gateway served here.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from gateway_kit.db import db
from gateway_kit.localcloud import dataplane
from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer
from tests.conftest import make_app, make_user

BURST_SIM = Path(__file__).resolve().parents[2] / "bench" / "burst_sim.py"


@pytest.fixture()
def sim() -> Iterator[ModuleType]:
    """``bench/burst_sim.py`` as a module (in ``sys.modules`` while the test runs: its dataclasses
    look their module up)."""
    spec = importlib.util.spec_from_file_location("burst_sim", BURST_SIM)
    assert spec and spec.loader
    sim = importlib.util.module_from_spec(spec)
    sys.modules["burst_sim"] = sim
    try:
        spec.loader.exec_module(sim)
        yield sim
    finally:
        sys.modules.pop("burst_sim", None)


APP = {
    "id": "wc",
    "title": "Count bytes",
    "version": "1.0",
    "command": [
        "/bin/sh",
        "-c",
        # "sleep" is seconds, or a path: the job then runs until that file exists (a test's gate).
        'echo "run $GK_JOB_ID"; wc -c < "$1" > count.txt; '
        'case "$2" in /*) while [ ! -e "$2" ]; do sleep 0.1; done;; *) sleep "$2";; esac; echo done >&2',
        "sh",
        "{data}",
        "{sleep}",
    ],
    "outputs": ["count.txt"],
    "inputs": [{"name": "data", "type": "file"}, {"name": "sleep", "type": "string", "default": "0"}],
    "resources": {
        "cpus": 1,
        "max_cpus": 16,
        "gpus": 0,
        "max_gpus": 1,
        "memory_mb": 512,
        "max_memory_mb": 200000,
        "walltime": 600,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Env:
    app: Flask
    cloud: LocalCloudServer
    plane: dataplane.DataPlane
    gateway_url: str
    user: Any
    tmp: Path

    def conn(self) -> Any:
        import openstack

        return openstack.connect(cloud="local")

    def submit(self, data: bytes = b"hello burst\n", sleep: str = "0", **resources: int) -> int:
        from gateway_kit.identity.models import User
        from gateway_kit.jobs.inputs import Upload
        from gateway_kit.jobs.service import Submission, submit

        with self.app.test_request_context():
            user = db.session.get(User, self.user.id)
            assert user is not None
            sub = Submission(
                application="wc",
                inputs={"sleep": sleep},
                uploads={"data": Upload("data.txt", io.BytesIO(data))},
                resources=dict(resources),
            )
            job, _ = submit(db.session, user, sub)
            return int(job.id)

    def tick(self) -> None:
        from gateway_kit.burst.feature import reconcile_all
        from gateway_kit.jobs.queue import queue_for

        queue_for(self.app).tick()
        with self.app.app_context():
            reconcile_all(self.app)

    def until(self, check: Callable[[], Any], timeout: float = 30.0, tick: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if tick:
                self.tick()
            with self.app.app_context():
                value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.1)

    def job(self, job_id: int) -> Any:
        from gateway_kit.jobs.models import Job

        with self.app.app_context():
            job = db.session.get(Job, job_id)
            db.session.expunge(job)
            return job

    def instances(self) -> list[Any]:
        from sqlalchemy import select

        from gateway_kit.burst.models import BurstInstance

        with self.app.app_context():
            rows = list(db.session.scalars(select(BurstInstance).order_by(BurstInstance.id)))
            for r in rows:
                db.session.expunge(r)
            return rows

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        from gateway_kit.localcloud.testing import LocalCloudController

        return LocalCloudController(self.cloud.url).call(method, path, body)


def install_jobs(app: Flask) -> None:
    """The jobs feature's extensions, where its ``init_app`` does not create them yet."""
    from gateway_kit.jobs.apps import EXTENSION_KEY as APPS_KEY
    from gateway_kit.jobs.apps import Application, ApplicationRegistry
    from gateway_kit.jobs.destinations import EXTENSION_KEY as DEST_KEY
    from gateway_kit.jobs.destinations import Destinations

    if DEST_KEY not in app.extensions:
        app.extensions[DEST_KEY] = Destinations(app.config)
    if APPS_KEY not in app.extensions:
        app.extensions[APPS_KEY] = ApplicationRegistry(app.config["JOBS_DESTINATIONS_MAP"])
    reg = app.extensions[APPS_KEY]
    if reg.get("wc") is None:
        reg.add(Application.from_mapping(APP))


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **pool: Any) -> Iterator[Env]:
    cloud = LocalCloudServer(LocalCloudConfig(clock=ClockConfig(delay=0.05))).start()
    clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    plane = dataplane.enable(cloud.cloud, Path(tempfile.mkdtemp(prefix="gk-dp-")), interval=0.1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dest = {
        "executor": "burst",
        "cloud": "local",
        "image": "cirros-0.6.2-x86_64-disk",
        "su_per_cpu_hour": 1.0,
        "su_per_gpu_hour": 4.0,
        "max_instances": 3,
        "idle_timeout": 1.0,
        "charge_project": "burst-ops",
        **pool,
    }
    app = make_app(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'gk.db'}",
        JOBS_DESTINATIONS_MAP={"cloud": dest},
        BURST_AGENT_URL=url,
        BURST_HEARTBEAT_INTERVAL=0.3,
        BURST_TOKEN_TTL=5.0,
        BURST_HEARTBEAT_TIMEOUT=10.0,
        BURST_BOOT_TIMEOUT=30.0,
        JOBS_POLL_INTERVAL=0.1,
        JOBS_LOCAL_KILL_GRACE=0.5,
    )
    install_jobs(app)
    from gateway_kit.identity.models import Project, ProjectMember
    from gateway_kit.jobs.accounting import set_allocation

    user = make_user(app, "ada")
    with db.session_scope(app) as s:
        for name in ("science", "burst-ops"):
            project = Project(name=name, title=name)
            s.add(project)
            s.flush()
            set_allocation(s, project, 1000.0, None, top_up=False)
            if name == "science":
                s.add(ProjectMember(project_id=project.id, user_id=user.id, role="member"))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Env(app, cloud, plane, url, user, tmp_path)
    finally:
        dataplane.disable(cloud.cloud)
        server.shutdown()
        cloud.stop()
        os.environ.pop("GK_UNUSED", None)


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    yield from build(tmp_path, monkeypatch)
