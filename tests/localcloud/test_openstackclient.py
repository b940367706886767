"""python-openstackclient (with its octavia, designate and barbican plugins) against a fresh
local cloud over HTTP: the flows of :mod:`gateway_kit.localcloud.osc_fidelity`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway_kit.localcloud.osc_fidelity import FLOWS
from gateway_kit.localcloud.testing import running_local_cloud


def test_openstackclient_flows_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_local_cloud(tmp_path / "state", delay=0.05) as cloud:
        # A process of its own: the CLI configures logging and keeps connections process-wide.
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway_kit.localcloud.osc_fidelity",
                "--clouds-yaml",
                str(cloud.clouds_yaml),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)},
            check=False,
        )
    summary = [line for line in proc.stdout.splitlines() if "steps passed" in line]
    with capsys.disabled():  # the pass count belongs in every CI log, pass or fail
        print("\n" + "\n".join(summary))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert summary == [f"osc-fidelity: {len(FLOWS)} of {len(FLOWS)} openstackclient steps passed"]
