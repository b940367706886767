"""Fixtures: a real local cloud over HTTP (fast clock), its clouds.yaml, the app and an engine;
a data-plane cloud able to run the ``database`` role."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.hosting.engine import Engine, engine_for
from gateway_kit.hosting.testing import FAST_SETTINGS
from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer
from gateway_kit.localcloud.testing import (
    LocalCloudController,
    RunningLocalCloud,
    running_local_cloud,
    wait_until,
)

from ..conftest import make_app, require_postgres_server

REPO = Path(__file__).resolve().parents[2]
STANDARD = REPO / "deploy" / "examples" / "standard.toml"

FAST = FAST_SETTINGS
#: A data-plane deployment's waits: its VMs install and start real services.
SERVING = {**FAST, "HOSTING_MEMBER_TIMEOUT": 180.0, "HOSTING_SERVER_TIMEOUT": 120.0}


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudServer]:
    config = LocalCloudConfig(clock=ClockConfig(mode="time", delay=0.02))
    server = LocalCloudServer(config).start()
    clouds = server.write_clouds_yaml(tmp_path_factory.mktemp("clouds") / "clouds.yaml")
    old = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    try:
        yield server
    finally:
        if old is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = old
        server.stop()


@pytest.fixture()
def control(localcloud: LocalCloudServer) -> Iterator[LocalCloudController]:
    ctl = LocalCloudController(localcloud.url)
    ctl.reset(resources=True)
    ctl.clock(mode="time", delay=0.02)
    yield ctl
    ctl.clear_faults()


@pytest.fixture()
def hosting_app(tmp_path: Path, control: LocalCloudController, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", os.environ["OS_CLIENT_CONFIG_FILE"])
    return make_app(tmp_path, **FAST)


@pytest.fixture()
def engine(hosting_app: Any) -> Iterator[Engine]:
    eng = engine_for(hosting_app)
    yield eng
    eng.cloud.close()


@pytest.fixture()
def postgres_dataplane(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningLocalCloud]:
    """A local cloud with its data plane and DNS server that can run the ``database`` role: the
    PostgreSQL server binaries and root are needed (its unit runs as the ``postgres`` user, who
    must traverse the state directory: so not under pytest's tmp_path)."""
    require_postgres_server()
    root = Path(tempfile.mkdtemp(prefix="gk-dpdb-"))
    root.chmod(0o755)
    try:
        with running_local_cloud(root / "state", dataplane=True, dns=True) as cloud:
            monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
            yield cloud
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_vm_url(cloud: RunningLocalCloud, engine: Engine, deployment: str = "standard") -> str:
    """The gateway's ``DATABASE_URL`` as the deployment's database VM wrote it once PostgreSQL was
    ready (its address, the gateway's role and password)."""
    server = engine.cloud.conn.compute.find_server(f"{deployment}-database-1")
    path = cloud.state_dir / "dataplane" / server.id / "rootfs" / "etc" / "gateway-kit" / "database-url"
    wait_until(path.is_file, timeout=120, what="the database VM's URL")
    return path.read_text().strip()
