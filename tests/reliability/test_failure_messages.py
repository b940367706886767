"""A failed ``deploy apply`` tells the operator what is left and the commands that go on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask.cli import ScriptInfo

from gateway_kit.cli import main
from gateway_kit.localcloud.testing import LocalCloudController as Control
from tests.hosting.conftest import STANDARD


def _apply(app: Any) -> Any:
    return CliRunner().invoke(
        main, ["deploy", "apply", str(STANDARD)], obj=ScriptInfo(create_app=lambda: app)
    )


def test_a_quota_failure_says_nothing_is_left_and_how_to_go_on(hosting_app: Any, control: Control) -> None:
    control.set_quota("demo", "instances", 2)
    result = _apply(hosting_app)
    assert result.exit_code == 1
    assert "needs 3 more instances" in result.output
    assert "Deployment standard holds no cloud resource." in result.output
    assert f"`gateway-kit deploy apply {STANDARD}` (it resumes)" in result.output
    assert "Traceback" not in result.output


def test_a_server_in_error_names_what_is_left(hosting_app: Any, control: Control, tmp_path: Path) -> None:
    control.fail_next_create("compute.server")
    result = _apply(hosting_app)
    assert result.exit_code == 1, result.output
    assert "ERROR" in result.output
    assert "Deployment standard holds " in result.output and " ready" in result.output
    assert "`gateway-kit deploy destroy standard`" in result.output
    control.clear_faults()
    again = _apply(hosting_app)  # the command it named converges
    assert again.exit_code == 0, again.output
    destroyed = CliRunner().invoke(
        main, ["deploy", "destroy", "standard", "--yes"], obj=ScriptInfo(create_app=lambda: hosting_app)
    )
    assert destroyed.exit_code == 0, destroyed.output
