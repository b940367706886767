"""Octavia v2 and Barbican v1 of the local cloud, through openstacksdk over HTTP."""

from __future__ import annotations

import base64
import datetime
import time
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from openstack import exceptions as osexc

from gateway_kit.localcloud.testing import RunningLocalCloud
from tests.localcloud.conftest import create_server


def _subnet_id(conn) -> str:  # type: ignore[no-untyped-def]
    subnets = list(conn.network.subnets())
    assert subnets, "the local cloud's seed must provide a subnet for VIPs"
    return str(subnets[0].id)


def _lb(conn, name: str = "lb"):  # type: ignore[no-untyped-def]
    lb = conn.load_balancer.create_load_balancer(name=name, vip_subnet_id=_subnet_id(conn))
    assert lb.provisioning_status == "PENDING_CREATE"
    return conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)


def _pkcs12() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return pkcs12.serialize_key_and_certificates(b"gw", key, cert, None, serialization.NoEncryption())


def test_lb_tree_and_immutable_while_pending(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    lb = _lb(conn)
    assert lb.provisioning_status == "ACTIVE" and lb.vip_address
    port = conn.network.get_port(lb.vip_port_id)
    assert port.device_owner == "Octavia"
    # Held, the load balancer stays PENDING_UPDATE however slow this machine is.
    lc.controller.hold("octavia.loadbalancer", lb.id)
    listener = conn.load_balancer.create_listener(
        name="l1", protocol="HTTP", protocol_port=80, loadbalancer_id=lb.id
    )
    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
    with pytest.raises(osexc.ConflictException, match="is immutable and cannot be updated"):
        conn.load_balancer.create_pool(
            name="p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id
        )
    lc.controller.release("octavia.loadbalancer", lb.id)
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)
    pool = conn.load_balancer.create_pool(
        name="p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)
    conn.load_balancer.create_member(pool, address="192.0.2.11", protocol_port=8080)
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)
    with pytest.raises(osexc.ConflictException):
        conn.load_balancer.create_member(pool, address="192.0.2.11", protocol_port=8080)
    conn.load_balancer.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3)
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)
    assert conn.load_balancer.get_listener(listener.id).default_pool_id == pool.id
    assert conn.load_balancer.get_listener(listener.id).provisioning_status == "ACTIVE"
    with pytest.raises(osexc.BadRequestException, match="has children"):
        conn.load_balancer.delete_load_balancer(lb.id)
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    conn.load_balancer.wait_for_delete(lb, interval=0.05, wait=10)
    with pytest.raises(osexc.NotFoundException):
        conn.load_balancer.get_pool(pool.id)
    with pytest.raises(osexc.NotFoundException):
        conn.network.get_port(lb.vip_port_id)


