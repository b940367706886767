"""Issue 14's "Done when": a whole gateway topology carries traffic on ``localcloud serve --dataplane``.

Two servers run a systemd unit (an HTTP server bound to the instance address); a load balancer
with an HTTP listener, a ROUND_ROBIN pool and an HTTP health monitor; a floating IP on the VIP
and an A record for it; then, through the DNS name: requests alternate, a stopped server's
member turns ERROR with at most one failed request, TERMINATED_HTTPS answers with the Barbican
certificate, a security group without the port refuses, and a volume written by one server is
read by the other after detach/attach. Also reached with Chromium through
``--host-resolver-rules``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gateway_kit.localcloud.dataplane import names
from gateway_kit.localcloud.testing import (
    RunningLocalCloud,
    boot_server,
    fixed_address,
    running_local_cloud,
    wait_until,
)
from tests.demo_support import CHROMIUM, CHROMIUM_ARGS
from tests.localcloud.conftest import allow_tcp
from tests.localcloud.dataplane_support import ECHO, active, peer_cn, pkcs12_bundle, pool_of

NAME = "portal.dp.example.org"
BACKEND = ECHO.replace(
    "runcmd:\n",
    """mounts:
  - [vdb, /srv/shared]
runcmd:
  - |
    sh -c 'while [ ! -d "${INSTANCE_ROOT:-}/srv/shared" ]; do sleep 0.2; done
    if [ -f "${INSTANCE_ROOT:-}/srv/shared/note" ]; then echo "note: $(cat "${INSTANCE_ROOT:-}/srv/shared/note")"
    else echo "written by $INSTANCE_NAME" > "${INSTANCE_ROOT:-}/srv/shared/note"; fi' &
