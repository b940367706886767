"""A local cloud on loopback for the Designate/Octavia/Barbican/DNS tests.

Stand-in until the shared local-cloud fixture is used here: it starts the real server
(:class:`gateway_kit.localcloud.server.LocalCloudServer`) with fast transitions, writes its
``clouds.yaml`` and points openstacksdk at it, plus the DNS server on a free port.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack
from openstack.connection import Connection

from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig
from gateway_kit.localcloud.dnsserver import LocalDnsServer
from gateway_kit.localcloud.server import LocalCloudServer
from gateway_kit.localcloud.services.dns import start_dns_server

DELAY = 0.05


@dataclass
class Running:
    server: LocalCloudServer
    dns: LocalDnsServer
    clouds_yaml: Path

    def connect(self, cloud: str = "local") -> Connection:
        return openstack.connect(cloud=cloud)


def running_cloud() -> Iterator[Running]:
    tmp = Path(tempfile.mkdtemp(prefix="lc-svc-"))
    server = LocalCloudServer(LocalCloudConfig(state_dir=None, clock=ClockConfig(delay=DELAY))).start()
    clouds = server.write_clouds_yaml(tmp / "clouds.yaml")
    old = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    dns = start_dns_server(server.cloud)
    try:
        yield Running(server, dns, clouds)
    finally:
        dns.stop()
        server.stop()
        if old is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = old
