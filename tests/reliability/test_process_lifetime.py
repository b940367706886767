"""Nothing outlives what started it: the demo's parts, its local jobs and burst instances, helper children.

Every check polls for the final state (gone) with a generous timeout; none races a transient one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from gateway_kit.jobs.demo import BURST_DESTINATION, BURST_OPTIONS
from gateway_kit.jobs.executors.local import LocalExecutor
from gateway_kit.jobs.states import JobState
from gateway_kit.process_lifetime import LIFELINE_ENV, Lifeline, inherited_lifeline
from tests.burst.test_demo_burst import GATED, api_token, toml_inline
from tests.demo_support import demo_env, stop_process_group
from tests.jobs.executor_contract import ExecutorContract

GONE_TIMEOUT = 30.0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _until(check: Callable[[], bool], what: str, timeout: float = GONE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes() and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


SPAWNER = """
import subprocess, sys, time
from gateway_kit.process_lifetime import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         preexec_fn=die_with_parent(), start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_child_started_with_die_with_parent_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", SPAWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # SIGKILL: the parent runs no clean-up at all
        parent.wait()
        _until(lambda: not _alive(child), "the child outlived its SIGKILLed parent")
    finally:
        parent.kill()
        parent.wait()


def test_a_local_job_under_a_lifeline_ends_when_the_line_is_cut(tmp_path: Path) -> None:
    """What the demo hands its worker: the job survives its worker, not the demo."""
    line = Lifeline()
    env_before = os.environ.get(LIFELINE_ENV)
    line.env(os.environ)
    try:
        assert inherited_lifeline() == line.read_fd
        ex = LocalExecutor("local", {}, {"INSTANCE_PATH": str(tmp_path), "JOBS_LOCAL_GPUS": []})
        c = ExecutorContract()
        wd = tmp_path / "job"
        wd.mkdir()
        state = ex.submit(c.spec(wd, "import time; time.sleep(600)", walltime=600))
        started = c.wait(ex, state, {JobState.RUNNING})
        assert started.state is JobState.RUNNING
    finally:
        if env_before is None:
            os.environ.pop(LIFELINE_ENV, None)
        else:
            os.environ[LIFELINE_ENV] = env_before
    line.close()  # the owner is gone
    result = c.wait(ex, state, timeout=60)
    assert result.state is JobState.CANCELED, result.reason
    pgid = int(__import__("json").loads((wd / ".gk" / "started.json").read_text())["pgid"])
    _until(lambda: not _alive(pgid), "the job's process outlived the lifeline")
    ex.release(state)


def test_an_unrelated_fd_is_not_taken_for_a_lifeline(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        assert inherited_lifeline({LIFELINE_ENV: f"{r}:1"}) is None  # wrong inode
        assert inherited_lifeline({LIFELINE_ENV: f"{r}"}) is None
        with open(tmp_path / "f", "w") as f:
            ino = os.fstat(f.fileno()).st_ino
            assert inherited_lifeline({LIFELINE_ENV: f"{f.fileno()}:{ino}"}) is None  # not a pipe
    finally:
        os.close(r)
        os.close(w)


DEMO = [sys.executable, "-m", "gateway_kit", "demo", "--port", "0"]


def _start_detached_demo(tmp_path: Path, gateway_toml: str = "") -> tuple[subprocess.Popen[str], Path, Path]:
    """``setsid gateway-kit demo &`` as a script starts it: own session, SIGINT ignored."""
    instance = tmp_path / "instance"
    ready = tmp_path / "ready"
    if gateway_toml:
        instance.mkdir(parents=True)
        (instance / "gateway.toml").write_text(gateway_toml)
    proc = subprocess.Popen(
        [*DEMO, "--instance", str(instance), "--ready-file", str(ready)],
        cwd=tmp_path,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
        # What a non-interactive shell does to a background command: SIGINT starts ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = stop_process_group(proc)
            raise AssertionError(f"the demo did not start:\n{out}")
        time.sleep(0.2)
    return proc, instance, ready


def _ports(text: str) -> set[tuple[str, int]]:
    return {(h, int(p)) for h, p in re.findall(r"https?://(127\.[\d.]+):(\d+)", text)}


def _processes_under(folder: Path) -> list[int]:
    """Live processes that run in ``folder`` or name it (argv, environment): parts, jobs, instances."""
    marker = f"{folder}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            named = marker in (entry / "cmdline").read_bytes() or marker in (entry / "environ").read_bytes()
            if (named or f"{os.readlink(entry / 'cwd')}/".encode().startswith(marker)) and _alive(
                int(entry.name)
            ):
                found.append(int(entry.name))
    return found


def _cmdlines(pids: list[int]) -> list[str]:
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            found.append(
                f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            )
    return found


def _gated_jobs_toml(folder: Path) -> str:
    """Two applications that run until ``folder/gate`` exists: one local, one on a burst instance."""
    command = json.dumps([sys.executable, "-c", GATED, str(folder / "gate")])
    apps = folder / "gated.toml"
    apps.write_text(
        "".join(
            f'[[application]]\nid = "{name}"\ntitle = "{name}"\nversion = "1"\ncommand = {command}\n'
            "[application.resources]\nwalltime = 600\n"
            for name in ("gated-local", "gated-burst")
        )
    )
    table = {"local": {"executor": "local"}, BURST_DESTINATION: BURST_OPTIONS}
    return (
        f"JOBS_DESTINATIONS_MAP = {toml_inline(table)}\n"
        f'JOBS_ROUTING_RULES = {{gated-local = "local", gated-burst = "{BURST_DESTINATION}"}}\n'
        f"JOBS_APPLICATION_FILES = {json.dumps([str(apps)])}\n"
    )


def _run_gated_jobs(url: str, instance: Path) -> None:
    """Submit both gated applications through the API; return once each has printed its first line."""
    headers = {"Authorization": f"Bearer {api_token(instance)}"}
    ids = []
    for name in ("gated-local", "gated-burst"):
        resp = requests.post(f"{url}/api/v1/jobs", headers=headers, json={"application": name}, timeout=30)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])

    def started(job_id: int) -> bool:
        logs = requests.get(f"{url}/api/v1/jobs/{job_id}/logs?stream=stdout", headers=headers, timeout=30)
        return logs.status_code == 200 and "started" in logs.json()["data"]

    _until(lambda: all(started(i) for i in ids), "the gated jobs did not start", timeout=240)


