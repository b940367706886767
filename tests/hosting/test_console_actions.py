"""The hosting console acts: plan, destroy with live progress, DNS records, volume snapshots; audited."""

from __future__ import annotations

import time
from typing import Any

from gateway_kit import audit
from gateway_kit.hosting import day2
from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import load_spec

from ..conftest import login, make_user
from .conftest import STANDARD

ZONE = "gateway.example.org."


def _until_done(client: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/operator/hosting/{name}/run.json").get_json()
        if run["state"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def test_console_plans_edits_dns_and_destroys_with_snapshots(engine: Engine, hosting_app: Any) -> None:
    engine.apply(load_spec(STANDARD))
    plain, op = hosting_app.test_client(), hosting_app.test_client()
    login(plain, make_user(hosting_app, "alan"))
    login(op, make_user(hosting_app, "grace", role="operator"))
    for url in ("/operator/hosting/standard/destroy", "/operator/hosting/standard/apply"):
        assert plain.post(url, data={"confirm": "standard"}).status_code == 403
    assert plain.get("/operator/hosting/dns").status_code == 403

    page = op.get("/operator/hosting/standard").get_data(as_text=True)
    for repr_ in ("={}", "=False", "=True", "['", "{'"):
        assert repr_ not in page, repr_
    assert "server:web-1" in page and 'id="destroy-form"' in page
    plan = op.get("/operator/hosting/standard/plan").get_data(as_text=True)
    assert "no changes; the cloud matches the spec" in plan

    # DNS: add then remove a record, both audited.
    resp = op.post(
        f"/operator/hosting/dns/{ZONE}/records",
        data={"name": "console", "type": "TXT", "records": '"hello"', "ttl": ""},
        follow_redirects=True,
    )
    assert "Record console TXT in gateway.example.org. saved." in resp.get_data(as_text=True)
    page = op.get(f"/operator/hosting/dns?zone={ZONE}").get_data(as_text=True)
    assert 'data-name="console.gateway.example.org." data-type="TXT"' in page
    resp = op.post(
        f"/operator/hosting/dns/{ZONE}/records", data={"name": "x", "type": "BOGUS", "records": "1"}
    )
    assert resp.status_code == 400 and "A, AAAA, CNAME" in resp.get_data(as_text=True)
    resp = op.post(
        f"/operator/hosting/dns/{ZONE}/records/delete",
        data={"name": "console.gateway.example.org.", "type": "TXT"},
        follow_redirects=True,
    )
    assert "1 record set(s) console.gateway.example.org. TXT removed." in resp.get_data(as_text=True)

    # A snapshot blocks the destroy, which says so before deleting anything.
    day2.snapshot_volume(engine.cloud, "standard-datasets", "console-snap")
    assert 'data-name="console-snap"' in op.get("/operator/hosting/snapshots").get_data(as_text=True)
    resp = op.post("/operator/hosting/standard/destroy", data={"confirm": "wrong"}, follow_redirects=True)
    assert "Type the deployment&#39;s name (standard)" in resp.get_data(as_text=True)
    resp = op.post("/operator/hosting/standard/destroy", data={"confirm": "standard"}, follow_redirects=True)
    assert "volume standard-datasets has 1 snapshot(s): console-snap" in resp.get_data(as_text=True)
    assert engine.status("standard")[0].status == "ready"

    resp = op.post("/operator/hosting/standard/destroy", data={"confirm": "standard", "with_snapshots": "on"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/operator/hosting/standard/run")
    run = _until_done(op, "standard")
    assert run["state"] == "done", run
    assert run["message"].startswith("Deployment standard destroyed") and run["actor"] == "grace"
    assert "snapshot console-snap deleted" in run["lines"]
    assert "Done: Deployment standard destroyed" in op.get("/operator/hosting/standard/run").get_data(
        as_text=True
    )
    assert day2.list_snapshots(engine.cloud) == []
    assert op.get("/operator/hosting/standard").status_code == 404

    got = [(e.actor, e.action, e.target, e.outcome) for e in audit.entries(hosting_app)]
    assert got == [
        ("grace", "hosting.destroy", "standard", "ok"),
        ("grace", "hosting.destroy", "standard", "failed"),
        ("grace", "dns.remove", "console.gateway.example.org. TXT in gateway.example.org.", "ok"),
        ("grace", "dns.add", "console TXT in gateway.example.org.", "ok"),
    ]
