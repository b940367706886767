"""slurmctld itself calls ``gateway-kit slurm resume`` / ``suspend`` for its State=CLOUD nodes.

The CI cluster's ResumeProgram/SuspendProgram (``.ci/services.sh``) delegate to
``power/{resume,suspend}.hook`` when present. This test installs hooks that run the real
``gateway-kit slurm resume|suspend`` CLI against a local cloud, submits a job to the ``cloud``
partition through the SLURM executor, and watches slurmctld power a node up (a server is created
in the local cloud, SLURM's NodeAddr set to its address), run the job, and power it down after
``SuspendTime`` (the server is deleted).

The local cloud's servers boot no operating system, so after ``gateway-kit slurm resume`` the hook
starts a ``slurmd`` on this host to stand in for each instance (``slurmd -b``, else slurmctld
ignores the registration; through a shim that clears the signal mask slurmctld's children inherit,
else the slurmd cannot be stopped) and points the node back at 127.0.0.1; the suspend hook stops it
before ``gateway-kit slurm suspend`` deletes the server.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest

from gateway_kit.jobs.executors.base import JobSpec
from gateway_kit.jobs.states import JobState
from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.server import LocalCloudServer
from gateway_kit.slurm.executor import SlurmExecutor

from .conftest import SETTINGS

pytestmark = pytest.mark.slurm
#: Installs the cluster's power hooks and drives its cloud nodes: no other test run may use SLURM
#: meanwhile (conftest.slurm_lock).
SLURM_EXCLUSIVE = True

CLOUD_NODES = ("gkcloud1", "gkcloud2")

SHIM = (
    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
    "signal.signal(signal.SIGPIPE, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
)


def _hooks(d: Path, env: dict[str, str], log: Path) -> dict[str, str]:
    gk = shlex.quote(str(Path(sys.executable).with_name("gateway-kit")))
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    head = (
        f"#!/bin/bash\n# Installed by tests/slurm/test_elastic_slurmctld.py.\n"
        f"export PATH=/usr/sbin:/usr/bin:/sbin:/bin {exports}\n"
    )
    resume = (
        head
        + f"""\
{gk} slurm resume --log-file {log} "$1" >> {log}.out 2>&1 || exit 1
# The local cloud boots no OS: a slurmd on this host stands in for each new instance.
for n in $(scontrol show hostnames "$1"); do
  echo "$n: instance NodeAddr=$(scontrol -o show node $n | grep -o 'NodeAddr=[^ ]*')" >> {log}
  scontrol update NodeName=$n NodeAddr=127.0.0.1 NodeHostname=localhost
  mkdir -p {d}/spool-$n
  setsid {shlex.quote(sys.executable)} -c {shlex.quote(SHIM)} /usr/sbin/slurmd -D -b -N $n \\
    >> {d}/log/slurmd-$n.stdout 2>&1 < /dev/null &
done
exit 0
"""
    )
    suspend = (
        head
        + f"""\
for n in $(scontrol show hostnames "$1"); do
  pidf={d}/slurmd-$n.pid
  [ -f $pidf ] && kill "$(cat $pidf)" 2>/dev/null