def test_sigkilled_demo_leaves_no_part_no_job_no_instance_and_no_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("GATEWAY_KIT_")]:
        monkeypatch.delenv(key)  # the token is made in the demo's database, nothing else
    proc, instance, ready = _start_detached_demo(tmp_path, _gated_jobs_toml(tmp_path))
    try:
        parts = _processes_with(f"GATEWAY_KIT_INSTANCE={instance}")
        assert len(parts) >= 3, "local cloud, development provider and worker run as children"
        # A local job (under the worker) and a burst job (an agent on a data-plane instance) run.
        _run_gated_jobs(ready.read_text().strip().rstrip("/"), instance)
        assert len(_processes_under(tmp_path)) > len(parts)
        ports = _ports(ready.read_text())
        for log in (instance / "logs").glob("*.log"):
            ports |= _ports(log.read_text(errors="replace"))
        ports = {hp for hp in ports if _port_open(*hp)}
        assert len(ports) >= 3, ports  # the web app, the local cloud, the provider at least
        killed = time.monotonic()
        proc.kill()  # SIGKILL the demo alone (not its group): no clean-up code runs
        proc.wait()
        _until(lambda: not _processes_with(f"GATEWAY_KIT_INSTANCE={instance}"), "parts outlived the demo")
        _until(lambda: not any(_port_open(*hp) for hp in ports), f"ports still open: {ports}")
        deadline = time.monotonic() + GONE_TIMEOUT
        while left := _processes_under(tmp_path):
            assert time.monotonic() < deadline, f"outlived the demo: {_cmdlines(left)}"
            time.sleep(0.1)
        print(f"everything gone {time.monotonic() - killed:.1f} s after the SIGKILL")  # for -s; not asserted
    finally:
        stop_process_group(proc)
        for pid in _processes_under(tmp_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_detached_demo_stops_on_sigint_and_on_sigterm(tmp_path: Path) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = tmp_path / sig.name
        run.mkdir()
        proc, instance, _ = _start_detached_demo(run)
        try:
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0 and "Stopped." in out, out
            marker = f"GATEWAY_KIT_INSTANCE={instance}"
            _until(lambda m=marker: not _processes_with(m), "parts outlived the demo")  # type: ignore[misc]
        finally:
            stop_process_group(proc)


def test_stop_process_kills_a_child_that_ignores_sigterm_after_the_grace() -> None:
    from gateway_kit.process_lifetime import stop_process

    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    stubborn = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline()  # its handler is in place
    stop_process(stubborn, grace=0.5)
    assert stubborn.returncode == -signal.SIGKILL
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(polite)
    assert polite.returncode == -signal.SIGTERM
    stop_process(polite)  # already ended: nothing to do
