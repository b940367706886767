"""Faults that end or stall a command say what failed, what is left and how to go on."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy.exc import OperationalError

from gateway_kit.cli import main
from gateway_kit.localcloud.testing import LocalCloudController as Control
from gateway_kit.worker import WorkerTask, register_task, run_worker
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


def test_a_worker_says_once_that_the_database_is_down_and_when_it_answers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database outage is one line per task (what failed, what to check), not a traceback a run."""
    app = Flask(__name__)
    app.extensions["gateway_kit.worker_tasks"] = []
    stop = threading.Event()
    runs: list[int] = []

    def flaky(_app: Flask) -> bool:
        runs.append(1)
        if len(runs) >= 6:
            stop.set()
        if len(runs) <= 4:  # four runs while the server is down, then it answers
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return True  # work left: the next run comes at once

    register_task(app, WorkerTask("flaky", 0.0, flaky))
    with caplog.at_level(logging.INFO, logger="gateway_kit.worker"):
        run_worker(app, stop)
    said = [r.getMessage() for r in caplog.records if r.name == "gateway_kit.worker"]
    down = [m for m in said if "not answering" in m]
    assert len(down) == 1 and "ConnectionRefusedError: connection refused" in down[0], said
    assert "DATABASE_URL" in down[0]
    assert sum("answers again" in m for m in said) == 1, said
    assert not any(r.exc_info for r in caplog.records), "no traceback for an outage"


def test_a_failed_destroy_names_what_is_left_and_how_to_go_on(hosting_app: Any, control: Control) -> None:
    assert _apply(hosting_app).exit_code == 0
    control.error_rate("compute", "DELETE", rate=1.0, status=500)  # servers cannot be deleted
    result = CliRunner().invoke(
        main, ["deploy", "destroy", "standard", "--yes"], obj=ScriptInfo(create_app=lambda: hosting_app)
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Cannot detach volume" in result.output and "kept answering 500" in result.output
    assert re.search(r"Deployment standard holds \d+ cloud resources", result.output), result.output
    assert "`gateway-kit deploy destroy standard --yes` (it resumes)" in result.output, result.output
    control.clear_faults()
    again = CliRunner().invoke(
        main, ["deploy", "destroy", "standard", "--yes"], obj=ScriptInfo(create_app=lambda: hosting_app)
    )
    assert again.exit_code == 0, again.output
