"""Faults from the local cloud's fault injection: each ends converged or in a clean failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.errors import CloudError, QuotaExceeded
from gateway_kit.hosting.cloud import CloudNotFound, ResourceFailed, WaitTimeout
from gateway_kit.hosting.engine import Engine, engine_for
from gateway_kit.hosting.spec import load_spec, parse_spec
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import FAST, STANDARD, make_app


def _nothing_left(engine: Engine) -> None:
    conn = engine.cloud.conn
    assert not [s.name for s in conn.compute.servers() if s.name.startswith("standard-")]
    assert not [v.name for v in conn.block_storage.volumes() if (v.name or "").startswith("standard-")]
    assert not list(conn.load_balancer.load_balancers(name="standard-lb"))
    assert engine.orphans() == []


def test_5xx_bursts_and_429_are_retried(engine: Engine, control: LocalCloudController) -> None:
    control.add_rule(service="compute", method="POST", path="/servers$", status=503, count=3)
    control.add_rule(service="network", method="*", status=429, retry_after=0, rate=0.3, count=6)
    control.add_rule(service="load_balancer", method="*", status=500, rate=0.2, count=5)
    engine.apply(load_spec(STANDARD))
    statuses = [r.status for r in engine.cloud.requests.records]
    assert statuses.count(503) == 3 and 429 in statuses
    conn = engine.cloud.conn
    assert len([s for s in conn.compute.servers() if s.name.startswith("standard-")]) == 3
    _, rows = engine.status("standard")
    assert all(r.recorded == "ready" for r in rows)
    engine.destroy("standard")
    _nothing_left(engine)


def test_an_error_answer_to_the_status_tree_is_retried(engine: Engine, control: LocalCloudController) -> None:
    """A re-apply reads the load balancer's status tree; a 429 there is retried like any other
    answer (it was read as the tree: KeyError 'statuses', a traceback; chaos_deploy trial 128)."""
    spec = load_spec(STANDARD)
    engine.apply(spec)
    control.add_rule(
        service="load_balancer", method="GET", path="/status$", status=429, retry_after=0, count=1
    )
    engine.apply(spec)
    statuses = [r.status for r in engine.cloud.requests.records if r.url.endswith("/status")]
    assert statuses[-2:] == [429, 200], statuses
    engine.destroy("standard")
    _nothing_left(engine)


def test_retries_are_bounded(engine: Engine, control: LocalCloudController) -> None:
    control.add_rule(service="compute", method="POST", path="/servers$", status=500)
    with pytest.raises(CloudError) as err:
        engine.apply(load_spec(STANDARD), rollback_on_failure=True)
    assert "kept answering 500" in err.value.user_message
    posts = [r for r in engine.cloud.requests.records if r.method == "POST" and r.url.endswith("/servers")]
    assert len(posts) == engine.cloud.timeouts.retry_attempts
    control.clear_faults()
    _nothing_left(engine)


def test_server_in_error_rolls_back(engine: Engine, control: LocalCloudController) -> None:
    control.fail_next_create("compute.server")
    with pytest.raises(ResourceFailed, match="ERROR"):
        engine.apply(load_spec(STANDARD), rollback_on_failure=True)
    _nothing_left(engine)
    dep = engine.deployments()[0]
    assert dep.status in ("failed", "rolled_back")


def test_server_in_error_is_replaced_on_reapply(engine: Engine, control: LocalCloudController) -> None:
    control.fail_next_create("compute.server")
    spec = load_spec(STANDARD)
    with pytest.raises(ResourceFailed):
        engine.apply(spec)
    engine.apply(spec)
    conn = engine.cloud.conn
    servers = [s for s in conn.compute.servers() if s.name.startswith("standard-")]
    assert sorted(s.status for s in servers) == ["ACTIVE"] * 3
    engine.destroy("standard")
    _nothing_left(engine)


def test_lb_stuck_pending_times_out_cleanly(tmp_path: Path, control: LocalCloudController) -> None:
    app = make_app(tmp_path, **{**FAST, "HOSTING_LB_TIMEOUT": 0.5})
    engine = engine_for(app)
    control.hold("octavia.loadbalancer", "next")
    with pytest.raises(WaitTimeout) as err:
        engine.apply(load_spec(STANDARD))
    assert "PENDING_CREATE after 0.5s waiting for ACTIVE" in err.value.user_message
    lb = engine.cloud.conn.load_balancer.find_load_balancer("standard-lb")
    control.release("octavia.loadbalancer", lb.id)
    engine.destroy("standard")
    _nothing_left(engine)


def test_full_quota_fails_before_any_change(engine: Engine, control: LocalCloudController) -> None:
    control.set_quota("demo", "instances", 2)
    with pytest.raises(QuotaExceeded) as err:
        engine.apply(load_spec(STANDARD))
    assert "needs 3 more instances" in err.value.user_message and "allows 2" in err.value.user_message
    assert engine.cloud.requests.mutating() == []


def test_quota_error_from_the_cloud_is_translated(engine: Engine, control: LocalCloudController) -> None:
    control.set_quota("demo", "floatingip", 0)
    with pytest.raises(QuotaExceeded) as err:
        engine.apply(load_spec(STANDARD), rollback_on_failure=True)
    assert "floating IPs" in err.value.user_message
    _nothing_left(engine)


def test_missing_zone(engine: Engine, control: LocalCloudController) -> None:
    data: dict[str, Any] = tomllib.loads(STANDARD.read_text())
    data["dns"]["create_zone"] = False
    spec = parse_spec(data, STANDARD.parent)
    with pytest.raises(CloudNotFound, match=r"DNS zone 'gateway.example.org.' does not exist"):
        engine.apply(spec)
    assert engine.cloud.requests.mutating() == []