def test_bad_requests(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    with pytest.raises(osexc.NotFoundException):
        conn.load_balancer.get_load_balancer(str(uuid.uuid4()))
    with pytest.raises(osexc.BadRequestException):
        conn.load_balancer.create_load_balancer(name="x", vip_subnet_id=str(uuid.uuid4()))
    lb = _lb(conn, "bad")
    with pytest.raises(osexc.BadRequestException):
        conn.load_balancer.create_listener(protocol="FTP", protocol_port=21, loadbalancer_id=lb.id)
    conn.load_balancer.update_load_balancer(lb.id, name="renamed")
    with pytest.raises(osexc.ConflictException, match="Invalid state PENDING_UPDATE"):
        conn.load_balancer.update_load_balancer(lb.id, name="again")
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=10)
    alt = lc.connect("local-alt")
    with pytest.raises(osexc.NotFoundException):
        alt.load_balancer.get_load_balancer(lb.id)
    # A body naming what the caller cannot see (another project's, or nothing): 400, named.
    missing = str(uuid.uuid4())
    for create, ref, label in (
        (alt.load_balancer.create_listener, {"protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": lb.id}, "Load Balancer"),
        (alt.load_balancer.create_pool, {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": missing}, "Listener"),
        (conn.load_balancer.create_health_monitor, {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2, "pool_id": missing}, "Pool"),
        (conn.load_balancer.create_l7_policy, {"action": "REJECT", "listener_id": missing}, "Listener"),
    ):  # fmt: skip
        with pytest.raises(osexc.BadRequestException, match=f"{label} .* not found"):
            create(**ref)


def test_error_body_shape(lc: RunningLocalCloud) -> None:
    token = lc.connect().auth_token
    url = f"{lc.url}/load-balancer/v2.0/lbaas/loadbalancers/{uuid.uuid4()}"
    body = requests.get(url, headers={"X-Auth-Token": token}).json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}


def test_terminated_https_with_barbican(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    lb = _lb(conn, "tls")
    with pytest.raises(osexc.BadRequestException, match="Could not retrieve certificate"):
        conn.load_balancer.create_listener(
            protocol="TERMINATED_HTTPS", protocol_port=443, loadbalancer_id=lb.id,
            default_tls_container_ref=f"{lc.url}/key-manager/v1/secrets/{uuid.uuid4()}",
        )  # fmt: skip
    junk = conn.key_manager.create_secret(
        name="junk", payload=base64.b64encode(b"nope").decode(), payload_content_type="application/octet-stream",
        payload_content_encoding="base64", secret_type="opaque",
    )  # fmt: skip
    with pytest.raises(osexc.BadRequestException, match="PKCS12"):
        conn.load_balancer.create_listener(
            protocol="TERMINATED_HTTPS", protocol_port=443, loadbalancer_id=lb.id,
            default_tls_container_ref=junk.secret_ref,
        )  # fmt: skip
    secret = conn.key_manager.create_secret(
        name="tls", payload=base64.b64encode(_pkcs12()).decode(), payload_content_type="application/octet-stream",
        payload_content_encoding="base64", secret_type="opaque",
    )  # fmt: skip
    listener = conn.load_balancer.create_listener(
        protocol="TERMINATED_HTTPS", protocol_port=443, loadbalancer_id=lb.id,
        default_tls_container_ref=secret.secret_ref,
    )  # fmt: skip
    assert listener.default_tls_container_ref == secret.secret_ref
    alt = lc.connect("local-alt")
    other = requests.get(secret.secret_ref, headers={"X-Auth-Token": alt.auth_token})
    assert other.status_code == 404 and set(other.json()) == {"code", "title", "description"}
    fetched = conn.key_manager.get_secret(secret.secret_ref.rsplit("/", 1)[-1])
    assert fetched.payload == _pkcs12_payload_of(fetched)


def test_barbican_collections_are_the_projects_own(lc: RunningLocalCloud) -> None:
    """Secrets, containers and orders: listed, shown and deleted by their project only."""
    conn, alt = lc.connect(), lc.connect("local-alt")
    secret = conn.key_manager.create_secret(
        name="collections", payload="s3cret", payload_content_type="text/plain", secret_type="opaque"
    )
    secret_id = secret.secret_ref.rsplit("/", 1)[-1]
    assert [s.name for s in conn.key_manager.secrets(name="collections")] == ["collections"]
    container = conn.key_manager.create_container(
        name="box", type="generic", secret_refs=[{"name": "one", "secret_ref": secret.secret_ref}]
    )
    container_id = container.container_ref.rsplit("/", 1)[-1]
    order = conn.key_manager.create_order(
        type="key", meta={"name": "k", "algorithm": "aes", "bit_length": 256, "payload_content_type": "application/octet-stream"}
    )  # fmt: skip
    order_id = order.order_ref.rsplit("/", 1)[-1]
    for collection, doc_id in (("secrets", secret_id), ("containers", container_id), ("orders", order_id)):
        url = f"{lc.url}/key-manager/v1/{collection}"
        mine = requests.get(url, headers={"X-Auth-Token": conn.auth_token}, timeout=10).json()
        assert doc_id in str(mine[collection]) and mine["total"] >= 1
        theirs = requests.get(url, headers={"X-Auth-Token": alt.auth_token}, timeout=10).json()
        assert doc_id not in str(theirs[collection])
        for token, status in ((alt.auth_token, 404), (conn.auth_token, 200)):
            shown = requests.get(f"{url}/{doc_id}", headers={"X-Auth-Token": token}, timeout=10)
            assert shown.status_code == status, (collection, shown.text)
        gone = requests.delete(f"{url}/{doc_id}", headers={"X-Auth-Token": alt.auth_token}, timeout=10)
        assert gone.status_code == 404
    conn.key_manager.delete_container(container_id)
    conn.key_manager.delete_order(order_id)
    conn.key_manager.delete_secret(secret_id)
    with pytest.raises(osexc.NotFoundException):
        conn.key_manager.get_container(container_id)
    shown = requests.get(secret.secret_ref, headers={"X-Auth-Token": conn.auth_token}, timeout=10)
    assert shown.status_code == 404


def _pkcs12_payload_of(secret) -> bytes:  # type: ignore[no-untyped-def]
    assert isinstance(secret.payload, bytes) and secret.payload.startswith(b"0")
    return bytes(secret.payload)


# Key sets of the api-ref samples (openstack/octavia api-ref/source/v2/examples/*-create-response.json),
# transcribed. Octavia also renders ``tenant_id`` (deprecated alias of project_id) and ``vip_sg_ids``
# (newer than the sample).
LB_SAMPLE_KEYS = {
    "description",
    "admin_state_up",
    "project_id",
    "provisioning_status",
    "flavor_id",
    "vip_subnet_id",
    "vip_address",
    "vip_network_id",
    "vip_port_id",
    "additional_vips",
    "provider",
    "created_at",
    "updated_at",
    "id",
    "operating_status",
    "name",
    "vip_qos_policy_id",
    "availability_zone",
    "tags",
    "vip_vnic_type",
}
LB_EXTRA = {"tenant_id", "vip_sg_ids", "listeners", "pools"}


def test_lb_shape_matches_api_ref(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    lb = _lb(conn, "shape")
    body = requests.get(
        f"{lc.url}/load-balancer/v2.0/lbaas/loadbalancers/{lb.id}",
        headers={"X-Auth-Token": conn.auth_token},
    ).json()["loadbalancer"]
    assert set(body) == LB_SAMPLE_KEYS | LB_EXTRA


def _member_status(conn, pool_id: str, member_id: str, want: str, wait: float = 10) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + wait
    while True:
        status = str(conn.load_balancer.get_member(member_id, pool_id).operating_status)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_member_operating_status_follows_the_health_monitor(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    wait = {"interval": 0.05, "wait": 10}
    server = conn.compute.wait_for_server(create_server(conn, "backend"), **wait)
    port = next(iter(conn.network.ports(device_id=server.id)))
    backend_ip = port.fixed_ips[0]["ip_address"]
    lb = _lb(conn, "health")
    listener = conn.load_balancer.create_listener(protocol="HTTP", protocol_port=80, loadbalancer_id=lb.id)
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    pool = conn.load_balancer.create_pool(
        protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    early = conn.load_balancer.create_member(pool, address=backend_ip, protocol_port=8080)
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, early.id, "NO_MONITOR") == "NO_MONITOR"

    hm = conn.load_balancer.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3
    )
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, early.id, "ONLINE") == "ONLINE"

    # Added after the monitor: checked like the others (OFFLINE until the first check).
    late = conn.load_balancer.create_member(pool, address=backend_ip, protocol_port=8081)
    assert late.operating_status == "OFFLINE"
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, late.id, "ONLINE") == "ONLINE"
    # Nothing answers on an address no running server or port holds.
    dead = conn.load_balancer.create_member(pool, address="192.0.2.99", protocol_port=80)
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, dead.id, "ERROR") == "ERROR"
    listed = {m.id: m.operating_status for m in conn.load_balancer.members(pool, operating_status="ONLINE")}
    assert set(listed) == {early.id, late.id}
    assert conn.load_balancer.get_pool(pool.id).operating_status == "DEGRADED"
    assert conn.load_balancer.get_listener(listener.id).operating_status == "ONLINE"

    # The verdict follows the backend.
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", **wait)
    assert _member_status(conn, pool.id, late.id, "ERROR") == "ERROR"
    conn.compute.start_server(server)
    conn.compute.wait_for_server(server, **wait)
    assert _member_status(conn, pool.id, late.id, "ONLINE") == "ONLINE"

    conn.load_balancer.update_member(late, pool, admin_state_up=False)
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, late.id, "OFFLINE") == "OFFLINE"
    status = requests.get(
        f"{lc.url}/load-balancer/v2.0/lbaas/loadbalancers/{lb.id}/status",
        headers={"X-Auth-Token": conn.auth_token},
    ).json()["statuses"]["loadbalancer"]
    tree = {m["id"]: m["operating_status"] for m in status["listeners"][0]["pools"][0]["members"]}
    assert tree == {early.id: "ONLINE", late.id: "OFFLINE", dead.id: "ERROR"}

    conn.load_balancer.delete_health_monitor(hm)
    conn.load_balancer.wait_for_load_balancer(lb.id, **wait)
    assert _member_status(conn, pool.id, early.id, "NO_MONITOR") == "NO_MONITOR"
    assert _member_status(conn, pool.id, dead.id, "NO_MONITOR") == "NO_MONITOR"
    assert conn.load_balancer.get_pool(pool.id).operating_status == "ONLINE"
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    conn.compute.delete_server(server)


