"""Time a fresh clone to the demo's URL, and a warm demo start, next to the targets.

    python bench/first_run.py [--online] [--keep] [--warm-runs 5] [--baseline REV]

1. ``git clone`` of this repository (its committed HEAD) into a temporary folder;
2. ``make .venv/.installed`` there: a new virtualenv, uv from the package index, every
   dependency through uv at the versions of ``requirements.lock`` (pip if uv fails);
3. ``gateway-kit demo --port 0`` in the clone until its URL answers ``/healthz`` (cold start);
4. the demo again in the same clone, ``--warm-runs`` times (warm start: the virtualenv and the
   instance folder exist); the table gives the median, and the machine's load average beside it
   (wall-clock figures on a shared machine depend on it), and the demo process's own CPU seconds
   until ``/healthz`` answered (its start-up's critical path, whatever the load).

With ``--baseline REV`` a second clone checked out at ``REV`` goes through the same steps and
its warm starts alternate with this one's, so that both columns see the same load.

The clone's Python writes its bytecode caches, as on a user's machine (``PYTHONDONTWRITEBYTECODE``
is dropped from the environment: with it every start would compile every module again).

By default the install runs offline (``UV_OFFLINE=1``, ``PIP_NO_INDEX=1``) with the uv of this
virtualenv: from uv's cache, as on a machine that has installed the kit once, so that the bench
itself talks only to loopback. Pass
``--online`` to let it reach the package index (a cold first install, whose time depends on the
network). Targets (issue 21): fresh clone to URL under 60 s, warm start under 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
TARGETS: dict[str, float] = {"fresh clone to URL": 60.0, "warm start": 3.0}


def timed(argv: list[str], **kwargs: object) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(f"{argv} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.monotonic() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def demo_start(clone: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from starting ``gateway-kit demo`` to its ``/healthz`` answering 200, and the CPU
    seconds the demo process itself used by then."""
    ready = clone / "ready"
    ready.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(clone / ".venv/bin/gateway-kit"), "demo", "--port", "0", "--ready-file", str(ready)],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if proc.poll() is not None:
                sys.exit(f"the demo ended with status {proc.returncode}; see {clone / 'instance/logs'}")
            if ready.exists():
                url = ready.read_text().strip().rstrip("/")
                try:
                    if requests.get(url + "/healthz", timeout=5).status_code == 200:
                        return time.monotonic() - start, cpu_seconds(proc.pid)
                except requests.RequestException:
                    pass
            if time.monotonic() - start > 300:
                sys.exit("the demo did not answer /healthz within 300 s")
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def first_run(clone: Path, rev: str | None, env: dict[str, str]) -> dict[str, float]:
    """Clone (at ``rev``), install and start the demo once (cold); the steps' seconds."""
    figures = {"clone": timed(["git", "clone", "-q", str(REPO), str(clone)])}
    if rev:
        figures["clone"] += timed(["git", "-C", str(clone), "checkout", "-q", rev])
    make = ["make", "-C", str(clone), ".venv/.installed"]
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if Path(uv).exists():  # offline, uv cannot come from the index: use this one
        make.append(f"UV={uv}")
    figures["install"] = timed(make, env=env)
    figures["cold start"] = demo_start(clone, env)[0]
    figures["fresh clone to URL"] = figures["clone"] + figures["install"] + figures["cold start"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online", action="store_true", help="Let the install reach the package index.")
    parser.add_argument("--keep", action="store_true", help="Keep the clones (their paths are printed).")
    parser.add_argument("--warm-runs", type=int, default=5, help="Warm starts to take the median of.")
    parser.add_argument("--baseline", metavar="REV", help="Also measure this revision, side by side.")
    args = parser.parse_args()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GATEWAY_KIT_", "VIRTUAL_ENV")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    if not args.online:
        env.update({"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"})
    work = Path(tempfile.mkdtemp(prefix="gk-first-run-"))
    rev_parse = ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]
    head = subprocess.run(rev_parse, capture_output=True, text=True)
    columns: dict[str, tuple[Path, str | None]] = {head.stdout.strip() or "HEAD": (work / "head", None)}
    if args.baseline:
        columns[args.baseline] = (work / "baseline", args.baseline)
    table: dict[str, dict[str, float]] = {}
    warm: dict[str, list[tuple[float, float]]] = {name: [] for name in columns}
    try:
        for name, (clone, rev) in columns.items():
            table[name] = first_run(clone, rev, env)
        for _ in range(max(1, args.warm_runs)):  # alternating: both see the same load
            for name, (clone, _rev) in columns.items():
                warm[name].append(demo_start(clone, env))
    finally:
        if args.keep:
            print(f"clones kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for name, runs in warm.items():
        table[name]["warm start (median)"] = statistics.median(w for w, _ in runs)
        table[name]["  demo CPU s (median)"] = statistics.median(c for _, c in runs)
    mode = "online" if args.online else "offline, from uv's cache"
    print(f"first run of gateway-kit ({mode}); wall-clock seconds on this machine")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, runs in warm.items():
        print(f"warm starts of {name}: " + " ".join(f"{w:.1f}" for w, _ in runs))
    print(f"{'step':<24}" + "".join(f"{name:>12}" for name in table) + f"{'target':>10}")
    for step in next(iter(table.values())):
        target = TARGETS.get(step.removesuffix(" (median)"))
        cells = "".join(f"{figures[step]:>12.1f}" for figures in table.values())
        print(f"{step:<24}{cells}{(f'< {target:g}' if target else ''):>10}")


if __name__ == "__main__":
    main()
