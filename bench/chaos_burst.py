"""The burst side of ``bench/chaos_jobs.py``: a local cloud whose instances really run, and its faults.

:class:`ChaosCloud` runs ``gateway-kit localcloud serve --dataplane`` as a process of its own (so
that it can be restarted: its instances' processes end with it and boot again with it, as after a
host reboot) on a free loopback port, its state in the bench's folder. Each trial serves the
trial's gateway to the agents (:class:`AgentAPI`, a thread of the bench) and routes part of its
jobs to a ``burst`` destination on that cloud. The faults (:data:`FAULTS`): SIGKILL of an agent
(the job's processes live on), delete or stop of an instance, restart of the whole cloud.

After a trial, :func:`check_instances` checks the instance-hours: every instance row deleted and
charged once, its ledger entries (the jobs' shares and the idle time) summing to its charge, and
no server of the trial left in the cloud. Nothing here is a fake: the agents are
``gateway-kit agent`` processes talking HTTP to the gateway, the instances' processes are ended
by the local cloud's data plane.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

#: The burst destination of each trial (one CPU per instance: one job at a time on each); each
#: trial names its own (:func:`destination_name`), so no trial can take another's servers.
DESTINATION: dict[str, Any] = {
    "executor": "burst",
    "cloud": "local",
    "image": "cirros-0.6.2-x86_64-disk",
    "su_per_cpu_hour": 1.0,
    "su_per_gpu_hour": 4.0,
    "min_instances": 0,
    "max_instances": 2,
    "idle_timeout": 1.0,
    "charge_project": "burst-ops",
}
#: Quick heartbeats; an agent silent for 6 s (killed, or its instance stopped) fails its instance.
SETTINGS: dict[str, Any] = {
    "BURST_HEARTBEAT_INTERVAL": 0.3,
    "BURST_HEARTBEAT_TIMEOUT": 6.0,
    "BURST_BOOT_TIMEOUT": 90.0,
    "BURST_TOKEN_TTL": 30.0,
    "BURST_RECONCILE_INTERVAL": 0.5,
    "BURST_MAX_REQUEUES": 8,
}
FAULTS = ("agent_kill", "instance_delete", "instance_stop", "cloud_restart")


def destination_name(backend: str, n: int) -> str:
    return f"b{backend[0]}{n}"


def server_prefix(destination: str) -> str:
    return f"gk-burst-{destination}-"


class ChaosCloud:
    """``gateway-kit localcloud serve --dataplane`` in a process of its own (see the module)."""

    def __init__(self, base: Path) -> None:
        from gateway_kit.localcloud.readiness import free_port

        self.dir = base / "cloud"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.clouds_yaml = self.dir / "clouds.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self._conn: Any = None

    def start(self) -> None:
        from gateway_kit.localcloud.readiness import wait_until_up
        from gateway_kit.process_lifetime import die_with_parent

        argv = [
            *(sys.executable, "-m", "gateway_kit.localcloud", "serve", "--port", str(self.port)),
            *("--state-dir", str(self.dir), "--clouds-yaml", str(self.clouds_yaml)),
            *("--delay", "0.05", "--no-dns", "--dataplane"),
        ]
        with open(self.dir / "localcloud.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        wait_until_up(self.url, timeout=120, process=self.proc)
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)  # the workers inherit it
        self._conn = None

    def stop(self) -> None:
        """SIGTERM: the cloud ends its instances' processes, then itself."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def conn(self) -> Any:
        import openstack

        if self._conn is None:
            self._conn = openstack.connect(cloud="local")
        return self._conn

    def servers(self, prefix: str) -> list[Any]:
        return [s for s in self.conn().compute.servers() if str(s.name).startswith(prefix)]

    def agents(self, server_id: str) -> list[int]:
        """Pids of the agent running on instance ``server_id``."""
        found = []
        config = str(self.dir / "dataplane" / server_id / "rootfs" / "etc" / "gateway-kit" / "agent.json")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if "agent" in argv and config in argv:
                found.append(int(entry.name))
        return found

    def inject(self, fault: str, instance: str) -> bool:
        """Inject ``fault`` on the instance named ``instance`` (one running a job); False when it
        has nothing to act on (the instance or its agent is gone already)."""
        if fault == "cloud_restart":
            self.restart()
            return True
        found = [s for s in self.servers(instance) if s.name == instance and s.status == "ACTIVE"]
        if not found:
            return False
        server = found[0]
        if fault == "agent_kill":
            pids = self.agents(server.id)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return bool(pids)
        if fault == "instance_delete":
            self.conn().compute.delete_server(server.id)
        else:
            self.conn().compute.stop_server(server.id)
        return True


