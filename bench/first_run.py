"""Time a fresh clone to the demo's URL, and a warm demo start, next to the targets.

    python bench/first_run.py [--online] [--keep]

1. ``git clone`` of this repository (its committed HEAD) into a temporary folder;
2. ``make .venv/.installed`` there: a new virtualenv, uv from the package index, every
   dependency through uv at the versions of ``requirements.lock`` (pip if uv fails);
3. ``gateway-kit demo --port 0`` in the clone until its URL answers ``/healthz`` (cold start);
4. the demo again in the same clone (warm start: the virtualenv and instance folder exist).

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
TARGETS: dict[str, float] = {"fresh clone to URL": 60.0, "warm start": 3.0}


def timed(label: str, figures: dict[str, float], argv: list[str], **kwargs: object) -> None:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    figures[label] = time.monotonic() - start


def demo_start(clone: Path, env: dict[str, str]) -> float:
    """Seconds from starting ``gateway-kit demo`` to its ``/healthz`` answering 200."""
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
                        return time.monotonic() - start
                except requests.RequestException:
                    pass
            if time.monotonic() - start > 300:
                sys.exit("the demo did not answer /healthz within 300 s")
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online", action="store_true", help="Let the install reach the package index.")
    parser.add_argument("--keep", action="store_true", help="Keep the clone (its path is printed).")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_KIT_", "VIRTUAL_ENV"))}
    if not args.online:
        env.update({"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"})
    work = Path(tempfile.mkdtemp(prefix="gk-first-run-"))
    clone = work / "gateway-kit"
    figures: dict[str, float] = {}
    try:
        timed("clone", figures, ["git", "clone", "-q", str(REPO), str(clone)])
        make = ["make", "-C", str(clone), ".venv/.installed"]
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        if Path(uv).exists():  # offline, uv cannot come from the index: use this one
            make.append(f"UV={uv}")
        timed("install", figures, make, env=env)
        figures["cold start"] = demo_start(clone, env)
        figures["fresh clone to URL"] = figures["clone"] + figures["install"] + figures["cold start"]
        figures["warm start"] = demo_start(clone, env)
    finally:
        if args.keep:
            print(f"clone kept in {clone}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    mode = "online" if args.online else "offline, from uv's cache"
    print(f"first run of gateway-kit ({mode}); wall-clock seconds on this machine")
    print(f"{'step':<22}{'seconds':>10}{'target':>10}")
    for name, value in figures.items():
        target = TARGETS.get(name)
        print(f"{name:<22}{value:>10.1f}{(f'< {target:g}' if target else ''):>10}")


if __name__ == "__main__":
    main()
