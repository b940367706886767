"""The ``serve`` command as a real subprocess, restarts, the demo part and the fidelity run."""

from __future__ import annotations

from pathlib import Path

import openstack
import pytest
import yaml
from click.testing import CliRunner

from gateway_kit.localcloud import fidelity
from gateway_kit.localcloud.cli import localcloud
from gateway_kit.localcloud.testing import RunningLocalCloud, running_local_cloud


def test_serve_subprocess_writes_clouds_yaml(local_cloud_process: RunningLocalCloud) -> None:
    clouds = yaml.safe_load(local_cloud_process.clouds_yaml.read_text())["clouds"]
    assert {
        "local",
        "local-admin",
        "local-alt",
        "devstack",
        "devstack-admin",
        "devstack-alt",
        "devstack-system-admin",
    } <= set(clouds)
    assert clouds["local"]["auth"]["auth_url"] == local_cloud_process.url + "/identity"
    conn = openstack.connect(cloud="local")  # OS_CLIENT_CONFIG_FILE is set by the fixture
    assert conn.compute.find_flavor("g3.small") is not None


def test_restart_of_the_process_keeps_servers(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_local_cloud(state, subprocess_mode=True) as first:
        conn = first.connect()
        image = conn.image.find_image("Featured-Ubuntu24", ignore_missing=False)
        net = conn.network.find_network("private", ignore_missing=False)
        srv = conn.compute.create_server(
            name="survivor", image_id=image.id, flavor_id="1", networks=[{"uuid": net.id}]
        )
        conn.compute.wait_for_server(srv, interval=0.05, wait=10)
    with running_local_cloud(state, subprocess_mode=True) as second:
        conn = second.connect()
        again = conn.compute.get_server(srv.id)
        assert again.status == "ACTIVE" and again.addresses["private"]


def test_serve_refuses_a_busy_port(tmp_path: Path, local_cloud: RunningLocalCloud) -> None:
    port = local_cloud.url.rsplit(":", 1)[1]
    result = CliRunner().invoke(localcloud, ["serve", "--port", port, "--state-dir", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "cannot listen" in result.output


def test_demo_part_starts_the_cloud(tmp_path: Path) -> None:
    demo = pytest.importorskip("gateway_kit.demo")
    from gateway_kit.localcloud.demo import LocalCloudPart

    ctx = demo.DemoContext(instance_path=tmp_path)
    part = LocalCloudPart()
    try:
        part.start(ctx)
        part.wait_ready()
        assert ctx.settings["CLOUD_NAME"] == "local"
        clouds_yaml = Path(ctx.env["OS_CLIENT_CONFIG_FILE"])
        assert clouds_yaml.exists()
        assert any("local cloud" in line for line in ctx.messages)
        config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
        conn = openstack.connection.Connection(config=config.get_one(cloud="local"))
        assert conn.current_project_id
    finally:
        part.stop()
        ctx.stop_children()


def test_openstacksdk_functional_suites_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """openstacksdk's own functional tests (include list) against a fresh local cloud."""
    status = fidelity.run()
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("fidelity:")]
    with capsys.disabled():  # the pass rate belongs in every CI log, pass or fail
        print("\n" + "\n".join(summary))
    assert status == 0, out[-6000:]
