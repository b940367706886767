"""systemd units on the data plane, through openstacksdk and the instance's own systemctl."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway_kit.localcloud.testing import (
    RunningLocalCloud,
    boot_server,
    fixed_address,
    running_local_cloud,
    wait_until,
)

USER_DATA = """## template: jinja
#cloud-config
packages: [gk-surely-not-installed]
write_files:
  - path: /etc/web/env
    content: |
      GREETING=hello from {{ v1.local_hostname }}
  - path: /srv/web/index.html
    content: "{{ v1.instance_id }}"
  - path: /etc/systemd/system/web.service
    content: |
      [Unit]
      Description=test web
      [Service]
      EnvironmentFile=/etc/web/env
      Environment=PORT=8080
      WorkingDirectory=/srv/web
      ExecStartPre=/bin/sh -c 'echo "pre: $GREETING"'
      ExecStart=/usr/bin/env python3 -m http.server --bind {{ v1.local_ipv4 }} ${PORT}
      Restart=on-failure
      RestartSec=0.2
      [Install]
      WantedBy=multi-user.target
runcmd:
  - systemctl daemon-reload
  - systemctl enable --now web
  - echo "status=$(systemctl is-active web)"
"""


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("dp") / "state", dataplane=True) as cloud:
        yield cloud


def systemctl(cloud: RunningLocalCloud, server_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    shim = cloud.state_dir / "dataplane" / server_id / "bin" / "systemctl"
    return subprocess.run([str(shim), *args], capture_output=True, text=True, timeout=60, check=False)


def test_unit_from_cloud_config_serves_restarts_and_stops(dp: RunningLocalCloud) -> None:
    conn, server = boot_server(dp, "unit-web", USER_DATA)
    address = fixed_address(server)
    assert address.startswith("127.100.")
    body = wait_until(
        lambda: requests.get(f"http://{address}:8080/index.html", timeout=2).text, what="web unit"
    )
    assert body == server.id  # rendered by Jinja, served from the unit's WorkingDirectory

    status = systemctl(dp, server.id, "status", "web")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Active: active (running)" in status.stdout and "enabled" in status.stdout
    assert "pre: hello from unit-web" in status.stdout  # ExecStartPre saw the EnvironmentFile

    # Restart=on-failure: kill the main process; the supervisor starts it again.
    pid = int(systemctl(dp, server.id, "show", "-p", "MainPID", "web").stdout.strip().split("=")[1])
    os.kill(pid, 9)
    wait_until(
        lambda: systemctl(dp, server.id, "show", "-p", "NRestarts", "web").stdout.strip() == "NRestarts=1",
        what="restart",
    )
    wait_until(lambda: requests.get(f"http://{address}:8080/", timeout=2).ok, what="web after restart")

    stop = systemctl(dp, server.id, "stop", "web")
    assert stop.returncode == 0, stop.stderr
    inactive = systemctl(dp, server.id, "is-active", "web")
    assert (inactive.returncode, inactive.stdout.strip()) == (3, "inactive")
    missing = systemctl(dp, server.id, "status", "nope")
    assert missing.returncode == 4 and "could not be found" in missing.stdout

    log = wait_until(
        lambda: (
            "status=active" in conn.compute.get_server_console_output(server)["output"]
            and conn.compute.get_server_console_output(server)["output"]
        ),
        what="console log",
    )
    assert "package gk-surely-not-installed is not installed on this host" in log

    # Stopping the server stops its units; starting it starts the enabled unit again.
    systemctl(dp, server.id, "start", "web")
    wait_until(lambda: requests.get(f"http://{address}:8080/", timeout=2).ok, what="web started")
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", wait=60)

    def refused() -> bool:
        try:
            requests.get(f"http://{address}:8080/", timeout=2)
        except requests.ConnectionError:
            return True
        return False

    wait_until(refused, what="unit stopped with the server")
    conn.compute.start_server(server)
    conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
    wait_until(lambda: requests.get(f"http://{address}:8080/", timeout=2).ok, what="enabled unit at boot")
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    wait_until(refused, what="unit gone with the server")


LATE_UNIT = """#cloud-config
write_files:
  - path: /etc/systemd/system/late.service
    content: |
      [Unit]
      StartLimitIntervalSec=0
      [Service]
      User=nobody
      ExecStartPre=/bin/test -e {flag}
      ExecStart=/bin/sh -c 'trap "echo got INT; exit 0" INT; trap "echo reloaded" HUP; id -un; while :; do sleep 0.1; done'
      ExecReload=/bin/kill -HUP $MAINPID
      KillSignal=SIGINT
      Restart=on-failure
      RestartSec=0.5
      [Install]
      WantedBy=multi-user.target
