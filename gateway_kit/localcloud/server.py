"""Serving the local cloud: a threaded WSGI server on loopback, and its ``clouds.yaml``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from gateway_kit.localcloud.app import create_app
from gateway_kit.localcloud.core import LocalCloud, LocalCloudConfig

log = logging.getLogger(__name__)

#: clouds.yaml entry name -> (user, project) in the seed. ``devstack*`` are the names
#: openstacksdk's functional tests use.
CLOUD_ENTRIES: dict[str, tuple[str, str]] = {
    "local": ("demo", "demo"),
    "local-admin": ("admin", "admin"),
    "local-alt": ("alt", "alt"),
    "devstack": ("demo", "demo"),
    "devstack-admin": ("admin", "admin"),
    "devstack-alt": ("alt", "alt"),
    "devstack-system-admin": ("admin", "admin"),
}


def clouds_yaml(base_url: str, seed: dict[str, Any], region: str = "RegionOne") -> dict[str, Any]:
    """The ``clouds.yaml`` document for a local cloud at ``base_url``."""
    users = {u["name"]: u for u in seed.get("users", [])}
    clouds: dict[str, Any] = {}
    common = {
        "region_name": region,
        "identity_api_version": 3,
        "volume_api_version": 3,
        "interface": "public",
    }
    for entry, (user, project) in CLOUD_ENTRIES.items():
        if user not in users:
            continue
        clouds[entry] = {
            "auth": {
                "auth_url": base_url + "/identity",
                "username": user,
                "password": users[user]["password"],
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            **common,
        }
    for cred in seed.get("application_credentials", []):
        clouds[f"local-appcred-{cred['name']}"] = {
            "auth_type": "v3applicationcredential",
            "auth": {
                "auth_url": base_url + "/identity",
                "application_credential_id": cred["id"],
                "application_credential_secret": cred["secret"],
            },
            **common,
        }
    return {"clouds": clouds}


def write_clouds_yaml(path: Path, base_url: str, seed: dict[str, Any], region: str = "RegionOne") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by gateway-kit localcloud; credentials of the local cloud's seed.\n"
        + yaml.safe_dump(clouds_yaml(base_url, seed, region), sort_keys=False)
    )
    path.chmod(0o600)
    return path


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``werkzeug`` logger at DEBUG instead of stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class LocalCloudServer:
    """A local cloud served on a background thread (tests, the demo, ``serve``).

    :param config: the cloud's settings.
    :param host: the loopback address to bind.
    :param port: the port; 0 picks a free one.
    :param dns_port: also serve the Designate zones over DNS (UDP and TCP) on this port (0: a
        free one); ``None`` runs no DNS server. The port is :attr:`dns_port` once started.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self, config: LocalCloudConfig, host: str = "127.0.0.1", port: int = 0, dns_port: int | None = None
    ) -> None:
        self._dns_request = dns_port
        self._dns: Any = None
        self.dns_port: int | None = None
        self.app: Flask = create_app(config)
        self.cloud: LocalCloud = self.app.extensions["localcloud"]
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, self.app, threaded=True, request_handler=_QuietHandler
            )
        except SystemExit as exc:
            # Werkzeug exits the process when the port is taken; callers want an error.
            self.cloud.close()
            raise OSError(f"address {host}:{port} is already in use") from exc
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_clouds_yaml(self, path: Path) -> Path:
        return write_clouds_yaml(path, self.url, self.cloud.seed_data, self.cloud.config.region)

    def _start_dns(self) -> None:
        if self._dns_request is not None and self._dns is None:
            from gateway_kit.localcloud.services.dns import start_dns_server

            self._dns = start_dns_server(self.cloud, self.host, self._dns_request)
            self.dns_port = self._dns.port

    def start(self) -> LocalCloudServer:
        self._start_dns()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"localcloud:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._start_dns()
        try:
            self._server.serve_forever()
        finally:
            self._stop_dns()

    def _stop_dns(self) -> None:
        if self._dns is not None:
            self._dns.stop()
            self._dns = None

    def stop(self) -> None:
        self._stop_dns()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.cloud.close()

    def __enter__(self) -> LocalCloudServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