# Key sets of the api-ref samples (openstack/octavia api-ref/source/v2/examples/<name>-show-response.json),
# transcribed. Octavia renders ``tenant_id`` (deprecated alias of project_id) on every object, and
# ListenerResponse has ``connection_limit`` although the listener sample leaves it out.
CHILD_SAMPLE_KEYS = {
    "listener": {
        "admin_state_up", "allowed_cidrs", "alpn_protocols", "client_authentication",
        "client_ca_tls_container_ref", "client_crl_container_ref", "created_at", "default_pool_id",
        "default_tls_container_ref", "description", "hsts_include_subdomains", "hsts_max_age",
        "hsts_preload", "id", "insert_headers", "l7policies", "loadbalancers", "name",
        "operating_status", "project_id", "protocol", "protocol_port", "provisioning_status",
        "sni_container_refs", "tags", "timeout_client_data", "timeout_member_connect",
        "timeout_member_data", "timeout_tcp_inspect", "tls_ciphers", "tls_versions", "updated_at",
    },
    "pool": {
        "admin_state_up", "alpn_protocols", "ca_tls_container_ref", "created_at", "crl_container_ref",
        "description", "healthmonitor_id", "id", "lb_algorithm", "listeners", "loadbalancers",
        "members", "name", "operating_status", "project_id", "protocol", "provisioning_status",
        "session_persistence", "tags", "tls_ciphers", "tls_container_ref", "tls_enabled",
        "tls_versions", "updated_at",
    },
    "member": {
        "address", "admin_state_up", "backup", "created_at", "id", "monitor_address", "monitor_port",
        "name", "operating_status", "project_id", "protocol_port", "provisioning_status", "subnet_id",
        "tags", "updated_at", "vnic_type", "weight",
    },
    "healthmonitor": {
        "admin_state_up", "created_at", "delay", "domain_name", "expected_codes", "http_method",
        "http_version", "id", "max_retries", "max_retries_down", "name", "operating_status", "pools",
        "project_id", "provisioning_status", "tags", "timeout", "type", "updated_at", "url_path",
    },
    "l7policy": {
        "action", "admin_state_up", "created_at", "description", "id", "listener_id", "name",
        "operating_status", "position", "project_id", "provisioning_status", "redirect_http_code",
        "redirect_pool_id", "redirect_prefix", "redirect_url", "rules", "tags", "updated_at",
    },
    "rule": {  # l7rule-show-response.json
        "admin_state_up", "compare_type", "created_at", "id", "invert", "key", "operating_status",
        "project_id", "provisioning_status", "tags", "type", "updated_at", "value",
    },
}  # fmt: skip
CHILD_EXTRA = {"listener": {"connection_limit"}}


