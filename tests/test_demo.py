"""`gateway-kit demo` as a user runs it: a real process tree on loopback, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests


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
    ready = tmp_path / "ready.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "demo", "--port", "0", "--instance", str(instance),
         "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "demo did not become ready"
            time.sleep(0.2)
        url = ready.read_text()
        home = requests.get(url, timeout=10)
        assert home.status_code == 200
        assert "Science Gateway" in home.text
        assert requests.get(url + "healthz", timeout=10).json()["status"] == "ok"
        assert (instance / "gateway.db").is_file()
        children = _processes_mentioning(f"GATEWAY_KIT_INSTANCE={instance}")
        assert children, "the demo should run at least the worker as a child process"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"Open {url}" in out
    assert "Press Ctrl-C" in out and "Stopped." in out
    time.sleep(0.5)
    assert _processes_mentioning(f"GATEWAY_KIT_INSTANCE={instance}") == []
