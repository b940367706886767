"""Day-2 CLI on what was built, and the operator console (live status, quota bars)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway_kit.cli import main
from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import load_spec
from gateway_kit.localcloud.testing import LocalCloudController

from ..conftest import login, make_user
from .conftest import STANDARD


def _cli(app: Any, *args: str) -> Any:
    runner = CliRunner()
    from flask.cli import ScriptInfo

    return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False)


def test_day2_commands_and_console(engine: Engine, hosting_app: Any, control: LocalCloudController) -> None:
    engine.apply(load_spec(STANDARD))
    r = _cli(hosting_app, "vm", "list", "--deployment", "standard")
    assert r.exit_code == 0 and r.output.count("standard-") == 3
    for action, status in (
        ("lock", "ACTIVE"),
        ("unlock", "ACTIVE"),
        ("reboot", "ACTIVE"),
        ("suspend", "SUSPENDED"),
        ("resume", "ACTIVE"),
        ("shelve", "SHELVED"),
        ("unshelve", "ACTIVE"),
    ):
        r = _cli(hosting_app, "vm", action, "standard-web-1")
        assert r.exit_code == 0, r.output
        assert status in r.output
    r = _cli(hosting_app, "vm", "show", "standard-web-1")
    assert json.loads(r.output)["name"] == "standard-web-1"
    r = _cli(hosting_app, "vm", "resize", "standard-web-2", "m3.quad")
    assert r.exit_code == 0, r.output
    assert _cli(hosting_app, "vm", "console-log", "standard-web-1").exit_code == 0
    r = _cli(hosting_app, "vm", "snapshot", "standard-web-1", "web-1-snap")
    assert r.exit_code == 0, r.output
    r = _cli(hosting_app, "volume", "extend", "standard-datasets", "120")
    assert "120 GiB" in r.output
    r = _cli(hosting_app, "volume", "snapshot", "standard-datasets", "ds-snap")
    assert r.exit_code == 0, r.output
    assert "standard-datasets" in _cli(hosting_app, "volume", "list").output
    assert "standard-datasets" in _cli(hosting_app, "volume", "list", "--deployment", "standard").output
    for kind in ("vm", "volume"):
        assert "standard-" not in _cli(hosting_app, kind, "list", "--deployment", "other").output
    assert "gateway.example.org." in _cli(hosting_app, "dns", "zones").output
    r = _cli(hosting_app, "dns", "add", "gateway.example.org.", "_acme-challenge", "TXT", '"token"')
    assert r.exit_code == 0, r.output
    assert "_acme-challenge" in _cli(hosting_app, "dns", "records", "gateway.example.org").output
    assert (
        "1 record set"
        in _cli(hosting_app, "dns", "rm", "gateway.example.org.", "_acme-challenge", "TXT").output
    )
    r = _cli(hosting_app, "lb", "status")
    assert "standard-lb" in r.output and "member web-1" in r.output and "listener" in r.output
    r = _cli(hosting_app, "deploy", "status", "standard")
    assert r.exit_code == 0 and "drifted" in r.output  # web-2 was resized outside the spec

    # the operator console
    client = hosting_app.test_client()
    assert client.get("/operator/hosting/").status_code in (302, 401)
    login(client, make_user(hosting_app, "olive", role="operator"))
    page = client.get("/operator/hosting/").get_data(as_text=True)
    assert "standard" in page and "Instances" in page and "3 of 10" in page
    page = client.get("/operator/hosting/standard").get_data(as_text=True)
    assert "server:web-1" in page and "ACTIVE" in page
    # web-2's resize outside the spec is highlighted: a summary, and its row marked.
    assert 'id="drift-summary"' in page and '<tr class="drift">' in page
    data = client.get("/operator/hosting/standard/status.json").get_json()
    assert {r["key"] for r in data["resources"]} >= {"lb", "server:web-2"}
    # Snapshots are the operator's, not the deployment's: destroy explains them before it starts.
    r = _cli(hosting_app, "volume", "snapshots", "--deployment", "standard")
    assert r.exit_code == 0 and r.output.startswith("ds-snap\tstandard-datasets\t120 GiB\tavailable"), (
        r.output
    )
    assert (
        _cli(hosting_app, "volume", "snapshots", "--deployment", "other").output == "No volume snapshots.\n"
    )
    r = _cli(hosting_app, "deploy", "destroy", "standard", "--yes")
    assert r.exit_code == 1
    assert (
        "volume standard-datasets has 1 snapshot(s): ds-snap" in r.output and "--with-snapshots" in r.output
    )
    assert engine.status("standard")[0].status == "ready"  # nothing was deleted
    r = _cli(hosting_app, "deploy", "destroy", "standard", "--yes", "--with-snapshots")
    assert r.exit_code == 0, r.output
    assert "snapshot ds-snap deleted." in r.output and "Deployment standard destroyed" in r.output
    assert engine.cloud.conn.block_storage.find_snapshot("ds-snap") is None
    r = _cli(hosting_app, "volume", "snapshots", "delete", "ds-snap")
    assert r.exit_code == 1 and "ds-snap" in r.output


def test_cli_spec_typo_exits_with_message(hosting_app: Any, tmp_path: Any) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(STANDARD.read_text().replace('flavor = "m3.small"', 'flavour = "m3.small"'))
    runner = CliRunner()
    from flask.cli import ScriptInfo

    r = runner.invoke(main, ["deploy", "plan", str(bad)], obj=ScriptInfo(create_app=lambda: hosting_app))
    assert r.exit_code == 1
    assert "roles.web.flavour: unknown key; did you mean 'flavor'?" in r.output


def test_day2_commands_read_the_settings_without_building_the_app(
    control: LocalCloudController, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vm/volume/dns/lb need the cloud's name and waits only: building the app would be most of
    their start-up (bench/cli_day2.py), so they must not; a bad setting still exits 2."""

    def no_app(*_: Any, **__: Any) -> Any:
        raise AssertionError("a day-2 command built the app")

    monkeypatch.setattr("gateway_kit.create_app", no_app)
    monkeypatch.setenv("GATEWAY_KIT_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("GATEWAY_KIT_CLOUD_NAME", "local")
    runner = CliRunner()
    for args in (["vm", "list"], ["volume", "snapshots"], ["dns", "zones"], ["lb", "status"]):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
    assert "No volume snapshots." in runner.invoke(main, ["volume", "snapshots"]).output
    monkeypatch.setenv("GATEWAY_KIT_HOSTING_POLL_INTERVAL", "soon")
    bad = runner.invoke(main, ["vm", "list"])
    assert bad.exit_code == 2 and "HOSTING_POLL_INTERVAL" in bad.output, bad.output
