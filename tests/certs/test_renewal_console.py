"""Renewal in the worker (with back-off), the console page, /metrics, the CLI and delivery."""

from __future__ import annotations

import base64
import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway_kit.certs import renewal, service
from gateway_kit.certs.models import Certificate, RenewalAttempt, utcnow
from gateway_kit.db import db
from gateway_kit.identity.access import SESSION_ID_KEY, SESSION_USER_KEY
from gateway_kit.identity.models import User, UserSession
from gateway_kit.worker import run_worker
from tests.certs.conftest import DELEGATED_ZONE, ZONE, Cloud, Pebble

NAME = "renew." + ZONE.rstrip(".")


def _set_expiry(app: Any, name: str, days: float) -> None:
    with db.session_scope(app) as sess:
        cert = sess.query(Certificate).filter_by(name=name).one()
        cert.not_after = utcnow() + timedelta(days=days)


def test_worker_renews_when_near_expiry_with_backoff(certs_app: Any, cloud: Cloud) -> None:
    service.issue(certs_app, [NAME])
    serial = service.show(certs_app, NAME)["serial"]
    assert renewal.due(certs_app) == []
    _set_expiry(certs_app, NAME, 20)  # inside the 30-day window
    assert renewal.due(certs_app) == [NAME]
    run_worker(certs_app, threading.Event(), once=True)
    info = service.show(certs_app, NAME)
    assert info["serial"] != serial and info["days_left"] > 30
    assert [a["trigger"] for a in info["attempts"]] == ["issue", "auto"]

    # A failing renewal is recorded and retried with back-off, never in a tight loop.
    _set_expiry(certs_app, NAME, 5)
    certs_app.config["CERTS_DIRECTORY_URL"] = "https://127.0.0.1:9/dir"  # nothing listens
    with db.session_scope(certs_app) as sess:
        sess.query(Certificate).filter_by(name=NAME).one().directory_url = "https://127.0.0.1:9/dir"
    renewal.run(certs_app)
    info = service.show(certs_app, NAME)
    assert info["failures"] == 1 and info["status"] == "valid"
    assert info["last_result"].startswith("failed: Cannot reach the certificate authority")
    wait = info["next_attempt_at"] - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert renewal.due(certs_app) == []  # backing off
    renewal.run(certs_app)
    with db.session_scope(certs_app) as sess:
        assert sess.query(RenewalAttempt).filter_by(ok=False).count() == 1
    assert service.backoff(certs_app, 3) == timedelta(seconds=240)
    cloud.wait_no_challenge_records()


def _login(app: Any, client: Any, role: str) -> None:
    with db.session_scope(app) as sess:
        user = User(username=f"op-{role}", role=role)
        sess.add(user)
        sess.flush()
        rec = UserSession(id=secrets.token_urlsafe(16), user_id=user.id)
        sess.add(rec)
        sess.flush()
        uid, sid = user.id, rec.id
    with client.session_transaction() as s:
        s[SESSION_USER_KEY] = uid
        s[SESSION_ID_KEY] = sid


def test_console_and_metrics_show_days_left(certs_app: Any) -> None:
    service.issue(certs_app, ["console." + ZONE.rstrip(".")])
    service.issue(certs_app, ["soon." + ZONE.rstrip(".")])
    _set_expiry(certs_app, "soon." + ZONE.rstrip("."), 10.5)
    client = certs_app.test_client()
    assert client.get("/operator/certificates").status_code in (302, 303)  # signed out
    _login(certs_app, client, "user")
    assert client.get("/operator/certificates").status_code == 403
    client = certs_app.test_client()
    _login(certs_app, client, "operator")
    page = client.get("/operator/certificates").get_data(as_text=True)
    assert "console.gw-test.org" in page and "soon.gw-test.org" in page
    assert 'class="cert warn-14"' in page and "under 14 days" in page
    assert "issued" in page  # last renewal result
    assert "PRIVATE KEY" not in page
    metrics = client.get("/metrics").get_data(as_text=True)
    line = next(
        m
        for m in metrics.splitlines()
        if m.startswith('gateway_kit_certificate_days_to_expiry{name="soon.gw-test.org"')
    )
    assert 10.4 < float(line.rsplit(" ", 1)[1]) < 10.6


