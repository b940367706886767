"""Fixtures: a real local cloud over HTTP (fast clock), its clouds.yaml, the app and an engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway_kit.hosting.engine import Engine, engine_for
from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer

from ..conftest import make_app

REPO = Path(__file__).resolve().parents[2]
STANDARD = REPO / "deploy" / "examples" / "standard.toml"

FAST = {
    "HOSTING_POLL_INTERVAL": 0.02,
    "HOSTING_SERVER_TIMEOUT": 20.0,
    "HOSTING_VOLUME_TIMEOUT": 20.0,
    "HOSTING_LB_TIMEOUT": 20.0,
    "HOSTING_DNS_TIMEOUT": 20.0,
    "HOSTING_MEMBER_TIMEOUT": 20.0,
    "HOSTING_RETRY_BASE_WAIT": 0.01,
    "HOSTING_RETRY_MAX_WAIT": 0.05,
}


class Control:
    """The local cloud's /_control API (faults, holds, quotas, reset)."""

    def __init__(self, url: str) -> None:
        self.url = url + "/_control"

    def _do(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, self.url + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else None

    def fault(self, **rule: Any) -> Any:
        return self._do("POST", "/faults", rule)

    def clear(self) -> None:
        self._do("DELETE", "/faults")

    def fail_next_create(self, kind: str, times: int = 1) -> None:
        self._do("POST", "/fail-next-create", {"kind": kind, "times": times})

    def hold_next(self, kind: str, times: int = 1) -> None:
        self._do("POST", "/hold", {"kind": kind, "id": "next", "times": times})

    def quota(self, resource: str, limit: int, project: str = "demo") -> None:
        self._do("PUT", "/quotas", {"project": project, "resource": resource, "limit": limit})

    def clock(self, **cfg: Any) -> None:
        self._do("PUT", "/clock", cfg)

    def reset(self) -> None:
        self._do("POST", "/reset", {"resources": True})


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
def control(localcloud: LocalCloudServer) -> Iterator[Control]:
    ctl = Control(localcloud.url)
    ctl.reset()
    ctl.clock(mode="time", delay=0.02)
    yield ctl
    ctl.clear()


@pytest.fixture()
def hosting_app(tmp_path: Path, control: Control, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", os.environ["OS_CLIENT_CONFIG_FILE"])
    return make_app(tmp_path, **FAST)


@pytest.fixture()
def engine(hosting_app: Any) -> Iterator[Engine]:
    eng = engine_for(hosting_app)
    yield eng
    eng.cloud.close()
