"""A database outage answers 503 with Retry-After (problem+json under /api), never 500."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway_kit.db import db
from tests.conftest import make_app, make_token, make_user


def test_api_answers_503_with_retry_after_when_the_database_is_gone(
    tmp_path: Path, postgres_url: str
) -> None:
    app = make_app(tmp_path, DATABASE_URL=postgres_url, PLUGINS=["gateway_kit.jobs.examples"])
    token = make_token(app, make_user(app, "alice"), ["jobs:read", "jobs:write"])
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/jobs", headers=auth).status_code == 200
    # The outage: every connection cut and the database gone (a real server's real error).
    db.engine(app).dispose()
    admin = create_engine(os.environ["GK_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{make_url(postgres_url).database}" WITH (FORCE)'))
    admin.dispose()
    for method, path in (("GET", "/api/v1/jobs"), ("POST", "/api/v1/jobs")):
        resp = client.open(path, method=method, headers=auth, json={"application": "echo"})
        assert resp.status_code == 503, (path, resp.status_code, resp.get_data(as_text=True)[:500])
        assert resp.mimetype == "application/problem+json"
        assert resp.headers["Retry-After"].isdigit()
        body = resp.get_json()
        assert body["title"] == "Database unavailable" and "try again" in body["detail"]
        assert "127.0.0.1" not in body["detail"] and "Traceback" not in resp.get_data(as_text=True)
    db.engine(app).dispose()