def test_child_shapes_match_api_ref(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    lbc, wait = conn.load_balancer, {"interval": 0.05, "wait": 10}
    lb = _lb(conn, "child-shapes")
    listener = lbc.create_listener(protocol="HTTP", protocol_port=80, loadbalancer_id=lb.id)
    lbc.wait_for_load_balancer(lb.id, **wait)
    pool = lbc.create_pool(protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id)
    lbc.wait_for_load_balancer(lb.id, **wait)
    member = lbc.create_member(pool, address="192.0.2.5", protocol_port=80)
    lbc.wait_for_load_balancer(lb.id, **wait)
    hm = lbc.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3)
    lbc.wait_for_load_balancer(lb.id, **wait)
    policy = lbc.create_l7_policy(listener_id=listener.id, action="REJECT")
    lbc.wait_for_load_balancer(lb.id, **wait)
    rule = lbc.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH", value="/x")
    lbc.wait_for_load_balancer(lb.id, **wait)
    base = f"{lc.url}/load-balancer/v2.0/lbaas"
    paths = {
        "listener": f"listeners/{listener.id}",
        "pool": f"pools/{pool.id}",
        "member": f"pools/{pool.id}/members/{member.id}",
        "healthmonitor": f"healthmonitors/{hm.id}",
        "l7policy": f"l7policies/{policy.id}",
        "rule": f"l7policies/{policy.id}/rules/{rule.id}",
    }
    for root, path in paths.items():
        body = requests.get(f"{base}/{path}", headers={"X-Auth-Token": conn.auth_token}).json()[root]
        assert set(body) == CHILD_SAMPLE_KEYS[root] | {"tenant_id"} | CHILD_EXTRA.get(root, set()), root
    lbc.delete_load_balancer(lb.id, cascade=True)
