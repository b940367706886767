"""Floating IPs on loopback carry traffic to instances, as their security groups allow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway_kit.localcloud.dataplane.traffic import listening, port_allows, rule_allows
from gateway_kit.localcloud.testing import (
    RunningLocalCloud,
    boot_server,
    fixed_address,
    running_local_cloud,
    wait_until,
)
from tests.localcloud.conftest import allow_tcp

WEB = """## template: jinja
#cloud-config
write_files:
  - path: /srv/www/index.html
    content: "hello {{ v1.instance_id }}"
  - path: /etc/systemd/system/web.service
    content: |
      [Service]
      WorkingDirectory=/srv/www
      ExecStart=/usr/bin/env python3 -m http.server --bind {{ v1.local_ipv4 }} 8080
      [Install]
      WantedBy=multi-user.target
runcmd:
  - systemctl enable --now web
"""


def test_rules_and_proc_net_tcp_parse() -> None:
    rule = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 80,
            "port_range_max": 80, "remote_ip_prefix": "127.0.0.0/8", "security_group_id": "g"}  # fmt: skip
    assert rule_allows(rule, 80, "127.0.0.1") and not rule_allows(rule, 81, "127.0.0.1")
    assert not rule_allows({**rule, "remote_ip_prefix": "10.0.0.0/8"}, 80, "127.0.0.1")
    assert not rule_allows({**rule, "direction": "egress"}, 80, None)
    assert not rule_allows({**rule, "remote_ip_prefix": None, "remote_group_id": "g"}, 80, None)
    assert port_allows({"security_groups": ["g"]}, [rule], 80, "127.0.0.1")
    assert not port_allows({"security_groups": ["other"]}, [rule], 80, "127.0.0.1")
    assert port_allows({"security_groups": [], "port_security_enabled": False}, [], 80, "127.0.0.1")
    text = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100647F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1 1\n"
        "   1: 0100647F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000 0 2 1\n"
    )
    assert listening(text) == {"127.100.0.1": {8080}}


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("dpt") / "state", dataplane=True) as cloud:
        yield cloud


def test_floating_ip_reaches_the_server_where_security_groups_allow(dp: RunningLocalCloud) -> None:
    conn = dp.connect()
    group = conn.network.create_security_group(name="web-only")
    conn, server = boot_server(dp, "fip-web", WEB, security_groups=[{"name": "web-only"}])
    address = fixed_address(server)
    wait_until(lambda: requests.get(f"http://{address}:8080/", timeout=2).ok, what="web unit")
    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id)
    assert fip.floating_ip_address.startswith("127.64.")
    port = next(conn.network.ports(device_id=server.id))
    conn.network.update_ip(fip, port_id=port.id)
    url = f"http://{fip.floating_ip_address}:8080/index.html"

    def refused() -> bool:
        try:
            requests.get(url, timeout=2)
        except requests.ConnectionError:
            return True
        return False

    # The group has no ingress rule for 8080: the floating IP refuses the connection.
    assert wait_until(refused, what="refusal without a rule")
    rule = allow_tcp(conn, group.id, 8080)
    body = wait_until(lambda: requests.get(url, timeout=2).text, what="traffic through the floating IP")
    assert body == f"hello {server.id}"
    conn.network.delete_security_group_rule(rule)
    assert wait_until(refused, what="refusal after the rule is deleted")
    # A rule for another source range does not admit a loopback client.
    allow_tcp(conn, group.id, 8000, 8100, "192.0.2.0/24")
    assert wait_until(refused, what="refusal for a client outside the rule's range")
    conn.network.update_ip(fip, port_id=None)
    conn.compute.delete_server(server)


def test_privileged_ports_are_mapped_when_they_cannot_be_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root, binding :81 fails; the data plane serves it on 10081 (or the next free port)."""
    import asyncio
    import socket

    from gateway_kit.localcloud.dataplane import traffic

    real = asyncio.start_server

    async def unprivileged(handler: Any, host: str, port: int, **kw: Any) -> Any:
        if port < 1024:
            raise PermissionError(13, "Permission denied")
        return await real(handler, host, port, **kw)

    monkeypatch.setattr(traffic.asyncio, "start_server", unprivileged)

    async def hello(reader: Any, writer: Any) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    plane = traffic.Traffic().start()
    try:
        plane.apply({traffic.Binding("127.0.0.1", 81, "test"): hello})
        actual = plane.actual_port("127.0.0.1", 81)
        assert actual is not None and actual >= 10081
        assert plane.mapped_ports() == {("127.0.0.1", 81): actual}
        with socket.create_connection(("127.0.0.1", actual), timeout=10) as conn:
            assert conn.recv(5) == b"hello"
        plane.apply({})
        assert plane.actual_port("127.0.0.1", 81) is None
    finally:
        plane.stop()