def running_on(app: Any) -> list[str]:
    """Names of the instances that run a burst job now."""
    from sqlalchemy import select

    from gateway_kit.burst.models import BurstJob
    from gateway_kit.db import db

    with db.session_scope(app) as s:
        return sorted(
            {
                str(n)
                for n in s.scalars(select(BurstJob.instance_name).where(BurstJob.state == "running"))
                if n
            }
        )


class AgentAPI:
    """The trial's gateway served over HTTP (a thread) for its instances' agents."""

    def __init__(self, app: Any, port: int) -> None:
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per agent request
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def seed_charge_project(session: Any) -> None:
    from gateway_kit.identity.models import Project
    from gateway_kit.jobs import accounting

    project = Project(name=str(DESTINATION["charge_project"]), title="Burst instance-hours")
    session.add(project)
    session.flush()
    accounting.set_allocation(session, project, 100000.0, None, top_up=False, note="chaos bench")


def retired(app: Any, cloud: ChaosCloud, prefix: str) -> bool:
    """Whether every instance of the trial is deleted and charged (the pool retires idle ones)
    and its server gone from the cloud."""
    return instances_settled(app) and not cloud.servers(prefix)


def instances_settled(app: Any) -> bool:
    """Whether every instance row of the trial is deleted (or failed) and charged."""
    from sqlalchemy import select

    from gateway_kit.burst.models import BurstInstance
    from gateway_kit.db import db

    with db.session_scope(app) as s:
        rows = list(s.scalars(select(BurstInstance)))
        return all(r.state in ("deleted", "failed") and r.settled for r in rows)


def check_instances(app: Any, cloud: ChaosCloud, prefix: str) -> list[str]:
    """Instance-hours: each instance charged once, its ledger entries summing to its charge, the
    charge project's ``su_used`` their sum, and no server of the trial left in the cloud."""
    from sqlalchemy import select

    from gateway_kit.burst.models import BurstInstance
    from gateway_kit.db import db
    from gateway_kit.identity.models import Project
    from gateway_kit.jobs.models import Allocation, LedgerEntry

    problems: list[str] = []
    with db.session_scope(app) as s:
        project = s.scalars(select(Project).where(Project.name == DESTINATION["charge_project"])).one()
        alloc = s.scalars(select(Allocation).where(Allocation.project_id == project.id)).one()
        entries = list(
            s.scalars(
                select(LedgerEntry).where(LedgerEntry.project_id == project.id, LedgerEntry.kind == "charge")
            )
        )
        rows = list(s.scalars(select(BurstInstance)))
        for row in rows:
            if not row.settled:
                problems.append(f"instance {row.name} ({row.state}) never charged")
                continue
            mine = [e for e in entries if e.note.startswith(f"burst instance {row.name} ")]
            total = -sum(e.amount for e in mine)
            if abs(total - (row.su_charged or 0.0)) > 1e-5:
                problems.append(f"instance {row.name}: ledger {total:.6f} != charged {row.su_charged:.6f}")
        names = {f"burst instance {r.name} " for r in rows}
        strays = [e.note for e in entries if not any(e.note.startswith(n) for n in names)]
        problems += [f"a charge to {project.name} matched to no instance: {n}" for n in strays]
        used = sum(r.su_charged or 0.0 for r in rows)
        if abs(alloc.su_used - used) > 1e-5:
            problems.append(f"{project.name}: su_used {alloc.su_used:.6f} != instances' charges {used:.6f}")
    left = [f"{s.name} {s.status}" for s in cloud.servers(prefix)]
    problems += [f"server {name} left in the cloud" for name in left]
    return problems
