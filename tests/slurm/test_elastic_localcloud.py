"""Elastic SLURM nodes: resume/suspend create and delete servers in the local cloud and point the
real SLURM's CLOUD nodes at them (scontrol update NodeAddr)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest

from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer
from gateway_kit.slurm.elastic import ElasticNodes
from gateway_kit.slurm.transport import LocalShell

pytestmark = pytest.mark.slurm


@pytest.fixture()
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = LocalCloudServer(LocalCloudConfig(state_dir=None, clock=ClockConfig(delay=0.05))).start()
    try:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(server.write_clouds_yaml(tmp_path / "c.yaml")))
        yield openstack.connect(cloud="local")
    finally:
        server.stop()


def test_resume_and_suspend_cloud_nodes(slurm_dir: Path, cloud: Any) -> None:
    settings = {
        "SLURM_CLOUD_IMAGE": "Featured-Ubuntu24",
        "SLURM_CLOUD_NETWORK": "private",
        "SLURM_CLOUD_FLAVORS": {"small": "m3.tiny", "default": "m3.small"},
        "SLURM_CLOUD_WAIT_SECONDS": 30,
        "SLURM_CONF": os.environ["SLURM_CONF"],
        "SLURM_CLOUD_MUNGE_KEY": "/etc/munge/munge.key",
    }
    said: list[str] = []
    el = ElasticNodes(cloud, LocalShell(), settings, report=said.append)
    actions = el.resume("gkcloud[1-2]")
    assert [a.ok for a in actions] == [True, True], actions
    servers = {s.name: s for s in cloud.compute.servers()}
    assert set(servers) == {"gkcloud1", "gkcloud2"}
    assert all(s.status == "ACTIVE" and s.flavor.original_name == "m3.tiny" for s in servers.values())
    assert servers["gkcloud1"].metadata == {"gateway_kit_slurm_node": "gkcloud1"}
    node = subprocess.run(
        ["scontrol", "-o", "show", "node", "gkcloud1"], capture_output=True, text=True, check=True
    ).stdout
    assert f"NodeAddr={actions[0].address}" in node
    assert el.resume("gkcloud1")[0].server == servers["gkcloud1"].id  # idempotent: reused
    assert any("created server" in line for line in said)

    assert all(a.ok for a in el.suspend("gkcloud[1-2]"))
    deadline = time.monotonic() + 60  # generous: a busy host is slow, the end state is certain
    while list(cloud.compute.servers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(cloud.compute.servers()) == []
    assert all(a.ok for a in el.suspend("gkcloud1"))  # already gone is fine
