"""Starting a local cloud process and waiting for it to answer: the demo at run time, the test fixtures.

This module needs nothing beyond the kit's runtime dependencies (no pytest), so an installed
wheel's ``gateway-kit demo`` can start its local cloud.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def serve_argv(port: int, state_dir: Path, *flags: str, **options: object) -> list[str]:
    """The command serving a local cloud on ``port`` with its state in ``state_dir``.

    :param flags: switches as written (``"--dataplane"``).
    :param options: ``serve`` options by name (``dns_port=0`` -> ``--dns-port 0``).
    """
    argv = [sys.executable, "-m", "gateway_kit.localcloud", "serve", "--port", str(port)]
    argv += ["--state-dir", str(state_dir)]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return [*argv, *flags]


def wait_until_up(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the cloud at ``url`` answers Keystone's version document.

    :param process: the cloud's process, if this caller started it; its exit ends the wait.
    :raises RuntimeError: when ``process`` exits first.
    :raises TimeoutError: after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"local cloud exited with status {process.returncode}")
        try:
            if requests.get(url + "/identity", timeout=2).status_code in (200, 300):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"local cloud at {url} did not come up within {timeout} s")
