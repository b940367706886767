"""A no-op re-apply reads the cloud in a handful of calls (lists, the load balancer's status
tree) and still notices what was deleted or changed outside the kit."""

from __future__ import annotations

from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import load_spec

from .conftest import STANDARD


def test_noop_reapply_in_few_calls_still_sees_drift(engine: Engine) -> None:
    spec = load_spec(STANDARD)
    engine.apply(spec)
    engine.cloud.requests.clear()
    assert engine.apply(spec).empty
    calls = engine.cloud.requests
    assert calls.mutating() == []
    # 22 resources, read one by one before: 22 GETs
    assert len(calls.records) <= 10, calls.by_method()

    conn = engine.cloud.conn
    conn.compute.delete_server(conn.compute.find_server("standard-web-1"))
    zone = conn.dns.find_zone("gateway.example.org.")
    portal = next(r for r in conn.dns.recordsets(zone) if r.name.startswith("portal."))
    conn.dns.delete_recordset(portal, zone)
    pool = conn.load_balancer.find_pool("standard-pool")
    web2 = next(m for m in conn.load_balancer.members(pool) if m.name.endswith("web-2"))
    conn.load_balancer.delete_member(web2, pool)
    # a change that is not a deletion: shown as drift by deploy status, left alone by apply
    conn.compute.set_server_metadata(conn.compute.find_server("standard-database-1"), owner="someone")

    plan = engine.plan(spec)
    created = {c.key for c in plan.changes if c.action == "create"}
    assert {"server:web-1", "member:web-2"} <= created
    assert "record:portal" in created, created
    _, rows = engine.status("standard")
    drift = {r.key: r.drift for r in rows if r.drift}
    assert any("metadata" in d for d in drift["server:database-1"])
    assert drift["server:web-1"] == ["deleted outside the kit"]
