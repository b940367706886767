"""CPU time of the day-2 commands (``vm list``, ``volume snapshots``, ``dns zones``...) next to
``python -c pass`` and ``gateway-kit --version``, against a local cloud with something in it.

    python bench/cli_day2.py [--runs 5] [--baseline REV]

A local cloud runs in a subprocess with a server, a volume, a snapshot and a DNS zone with a
record; each command runs ``--runs`` times in a fresh interpreter (this virtualenv's) with
``OS_CLIENT_CONFIG_FILE`` pointing at it. The table gives the median CPU seconds (user + system) of
the command's process, which leaves out the time it waits for the cloud's answers, and the
median wall-clock seconds, which includes them (and a busy machine's queueing). Target
(issue 21): every day-2 command under 1 s of its own, plus its cloud calls.

With ``--baseline REV`` the kit's sources at ``REV`` (``git archive``, put first on
``PYTHONPATH``, same virtualenv) run each command too, alternating with this checkout's runs, and
their CPU seconds print beside.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KIT = [sys.executable, "-m", "gateway_kit"]
ZONE = "day2.example.org."
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "gateway-kit --version": [*KIT, "--version"],
    "vm list": [*KIT, "vm", "list"],
    "vm show web-1": [*KIT, "vm", "show", "web-1"],
    "vm console-log web-1": [*KIT, "vm", "console-log", "web-1"],
    "volume list": [*KIT, "volume", "list"],
    "volume snapshots": [*KIT, "volume", "snapshots"],
    "dns zones": [*KIT, "dns", "zones"],
    f"dns records {ZONE}": [*KIT, "dns", "records", ZONE],
    "deploy list": [*KIT, "deploy", "list"],
    "certs list": [*KIT, "certs", "list"],
    "burst status": [*KIT, "burst", "status"],
}
TARGET_CPU_S = 1.0

if TYPE_CHECKING:
    from gateway_kit.localcloud.testing import RunningLocalCloud


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds of the child (user + system) and wall-clock seconds.

    It runs in the system's temporary folder: ``python -m`` puts its working folder first on
    ``sys.path``, where this checkout's ``gateway_kit`` would shadow a baseline's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        name = " ".join(argv[2:])
        sys.exit(f"{name} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def seed(cloud: RunningLocalCloud) -> None:
    """A server, a volume with a snapshot, a zone with a record (what day 2 looks at)."""
    from gateway_kit.localcloud.testing import boot_server

    conn, _server = boot_server(cloud, "web-1")
    volume = conn.block_storage.create_volume(name="data-1", size=1)
    conn.block_storage.wait_for_status(volume, "available", interval=0.05, wait=60)
    snap = conn.block_storage.create_snapshot(volume_id=volume.id, name="data-1-snap")
    conn.block_storage.wait_for_status(snap, "available", interval=0.05, wait=60)
    zone = conn.dns.create_zone(name=ZONE, email=f"ops@{ZONE.rstrip('.')}", ttl=300)
    conn.dns.wait_for_status(zone, "ACTIVE", interval=0.05, wait=60)
    conn.dns.create_recordset(zone, name=f"www.{ZONE}", type="A", records=["127.0.0.1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="Also run the kit as of this revision.")
    args = parser.parse_args()

    from gateway_kit.localcloud.testing import running_local_cloud

    tmp = Path(tempfile.mkdtemp(prefix="gk-day2-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GATEWAY_KIT_", "OS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    with running_local_cloud(tmp / "cloud", subprocess_mode=True) as cloud:
        seed(cloud)
        env.update(
            {
                "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml),
                "GATEWAY_KIT_CLOUD_NAME": "local",
                "GATEWAY_KIT_INSTANCE": str(tmp / "instance"),
            }
        )
        run([*KIT, "db", "upgrade"], env)  # the database the deploy/certs/burst commands read
        for argv in COMMANDS.values():  # a first run writes the bytecode caches, as a user's does
            run(argv, env)
        old_env = None
        if args.baseline:
            old_src = tmp / "baseline"
            old_src.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive.stdout, check=True)
            old_env = {**env, "PYTHONPATH": str(old_src)}
            for argv in COMMANDS.values():
                run(argv, old_env)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        baseline: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):  # alternating, so that both see the same load
            for name, argv in COMMANDS.items():
                figures[name].append(run(argv, env))
                if old_env is not None:
                    baseline[name].append(run(argv, old_env))
    base_cpu = statistics.median(c for c, _ in figures["python -c pass"])
    print(f"day-2 commands against a local cloud; medians of {args.runs} runs")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    old_head = f"CPU s {args.baseline}" if args.baseline else ""
    print(f"{'command':<34}{'CPU s':>8}{'minus pass':>12}{'wall s':>9}{old_head:>18}{'target CPU':>12}")
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        old = f"{statistics.median(c for c, _ in baseline[name]):.2f}" if baseline[name] else ""
        target = "" if name.startswith(("python", "gateway-kit")) else f"< {TARGET_CPU_S:g}"
        print(f"{name:<34}{cpu:>8.2f}{cpu - base_cpu:>12.2f}{wall:>9.2f}{old:>18}{target:>12}")


if __name__ == "__main__":
    main()
