"""Pebble, a local ACME server, as a part of ``gateway-kit demo`` (entry point ``gateway_kit.demo_parts``).

With Debian's ``pebble`` installed (``.ci/services.sh`` installs it), the demo rehearses
certificates end to end: Pebble on free loopback ports resolves challenge names through the local
cloud's DNS server, the gateway's ``CERTS_*`` settings point at it, and a DNS zone
(:data:`DEMO_ZONE`) exists in the local cloud so that ``gateway-kit certs issue
portal.gw-demo.org`` (or the certificates console) gets a certificate signed by Pebble's test CA,
which no browser trusts. Without Pebble the part says how to get it and the demo runs without it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("gateway_kit.certs")

#: The local cloud's DNS zone for names to certify in the demo.
DEMO_ZONE = "gw-demo.org."
PEBBLE_BINARIES = ("pebble", "/usr/bin/pebble")


def pebble_binary() -> str | None:
    for candidate in PEBBLE_BINARIES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for Pebble's own HTTPS endpoint (127.0.0.1 and localhost)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "pebble-cert.pem", directory / "pebble-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway-kit demo Pebble")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class PebblePart:
    """Starts Pebble after the local cloud (its DNS server) and points ``certs`` at it.

    Lifecycle: :meth:`start` (order 20, after the local cloud's 10) writes Pebble's config and
    TLS pair under ``<instance>/pebble``, spawns it with ``-dnsserver`` set to the local cloud's DNS
    server and sets ``CERTS_DIRECTORY_URL``, ``CERTS_STAGING_DIRECTORY_URL``,
    ``CERTS_CA_BUNDLE``, ``CERTS_AGREE_TOS`` and ``CERTS_CONTACT_EMAIL`` (unless the gateway's
    settings already name a CA); :meth:`ready` starts a thread that waits for Pebble's directory
    and creates :data:`DEMO_ZONE` in the local cloud (if missing) while the demo goes on serving:
    nobody asks for a certificate in the second after the URL appears, and openstacksdk's import
    alone would delay it by about that much.
    """

    name = "certs"
    order = 20

    def __init__(self) -> None:
        self.enabled = False
        self.zone_thread: threading.Thread | None = None
        self.proc: Any = None
        self.cert = Path()
        self.log = Path()
        self.directory = ""

    def _wait_for_pebble(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.directory, verify=str(self.cert), timeout=2).raise_for_status()
                return True
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log.warning("Pebble did not start; see %s", self.log)
                    return False
                time.sleep(0.1)

    def start(self, ctx: Any) -> None:
        nameservers = ctx.settings.get("CERTS_DNS_NAMESERVERS") or []
        binary = pebble_binary()
        if "CERTS_DIRECTORY_URL" in ctx.settings:
            ctx.say(f"certificates  ACME at {ctx.settings['CERTS_DIRECTORY_URL']} (from the settings)")
            return
        if binary is None or not nameservers:
            why = "install Debian's 'pebble' package" if binary is None else "the local cloud is not running"
            ctx.say(f"certificates  no local ACME server ({why}); `certs issue` would use Let's Encrypt")
            return
        work = ctx.instance_path / "pebble"
        work.mkdir(parents=True, exist_ok=True)
        cert, key = self_signed(work)
        listen, mgmt = ctx.free_port(), ctx.free_port()
        config = {
            "pebble": {
                "listenAddress": f"{ctx.host}:{listen}",
                "managementListenAddress": f"{ctx.host}:{mgmt}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": ctx.free_port(),
                "tlsPort": ctx.free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (work / "pebble-config.json").write_text(json.dumps(config))
        proc = ctx.spawn(
            "pebble",
            [binary, "-config", str(work / "pebble-config.json"), "-dnsserver", str(nameservers[0])],
            env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
        )
        # Its URL is known now: the settings are set at once and Pebble is awaited in ready(),
        # while the other parts start.
        self.proc, self.cert, self.log = proc, cert, ctx.instance_path / "logs" / "pebble.log"
        directory = self.directory = f"https://{ctx.host}:{listen}/dir"
        contact = ctx.settings.get("CERTS_CONTACT_EMAIL") or f"ops@{DEMO_ZONE.rstrip('.')}"
        ctx.settings.update(
            {
                "CERTS_DIRECTORY_URL": directory,
                "CERTS_STAGING_DIRECTORY_URL": directory,
                "CERTS_CA_BUNDLE": str(cert),
                "CERTS_AGREE_TOS": True,
                "CERTS_CONTACT_EMAIL": contact,
            }
        )
        self.enabled = True
        ctx.say(
            f"certificates  Pebble (test ACME CA) {directory}; try "
            f"`gateway-kit certs issue portal.{DEMO_ZONE.rstrip('.')}` (zone {DEMO_ZONE} in the local cloud)"
        )

    def ready(self, app: Flask) -> None:
        if self.enabled:
            self.zone_thread = threading.Thread(target=self._ensure_zone, args=(app,), daemon=True)
            self.zone_thread.start()

    def _ensure_zone(self, app: Flask) -> None:
        if not self._wait_for_pebble():
            return
        from .service import cloud_name, connect

        try:
            conn = connect(cloud_name(app))
            if conn.dns.find_zone(DEMO_ZONE, ignore_missing=True) is None:
                zone = conn.dns.create_zone(name=DEMO_ZONE, email=f"ops@{DEMO_ZONE.rstrip('.')}", ttl=300)
                conn.dns.wait_for_status(zone, "ACTIVE", interval=0.1, wait=30)
        except Exception as exc:  # the demo still runs; certificates then say what is missing
            log.warning("demo DNS zone %s not created: %s", DEMO_ZONE, exc)

    def stop(self) -> None:
        pass  # the demo ends every child's process group
