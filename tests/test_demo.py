"""`gateway-kit demo` as a user runs it: a real process tree on loopback, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from tests.demo_support import running_demo


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


def test_demo_serves_home_page_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    with running_demo(tmp_path, instance=instance, ready_timeout=120) as (url, _, proc):
        home = requests.get(url + "/", timeout=10)
        assert home.status_code == 200
        assert "Science Gateway" in home.text
        assert requests.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        assert (instance / "gateway.db").is_file()
        children = _processes_mentioning(f"GATEWAY_KIT_INSTANCE={instance}")
        assert children, "the demo should run at least the worker as a child process"

        # Ctrl-C: the demo itself stops every child (before running_demo's own cleanup).
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert f"Open {url}" in out
        assert "Press Ctrl-C" in out and "Stopped." in out
        deadline = time.monotonic() + 30
        while (
            left := _processes_mentioning(f"GATEWAY_KIT_INSTANCE={instance}")
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], "the demo left processes running"


def test_a_part_adds_its_plugin_once_to_plugins_in_any_form(tmp_path: Path) -> None:
    from gateway_kit.demo import DemoContext

    for given in (["mine"], '["mine"]', "mine", "mine,gateway_kit.jobs.examples"):
        ctx = DemoContext(instance_path=tmp_path, settings={"PLUGINS": given})
        ctx.add_plugin("gateway_kit.jobs.examples")
        ctx.add_plugin("gateway_kit.jobs.examples")
        assert ctx.settings["PLUGINS"] == ["mine", "gateway_kit.jobs.examples"], given
    empty = DemoContext(instance_path=tmp_path)
    empty.add_plugin("gateway_kit.sessions.examples")
    assert empty.settings["PLUGINS"] == ["gateway_kit.sessions.examples"]
