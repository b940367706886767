"""Shared pieces of the data plane tests: a backend that echoes, certificates."""

from __future__ import annotations

import datetime
import socket
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from gateway_kit.localcloud.testing import fixed_address

#: A backend that answers with its instance id and the X-Forwarded-* headers it received.
ECHO = """## template: jinja
#cloud-config
write_files:
  - path: /opt/echo.py
    content: |
      import sys
      from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
      class H(BaseHTTPRequestHandler):
          def do_GET(self):
              fwd = ",".join(f"{k}={v}" for k, v in self.headers.items() if k.lower().startswith("x-forwarded"))
              body = f"{{ v1.instance_id }} {self.path} {fwd}".encode()
              self.send_response(200)
              self.send_header("Content-Length", str(len(body)))
              self.end_headers()
              self.wfile.write(body)
          def log_message(self, *args):
              pass
      ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
  - path: /etc/systemd/system/echo.service
    content: |
      [Service]
      ExecStart=/usr/bin/env python3 /opt/echo.py {{ v1.local_ipv4 }} 8080
      Restart=on-failure
      [Install]
      WantedBy=multi-user.target
runcmd:
  - systemctl enable --now echo
"""


def pkcs12_bundle(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return pkcs12.serialize_key_and_certificates(b"lb", key, cert, None, serialization.NoEncryption())


def peer_cn(address: str, port: int, server_name: str) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def active(conn: Any, lb: Any) -> None:
    """Wait until the load balancer takes changes again (ACTIVE)."""
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.1, wait=60)


def pool_of(
    conn: Any,
    lb: Any,
    listener: Any,
    algorithm: str,
    servers: list[Any],
    protocol: str = "HTTP",
    **member: Any,
) -> tuple[Any, list[Any]]:
    """A pool behind ``listener`` with ``servers`` as its members on port 8080 (``member``: more
    member fields), each change once the load balancer is ACTIVE again; the pool and its members."""
    pool = conn.load_balancer.create_pool(listener_id=listener.id, protocol=protocol, lb_algorithm=algorithm)
    active(conn, lb)
    members = []
    for server in servers:
        address = fixed_address(server)
        members.append(conn.load_balancer.create_member(pool, address=address, protocol_port=8080, **member))
        active(conn, lb)
    return pool, members
