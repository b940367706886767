"""Concurrent submissions never over-commit an allocation, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway_kit.db import db
from gateway_kit.jobs.models import Allocation, Job, JobEvent

from ..conftest import make_token, make_user
from .conftest import make_jobs_app, seed_project


def test_concurrent_submissions_reserve_exactly_what_the_allocation_holds(
    tmp_path: Path, database_url: str
) -> None:
    app = make_jobs_app(tmp_path, DATABASE_URL=database_url)
    alice = make_user(app, "alice")
    seed_project(app, "astro", [alice], 3.0)  # room for three worst cases of 1 SU
    headers = {"Authorization": f"Bearer {make_token(app, alice, ['jobs:write'])}"}
    body = {"application": "sleep", "inputs": {"seconds": 1}, "resources": {"walltime": 3600}}
    gate = threading.Barrier(8)
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def submit_one() -> None:
        client = app.test_client()
        gate.wait(timeout=60)
        r = client.post("/api/v1/jobs", json=body, headers=headers)
        with lock:
            answers.append((r.status_code, r.json))

    threads = [threading.Thread(target=submit_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * 3 + [403] * 5, answers
    assert all(j["type"].endswith("quota_exceeded") for code, j in answers if code == 403)
    with db.session_scope(app) as s:
        alloc = s.scalars(select(Allocation)).one()
        assert alloc.su_reserved == 3.0 and alloc.su_used == 0.0
        assert s.scalar(select(func.count()).select_from(Job)) == 3
        assert s.scalar(select(func.count()).select_from(JobEvent)) == 3
    db.engine(app).dispose()