def test_cli_issue_list_show_revoke(certs_app: Any, pebble: Pebble) -> None:
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from gateway_kit.cli import main

    class _Runner:
        def invoke(self, args: list[str]) -> Any:
            info = ScriptInfo(create_app=lambda: certs_app)
            return CliRunner().invoke(main, args, obj=info)

    runner = _Runner()
    name = "cli." + ZONE.rstrip(".")
    res = runner.invoke(args=["certs", "issue", name, "--staging"])
    assert res.exit_code == 0, res.output
    assert f"Issued {name}" in res.output
    res = runner.invoke(args=["certs", "list"])
    assert name in res.output and "valid" in res.output
    res = runner.invoke(args=["certs", "show", name])
    assert "attempts:" in res.output and "issue  ok" in res.output
    assert "PRIVATE KEY" not in res.output
    res = runner.invoke(args=["certs", "issue", "x" * 60 + ".y" * 3 + "." + ZONE.rstrip(".")])
    assert res.exit_code == 1 and "at most 64 in the common name" in res.output
    res = runner.invoke(args=["certs", "show", "nope.example.org"])
    assert res.exit_code == 1 and "No certificate named nope.example.org" in res.output
    res = runner.invoke(args=["certs", "revoke", name, "--yes"])
    assert res.exit_code == 0 and f"Revoked {name}" in res.output


def test_long_name_gets_a_short_alias(certs_app: Any) -> None:
    long_name = "gw-instance-7f3a9c-allocation-tg-cis230042.projects-jetstream2." + ZONE.rstrip(".")
    out = service.issue(certs_app, [long_name], alias=True)
    assert len(out.name) <= 64 and out.names[1] == long_name
    assert any("short alias" in w for w in out.warnings)


def test_delegated_challenge_through_cname(certs_app: Any, cloud: Cloud) -> None:
    conn = cloud.connect()
    zone = conn.dns.find_zone(ZONE)
    target = "portal-gw." + DELEGATED_ZONE
    cname = conn.dns.create_recordset(
        zone, name="_acme-challenge.deleg." + ZONE, type="CNAME", records=[target]
    )
    conn.dns.wait_for_status(cname, "ACTIVE", interval=0.05, wait=10)
    try:
        service.issue(certs_app, ["deleg." + ZONE.rstrip(".")])
        assert service.show(certs_app, "deleg." + ZONE.rstrip("."))["status"] == "valid"
        cloud.wait_no_challenge_records()
    finally:
        conn.dns.delete_recordset(cname, zone=zone)


def test_barbican_delivery_for_vms(certs_app: Any, cloud: Cloud) -> None:
    name = "vm." + ZONE.rstrip(".")
    service.issue(certs_app, [name], barbican=True)
    delivery = service.show(certs_app, name)["delivery"]
    assert delivery["mode"] == "barbican" and delivery["secret_ref"]
    conn = cloud.connect()
    secret = conn.key_manager.get_secret(delivery["secret_ref"].rsplit("/", 1)[-1])
    payload = secret.payload
    raw = payload if isinstance(payload, bytes) else base64.b64decode(payload)
    key, leaf, _ = pkcs12.load_key_and_certificates(raw, None)
    assert key is not None and leaf is not None
    first_ref = delivery["secret_ref"]
    service.renew(certs_app, name)  # a renewal replaces the secret
    assert service.show(certs_app, name)["delivery"]["secret_ref"] != first_ref


