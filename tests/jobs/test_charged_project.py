"""Which project a submission charges (chosen by the reservation itself): the user's first
project by name, the one named if the user may charge it, the community project for anyone
when one is configured; otherwise a 422 that lists the user's projects, and nothing reserved.
On SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway_kit.db import db
from gateway_kit.identity.models import Project
from gateway_kit.jobs.models import Allocation, Job

from ..conftest import make_token, make_user
from .conftest import make_jobs_app, seed_project


def test_the_project_charged(tmp_path: Path, database_url: str) -> None:
    app = make_jobs_app(tmp_path, DATABASE_URL=database_url, JOBS_COMMUNITY_PROJECT="community")
    ada, bob = make_user(app, "ada"), make_user(app, "bob")
    seed_project(app, "zeta", [ada], 100.0)
    seed_project(app, "astro", [ada], 100.0)
    seed_project(app, "community", [], 100.0)
    seed_project(app, "private", [], 100.0)
    api = app.test_client()

    def post(user: Any, **extra: str) -> tuple[int, Any]:
        bearer = {"Authorization": f"Bearer {make_token(app, user, ['jobs:read', 'jobs:write'])}"}
        body = {"application": "echo", "inputs": {"message": "hi"}, **extra}
        resp = api.post("/api/v1/jobs", json=body, headers=bearer)
        return resp.status_code, resp.json

    assert post(ada)[1]["project"] == "astro"  # her first by name
    assert post(ada, project="zeta")[1]["project"] == "zeta"
    assert post(ada, project="community")[1]["project"] == "community"
    assert post(bob)[1]["project"] == "community"  # in no project: the community's
    status, problem = post(bob, project="private")
    assert status == 422 and problem["errors"][0]["field"] == "project", problem
    assert "'private'" in problem["errors"][0]["message"] and "community" in problem["errors"][0]["message"]
    status, problem = post(ada, project="nope", name="x" * 201)  # listed with the other errors
    assert status == 422 and {e["field"] for e in problem["errors"]} == {"project", "name"}, problem
    with db.session_scope(app) as s:
        names = dict(s.execute(select(Project.id, Project.name)).all())
        charged = sorted(names.get(j.project_id or 0, "") for j in s.scalars(select(Job)))
        assert charged == ["astro", "community", "community", "zeta"]
        reserved = {names[a.project_id]: a.su_reserved > 0 for a in s.scalars(select(Allocation))}
        assert reserved == {"zeta": True, "astro": True, "community": True, "private": False}
    db.engine(app).dispose()


def test_without_a_community_project_a_user_in_none_is_told_so(tmp_path: Path) -> None:
    app = make_jobs_app(tmp_path)
    bob = make_user(app, "bob")
    bearer = {"Authorization": f"Bearer {make_token(app, bob, ['jobs:read', 'jobs:write'])}"}
    resp = app.test_client().post("/api/v1/jobs", json={"application": "echo"}, headers=bearer)
    assert resp.status_code == 422 and "belong to no project" in resp.json["errors"][0]["message"], resp.json
