"""Changes: scale up/down, resize, rolling image replace, volume extend."""

from __future__ import annotations

import tomllib
from typing import Any

from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import parse_spec
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import STANDARD


def _spec(**changes: Any) -> Any:
    data: dict[str, Any] = tomllib.loads(STANDARD.read_text())
    for path, value in changes.items():
        node = data
        parts = path.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return parse_spec(data, STANDARD.parent)


def _servers(engine: Engine) -> dict[str, Any]:
    return {
        s.name: s for s in engine.cloud.conn.compute.servers(details=True) if s.name.startswith("standard-")
    }


def test_scale_resize_replace_extend(engine: Engine, control: LocalCloudController) -> None:
    engine.apply(_spec())
    conn = engine.cloud.conn
    pool = conn.load_balancer.find_pool("standard-pool")

    # scale up: a VM, a member and a record
    plan = engine.apply(_spec(roles__web__count=3))
    assert {c.key for c in plan.changes} == {"server:web-3", "member:web-3", "record:web-3"}
    assert len(list(conn.load_balancer.members(pool.id))) == 3
    # scale down
    plan = engine.apply(_spec())
    assert {c.key for c in plan.changes if c.action == "delete"} == {
        "server:web-3",
        "member:web-3",
        "record:web-3",
    }
    assert "standard-web-3" not in _servers(engine)
    assert len(list(conn.load_balancer.members(pool.id))) == 2

    # flavor change: resize + confirm, same server
    before = _servers(engine)["standard-database-1"].id
    plan = engine.apply(_spec(roles__database__flavor="m3.medium"))
    assert [c.action for c in plan.changes] == ["resize"]
    db1 = _servers(engine)["standard-database-1"]
    assert db1.id == before and db1.flavor["original_name"] == "m3.medium" and db1.status == "ACTIVE"

    # volume growth: extend in place
    plan = engine.apply(_spec(roles__database__flavor="m3.medium", roles__database__volume__size=80))
    assert [c.action for c in plan.changes] == ["extend"]
    vol = conn.block_storage.find_volume("standard-database-1-data")
    assert vol.size == 80 and vol.status == "in-use"

    # image change: rolling replace, one VM at a time, pool never empty
    old = {n: s.id for n, s in _servers(engine).items() if "web" in n}
    spec = _spec(
        roles__database__flavor="m3.medium",
        roles__database__volume__size=80,
        roles__web__image="Featured-RockyLinux9",
    )
    engine.apply(spec)
    new = {n: s for n, s in _servers(engine).items() if "web" in n}
    assert set(new) == set(old) and all(new[n].id != old[n] for n in old)
    members = list(conn.load_balancer.members(pool.id))
    assert sorted(m.address for m in members) == sorted(
        a["addr"] for s in new.values() for net in s.addresses.values() for a in net
    )
    steps = [s for s in engine.steps("standard", 200) if s.action == "replace" and s.key.startswith("server")]
    assert len(steps) == 2 and all(s.state == "done" for s in steps)
    # the journal shows web-1 finished (old one deleted) before web-2 started
    ordered = sorted(steps, key=lambda s: s.id)
    assert ordered[0].finished_at is not None and ordered[0].finished_at <= ordered[1].started_at
    engine.cloud.requests.clear()
    assert engine.apply(spec).empty and engine.cloud.requests.mutating() == []
    assert engine.orphans() == []
    engine.destroy("standard")
