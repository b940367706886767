"""Apply, no-op re-apply, status, drift, destroy and orphans against the local cloud over HTTP."""

from __future__ import annotations

from typing import Any

import dns.resolver

from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import load_spec
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import STANDARD


def _resolve(server: Any, name: str) -> list[str]:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server.port
    return sorted(r.to_text() for r in res.resolve(name, "A", tcp=True))


def test_apply_noop_status_destroy(engine: Engine, localcloud: Any) -> None:
    spec = load_spec(STANDARD)
    plan = engine.plan(spec)
    assert plan.counts()["create"] == 22
    assert not engine.cloud.requests.mutating(), "plan must not change anything"

    engine.apply(spec)
    conn = engine.cloud.conn
    servers = [s for s in conn.compute.servers() if s.name.startswith("standard-")]
    assert sorted(s.name for s in servers) == ["standard-database-1", "standard-web-1", "standard-web-2"]
    members = list(conn.load_balancer.members(conn.load_balancer.find_pool("standard-pool").id))
    assert len(members) == 2

    # the names answer from the local cloud's DNS server
    from gateway_kit.localcloud.services.dns import start_dns_server

    dns_server = localcloud.cloud.extensions.get("dns_server") or start_dns_server(localcloud.cloud)
    lb_fip = engine.status("standard")[1]
    www = next(r for r in lb_fip if r.key == "fip:lb").detail["address"]
    assert _resolve(dns_server, "www.gateway.example.org.") == [www]
    web1 = next(r for r in lb_fip if r.key == "member:web-1").detail["address"]
    assert _resolve(dns_server, "web-1.gateway.example.org.") == [web1]

    # a second apply makes no mutating call
    engine.cloud.requests.clear()
    again = engine.apply(spec)
    assert again.empty
    assert engine.cloud.requests.mutating() == []

    # drift: a record changed and a volume deleted... outside the kit
    dep, rows = engine.status("standard")
    assert dep.status == "ready" and not any(r.drift for r in rows)
    web2 = next(s for s in servers if s.name == "standard-web-2")
    conn.compute.set_server_metadata(web2, owner="someone")
    _, rows = engine.status("standard")
    assert any("metadata" in d for r in rows if r.key == "server:web-2" for d in r.drift)

    assert engine.destroy("standard") == 22
    assert not [s for s in conn.compute.servers() if s.name.startswith("standard-")]
    assert not [v for v in conn.block_storage.volumes() if (v.name or "").startswith("standard-")]
    assert not list(conn.load_balancer.load_balancers(name="standard-lb"))
    assert conn.dns.find_zone("gateway.example.org.", ignore_missing=True) is None
    assert engine.orphans() == []


def test_deleted_outside_is_recreated_and_orphans_found(
    engine: Engine, control: LocalCloudController
) -> None:
    spec = load_spec(STANDARD)
    engine.apply(spec)
    conn = engine.cloud.conn
    web1 = conn.compute.find_server("standard-web-1")
    conn.compute.delete_server(web1)
    conn.compute.wait_for_delete(web1, interval=0.05, wait=10)
    plan = engine.plan(spec)
    assert [c.key for c in plan.changes if c.action == "create"] == ["server:web-1"]
    engine.apply(spec)
    _, rows = engine.status("standard")
    assert not any(r.drift for r in rows)
    # a server tagged with the kit's marks but unknown to the database is an orphan
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk")
    flavor = conn.compute.find_flavor("m3.tiny")
    net = conn.network.find_network("private")
    stray = conn.compute.create_server(
        name="stray",
        image_id=image.id,
        flavor_id=flavor.id,
        networks=[{"uuid": net.id}],
        metadata={"gateway_kit_deployment": "gone", "gateway_kit_key": "x"},
    )
    orphans = engine.orphans()
    assert [o["id"] for o in orphans] == [stray.id]
    engine.orphans(delete=True)
    assert engine.orphans() == []
    engine.destroy("standard")
