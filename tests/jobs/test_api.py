"""The jobs API end to end: submit, follow, cancel, resubmit, logs, outputs; every bad input."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL, JobState

from ..conftest import make_token
from .conftest import World


def finish(w: World, job_id: int, timeout: float = 60) -> Any:
    return wait_for(w.app, job_id, set(TERMINAL), timeout)


def bearer(w: World, user: Any, scopes: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(w.app, user, scopes)}"}


def test_token_submit_runs_to_completion_with_logs_outputs_and_charge(world: World) -> None:
    w = world
    c = w.app.test_client()
    h = bearer(w, w.alice, ["jobs:read", "jobs:write"])
    apps = c.get("/api/v1/applications", headers=h).json["applications"]
    assert {"echo", "wordcount", "sleep", "pi", "argv"} <= {a["id"] for a in apps}
    schema = c.get("/api/v1/applications/pi", headers=h).json
    assert schema["inputs"]["properties"]["method"]["enum"] == ["monte-carlo", "grid"]
    r = c.post("/api/v1/jobs", headers=h, json={"application": "pi", "inputs": {"samples": 20000}})
    assert r.status_code == 201, r.json
    assert r.headers["Location"] == f"/api/v1/jobs/{r.json['id']}"
    job = finish(w, r.json["id"])
    assert job.state == "COMPLETED", job.state_reason
    shown = c.get(f"/api/v1/jobs/{job.id}", headers=h).json
    assert shown["su_charged"] > 0 and shown["started_at"] and shown["finished_at"]
    states = [e["to"] for e in c.get(f"/api/v1/jobs/{job.id}/events", headers=h).json["events"]]
    assert states[0] == "QUEUED" and states[-1] == "COMPLETED" and "STAGING" in states
    log = c.get(f"/api/v1/jobs/{job.id}/logs?stream=stdout&offset=0", headers=h).json
    assert "pi ~" in log["data"] and log["complete"]
    tail = c.get(f"/api/v1/jobs/{job.id}/logs?offset={log['next_offset'] - 5}", headers=h).json
    assert tail["data"] == log["data"][-5:]
    outs = {o["path"]: o for o in c.get(f"/api/v1/jobs/{job.id}/outputs", headers=h).json["outputs"]}
    assert "result.json" in outs
    body = c.get(outs["result.json"]["url"], headers=h)
    assert body.status_code == 200 and json.loads(body.data)["samples"] == 20000
    usage = c.get("/api/v1/usage", headers=h).json["projects"][0]
    assert usage["su_used"] > 0 and usage["su_reserved"] == 0
    # Projects by name, as in /usage and in requests (the id stays as a deprecated alias).
    assert r.json["project"] == shown["project"] == usage["project"] and shown["project_id"] > 0
    listed = c.get("/api/v1/jobs", headers=h).json["jobs"]
    assert [j["project"] for j in listed if j["id"] == job.id] == [usage["project"]]
    sse = c.get(f"/api/v1/jobs/{job.id}/logs/follow", headers=h)
    text = sse.get_data(as_text=True)
    assert sse.mimetype == "text/event-stream" and "pi ~" in text and "event: end" in text


def test_every_field_error_in_one_problem_document(world: World) -> None:
    c = world.login(world.alice)
    r = c.post(
        "/api/v1/jobs",
        json={
            "application": "argv",
            "colour": "red",
            "inputs": {"text": 5, "number": 11, "flag": "yes", "choice": "z", "extra": 1},
            "resources": {"cpus": 99, "disks": 1, "walltime": "long"},
            "webhook_url": "ftp://x",
        },
    )
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    fields = {e["field"] for e in r.json["errors"]}
    assert fields == {
        "colour",
        "inputs.text",
        "inputs.number",
        "inputs.flag",
        "inputs.choice",
        "inputs.extra",
        "resources.cpus",
        "resources.disks",
        "resources.walltime",
        "webhook_url",
    }
    for body, field in [
        ({"application": "nope"}, "application"),
        ({}, "application"),
        ({"application": "echo", "inputs": []}, "inputs"),
    ]:
        r = c.post("/api/v1/jobs", json=body)
        assert r.status_code == 422 and field in {e["field"] for e in r.json["errors"]}
    r = c.post("/api/v1/jobs", data="not json", content_type="text/plain")
    assert r.status_code == 422
    assert c.get("/api/v1/jobs").json["jobs"] == []  # nothing was stored


def test_shell_metacharacters_and_newlines_arrive_literally(world: World) -> None:
    c = world.login(world.alice)
    nasty = "a; rm -rf ~ && $(touch /tmp/gk-pwned) `id` | cat\nsecond line 'q\" *"
    r = c.post(
        "/api/v1/jobs",
        json={"application": "argv", "inputs": {"text": nasty, "number": 3, "flag": True, "choice": "b"}},
    )
    assert r.status_code == 201, r.json
    job = finish(world, r.json["id"])
    assert job.state == "COMPLETED", job.state_reason
    argv = json.loads((Path(job.workdir) / "argv.json").read_text())
    assert argv == [nasty, "n=3", "--flag", "b", ""]
    assert not Path("/tmp/gk-pwned").exists()


def _multipart(body: dict[str, Any], **files: tuple[bytes, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"request": json.dumps(body)}
    for name, (content, filename) in files.items():
        data[name] = (io.BytesIO(content), filename)
    return data


def test_uploads_path_traversal_and_oversize_are_refused_and_nothing_is_left(world: World) -> None:
    c = world.login(world.alice)
    jobs_dir = Path(world.app.config["JOBS_DIR"])
    base = {"application": "argv", "inputs": {"text": "x", "number": 1}}
    for filename in ("../../etc/passwd", "..", "a/b.txt", "..\\evil.txt", ".hidden", "evil$(x).txt"):
        r = c.post(
            "/api/v1/jobs",
            data=_multipart(base, upload=(b"data", filename)),
            content_type="multipart/form-data",
        )
        assert r.status_code == 422, (filename, r.json)
        assert r.json["errors"][0]["field"] == "inputs.upload"
    r = c.post(
        "/api/v1/jobs",
        data=_multipart(base, upload=(b"x" * 20_000, "big.txt")),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "larger than the limit" in r.json["errors"][0]["message"]
    assert not any((jobs_dir / "tmp").glob("*")) if (jobs_dir / "tmp").exists() else True
    assert not list(jobs_dir.glob("job-*"))
    r = c.post(
        "/api/v1/jobs",
        data=_multipart(base, upload=(b"hello", "in put.txt")),
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.json
    job = finish(world, r.json["id"])
    argv = json.loads((Path(job.workdir) / "argv.json").read_text())
    assert argv[-1] == "inputs/upload/in put.txt"
    assert (Path(job.workdir) / argv[-1]).read_bytes() == b"hello"
    r = c.post("/api/v1/jobs", json={**base, "inputs": {**base["inputs"], "upload": "x"}})
    assert r.status_code == 422  # a file input cannot be given as JSON


def test_wordcount_with_file_and_resubmit_reuses_it(world: World) -> None:
    c = world.login(world.alice)
    r = c.post(
        "/api/v1/jobs",
        data=_multipart(
            {"application": "wordcount", "inputs": {"top": 2}},
            text=(b"the cat and the hat and the bat", "t.txt"),
        ),
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.json
    job = finish(world, r.json["id"])
    assert job.state == "COMPLETED", job.state_reason
    counts = json.loads((Path(job.workdir) / "counts.json").read_text())
    assert counts["top"][0] == ["the", 3]
    again = c.post(f"/api/v1/jobs/{job.id}/resubmit", json={"inputs": {"top": 1}})
    assert again.status_code == 201, again.json
    assert again.json["resubmitted_from"] == job.id and again.json["inputs"]["top"] == 1
    job2 = finish(world, again.json["id"])
    assert json.loads((Path(job2.workdir) / "counts.json").read_text())["top"] == [["the", 3]]


def test_idempotency_key(world: World) -> None:
    c = world.login(world.alice)
    body = {"application": "echo", "inputs": {"message": "once"}}
    a = c.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "k1"})
    b = c.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "k1"})
    assert a.status_code == 201 and b.status_code == 200 and a.json["id"] == b.json["id"]
    other = c.post("/api/v1/jobs", json={"application": "sleep"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409
    bob = world.other_client(world.bob)  # keys are per user; bob has no project though
    assert bob.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "k1"}).status_code == 422
    assert len(c.get("/api/v1/jobs").json["jobs"]) == 1


def test_list_filters_and_cursor_pagination(world: World) -> None:
    c = world.login(world.alice)
    ids = [
        c.post("/api/v1/jobs", json={"application": a}).json["id"]
        for a in ("echo", "sleep", "echo", "echo", "sleep")
    ]
    c.post(f"/api/v1/jobs/{ids[1]}/cancel")
    page = c.get("/api/v1/jobs?limit=2").json
    seen = [j["id"] for j in page["jobs"]]
    while page["next_cursor"]:
        page = c.get(f"/api/v1/jobs?limit=2&cursor={page['next_cursor']}").json
        seen += [j["id"] for j in page["jobs"]]
    assert seen == sorted(ids, reverse=True)
    assert [j["id"] for j in c.get("/api/v1/jobs?application=sleep").json["jobs"]] == [ids[4], ids[1]]
    assert [j["id"] for j in c.get("/api/v1/jobs?state=CANCELED").json["jobs"]] == [ids[1]]
    assert c.get("/api/v1/jobs?state=BOGUS").status_code == 422
    assert c.get("/api/v1/jobs?cursor=abc").status_code == 422
    assert c.get("/api/v1/jobs?limit=0").status_code == 422


def test_cancel_queued_running_and_finished(world: World) -> None:
    c = world.login(world.alice)
    queued = c.post("/api/v1/jobs", json={"application": "sleep", "inputs": {"seconds": 30}}).json
    r = c.post(f"/api/v1/jobs/{queued['id']}/cancel")
    assert r.status_code == 202 and r.json["state"] == "CANCELED"
    assert c.post(f"/api/v1/jobs/{queued['id']}/cancel").status_code == 409
    # ten minutes (under its 2-minute walltime): RUNNING holds until the cancel, however busy the host
    running = c.post("/api/v1/jobs", json={"application": "sleep", "inputs": {"seconds": 600}}).json
    job = wait_for(world.app, running["id"], {JobState.RUNNING}, 60)
    stdout = Path(job.workdir) / "stdout.txt"
    deadline = time.monotonic() + 60  # RUNNING means started, not yet printed: wait for its line
    while "second 1 of 600" not in (stdout.read_text() if stdout.exists() else ""):
        assert time.monotonic() < deadline, "the job never printed its first line"
        time.sleep(0.05)
    assert c.post(f"/api/v1/jobs/{running['id']}/cancel").json["cancel_requested"] is True
    job = finish(world, running["id"])
    assert job.state == "CANCELED"
    assert "second 1 of 600" in (Path(job.workdir) / "stdout.txt").read_text()
    r = c.post(f"/api/v1/jobs/{running['id']}/cancel")
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    usage = c.get("/api/v1/usage").json["projects"][0]
    assert usage["su_reserved"] == 0


def test_failed_and_timed_out_jobs(world: World) -> None:
    c = world.login(world.alice)
    failed = finish(world, c.post("/api/v1/jobs", json={"application": "fail"}).json["id"])
    assert failed.state == "FAILED" and failed.exit_code == 3 and "exit status 3" in failed.state_reason
    assert "bad" in c.get(f"/api/v1/jobs/{failed.id}/logs?stream=stderr").json["data"]
    r = c.post(
        "/api/v1/jobs", json={"application": "sleep", "inputs": {"seconds": 30}, "resources": {"walltime": 1}}
    )
    timed = finish(world, r.json["id"])
    assert timed.state == "TIMED_OUT" and "walltime" in timed.state_reason


def test_another_users_job_is_404_everywhere(world: World) -> None:
    a = world.login(world.alice)
    job_id = a.post("/api/v1/jobs", json={"application": "echo"}).json["id"]
    finish(world, job_id)
    b = world.other_client(world.bob)
    for path in ("", "/events", "/logs", "/logs/follow", "/outputs", "/outputs/stdout.txt"):
        r = b.get(f"/api/v1/jobs/{job_id}{path}")
        assert r.status_code == 404 and r.mimetype == "application/problem+json", path
    assert b.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 404
    assert b.post(f"/api/v1/jobs/{job_id}/resubmit", json={}).status_code == 404
    assert b.get(f"/jobs/{job_id}").status_code == 404
    assert a.get(f"/api/v1/jobs/{job_id}/outputs/../../etc/passwd").status_code == 404
    assert a.get(f"/api/v1/jobs/{job_id}/outputs/.gk/spec.json").status_code == 404
    assert a.get("/api/v1/jobs/999999").status_code == 404


def test_authentication_and_scopes(world: World) -> None:
    c = world.app.test_client()
    r = c.get("/api/v1/jobs")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    read_only = bearer(world, world.alice, ["jobs:read"])
    assert c.get("/api/v1/jobs", headers=read_only).status_code == 200
    assert c.post("/api/v1/jobs", headers=read_only, json={"application": "echo"}).status_code == 403
    assert c.get("/api/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_allocation_refuses_a_worst_case_it_cannot_cover(world: World) -> None:
    c = world.login(world.alice)
    # sleep may ask for 3600 s: 1 CPU-hour = 1 SU; astro has 100 SUs.
    r = c.post("/api/v1/jobs", json={"application": "pi", "resources": {"cpus": 4}})
    assert r.status_code == 201
    # a definition allowing a bigger worst case than the allocation holds
    from gateway_kit.db import db
    from gateway_kit.identity.models import Project
    from gateway_kit.jobs import accounting

    with world.app.app_context():
        p = db.session.query(Project).filter_by(name="astro").one()
        accounting.set_allocation(db.session, p, 0.5, None, top_up=False)
        db.session.commit()
    r = c.post("/api/v1/jobs", json={"application": "sleep", "resources": {"walltime": 3600}})
    assert r.status_code == 403 and r.json["type"].endswith("quota_exceeded")
    assert "SUs left" in r.json["detail"] and "up to 1.00 SUs" in r.json["detail"]
    assert r.json["su_requested"] == 1.0
    assert c.get("/api/v1/jobs?application=sleep").json["jobs"] == []


def test_file_names_with_control_characters_are_refused() -> None:
    from gateway_kit.jobs.inputs import check_filename

    assert check_filename("bad\nname") and check_filename("a\x00b") and check_filename("")
    assert check_filename("ok name-1.txt") is None