""",
)


def _resolve_cli(cloud: RunningLocalCloud) -> tuple[str, int]:
    """``gateway-kit localcloud resolve NAME``: the address and the real port of :80."""
    out = subprocess.run(
        [sys.executable, "-m", "gateway_kit.localcloud", "resolve", NAME, "--dns-port", str(cloud.dns_port),
         "--state-dir", str(cloud.state_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    address = out.split()[2]
    assert out.startswith(f"{NAME} A 127.64.")
    assert f'--host-resolver-rules="MAP {NAME} {address}"' in out
    mapped = names.read_ports(cloud.state_dir / "dataplane")
    port = mapped.get((address, 80), 80)
    assert (
        f"--connect-to {NAME}:80:{address}:{port}" if port != 80 else f"--resolve {NAME}:80:{address}"
    ) in out
    return address, port


def test_whole_topology_through_the_dns_name(tmp_path: Path) -> None:
    with running_local_cloud(tmp_path / "lc", subprocess_mode=True, dataplane=True) as cloud:
        conn = cloud.connect()
        group = conn.network.create_security_group(name="backend")
        allow_tcp(conn, group.id, 8080, source="10.0.0.0/26")
        servers = [
            boot_server(cloud, f"web-{n}", BACKEND, security_groups=[{"name": "backend"}])[1] for n in (1, 2)
        ]
        subnet = next(s for s in conn.network.subnets() if s.cidr == "10.0.0.0/26")
        lb = conn.load_balancer.create_load_balancer(name="portal", vip_subnet_id=subnet.id)
        active(conn, lb)
        listener = conn.load_balancer.create_listener(
            loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80
        )
        active(conn, lb)
        pool, _ = pool_of(conn, lb, listener, "ROUND_ROBIN", servers)
        conn.load_balancer.create_health_monitor(
            pool_id=pool.id, type="HTTP", delay=2, timeout=2, max_retries=1, max_retries_down=2, url_path="/",
        )  # fmt: skip
        active(conn, lb)
        public = conn.network.find_network("public")
        fip = conn.network.create_ip(floating_network_id=public.id)
        conn.network.update_ip(fip, port_id=conn.load_balancer.get_load_balancer(lb.id).vip_port_id)
        zone = conn.dns.create_zone(name="dp.example.org.", email="ops@example.org")
        conn.dns.create_recordset(zone, name=NAME + ".", type="A", records=[fip.floating_ip_address], ttl=60)
        wait_until(
            lambda: all(m.operating_status == "ONLINE" for m in conn.load_balancer.members(pool)),
            what="ONLINE",
        )
        address, port = wait_until(lambda: _resolve_cli(cloud), what="the name through resolve")
        url = f"http://{address}:{port}/"
        wait_until(lambda: requests.get(url, headers={"Host": NAME}, timeout=5).ok, what="listener")

        ids = [requests.get(url, headers={"Host": NAME}, timeout=10).text.split()[0] for _ in range(4)]
        assert set(ids) == {s.id for s in servers} and ids[0] != ids[1] and ids[1] != ids[2], ids

        # Chromium reaches the name through --host-resolver-rules.
        if CHROMIUM.exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True,
                    args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {NAME} {address}"],
                )  # fmt: skip
                try:
                    page = browser.new_page()
                    page.goto(f"http://{NAME}:{port}/browser")
                    assert page.content().count(" /browser") == 1
                finally:
                    browser.close()

        # A security group without the port refuses a floating IP on a server.
        direct = conn.network.create_ip(floating_network_id=public.id)
        conn.network.update_ip(direct, port_id=next(conn.network.ports(device_id=servers[1].id)).id)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{direct.floating_ip_address}:8080/", timeout=5)

        # TERMINATED_HTTPS with the certificate from Barbican.
        secret = conn.key_manager.create_secret(
            name="portal", payload=base64.b64encode(pkcs12_bundle(NAME)).decode(),
            payload_content_type="application/octet-stream", payload_content_encoding="base64", secret_type="opaque",
        )  # fmt: skip
        tls = conn.load_balancer.create_listener(
            loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS", protocol_port=443,
            default_tls_container_ref=secret.secret_ref,
        )  # fmt: skip
        active(conn, lb)
        pool_of(conn, lb, tls, "ROUND_ROBIN", servers[1:])
        tport = wait_until(
            lambda: (
                names.read_ports(cloud.state_dir / "dataplane").get((address, 443), 443)
                if _listening(
                    address, names.read_ports(cloud.state_dir / "dataplane").get((address, 443), 443)
                )
                else None
            ),
            what="TLS listener",
        )
        assert peer_cn(address, tport, NAME) == NAME

        # Stop one server: its member turns ERROR; meanwhile at most one request fails.
        conn.compute.stop_server(servers[0])
        failures, states = 0, {}
        for _ in range(600):
            try:
                assert requests.get(url, headers={"Host": NAME}, timeout=10).ok
            except (requests.RequestException, AssertionError):
                failures += 1
            states = {m.address: m.operating_status for m in conn.load_balancer.members(pool)}
            if states[fixed_address(servers[0])] == "ERROR":
                break
        assert states[fixed_address(servers[0])] == "ERROR" and failures <= 1

        # The volume written by web-1 is read by web-2 after detach/attach.
        volume = conn.block_storage.create_volume(name="shared", size=1)
        conn.block_storage.wait_for_status(volume, status="available", interval=0.1, wait=60)
        conn.compute.start_server(servers[0])
        wait_until(
            lambda: (lambda s: s.status == "ACTIVE" and not s.task_state)(
                conn.compute.get_server(servers[0].id)
            ),
            what="web-1 running again",
        )
        conn.compute.create_volume_attachment(servers[0], volume_id=volume.id)
        conn.block_storage.wait_for_status(volume, status="in-use", interval=0.1, wait=60)
        note = cloud.state_dir / "dataplane" / "volumes" / volume.id / "note"
        wait_until(note.is_file, what="web-1 writes the volume")
        conn.compute.delete_volume_attachment(servers[0], volume.id)
        conn.block_storage.wait_for_status(volume, status="available", interval=0.1, wait=60)
        conn.compute.create_volume_attachment(servers[1], volume_id=volume.id)
        wait_until(
            lambda: "note: written by web-1" in conn.compute.get_server_console_output(servers[1])["output"],
            what="web-2 reads what web-1 wrote",
        )


def _listening(address: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False
