"""Fixtures for the local cloud's own tests (and the shared ``local_cloud`` fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway_kit.localcloud.testing import (  # noqa: F401 - re-exported pytest fixtures
    RunningLocalCloud,
    local_cloud,
    local_cloud_process,
    running_local_cloud,
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    """One local cloud shared by a test module (fast clock); tests reset faults themselves."""
    with running_local_cloud(tmp_path_factory.mktemp("lc") / "state", delay=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    """Like :func:`cloud`, with the DNS server too (``lc.dns_port``): the Designate, Octavia,
    Barbican and DNS server tests."""
    with running_local_cloud(tmp_path_factory.mktemp("lc-dns") / "state", delay=0.05, dns=True) as running:
        yield running


@pytest.fixture
def ctl(cloud: RunningLocalCloud) -> Iterator[object]:
    """The cloud's controller, with faults cleared after the test."""
    yield cloud.controller
    cloud.controller.reset()
    cloud.controller.clock(mode="time", delay=0.05, polls=1)


def create_server(conn: Any, name: str, flavor: str = "1", image: str = "cirros-0.6.2-x86_64-disk") -> Any:
    """Ask for a server of ``image`` and ``flavor`` on the project's ``private`` network (no wait)."""
    image_id = conn.image.find_image(image, ignore_missing=False).id
    private = conn.network.find_network("private", ignore_missing=False)
    return conn.compute.create_server(
        name=name, image_id=image_id, flavor_id=flavor, networks=[{"uuid": private.id}]
    )


def allow_tcp(conn: Any, group_id: str, low: int, high: int = 0, source: str = "0.0.0.0/0") -> Any:
    """An ingress rule of security group ``group_id`` for TCP ports ``low``..``high`` (``low``
    alone if not given) from ``source``."""
    return conn.network.create_security_group_rule(
        security_group_id=group_id, direction="ingress", protocol="tcp",
        port_range_min=low, port_range_max=high or low, remote_ip_prefix=source,
    )  # fmt: skip
