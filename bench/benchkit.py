"""What the bench scripts share: a gateway with a bench user, its settings as environment, processes.

A bench script in this folder imports it as a sibling module (``from benchkit import ...``: the
script's folder is first on ``sys.path``). Nothing here measures anything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent

#: gunicorn serving ``create_app()`` with the kit's configuration (bind and workers from the
#: ``GUNICORN_*`` environment).
GUNICORN = [
    sys.executable,
    "-m",
    "gunicorn",
    "-c",
    "python:gateway_kit.gunicorn_conf",
    "gateway_kit:create_app()",
]


def kit_environment(settings: Mapping[str, Any], **extra: str) -> dict[str, str]:
    """This process's environment without its ``GATEWAY_KIT_*`` variables, then ``settings`` as
    ``GATEWAY_KIT_<KEY>`` (strings as they are, anything else as JSON) and ``extra`` as given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    for key, value in settings.items():
        env[f"GATEWAY_KIT_{key}"] = value if isinstance(value, str) else json.dumps(value)
    env.update(extra)
    return env


def gateway_with_bench_user(settings: Mapping[str, Any], instance: Path) -> Any:
    """An app built with ``settings``, its database migrated, and user ``bench`` a member of
    project ``bench`` with an allocation that never runs out."""
    from gateway_kit import create_app
    from gateway_kit.db import upgrade
    from gateway_kit.jobs.testing import make_member

    app = create_app(dict(settings), instance_path=str(instance))
    upgrade(app)
    make_member(app, "bench", "bench", 1e9)
    return app


def start_worker(env: Mapping[str, str], cwd: Path, stderr: IO[bytes] | int = subprocess.DEVNULL) -> Any:
    """``gateway-kit worker`` in a child process with ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "worker"],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def stop_all(procs: Iterable[subprocess.Popen[bytes]], grace: float) -> None:
    """End the bench's child processes: SIGTERM to those still running, then ``grace`` seconds
    each before SIGKILL. Nothing of a bench outlives it, whatever happened."""
    from gateway_kit.process_lifetime import stop_process

    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        stop_process(proc, grace)


def long_run_parser(doc: str) -> argparse.ArgumentParser:
    """The argument parser of a long run (chaos, soak), described by the first line of ``doc``;
    ``--json`` also prints the totals as one JSON line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print the totals as one JSON line")
    return parser


def take_interrupts() -> None:
    """Started in the background by a shell, SIGINT starts ignored: take it (and SIGTERM) back,
    so either ends a long run early (``KeyboardInterrupt``) with the totals of what was done."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