def test_load_balancer_delivery(certs_app: Any, cloud: Cloud) -> None:
    conn = cloud.connect()
    if not conn.has_service("load-balancer"):
        pytest.skip("the local cloud has no Octavia yet")
    subnet = next(iter(conn.network.subnets()), None)
    assert subnet is not None
    lb = conn.load_balancer.create_load_balancer(name="gw-lb", vip_subnet_id=subnet.id)
    conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=20)
    name = "lb." + ZONE.rstrip(".")
    service.issue(certs_app, [name], load_balancer="gw-lb")
    delivery = service.show(certs_app, name)["delivery"]
    listener = conn.load_balancer.get_listener(delivery["listener_id"])
    assert listener.protocol == "TERMINATED_HTTPS" and listener.protocol_port == 443
    assert listener.default_tls_container_ref == delivery["secret_ref"]
    service.renew(certs_app, name)
    again = service.show(certs_app, name)["delivery"]
    assert again["listener_id"] == delivery["listener_id"]
    assert (
        conn.load_balancer.get_listener(again["listener_id"]).default_tls_container_ref
        == again["secret_ref"]
        != delivery["secret_ref"]
    )


def test_load_balancer_delivery_beside_an_http_listener(certs_app: Any, cloud: Cloud) -> None:
    """The first pool already serves an HTTP listener: delivery clones it (Octavia: one pool, one
    listener); with ``pool=`` the listener uses the pool it is given."""
    conn = cloud.connect()
    if not conn.has_service("load-balancer"):
        pytest.skip("the local cloud has no Octavia yet")
    octavia = conn.load_balancer
    subnet = next(iter(conn.network.subnets()), None)
    assert subnet is not None
    lb = octavia.create_load_balancer(name="web-lb", vip_subnet_id=subnet.id)

    def settle() -> None:
        octavia.wait_for_load_balancer(lb.id, interval=0.05, wait=20)

    settle()
    pool = octavia.create_pool(
        name="web-pool", loadbalancer_id=lb.id, protocol="HTTP", lb_algorithm="LEAST_CONNECTIONS"
    )
    settle()
    for address in ("10.0.0.11", "10.0.0.12"):
        octavia.create_member(pool.id, address=address, protocol_port=80, subnet_id=subnet.id)
        settle()
    octavia.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=2, url_path="/healthz"
    )
    settle()
    http = octavia.create_listener(
        name="web-http", loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80, default_pool_id=pool.id
    )
    settle()

    name = "clone." + ZONE.rstrip(".")
    service.issue(certs_app, [name], load_balancer="web-lb")
    delivery = service.show(certs_app, name)["delivery"]
    listener = octavia.get_listener(delivery["listener_id"])
    assert listener.default_tls_container_ref == delivery["secret_ref"]
    clone = octavia.get_pool(listener.default_pool_id)
    assert (
        clone.id != pool.id
        and clone.name == "web-lb-https-pool" == octavia.get_pool(delivery["pool_id"]).name
    )
    assert clone.lb_algorithm == "LEAST_CONNECTIONS"
    assert sorted(m.address for m in octavia.members(clone.id)) == ["10.0.0.11", "10.0.0.12"]
    assert octavia.get_health_monitor(clone.health_monitor_id).url_path == "/healthz"
    assert octavia.get_listener(http.id).default_pool_id == pool.id
    service.renew(certs_app, name)  # same listener, same pool, no second clone
    again = service.show(certs_app, name)["delivery"]
    assert again["listener_id"] == delivery["listener_id"] and again["pool_id"] == clone.id
    assert [p.name for p in octavia.pools(loadbalancer_id=lb.id)].count("web-lb-https-pool") == 1

    # a pool that does not exist on the load balancer: a clear failure, no secret left behind
    other = "pool." + ZONE.rstrip(".")
    out = service.issue(certs_app, [other], load_balancer="web-lb", pool="no-such-pool")
    assert any("no pool named no-such-pool" in w for w in out.warnings)
    assert "secret_ref" not in service.show(certs_app, other)["delivery"]
    assert not [s for s in conn.key_manager.secrets() if s.name == f"gateway-kit-cert-{other}"]
