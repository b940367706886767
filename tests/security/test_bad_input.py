"""Defect 5: input no view can store answers 4xx problem+json naming the field, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.identity.models import User
from gateway_kit.jobs.models import Job
from tests.conftest import login, make_app, make_token, make_user
from tests.data.conftest import World, start, upload

SCOPES = ["jobs:read", "jobs:write", "datasets:read", "datasets:write", "profile"]


@pytest.fixture()
def world(tmp_path: Path, database_url: str) -> tuple[Any, dict[str, str]]:
    app = make_app(tmp_path, DATABASE_URL=database_url)
    user = make_user(app, "ann")
    return app, {"Authorization": f"Bearer {make_token(app, user, SCOPES)}"}


def _problem(resp: Any, status: int, field: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/problem+json"
    doc: dict[str, Any] = resp.get_json()
    assert field in [e["field"] for e in doc.get("errors", [])], doc
    return doc


def _job(app: Any) -> int:
    with db.session_scope(app) as s:
        owner = s.query(User).filter_by(username="ann").one()
        job = Job(user_id=owner.id, app_id="echo", app_version="1", destination="local", state="COMPLETED")
        s.add(job)
        s.flush()
        return int(job.id)


def _post_json(c: Any, url: str, body: str, auth: dict[str, str]) -> Any:
    return c.post(url, data=body, content_type="application/json", headers=auth)


def test_nul_bytes_anywhere(world: tuple[Any, dict[str, str]]) -> None:
    app, auth = world
    c = app.test_client()
    doc = _problem(c.get("/api/v1/datasets?q=%00"), 400, "query parameter 'q'")  # anonymous
    assert "NUL" in doc["detail"]
    _problem(c.get("/api/v1/datasets/ds-%00x", headers=auth), 400, "path")
    body = json.dumps({"name": "a\x00b", "description": "", "license": "CC0-1.0"})
    _problem(_post_json(c, "/api/v1/datasets", body, auth), 422, "name")
    login(c, make_user(app, "bob"))
    form = c.post("/datasets/new", data={"name": "x\x00y"})
    assert form.status_code == 400 and "NUL" in form.get_data(as_text=True)


def test_numbers_beyond_64_bits(world: tuple[Any, dict[str, str]]) -> None:
    app, auth = world
    c = app.test_client()
    big = str(2**70)
    assert c.get(f"/api/v1/jobs/{big}", headers=auth).status_code == 404
    assert c.get(f"/api/v1/jobs/{big}/logs", headers=auth).status_code == 404
    # Row ids are 32-bit on PostgreSQL: a 40-bit id is not found, not an "integer out of range".
    assert c.get(f"/api/v1/jobs/{2**40}/outputs/x", headers=auth).status_code == 404
    assert c.post(f"/api/v1/jobs/{2**40}/resubmit", json={}, headers=auth).status_code == 404
    # Every method alike: a DELETE whose path GET also routes is 404, not werkzeug's 405.
    for url in (f"/api/v1/sessions/{big}", f"/api/v1/sessions/{2**40}"):
        assert c.delete(url, headers=auth).status_code == 404, url
    _problem(c.get(f"/api/v1/jobs?cursor={2**40}", headers=auth), 422, "cursor")
    _problem(c.get(f"/api/v1/jobs?cursor={big}", headers=auth), 422, "cursor")
    _problem(c.get("/api/v1/jobs?cursor=%C2%B2", headers=auth), 422, "cursor")  # '²' is a digit to Python
    # Present but empty is not absent: the schema's pattern refuses it, so the API does too.
    _problem(c.get("/api/v1/jobs?cursor=&limit=100", headers=auth), 422, "cursor")
    _problem(c.get("/api/v1/jobs?state=", headers=auth), 422, "state")
    assert c.get("/api/v1/jobs?state=COMPLETED", headers=auth).status_code == 200
    _problem(c.get(f"/api/v1/datasets?offset={big}"), 422, "offset")
    _problem(c.get("/api/v1/datasets?limit=%C2%B2"), 422, "limit")
    _problem(c.get(f"/api/v1/jobs/{_job(app)}/logs?offset={big}", headers=auth), 422, "offset")
    body = '{"name": "n", "license": "CC0-1.0", "size": ' + big + "}"
    _problem(_post_json(c, "/api/v1/datasets", body, auth), 422, "size")
    # Pages read their numbers the same way: no server error, a sensible default.
    login(c, make_user(app, "bob"))
    assert c.get(f"/datasets?page={big}").status_code == 200
    assert c.get("/jobs?cursor=%C2%B2").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "x", "name": "y"}', "name"),
        ('{"name": NaN}', "body"),
        ('{"name": "x", "size": Infinity}', "body"),
        ("{not json", "body"),
        ("[" * 1000 + "]" * 1000, "body"),
    ],
)
def test_strict_json(world: tuple[Any, dict[str, str]], body: str, field: str) -> None:
    app, auth = world
    doc = _problem(_post_json(app.test_client(), "/api/v1/datasets", body, auth), 400, field)
    assert doc["detail"].startswith(field)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3"])
def test_dataset_and_resubmit_refuse_non_objects(world: tuple[Any, dict[str, str]], body: str) -> None:
    app, auth = world
    c = app.test_client()
    _problem(_post_json(c, "/api/v1/datasets", body, auth), 422, "body")
    job_id = _job(app)
    _problem(_post_json(c, f"/api/v1/jobs/{job_id}/resubmit", body, auth), 422, "body")
    with app.app_context():
        assert db.session.query(Job).count() == 1  # the resubmission created nothing


@pytest.mark.parametrize(("first", "second"), [("a", "a/b"), ("a/b", "a")])
def test_a_file_and_a_folder_of_the_same_name(tmp_path: Path, first: str, second: str) -> None:
    w = World(tmp_path)
    c = w.client("alice")
    uid = w.create(c)
    assert upload(c, uid, first, b"one").status_code == 201
    clash = start(c, uid, second, b"two")
    doc = _problem(clash, 409, "path")
    assert repr(first) in doc["detail"] and "delete" in doc["detail"]
    # Both uploads open before either completes: the second to complete is refused, and stays
    # open (nothing half-installed); once the clashing file is gone it completes.
    uid2 = w.create(c, name="Other")
    one, two = start(c, uid2, first, b"one").get_json(), start(c, uid2, second, b"two").get_json()
    for up, data in ((one, b"one"), (two, b"two")):
        r = c.put(
            f"/api/v1/datasets/{uid2}/uploads/{up['id']}/chunks/0",
            data=data,
            headers={"X-Chunk-SHA256": up["sha256"], "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 200, r.get_json()
    assert c.post(f"/api/v1/datasets/{uid2}/uploads/{one['id']}/complete").status_code == 201
    _problem(c.post(f"/api/v1/datasets/{uid2}/uploads/{two['id']}/complete"), 409, "path")
    files = [f["path"] for f in c.get(f"/api/v1/datasets/{uid2}").get_json()["files"]]
    assert files == [first]
    assert c.get(f"/api/v1/datasets/{uid2}/uploads/{two['id']}").status_code == 200
    assert c.delete(f"/api/v1/datasets/{uid2}/files/{first}").status_code == 204
    assert c.post(f"/api/v1/datasets/{uid2}/uploads/{two['id']}/complete").status_code == 201
    got = c.get(f"/api/v1/datasets/{uid2}/files/{second}")
    assert got.status_code == 200 and got.data == b"two"


@pytest.mark.parametrize(
    ("body", "ctype", "field"),
    [
        ('{"inputs": "x"}', "application/json", "inputs"),
        ('{"resources": [1]}', "application/json", "resources"),
        ('{"name": {}}', "application/json", "name"),
        ('{"webhook_url": 5}', "application/json", "webhook_url"),
        ('{"notify_email": "yes"}', "application/json", "notify_email"),
        ('{"colour": "red"}', "application/json", "colour"),
        ('{"application": "other"}', "application/json", "application"),
        ("null", "application/json", "body"),
        ("inputs=garbage", "application/x-www-form-urlencoded", "body"),
    ],
)
def test_a_resubmission_with_a_garbage_body_creates_no_job(
    world: tuple[Any, dict[str, str]], body: str, ctype: str, field: str
) -> None:
    app, auth = world
    job_id = _job(app)
    resp = app.test_client().post(
        f"/api/v1/jobs/{job_id}/resubmit", data=body, content_type=ctype, headers=auth
    )
    _problem(resp, 422, field)  # before: 201, the garbage ignored
    with app.app_context():
        assert db.session.query(Job).count() == 1
