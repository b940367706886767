"""On PostgreSQL a submission writes in one statement: the reservation, the job, its event and
the workers' notification, or nothing when the allocation is short."""

from __future__ import annotations

from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from gateway_kit.db import db
from gateway_kit.jobs.models import Allocation, Job, JobEvent
from gateway_kit.jobs.wakeup import CHANNEL

from ..conftest import make_token, make_user
from .conftest import make_jobs_app, seed_project
from .test_statement_counts import counting


def test_a_postgres_submission_is_one_write_statement(tmp_path: Path, postgres_url: str) -> None:
    app = make_jobs_app(tmp_path, DATABASE_URL=postgres_url)
    ada = make_user(app, "ada")
    seed_project(app, "astro", [ada], 2.5)  # two worst cases of 1 SU, not three
    bearer = {"Authorization": f"Bearer {make_token(app, ada, ['jobs:read', 'jobs:write'])}"}
    body = {"application": "sleep", "inputs": {"seconds": 1}, "resources": {"walltime": 3600}}
    api = app.test_client()
    assert api.post("/api/v1/jobs", json=body, headers=bearer).status_code == 201  # the token's first use
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with counting(app) as statements:
            created = api.post("/api/v1/jobs", json=body, headers=bearer)
        assert created.status_code == 201, created.json
        # token with its owner, then one statement that chooses the project and writes
        assert len(statements) == 2, statements
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == [CHANNEL]
    assert api.get(f"/api/v1/jobs/{created.json['id']}", headers=bearer).json == created.json
    refused = api.post("/api/v1/jobs", json=body, headers=bearer)
    assert refused.status_code == 403 and refused.json["type"].endswith("quota_exceeded"), refused.json
    # A project named that is not the user's, and one that is not there, reserve nothing either.
    seed_project(app, "other", [], 100.0)
    for name in ("other", "nope"):
        wrong = api.post("/api/v1/jobs", json={**body, "project": name}, headers=bearer)
        assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "project", wrong.json
    with db.session_scope(app) as s:
        assert [a.su_reserved for a in s.scalars(select(Allocation).order_by(Allocation.id))] == [2.0, 0.0]
        assert s.scalar(select(func.count()).select_from(Job)) == 2
        assert [e.to_state for e in s.scalars(select(JobEvent))] == ["QUEUED", "QUEUED"]
    db.engine(app).dispose()
