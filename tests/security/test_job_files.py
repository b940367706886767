"""Defect 4: job files are opened without following links, in the API and in the executors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.jobs.executors.runner import _append_no_link
from gateway_kit.jobs.jobfiles import UnsafeJobFile, open_job_file, read_job_file
from gateway_kit.jobs.models import Job
from tests.conftest import make_token, make_user

SECRET = b"the gateway's secret\n"


def _finished_job(app: Any, tmp_path: Path) -> tuple[int, Path, str]:
    user = make_user(app, "eve")
    workdir = tmp_path / "job"
    workdir.mkdir()
    with db.session_scope(app) as s:
        job = Job(
            user_id=user.id,
            app_id="echo",
            app_version="1",
            destination="local",
            workdir=str(workdir),
            state="COMPLETED",
        )
        s.add(job)
        s.flush()
        job_id = job.id
    return job_id, workdir, make_token(app, user, ["jobs:read"])


def test_logs_do_not_follow_a_symlink(app: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    job_id, workdir, token = _finished_job(app, tmp_path)
    (workdir / "stdout.txt").symlink_to(secret)
    (workdir / "stderr.txt").write_bytes(b"plain\n")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    out = client.get(f"/api/v1/jobs/{job_id}/logs?stream=stdout", headers=auth)
    assert out.status_code == 200 and "secret" not in out.get_data(as_text=True)
    err = client.get(f"/api/v1/jobs/{job_id}/logs?stream=stderr", headers=auth)
    assert err.get_json()["data"] == "plain\n"
    # An offset the API accepts but the file cannot reach answers no data, not a 500.
    far = client.get(f"/api/v1/jobs/{job_id}/logs?stream=stderr&offset={2**62}", headers=auth)
    assert far.status_code == 200 and far.get_json()["data"] == ""
    page = client.get(f"/api/v1/jobs/{job_id}/outputs/stdout.txt", headers=auth)
    assert page.status_code == 404 and b"secret" not in page.data


def test_the_opener_refuses_links_anywhere_fifos_and_escapes(tmp_path: Path) -> None:
    root = tmp_path / "job"
    (root / "out").mkdir(parents=True)
    (root / "out" / "ok.txt").write_bytes(b"ok")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_bytes(SECRET)
    (root / "linkdir").symlink_to(tmp_path / "elsewhere")
    (root / "link.txt").symlink_to(tmp_path / "elsewhere" / "x.txt")
    os.mkfifo(root / "fifo")
    assert read_job_file(root, "out/ok.txt") == b"ok"
    for rel in ("linkdir/x.txt", "link.txt", "fifo", "../elsewhere/x.txt", "/etc/passwd", "out"):
        with pytest.raises(UnsafeJobFile):
            open_job_file(root, rel)
    with pytest.raises(FileNotFoundError):
        open_job_file(root, "missing.txt")
    with pytest.raises(UnsafeJobFile):
        open_job_file(root, "link.txt", "ab")
    assert (tmp_path / "elsewhere" / "x.txt").read_bytes() == SECRET


def test_the_local_runner_does_not_append_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_bytes(SECRET)
    (tmp_path / "stdout.txt").symlink_to(target)
    with pytest.raises(OSError):
        _append_no_link(tmp_path / "stdout.txt")
    assert target.read_bytes() == SECRET


@pytest.mark.parametrize("swap", ["link", "gone"])
def test_a_resubmission_never_reads_an_input_through_a_link(tmp_path: Path, swap: str) -> None:
    from tests.jobs.conftest import make_jobs_app, seed_project
    from tests.jobs.test_api import _multipart

    app = make_jobs_app(tmp_path)
    user = make_user(app, "eve")
    seed_project(app, "astro", [user], 100.0)
    auth = {"Authorization": f"Bearer {make_token(app, user, ['jobs:read', 'jobs:write'])}"}
    client = app.test_client()
    r = client.post(
        "/api/v1/jobs",
        data=_multipart({"application": "wordcount", "inputs": {"top": 2}}, text=(b"a b a", "t.txt")),
        content_type="multipart/form-data",
        headers=auth,
    )
    assert r.status_code == 201, r.get_json()
    job_id = r.get_json()["id"]
    with app.app_context():
        workdir = Path(db.session.get(Job, job_id).workdir)
    staged = workdir / "inputs" / "text" / "t.txt"
    assert staged.read_bytes() == b"a b a"
    staged.unlink()
    if swap == "link":  # the job replaced its input with a link to someone else's file
        secret = tmp_path / "secret.txt"
        secret.write_bytes(SECRET)
        staged.symlink_to(secret)
    again = client.post(f"/api/v1/jobs/{job_id}/resubmit", json={}, headers=auth)
    # Before: the resubmission copied the link's target (the secret) into a new job.
    assert again.status_code == 409, again.get_data(as_text=True)
    assert again.mimetype == "application/problem+json"
    assert "input 'text' of job" in again.get_json()["detail"]
    with app.app_context():
        assert db.session.query(Job).count() == 1
    left = sorted(
        str(p.relative_to(workdir.parent)) for p in workdir.parent.rglob("*") if workdir not in p.parents
    )
    assert left == [workdir.name, "tmp"]  # no new job folder, nothing staged left over


def test_a_failed_session_reason_reads_no_link_or_fifo(app: Any, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from gateway_kit.sessions.lifecycle import _log_tail

    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    row = SimpleNamespace(workdir=str(tmp_path / "session"), token=lambda cfg: "s3cr3t")
    (tmp_path / "session").mkdir()
    stderr = tmp_path / "session" / "stderr.txt"
    with app.app_context():
        stderr.write_bytes(b"x" * 1000 + b"\nboom, token s3cr3t\n")
        tail = _log_tail(row, limit=24)
        assert tail.endswith("boom, token ***") and "xxxxxx" not in tail
        stderr.unlink()
        stderr.symlink_to(secret)  # before: the secret became the session's failure reason
        assert _log_tail(row) == ""
        stderr.unlink()
        os.mkfifo(stderr)  # before: the worker blocked on it for good
        assert _log_tail(row) == ""


def test_a_session_address_file_is_read_without_links_or_fifos(tmp_path: Path) -> None:
    import json

    from gateway_kit.sessions.launchers import ADDRESS_FILE, SlurmLauncher

    launcher = SlurmLauncher("hpc", {})
    address = tmp_path / ADDRESS_FILE
    address.parent.mkdir(parents=True)
    address.write_text(json.dumps({"host": "127.0.0.1", "port": 8888}))
    assert launcher.locate(None, tmp_path) == ("127.0.0.1", 8888)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"host": "127.0.0.1", "port": 22}))
    address.unlink()
    address.symlink_to(elsewhere)
    assert launcher.locate(None, tmp_path) is None
    address.unlink()
    os.mkfifo(address)  # before: the worker's sessions pass blocked on it for good
    assert launcher.locate(None, tmp_path) is None
    address.unlink()
    address.write_text("[1, 2]")
    assert launcher.locate(None, tmp_path) is None


def test_the_opener_does_not_wait_on_a_fifo_opened_for_writing(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for mode in ("ab", "wb"):  # before: blocked until something read the FIFO
        with pytest.raises(UnsafeJobFile):
            open_job_file(tmp_path, "fifo", mode)


def test_burst_agent_writes_follow_no_link(app: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from gateway_kit.burst.models import BurstInstance, BurstJob
    from gateway_kit.burst.pool import digest
    from gateway_kit.db import utcnow

    workdir, elsewhere = tmp_path / "job", tmp_path / "elsewhere"
    workdir.mkdir()
    elsewhere.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SECRET)
    with db.session_scope(app) as s:
        inst = BurstInstance(
            destination="b",
            flavor="f",
            state="ready",
            address="127.0.0.1",
            token_hash=digest("gka_agent-token"),
            token_expires=utcnow() + timedelta(hours=1),
        )
        s.add(inst)
        s.flush()
        s.add(
            BurstJob(
                job_id=-7,
                destination="b",
                spec={"workdir": str(workdir)},
                state="running",
                instance_id=inst.id,
            )
        )
    agent = app.test_client()
    auth = {"Authorization": "Bearer gka_agent-token", "Content-Type": "application/octet-stream"}
    # A log, an output folder and an output that are links (to a file or folder the gateway
    # can write): before, the agent's bytes landed there.
    (workdir / "stdout.txt").symlink_to(victim)
    (workdir / "out").symlink_to(elsewhere)
    (workdir / "result.txt").symlink_to(victim)
    r = agent.put("/api/v1/agent/jobs/-7/logs/stdout?offset=0", data=b"overwritten", headers=auth)
    assert r.status_code == 409 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    r = agent.put("/api/v1/agent/jobs/-7/outputs/out/x.txt", data=b"planted", headers=auth)
    assert r.status_code == 409, r.get_data(as_text=True)
    assert list(elsewhere.iterdir()) == [] and victim.read_bytes() == SECRET
    # An output whose name is a link is replaced by the file, not written through.
    r = agent.put("/api/v1/agent/jobs/-7/outputs/result.txt", data=b"42", headers=auth)
    assert r.status_code == 200 and r.get_json()["size"] == 2
    assert not (workdir / "result.txt").is_symlink() and (workdir / "result.txt").read_bytes() == b"42"
    assert victim.read_bytes() == SECRET
    # Plain files still work.
    (workdir / "stderr.txt").write_bytes(b"ab")
    r = agent.put("/api/v1/agent/jobs/-7/logs/stderr?offset=1", data=b"XY", headers=auth)
    assert r.status_code == 200 and (workdir / "stderr.txt").read_bytes() == b"aXY"
