"""Sessions on the local executor: launch, readiness, end, culling, charges, limits, validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.jobs.models import Allocation, LedgerEntry
from gateway_kit.sessions.models import SessionEvent

from .conftest import World


def _launch(world: World, app_id: str = "hello-web", **body: Any) -> dict[str, Any]:
    r = world.client.post("/api/v1/sessions", json={"application": app_id, **body})
    assert r.status_code == 201, r.get_json()
    data: dict[str, Any] = r.get_json()
    return data


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_launch_ready_end_and_charge(world: World) -> None:
    estimate = world.client.post("/api/v1/sessions/estimate", json={"application": "hello-web"}).get_json()
    assert estimate["destination"] == "local" and estimate["su_estimate"] == 0.5  # 1 cpu, 30 min, 1 SU/h
    s = _launch(world)
    assert s["state"] == "queued" and s["su_reserved"] == 0.5
    assert "connect" not in s["links"]
    row = world.run_until(s["id"], {"ready", "failed"})
    assert row.state == "ready", row.state_reason
    assert row.backend_host == "127.0.0.1" and row.backend_port > 0
    # The server answers only with its token, which the API never shows.
    url = f"http://127.0.0.1:{row.backend_port}/sessions/{row.id}/"
    token = row.token(world.app.config)
    assert len(token) == 48 and token not in row.backend_token  # sealed at rest
    assert httpx.get(url, trust_env=False).status_code == 403
    assert httpx.get(url, headers={"Authorization": f"token {token}"}, trust_env=False).status_code == 200
    shown = world.client.get(f"/api/v1/sessions/{row.id}")
    assert token not in shown.get_data(as_text=True)
    assert shown.get_json()["links"]["connect"].endswith(f"/sessions/{row.id}/")
    assert 0 < shown.get_json()["time_left"] <= 1800
    pgid = int((Path(row.workdir) / ".gk" / "started.json").read_text().split('"pgid": ')[1].split(",")[0])
    # The token reaches the server in its environment, never on its command line (world-readable).
    assert token not in Path(f"/proc/{pgid}/cmdline").read_text()
    assert f"HELLO_WEB_TOKEN={token}" in Path(f"/proc/{pgid}/environ").read_text()

    r = world.client.delete(f"/api/v1/sessions/{row.id}")
    assert r.status_code == 202 and r.get_json()["end_requested"] is True
    row = world.run_until(row.id, {"ended", "failed"})
    assert row.state == "ended" and row.state_reason == "ended by its owner"
    assert not _pid_alive(pgid)
    assert row.su_charged is not None and 0 < row.su_charged < 0.5
    with world.app.app_context():
        alloc = db.session.scalars(select(Allocation)).one()
        assert alloc.su_reserved == 0.0 and abs(alloc.su_used - row.su_charged) < 1e-9
        entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "charge")).one()
        assert entry.note.startswith(f"session {row.id} (hello-web)") and entry.user_id == world.alice.id
        states = [e.to_state for e in db.session.scalars(select(SessionEvent).order_by(SessionEvent.id))]
    assert [s for s in states if s] == ["queued", "starting", "ready", "ending", "ended"]
    # Ending again changes nothing.
    assert world.client.delete(f"/api/v1/sessions/{row.id}").status_code == 202


def test_idle_session_is_culled(world: World) -> None:
    s = _launch(world, "quick-cull")
    row = world.run_until(s["id"], {"ended", "failed"}, timeout=90)
    assert row.state == "ended" and row.state_reason.startswith("culled: idle for"), row.state_reason


def test_others_get_404_and_cannot_end(world: World) -> None:
    s = _launch(world)
    for method, url in (
        ("get", f"/api/v1/sessions/{s['id']}"),
        ("get", f"/api/v1/sessions/{s['id']}/events"),
        ("delete", f"/api/v1/sessions/{s['id']}"),
        ("post", f"/api/v1/sessions/{s['id']}/extend"),
    ):
        r = getattr(world.bob_client, method)(url, json={"seconds": 60})
        assert r.status_code == 404, (method, url)
        assert r.content_type == "application/problem+json"
    assert world.bob_client.get("/api/v1/sessions").get_json()["sessions"] == []


def test_extend_within_limits(world: World) -> None:
    s = _launch(world)
    r = world.client.post(f"/api/v1/sessions/{s['id']}/extend", json={"seconds": 1800})
    assert r.status_code == 200 and r.get_json()["resources"]["walltime"] == 3600
    assert r.get_json()["su_reserved"] == 1.0
    r = world.client.post(f"/api/v1/sessions/{s['id']}/extend", json={"seconds": 4 * 3600})
    assert r.status_code == 422
    assert "at most 14400 s in all" in r.get_json()["errors"][0]["message"]


def test_bad_launches_say_what_is_wrong(world: World) -> None:
    r = world.client.post("/api/v1/sessions", json={"application": "echo"})
    assert (
        r.status_code == 422 and "no interactive application 'echo'" in r.get_json()["errors"][0]["message"]
    )
    r = world.client.post("/api/v1/sessions", json={"application": "hello-web", "resources": {"cpus": 9}})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "resources.cpus"
    r = world.bob_client.post("/api/v1/sessions", json={"application": "hello-web"})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "project"
    r = world.client.post("/api/v1/sessions", json={"application": "hello-web", "bogus": 1})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "bogus"
    # A batch job cannot run an interactive application.
    r = world.client.post("/api/v1/jobs", json={"application": "hello-web", "inputs": {}})
    assert r.status_code == 422 and "interactive" in r.get_json()["errors"][0]["message"]


def test_quota_and_per_user_limit(tmp_path: Path) -> None:
    world = World(tmp_path, SESSIONS_MAX_PER_USER=1)
    try:
        r = world.client.post(
            "/api/v1/sessions", json={"application": "hello-web", "resources": {"walltime": 14400, "cpus": 1}}
        )
        assert r.status_code == 201
        r = world.client.post("/api/v1/sessions", json={"application": "hello-web"})
        assert r.status_code == 409 and "already have 1 sessions" in r.get_json()["detail"]
    finally:
        world.end_all()


def test_interactive_definitions_are_validated() -> None:
    import pytest

    from gateway_kit.errors import ConfigError
    from gateway_kit.jobs.apps import Application

    base = {
        "id": "x",
        "version": "1",
        "kind": "interactive",
        "command": ["/bin/srv", "{port}", "{base_url}", "{token}"],
    }
    app = Application.from_mapping({**base, "interactive": {"idle_timeout": 60}})
    assert app.interactive is not None and app.interactive.idle_timeout == 60.0
    for bad, message in (
        ({**base, "kind": "daemon"}, "field 'kind' must be one of batch, interactive"),
        (
            {**base, "interactive": {"idle_timeout": 0}},
            "'interactive.idle_timeout' must be a number of seconds",
        ),
        ({**base, "interactive": {"readiness_path": "/abs"}}, "must be a relative path"),
        ({**base, "interactive": {"activity": "cpu"}}, "must be one of jupyter, proxy"),
        ({**base, "interactive": {"colour": 1}}, "'interactive.colour' is not known"),
        ({**base, "kind": "batch"}, "refers to {port}, which is not an input"),
        (
            {"id": "y", "version": "1", "command": ["/bin/a"], "interactive": {}},
            'only for applications with kind = "interactive"',
        ),
    ):
        with pytest.raises(
            ConfigError, match=message.replace("{", "\\{").replace("}", "\\}").replace("(", "\\(")
        ):
            Application.from_mapping(bad)


def test_openapi_documents_sessions(world: World) -> None:
    doc = world.client.get("/api/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/sessions"])
    assert "delete" in doc["paths"]["/api/v1/sessions/{session_id}"]
    assert "Session" in doc["components"]["schemas"]
    apps = world.client.get("/api/v1/sessions/applications").get_json()["applications"]
    assert {a["id"] for a in apps} >= {"hello-web", "quick-cull"}
    assert all(a["kind"] == "interactive" for a in apps)
    batch = world.client.get("/api/v1/applications").get_json()["applications"]
    assert "hello-web" not in {a["id"] for a in batch}


@pytest.mark.postgres
def test_lifecycle_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    """The worker's row locks (SKIP LOCKED) and the ledger on a real PostgreSQL."""
    world = World(tmp_path, DATABASE_URL=postgres_url)
    try:
        s = _launch(world)
        row = world.run_until(s["id"], {"ready", "failed"})
        assert row.state == "ready", row.state_reason
        # The project by name (loaded with the row, also under the worker's FOR UPDATE).
        assert (
            s["project"] == "astro"
            and world.client.get(f"/api/v1/sessions/{row.id}").json["project"] == "astro"
        )
        world.client.delete(f"/api/v1/sessions/{row.id}")
        row = world.run_until(row.id, {"ended", "failed"})
        assert row.state == "ended" and row.su_charged is not None and row.su_charged > 0
        with world.app.app_context():
            alloc = db.session.scalars(select(Allocation)).one()
            assert alloc.su_reserved == 0.0 and abs(alloc.su_used - row.su_charged) < 1e-9
    finally:
        world.end_all()


def test_cli_lists_running_sessions(world: World) -> None:
    import gateway_kit.cli  # noqa: F401 - the CLI module first: it imports the feature groups
    from gateway_kit.sessions.cli import sessions

    runner = world.app.test_cli_runner()
    assert "no sessions are running" in runner.invoke(sessions, ["list"]).output
    s = _launch(world)
    out = runner.invoke(sessions, ["list"]).output
    assert f"{s['id']}" in out and "queued" in out and "hello-web" in out and "alice" in out
