"""`localcloud serve` runs the DNS server beside the API: records made through openstacksdk are
answered over UDP and TCP by a real resolver."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import openstack
import pytest

from gateway_kit.localcloud.readiness import serve_argv
from gateway_kit.localcloud.testing import free_port


def test_serve_answers_dns_for_designate_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    state = tmp_path / "lc"
    proc = subprocess.Popen(
        serve_argv(port, state, delay=0.05, dns_port=0),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        dns_port = None
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while dns_port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "serve exited early"
            m = re.search(r"DNS on 127\.0\.0\.1:(\d+)", line)
            if m:
                dns_port = int(m.group(1))
        assert dns_port, "serve did not report its DNS port"
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(state / "clouds.yaml"))
        conn = openstack.connect(cloud="local")
        zone = conn.dns.create_zone(name="served.example.org.", email="ops@example.org")
        conn.dns.create_recordset(
            zone, name="www.served.example.org.", type="A", records=["192.0.2.44"], ttl=60
        )
        query = dns.message.make_query("www.served.example.org.", "A")
        answer = None
        while time.monotonic() < deadline:
            resp = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=2)
            if resp.answer:
                answer = resp
                break
            time.sleep(0.1)
        assert answer is not None, "the A record never became visible"
        assert answer.answer[0][0].address == "192.0.2.44"
        tcp = dns.query.tcp(
            dns.message.make_query("nope.served.example.org.", "A"), "127.0.0.1", port=dns_port, timeout=2
        )
        assert tcp.rcode() == dns.rcode.NXDOMAIN
    finally:
        proc.terminate()
        proc.wait(timeout=15)
