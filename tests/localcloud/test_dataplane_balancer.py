"""Load balancers carry traffic on the data plane: balancing, health monitors, TLS, L7, stats."""

from __future__ import annotations

import base64
import itertools
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway_kit.localcloud.dataplane.http_rules import expected, parse_head, rule_matches
from gateway_kit.localcloud.testing import (
    RunningLocalCloud,
    boot_server,
    fixed_address,
    running_local_cloud,
    wait_until,
)
from tests.localcloud.conftest import allow_tcp
from tests.localcloud.dataplane_support import ECHO, active, peer_cn, pkcs12_bundle, pool_of


def test_pure_http_pieces() -> None:
    assert expected("200", 200) and expected("200,202", 202) and expected("200-204", 203)
    assert not expected("200-204", 301)
    method, target, version, headers = parse_head(
        b"GET /a/b.css?x=1 HTTP/1.1\r\nHost: gw.example.org:80\r\nCookie: s=1; t=2"
    )
    assert (method, target, version) == ("GET", "/a/b.css?x=1", "HTTP/1.1")
    rule = {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "gw.example.org"}
    assert rule_matches(rule, headers, target)
    assert not rule_matches({**rule, "invert": True}, headers, target)
    assert rule_matches({"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "css"}, headers, target)
    assert rule_matches({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a/"}, headers, target)
    assert rule_matches(
        {"type": "COOKIE", "key": "t", "compare_type": "REGEX", "value": "^2$"}, headers, target
    )
    assert not rule_matches(
        {"type": "HEADER", "key": "X-No", "compare_type": "CONTAINS", "value": ""}, headers, target
    )


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("dpb") / "state", dataplane=True) as cloud:
        yield cloud


def _echo_behind_a_balancer(dp: RunningLocalCloud, name: str) -> tuple[list[Any], Any, Any]:
    """Two echo servers on port 8080 (security group ``echo``), their subnet, and an ACTIVE
    load balancer ``name`` on it, without listeners."""
    conn = dp.connect()
    group = conn.network.find_security_group("echo") or conn.network.create_security_group(name="echo")
    if not list(conn.network.security_group_rules(security_group_id=group.id, port_range_min=8080)):
        allow_tcp(conn, group.id, 8080, source="10.0.0.0/26")
    servers = [boot_server(dp, f"{name}-{n}", ECHO, security_groups=[{"name": "echo"}])[1] for n in (1, 2)]
    for server in servers:
        wait_until(
            lambda s=server: requests.get(f"http://{fixed_address(s)}:8080/", timeout=2).ok, what="echo"
        )
    subnet = next(s for s in conn.network.subnets() if s.cidr == "10.0.0.0/26")
    lb = conn.load_balancer.create_load_balancer(name=name, vip_subnet_id=subnet.id)
    active(conn, lb)
    return servers, subnet, lb


def test_http_listener_balances_probes_and_terminates_tls(dp: RunningLocalCloud) -> None:
    conn = dp.connect()
    plane = dp.extra["dataplane"]
    servers, subnet, lb = _echo_behind_a_balancer(dp, "web")
    listener = conn.load_balancer.create_listener(
        loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80,
        insert_headers={"X-Forwarded-For": "true", "X-Forwarded-Proto": "true"},
    )  # fmt: skip
    active(conn, lb)
    pool, _ = pool_of(conn, lb, listener, "ROUND_ROBIN", servers, subnet_id=subnet.id)
    conn.load_balancer.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=2, timeout=2, max_retries=1, max_retries_down=2, url_path="/", expected_codes="200",
    )  # fmt: skip
    active(conn, lb)
    fip = conn.network.create_ip(floating_network_id=conn.network.find_network("public").id)
    conn.network.update_ip(fip, port_id=conn.load_balancer.get_load_balancer(lb.id).vip_port_id)

    def members_online() -> bool:
        return all(m.operating_status == "ONLINE" for m in conn.load_balancer.members(pool))

    wait_until(members_online, what="both members ONLINE")
    address = fip.floating_ip_address
    port = wait_until(lambda: plane.port_for(address, 80), what="listener on the floating IP")
    url = f"http://{address}:{port}/x"
    bodies = [requests.get(url, timeout=10).text for _ in range(6)]
    ids = [b.split()[0] for b in bodies]
    assert set(ids) == {s.id for s in servers}
    assert all(a != b for a, b in itertools.pairwise(ids)), ids  # round robin alternates
    assert "X-Forwarded-For=127.0.0.1" in bodies[0] and "X-Forwarded-Proto=http" in bodies[0]

    # Stop one backend: its member turns ERROR; requests meanwhile fail at most once (in flight).
    conn.compute.stop_server(servers[0])
    failures = 0
    for _ in range(400):
        try:
            assert requests.get(url, timeout=10).ok
        except (requests.RequestException, AssertionError):
            failures += 1
        states = {m.address: m.operating_status for m in conn.load_balancer.members(pool)}
        if states[fixed_address(servers[0])] == "ERROR":
            break
    assert states == {fixed_address(servers[0]): "ERROR", fixed_address(servers[1]): "ONLINE"}
    assert failures <= 1
    assert {requests.get(url, timeout=10).text.split()[0] for _ in range(3)} == {servers[1].id}
    assert conn.load_balancer.get_pool(pool.id).operating_status == "DEGRADED"
    assert conn.load_balancer.get_load_balancer(lb.id).operating_status == "DEGRADED"  # the roll-up

    stats = conn.load_balancer.get_load_balancer_statistics(lb.id)
    assert stats.total_connections >= 9 and stats.bytes_in > 0 and stats.bytes_out > 0

    # TERMINATED_HTTPS with the certificate of a Barbican PKCS#12 bundle, SNI picking another.
    secrets = [
        conn.key_manager.create_secret(
            name=name,
            payload=base64.b64encode(pkcs12_bundle(name)).decode(),
            payload_content_type="application/octet-stream",
            payload_content_encoding="base64",
            secret_type="opaque",
        )
        for name in ("web.example.org", "other.example.org")
    ]
    tls = conn.load_balancer.create_listener(
        loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS", protocol_port=443,
        default_tls_container_ref=secrets[0].secret_ref, sni_container_refs=[secrets[1].secret_ref],
        insert_headers={"X-Forwarded-Proto": "true"},
    )  # fmt: skip
    active(conn, lb)
    pool_of(conn, lb, tls, "LEAST_CONNECTIONS", servers[1:])
    tport = wait_until(lambda: plane.port_for(address, 443), what="TLS listener")
    assert peer_cn(address, tport, "web.example.org") == "web.example.org"
    assert peer_cn(address, tport, "other.example.org") == "other.example.org"
    answer = requests.get(f"https://{address}:{tport}/secure", timeout=10, verify=False)
    assert answer.text.startswith(servers[1].id) and "X-Forwarded-Proto=https" in answer.text

    # An L7 policy rejects a path; a disabled listener carries nothing.
    policy = conn.load_balancer.create_l7_policy(listener_id=listener.id, action="REJECT", position=1)
    active(conn, lb)
    conn.load_balancer.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH", value="/admin")
    active(conn, lb)
    wait_until(
        lambda: requests.get(f"http://{address}:{port}/admin", timeout=10).status_code == 403, what="REJECT"
    )
    wait_until(lambda: requests.get(url, timeout=10).ok, what="other paths pass the policy")
    conn.load_balancer.update_listener(tls, admin_state_up=False)
    active(conn, lb)
    wait_until(lambda: plane.port_for(address, 443) is None, what="disabled listener closed")


def test_tcp_listener_source_ip_disabled_member_and_connection_limit(dp: RunningLocalCloud) -> None:
    conn = dp.connect()
    servers, _subnet, lb = _echo_behind_a_balancer(dp, "tcp")
    listener = conn.load_balancer.create_listener(
        loadbalancer_id=lb.id, protocol="TCP", protocol_port=9000, connection_limit=1
    )
    active(conn, lb)
    pool, members = pool_of(conn, lb, listener, "SOURCE_IP", servers, protocol="TCP")
    vip = conn.load_balancer.get_load_balancer(lb.id).vip_address
    assert vip.startswith("127.101.")
    url = f"http://{vip}:9000/"
    first = wait_until(lambda: requests.get(url, timeout=10).text.split()[0], what="TCP listener")
    assert {requests.get(url, timeout=10).text.split()[0] for _ in range(4)} == {
        first
    }  # same source, same member

    # connection_limit=1: while one connection is open, another is refused.
    with socket.create_connection((vip, 9000), timeout=10) as held:
        held.sendall(b"")
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=10)
    wait_until(lambda: requests.get(url, timeout=10).ok, what="a connection once the first is closed")

    # A disabled member carries nothing.
    chosen = next(m for m, s in zip(members, servers, strict=True) if s.id == first)
    conn.load_balancer.update_member(chosen, pool, admin_state_up=False)
    active(conn, lb)
    other = next(s.id for s in servers if s.id != first)
    wait_until(
        lambda: requests.get(url, timeout=10).text.split()[0] == other, what="the disabled member left"
    )
    assert {requests.get(url, timeout=10).text.split()[0] for _ in range(3)} == {other}
