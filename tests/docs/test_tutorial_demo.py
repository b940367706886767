"""Tutorial step 5: ``gateway-kit demo`` in a new project serves the project's own plugin and its
worker runs jobs (the demo's parts extend the project's PLUGINS; the worker child starts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


@pytest.mark.slow
def test_demo_serves_the_projects_plugin_and_runs_its_worker(tmp_path: Path) -> None:
    kit = [sys.executable, "-m", "gateway_kit"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    subprocess.run([*kit, "new", "my-portal"], cwd=tmp_path, env=env, check=True, timeout=60,
                   capture_output=True)
    project = tmp_path / "my-portal"
    env["PYTHONPATH"] = str(project)
    ready = tmp_path / "ready"
    demo = subprocess.Popen([*kit, "demo", "--port", "0", "--only", "jobs", "--only", "worker",
                             "--ready-file", str(ready)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert demo.poll() is None and time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.2)
        url = ready.read_text().strip().rstrip("/")
        assert requests.get(url + "/about", timeout=10).status_code == 200
        time.sleep(2)
        log = (project / "instance" / "logs" / "worker.log").read_text()
        assert "Unknown setting" not in log, log
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
