"""Waiting for a local cloud to answer: used by the demo at run time and by the test fixtures.

This module needs nothing beyond the kit's runtime dependencies (no pytest), so an installed
wheel's ``gateway-kit demo`` can start its local cloud.
"""

from __future__ import annotations

import socket
import subprocess
import time

import requests


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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