done
exec {gk} slurm suspend --log-file {log} "$1" >> {log}.out 2>&1
"""
    )
    return {"resume": resume, "suspend": suspend}


def _stop_stand_ins(d: Path) -> None:
    for node in CLOUD_NODES:
        try:
            pid = int((d / f"slurmd-{node}.pid").read_text())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.fixture()
def cloud_hooks(
    slurm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Path]]:
    server = LocalCloudServer(LocalCloudConfig(state_dir=None, clock=ClockConfig(delay=0.05))).start()
    power = slurm_dir / "power"
    try:
        clouds = server.write_clouds_yaml(tmp_path / "clouds.yaml")
        config = tmp_path / "gateway.toml"
        config.write_text(
            'ENV = "testing"\nCLOUD_NAME = "local"\n'
            f'SLURM_CONF = "{os.environ["SLURM_CONF"]}"\n'
            'SLURM_CLOUD_IMAGE = "Featured-Ubuntu24"\nSLURM_CLOUD_NETWORK = "private"\n'
            "SLURM_CLOUD_WAIT_SECONDS = 30\n"
            'SLURM_CLOUD_FLAVORS = \'{"small": "m3.tiny", "default": "m3.small"}\'\n'
        )
        (tmp_path / "instance").mkdir()
        log = tmp_path / "elastic.log"
        env = {
            "SLURM_CONF": os.environ["SLURM_CONF"],
            "OS_CLIENT_CONFIG_FILE": str(clouds),
            "GATEWAY_KIT_CONFIG": str(config),
            "GATEWAY_KIT_INSTANCE": str(tmp_path / "instance"),
            "HOME": str(tmp_path),
        }
        for name, text in _hooks(slurm_dir, env, log).items():
            tmp = power / f".{name}.hook.tmp"
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, power / f"{name}.hook")
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
        yield openstack.connect(cloud="local"), log
    finally:
        for name in ("resume", "suspend"):
            (power / f"{name}.hook").unlink(missing_ok=True)
        _stop_stand_ins(slurm_dir)
        server.stop()


def _power_log(d: Path) -> str:
    try:
        return (d / "log" / "power.log").read_text()
    except OSError:
        return ""


def _node_state(node: str) -> str:
    return subprocess.run(
        ["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True, check=False
    ).stdout.strip()


def test_slurmctld_resumes_and_suspends_cloud_nodes_in_the_local_cloud(
    slurm_dir: Path, cloud_hooks: tuple[Any, Path], tmp_path: Path
) -> None:
    conn, log = cloud_hooks
    before = len(_power_log(slurm_dir))
    ex = SlurmExecutor(
        "cloud",
        {"executor": "slurm", "partition": "cloud"},
        {**SETTINGS, "SLURM_JOB_NAME_PREFIX": f"gke{os.getpid()}"},
    )
    wd = tmp_path / "job"
    wd.mkdir()
    state = ex.submit(
        JobSpec(
            job_id=1,
            argv=["sh", "-c", "echo ran on $SLURMD_NODENAME"],
            workdir=str(wd),
            cpus=1,
            memory_mb=100,
            walltime=120,
        )
    )

    # slurmctld powers a node up: ResumeProgram -> gateway-kit slurm resume -> a server.
    deadline = time.monotonic() + 90
    while True:
        res = ex.poll(state)
        if res.state.terminal or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    calls = _power_log(slurm_dir)[before:]
    detail = f"{res}\npower.log: {calls}\nelastic.log: {log.read_text() if log.exists() else ''}"
    assert res.state is JobState.COMPLETED, detail
    node = (wd / "stdout.txt").read_text().split()[-1]
    assert node in CLOUD_NODES
    assert re.search(r"RESUME \S*gkcloud", calls), calls
    servers = {s.name: s for s in conn.compute.servers()}
    assert node in servers and servers[node].status == "ACTIVE", servers
    assert servers[node].metadata == {"gateway_kit_slurm_node": node}
    assert servers[node].flavor.original_name == "m3.tiny"  # feature 'small'
    said = log.read_text()
    assert f"node {node}: created server" in said
    address = next(iter(next(iter(servers[node].addresses.values()))))["addr"]
    assert f"node {node}: NodeAddr={address}" in said  # gateway-kit pointed SLURM at the server

    # ... and down again after SuspendTime idle: SuspendProgram -> gateway-kit slurm suspend.
    deadline = time.monotonic() + 90
    while node in {s.name for s in conn.compute.servers()} and time.monotonic() < deadline:
        time.sleep(1)
    calls = _power_log(slurm_dir)[before:]
    assert node not in {s.name for s in conn.compute.servers()}, (calls, log.read_text())
    assert re.search(r"SUSPEND \S*gkcloud", calls), calls
    assert f"node {node}: deleted server" in log.read_text()
    deadline = time.monotonic() + 60
    while "~" not in _node_state(node) and time.monotonic() < deadline:  # idle~ = powered off
        time.sleep(1)
    assert _node_state(node).endswith("~"), _node_state(node)
