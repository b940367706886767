"""Tutorial step 5: ``gateway-kit demo`` in a new project serves the project's own plugin and its
worker runs jobs (the demo's parts extend the project's PLUGINS; the worker child starts)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ..demo_support import demo_env, running_demo


@pytest.mark.slow
def test_demo_serves_the_projects_plugin_and_runs_its_worker(tmp_path: Path) -> None:
    kit = [sys.executable, "-m", "gateway_kit"]
    env = demo_env()
    subprocess.run(
        [*kit, "new", "my-portal"], cwd=tmp_path, env=env, check=True, timeout=60, capture_output=True
    )
    project = tmp_path / "my-portal"
    env["PYTHONPATH"] = str(project)
    with running_demo(
        tmp_path, env=env, cwd=project, args=["--only", "jobs", "--only", "worker"], capture=False
    ) as (url, instance, _):
        assert requests.get(url + "/about", timeout=10).status_code == 200
        time.sleep(2)
        log = (instance / "logs" / "worker.log").read_text()
        assert "Unknown setting" not in log, log
