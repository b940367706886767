"""SQL statements per read request are pinned: listing 22 jobs costs what listing 4 does (no N+1),
and each page stays within its budget. Raise a budget only with a reason in the commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from gateway_kit.db import db
from gateway_kit.jobs.service import Submission, submit

from ..conftest import login, make_token
from .conftest import World

#: Most statements each read may run (measured: token lookup or session + user, the page's rows).
BUDGETS = {
    "GET /api/v1/jobs": 2,  # token with its owner; the page of jobs
    "GET /api/v1/jobs/<id>": 2,  # token with its owner; the job
    "GET /jobs": 4,  # session record; user; the page of jobs; the bell's unread count
    "GET /jobs/<id>": 6,  # session record; user; the job; its events; its project's name; the bell
    "GET /apps": 3,  # session record; user; the bell's unread count
    "GET /metrics": 1,  # certificates
}


@contextmanager
def counting(app: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db.engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def submit_jobs(world: World, n: int) -> list[int]:
    ids = []
    with world.app.test_request_context():
        me = db.session.merge(world.alice)
        for i in range(n):
            job, _ = submit(db.session, me, Submission(application="echo", inputs={"message": f"m{i}"}))
            ids.append(job.id)
    return ids


def counts(world: World, token: str) -> dict[str, int]:
    bearer = {"Authorization": f"Bearer {token}"}
    api = world.app.test_client()
    page = world.app.test_client()
    login(page, world.alice)
    job_id = submit_jobs(world, 1)[0]
    requests = {
        "GET /api/v1/jobs": lambda: api.get("/api/v1/jobs?limit=20", headers=bearer),
        "GET /api/v1/jobs/<id>": lambda: api.get(f"/api/v1/jobs/{job_id}", headers=bearer),
        "GET /jobs": lambda: page.get("/jobs"),
        "GET /jobs/<id>": lambda: page.get(f"/jobs/{job_id}"),
        "GET /apps": lambda: page.get("/apps"),
        "GET /metrics": lambda: api.get("/metrics"),
    }
    found = {}
    for name, call in requests.items():
        call()  # warm: a first request may write last-used stamps
        with counting(world.app) as statements:
            assert call().status_code == 200, name
        found[name] = len(statements)
    return found


def test_reads_cost_the_same_statements_for_2_and_20_jobs_within_budget(world: World) -> None:
    from gateway_kit.jobs.models import Job

    ids = submit_jobs(world, 3)
    with world.app.app_context(), counting(world.app) as statements:  # the counter sees a loop
        for job_id in ids:
            db.session.get(Job, job_id)
    assert len(statements) == 3
    token = make_token(world.app, world.alice, ["jobs:read"])
    few = counts(world, token)
    submit_jobs(world, 18)
    many = counts(world, token)
    assert many == few, f"statements grow with the number of jobs (N+1): {few} -> {many}"
    # The links built once per request still lead to each job's resources.
    api = world.app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    first = api.get("/api/v1/jobs?limit=1", headers=bearer).json["jobs"][0]
    assert first["links"]["self"] == f"/api/v1/jobs/{first['id']}"
    for name in ("self", "events", "logs", "outputs"):
        assert api.get(first["links"][name], headers=bearer).status_code == 200, name
    assert first["links"]["page"] == f"/jobs/{first['id']}"
    over = {k: (v, BUDGETS[k]) for k, v in many.items() if v > BUDGETS[k]}
    assert not over, f"statements per request over budget (found, budget): {over}"


def test_a_submission_costs_four_statements_and_answers_the_stored_job(world: World) -> None:
    """POST /api/v1/jobs on SQLite: token with its owner, the reservation UPDATE (which chooses
    the project), INSERT job, INSERT event. The answer is built without reading the job back, so
    it must equal what a later read finds."""
    token = make_token(world.app, world.alice, ["jobs:read", "jobs:write"])
    api = world.app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    body = {"application": "echo", "inputs": {"message": "hi"}, "name": "counted"}
    assert api.post("/api/v1/jobs", json=body, headers=bearer).status_code == 201  # warm
    with counting(world.app) as statements:
        created = api.post("/api/v1/jobs", json=body, headers=bearer)
    assert created.status_code == 201, created.json
    writes = [s.split()[0] for s in statements if not s.lstrip().upper().startswith("SELECT")]
    assert writes == ["UPDATE", "INSERT", "INSERT"], statements
    assert len(statements) <= 4, statements
    shown = api.get(f"/api/v1/jobs/{created.json['id']}", headers=bearer).json
    assert created.json == shown
    assert shown["state"] == "QUEUED" and shown["name"] == "counted" and shown["su_reserved"] > 0
