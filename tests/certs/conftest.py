"""A local cloud (Designate, Barbican, Octavia, DNS server) and a real Pebble for the certs tests.

Pebble must resolve names through the local cloud's DNS server, whose port is only known once
the cloud runs, so these fixtures start their own Pebble (``/usr/bin/pebble``, Debian package
``pebble``) on free loopback ports with ``-dnsserver 127.0.0.1:<dns port>``. Without the binary
the tests skip locally and fail in CI (``require_service``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway_kit.certs.demo import self_signed
from gateway_kit.localcloud.testing import RunningLocalCloud, free_port, running_local_cloud
from gateway_kit.process_lifetime import stop_process
from tests.conftest import make_app, require_service

PEBBLE = Path("/usr/bin/pebble")
ZONE = "gw-test.org."
FOREIGN_ZONE = "other-project.org."
DELEGATED_ZONE = "acme-delegate.net."
BLOCKED = "blocked.gw-test.org"


@dataclass
class Cloud:
    running: RunningLocalCloud

    @property
    def dns_port(self) -> int:
        assert self.running.dns_port is not None
        return self.running.dns_port

    def connect(self, cloud: str = "local") -> Any:
        return self.running.connect(cloud)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return self.running.controller.call(method, path, body)

    def challenge_records(self, conn: Any | None = None) -> list[Any]:
        conn = conn or self.connect()
        out = []
        for zone in conn.dns.zones():
            out += [r for r in conn.dns.recordsets(zone, type="TXT") if r.name.startswith("_acme-challenge.")]
        return out

    def wait_no_challenge_records(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.challenge_records():
                return
            time.sleep(0.05)
        left = [(r.name, r.status, r.action, r.records) for r in self.challenge_records()]
        raise AssertionError(f"challenge TXT records left behind: {left}")


def _zone(conn: Any, name: str) -> Any:
    zone = conn.dns.create_zone(name=name, email=f"ops@{name.rstrip('.')}", ttl=300)
    return conn.dns.wait_for_status(zone, "ACTIVE", interval=0.05, wait=10)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with (
        running_local_cloud(
            tmp_path_factory.mktemp("gk-certs-lc") / "state", delay=0.05, dns=True
        ) as running,
        pytest.MonkeyPatch.context() as mp,
    ):
        # The app under test finds the cloud through openstacksdk's environment.
        mp.setenv("OS_CLIENT_CONFIG_FILE", str(running.clouds_yaml))
        cloud = Cloud(running)
        conn = cloud.connect()
        _zone(conn, ZONE)
        _zone(conn, DELEGATED_ZONE)
        _zone(cloud.connect("local-alt"), FOREIGN_ZONE)
        yield cloud


@dataclass
class Pebble:
    directory_url: str
    management_url: str
    ca_bundle: str  #: the cert that signs Pebble's own HTTPS endpoint

    def root_pem(self) -> bytes:
        resp = requests.get(f"{self.management_url}/roots/0", verify=self.ca_bundle, timeout=5)
        resp.raise_for_status()
        return resp.content

    def intermediate_pem(self) -> bytes:
        resp = requests.get(f"{self.management_url}/intermediates/0", verify=self.ca_bundle, timeout=5)
        resp.raise_for_status()
        return resp.content

    def status_by_serial(self, serial_hex: str) -> str:
        resp = requests.get(
            f"{self.management_url}/cert-status-by-serial/{serial_hex}", verify=self.ca_bundle, timeout=5
        )
        resp.raise_for_status()
        return str(resp.json()["Status"])


@pytest.fixture(scope="session")
def pebble(cloud: Cloud) -> Iterator[Pebble]:
    require_service(
        "Pebble",
        PEBBLE.exists(),
        "install the Debian package 'pebble' (apt-get install pebble); .ci/services.sh services_install does",
    )
    work = Path(tempfile.mkdtemp(prefix="gk-pebble-"))
    cert, key = self_signed(work)
    listen, mgmt = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{listen}",
            "managementListenAddress": f"127.0.0.1:{mgmt}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "domainBlocklist": [BLOCKED],
        }
    }
    (work / "pebble-config.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = (work / "pebble.log").open("wb")
    proc = subprocess.Popen(
        [
            str(PEBBLE),
            "-config",
            str(work / "pebble-config.json"),
            "-dnsserver",
            f"127.0.0.1:{cloud.dns_port}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    directory = f"https://127.0.0.1:{listen}/dir"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(directory, verify=str(cert), timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "Pebble did not start: " + (work / "pebble.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.05)
        yield Pebble(directory, f"https://127.0.0.1:{mgmt}", str(cert))
    finally:
        stop_process(proc, grace=5)
        log.close()


def certs_config(cloud: Cloud, pebble: Pebble, **extra: Any) -> dict[str, Any]:
    return {
        "CLOUD_NAME": "local",
        "CERTS_DIRECTORY_URL": pebble.directory_url,
        "CERTS_STAGING_DIRECTORY_URL": pebble.directory_url,
        "CERTS_CA_BUNDLE": pebble.ca_bundle,
        "CERTS_AGREE_TOS": True,
        "CERTS_CONTACT_EMAIL": "ops@gw-test.org",
        "CERTS_DNS_NAMESERVERS": [f"127.0.0.1:{cloud.dns_port}"],
        "CERTS_DNS_TIMEOUT": 10.0,
        "CERTS_DNS_POLL_INTERVAL": 0.05,
        "CERTS_ACME_TIMEOUT": 30.0,
        "CERTS_RETRY_BASE_SECONDS": 60.0,
        "HOSTING_POLL_INTERVAL": 0.05,
        **extra,
    }


@pytest.fixture()
def certs_app(tmp_path: Path, cloud: Cloud, pebble: Pebble) -> Iterator[Any]:
    app = make_app(tmp_path, **certs_config(cloud, pebble))
    yield app
    cloud.control("POST", "/reset")  # clear faults a test injected
