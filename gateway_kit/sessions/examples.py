"""Example interactive applications (``PLUGINS = ["gateway_kit.sessions.examples"]``).

* ``jupyterlab``: JupyterLab's real server (``pip install 'gateway-kit[jupyter]'``), with the
  kit's port, base URL and token; its ``/api/status`` ``last_activity`` drives idle culling, as
  jupyterhub-idle-culler does. Registered only when JupyterLab is installed.
* ``hello-web``: a small page and WebSocket echo (:mod:`.hello_web`), culled on the proxy's
  traffic clock.
"""

from __future__ import annotations

import importlib.util
import sys

from flask import Flask

from ..jobs.apps import register_application

JUPYTERLAB = {
    "id": "jupyterlab",
    "title": "JupyterLab",
    "version": "4",
    "kind": "interactive",
    "description": "Notebooks, a terminal and a file browser in your browser, reached through the gateway.",
    "resources": {
        "cpus": 1,
        "max_cpus": 4,
        "memory_mb": 4096,
        "walltime": 3600,
        "max_walltime": 8 * 3600,
    },
    "interactive": {"readiness_path": "api/status", "activity": "jupyter", "idle_timeout": 1800},
    # In the environment, not argv: the process list is readable by every local user.
    "env": {"JUPYTER_TOKEN": "{token}"},
}


def jupyterlab_command(python: str) -> list[str]:
    return [
        python,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip={host}",
        "--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.base_url={base_url}",
        # The proxy forwards the browser's Host (the gateway's name): not a local address.
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.root_dir=.",
        # The local executor runs servers as the gateway's own user (root in containers and CI).
        "--allow-root",
        "--LabApp.extension_manager=readonly",
        # No calls to the internet from the server: no news feed, no update check.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


HELLO_WEB = {
    "id": "hello-web",
    "title": "Hello web app",
    "version": "1.0",
    "kind": "interactive",
    "description": "A small web page with a WebSocket echo: any server that listens on the given port "
    "and base URL works as a session.",
    "resources": {"cpus": 1, "memory_mb": 512, "walltime": 1800, "max_walltime": 4 * 3600},
    "interactive": {"readiness_path": "api/status", "activity": "proxy", "idle_timeout": 900},
    "env": {"HELLO_WEB_TOKEN": "{token}"},
}


def init_app(app: Flask) -> None:
    py = sys.executable
    if importlib.util.find_spec("jupyterlab") is not None:
        register_application(app, {**JUPYTERLAB, "command": jupyterlab_command(py)})
    register_application(
        app,
        {
            **HELLO_WEB,
            "command": [
                py,
                "-m",
                "gateway_kit.sessions.hello_web",
                "--host",
                "{host}",
                "--port",
                "{port}",
                "--base-url",
                "{base_url}",
            ],
        },
    )
