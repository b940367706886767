"""Workshops: an instructor (manager of the paying project) books 5 seats; 5 students join with the
code and each gets a running session; a sixth finds it full; only the instructor sees the seats."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from gateway_kit.db import db
from gateway_kit.identity.models import ProjectMember

from ..conftest import login, make_user
from .conftest import World


def test_five_seats_five_sessions(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        now = datetime.now(UTC)
        body = {
            "title": "Intro to notebooks",
            "application": "hello-web",
            "resources": {"walltime": 1800},
            "seats": 5,
            "starts_at": (now + timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "project": "astro",
        }
        # A plain member of the project is no instructor.
        r = world.client.post("/api/v1/workshops", json=body)
        assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "project"
        with world.app.app_context():
            db.session.execute(update(ProjectMember).values(role="manager"))
            db.session.commit()
        r = world.client.post("/api/v1/workshops", json={**body, "seats": 0, "ends_at": body["starts_at"]})
        assert {e["field"] for e in r.get_json()["errors"]} == {"seats", "ends_at"}
        r = world.client.post("/api/v1/workshops", json=body)
        assert r.status_code == 201, r.get_json()
        workshop = r.get_json()
        code = workshop["join_code"]
        assert workshop["links"]["join"].endswith(f"/interactive/join/{code}")

        students = []
        for i in range(6):
            student = make_user(world.app, f"student{i}")
            client = world.app.test_client()
            login(client, student)
            students.append(client)
        assert students[0].post("/api/v1/workshops/join", json={"code": "wrong"}).status_code == 404
        # No code at all is the caller's mistake (422, naming the field), not an unknown workshop.
        for bad in ({"code": [code]}, {"code": 7}, {"code": ""}, {"code": None}, {}):
            r = students[0].post("/api/v1/workshops/join", json=bad)
            assert r.status_code == 422, (bad, r.status_code)
            assert r.mimetype == "application/problem+json" and r.get_json()["errors"][0]["field"] == "code"
        ids = []
        for client in students[:5]:
            r = client.post("/api/v1/workshops/join", json={"code": code})
            assert r.status_code == 200, r.get_json()
            ids.append(r.get_json()["id"])
            # Joining again is the same seat and session (one click, twice).
            assert client.post("/api/v1/workshops/join", json={"code": code}).get_json()["id"] == ids[-1]
        r = students[5].post("/api/v1/workshops/join", json={"code": code})
        assert r.status_code == 409 and "full (5 seats)" in r.get_json()["detail"]
        for sid in ids:
            row = world.run_until(sid, {"ready", "failed"})
            assert row.state == "ready", row.state_reason
            assert row.project_id is not None  # the workshop's project pays, not the student
        seen = world.client.get(f"/api/v1/workshops/{workshop['id']}").get_json()
        assert seen["seats_taken"] == 5 and seen["connected"] == 5
        assert sorted(s["username"] for s in seen["students"]) == [f"student{i}" for i in range(5)]
        # Students see their own session, not the workshop's seats.
        assert students[0].get(f"/api/v1/workshops/{workshop['id']}").status_code == 404
        page = world.client.get(f"/interactive/workshops/{workshop['id']}")
        assert page.status_code == 200 and b"5 connected" in page.data.replace(
            b'<span id="connected">', b""
        ).replace(b"</span>", b"")
        join_page = students[5].get(f"/interactive/join/{code}")
        assert join_page.status_code == 200 and b"Intro to notebooks" in join_page.data
    finally:
        world.end_all()


def test_workshop_form(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        page = world.client.get("/interactive/workshops")
        assert page.status_code == 200 and b"workshop-form" not in page.data  # manages no project
        with world.app.app_context():
            db.session.execute(update(ProjectMember).values(role="manager"))
            db.session.commit()
        assert b"workshop-form" in world.client.get("/interactive/workshops").data
        form = {"title": "Lab", "application": "hello-web", "seats": "3", "hours": "1.5", "project": "astro"}
        bad = world.client.post("/interactive/workshops", data={**form, "starts_at": "soon"})
        assert bad.status_code == 422 and b"needs a start time" in bad.data
        start = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        r = world.client.post("/interactive/workshops", data={**form, "starts_at": start})
        assert r.status_code == 302 and "/interactive/workshops/" in r.headers["Location"]
        shown = world.client.get(r.headers["Location"])
        assert shown.status_code == 200 and b"0 of 3 seats taken" in shown.data
        assert world.bob_client.get(r.headers["Location"]).status_code == 404
    finally:
        world.end_all()


def test_workshop_prewarms_burst_instances(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5 seats on the burst destination: the pool launches their instances before the workshop
    starts (no student yet), and the 5 students' sessions run on those instances."""
    from gateway_kit.burst.feature import reconcile_all

    from .test_burst import BurstWorld

    world = BurstWorld(
        tmp_path, monkeypatch, JOBS_ROUTING_RULES={"hello-web": "cloud"}, SESSIONS_WORKSHOP_EARLY_JOIN=600
    )
    try:
        with world.app.app_context():
            db.session.execute(update(ProjectMember).values(role="manager"))
            db.session.commit()
        starts = datetime.now(UTC) + timedelta(minutes=2)  # within the warm-up lead (2 x boot_seconds)
        body = {
            "title": "Burst lab",
            "application": "hello-web",
            "seats": 5,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "project": "astro",
        }
        r = world.client.post("/api/v1/workshops", json=body)
        assert r.status_code == 201, r.get_json()
        code, workshop_id = r.get_json()["join_code"], r.get_json()["id"]

        def warm() -> list[Any]:
            with world.app.app_context():
                reconcile_all(world.app)
            return [i for i in world.instances() if i.state == "ready"]

        deadline = time.monotonic() + 60
        while sum(i.vcpus for i in warm()) < 5:
            assert time.monotonic() < deadline, [(i.flavor, i.state) for i in world.instances()]
            time.sleep(0.2)
        assert datetime.now(UTC) < starts  # warm before the start, with no student yet
        instances = {i.id: i.address for i in world.instances()}

        sids = []
        for i in range(5):
            student = make_user(world.app, f"student{i}")
            client = world.app.test_client()
            login(client, student)
            r = client.post("/api/v1/workshops/join", json={"code": code})
            assert r.status_code == 200, r.get_json()
            sids.append(r.get_json()["id"])
        for sid in sids:
            row = world.run_until(sid, {"ready", "failed"}, timeout=90)
            assert row.state == "ready", row.state_reason
            assert row.backend_host in instances.values()
        assert {i.id for i in world.instances()} == set(instances)  # no instance launched for them
        seen = world.client.get(f"/api/v1/workshops/{workshop_id}").get_json()
        assert seen["seats_taken"] == 5 and seen["connected"] == 5
    finally:
        world.close()