runcmd:
  - systemctl enable --now late
"""


def test_failed_start_is_retried_as_its_user_reloaded_and_stopped_by_its_signal(
    dp: RunningLocalCloud,
) -> None:
    """Restart=on-failure retries a start whose ExecStartPre failed (as systemd does); User= is
    honoured when the cloud runs as root; ExecReload= and KillSignal= are used."""
    folder = Path(tempfile.mkdtemp(prefix="gk-late-"))  # the unit's user must reach the flag
    folder.chmod(0o755)
    try:
        _conn, server = boot_server(dp, "unit-late", LATE_UNIT.format(flag=folder / "ready"))
        journal = dp.state_dir / "dataplane" / server.id / "journal" / "late.service.log"

        def restarts() -> int:
            out = systemctl(dp, server.id, "show", "-p", "NRestarts", "late").stdout.strip()
            return int(out.split("=")[1] or 0)

        wait_until(lambda: restarts() >= 1, what="the failed start retried")
        (folder / "ready").write_text("")
        wait_until(
            lambda: systemctl(dp, server.id, "is-active", "late").stdout.strip() == "active", what="up"
        )
        user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        wait_until(lambda: f"{user}\n" in journal.read_text(), what="the unit's user in its journal")
        assert systemctl(dp, server.id, "reload", "late").returncode == 0
        wait_until(lambda: "reloaded" in journal.read_text(), what="ExecReload's SIGHUP")
        assert systemctl(dp, server.id, "stop", "late").returncode == 0
        assert "got INT" in journal.read_text()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_systemctl_needs_the_instance_token(dp: RunningLocalCloud, tmp_path: Path) -> None:
    _conn, server = boot_server(dp, "unit-token", "#cloud-config\n")
    control = dp.state_dir / "dataplane" / server.id / "systemd" / "control.json"
    assert oct(control.stat().st_mode & 0o777) == "0o600"
    forged = tmp_path / "control.json"
    forged.write_text(control.read_text().replace('"token": "', '"token": "x'))
    from gateway_kit.localcloud.dataplane import systemd

    result = subprocess.run(
        ["python3", str(systemd.CLIENT), "--control", str(forged), "systemctl", "list-units"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "Access denied" in result.stdout + result.stderr


def test_units_end_when_the_cloud_is_killed(tmp_path: Path) -> None:
    """SIGKILL of ``serve --dataplane`` leaves no unit behind (PR_SET_PDEATHSIG)."""
    import signal

    with running_local_cloud(tmp_path / "lc", subprocess_mode=True, dataplane=True) as cloud:
        _conn, server = boot_server(cloud, "orphan-check", USER_DATA)
        shim = cloud.state_dir / "dataplane" / server.id / "bin" / "systemctl"

        def main_pid() -> int:
            out = subprocess.run(
                [str(shim), "show", "-p", "MainPID", "web"], capture_output=True, text=True, timeout=60
            )
            return int(out.stdout.strip().split("=")[1] or 0)

        pid = wait_until(main_pid, what="the unit's main process")
        assert cloud.process is not None
        cloud.process.send_signal(signal.SIGKILL)
        cloud.process.wait(timeout=30)

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"

        wait_until(gone, what="the unit ended with the cloud")
