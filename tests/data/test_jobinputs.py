"""Datasets as job inputs: the local executor reads a read-only view; other executors' values."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway_kit.data import storage
from gateway_kit.data.jobinputs import check_job_token
from gateway_kit.db import db
from gateway_kit.identity.models import Project
from gateway_kit.jobs import accounting
from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL, JobState

from .conftest import World, sha, upload


def _allocate(world: World) -> None:
    with db.session_scope(world.app) as s:
        for p in s.query(Project):
            accounting.set_allocation(s, p, 100.0, None, top_up=False, note="test")


def test_job_reads_a_dataset_on_the_local_executor(world: World) -> None:
    _allocate(world)
    alice = world.client("alice")
    uid = world.create(alice, visibility="project")
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(5000)}
    for path, data in files.items():
        assert upload(alice, uid, path, data).status_code == 201
    r = alice.post("/api/v1/jobs", json={"application": "wc", "inputs": {"data": uid}})
    assert r.status_code == 201, r.get_json()
    job = wait_for(world.app, r.get_json()["id"], set(TERMINAL), timeout=60)
    workdir = Path(job.workdir)
    out = (workdir / "stdout.txt").read_text()
    assert job.state == JobState.COMPLETED.value, (out, (workdir / "stderr.txt").read_text())
    for path, data in files.items():
        assert f"{path} {sha(data)}" in out
    assert f"TOTAL {sum(map(len, files.values()))}" in out
    # The job saw its own read-only view; the dataset itself is untouched either way.
    view = workdir / "inputs" / "data"
    assert oct(view.stat().st_mode & 0o777) == "0o555"
    assert oct((view / "a.txt").stat().st_mode & 0o777) == "0o444"
    if os.geteuid() != 0:  # modes do not bind root
        assert "WRITE-REFUSED" in out
    source = storage.dataset_dir(world.app.config, uid)
    assert not (source / "written-by-job").exists()
    assert (view / "a.txt").stat().st_ino == (source / "a.txt").stat().st_ino  # no copy


def test_job_with_someone_elses_private_dataset_is_refused_at_submission(world: World) -> None:
    _allocate(world)
    bob = world.client("bob")
    theirs = world.create(bob, project="bio")
    alice = world.client("alice")
    for uid in (theirs, "ds-000000000000"):  # another's private dataset answers as an unknown one
        r = alice.post("/api/v1/jobs", json={"application": "wc", "inputs": {"data": uid}})
        assert r.status_code == 422, r.get_json()
        errors = r.get_json()["errors"]
        assert [e["field"] for e in errors] == ["inputs.data"] and uid in errors[0]["message"]
    assert alice.get("/api/v1/jobs").get_json()["jobs"] == []  # nothing was queued
    # Bob may use his own.
    r = bob.post("/api/v1/jobs", json={"application": "wc", "inputs": {"data": theirs}})
    assert r.status_code == 201, r.get_json()


def test_slurm_and_burst_values(world: World, tmp_path: Path) -> None:
    from gateway_kit.data.jobinputs import resolve_value
    from gateway_kit.data.models import Dataset

    alice = world.client("alice")
    uid = world.create(alice)
    assert upload(alice, uid, "x.txt", b"x").status_code == 201
    world.app.config["DATA_SLURM_ROOT"] = "/shared/datasets"
    world.app.config["PUBLIC_URL"] = "https://portal.example.org"
    with world.app.app_context():
        ds = db.session.query(Dataset).filter_by(uid=uid).one()
        slurm = resolve_value(
            world.app, db.session, ds, access="shared-path", job_id=7, workdir=tmp_path, input_name="data"
        )
        assert slurm == f"/shared/datasets/{uid}/files"
        url = resolve_value(
            world.app, db.session, ds, access="download", job_id=7, workdir=tmp_path, input_name="data"
        )
    assert url.startswith(f"https://portal.example.org/api/v1/datasets/{uid}/manifest?token=")
    token = url.split("token=", 1)[1]
    assert check_job_token(world.app, token, uid) == 7
    assert check_job_token(world.app, token, "ds-000000000000") is None
    # The token opens this private dataset's manifest and files, and nothing else.
    anon = world.client()
    manifest = anon.get(f"/api/v1/datasets/{uid}/manifest?token={token}")
    assert manifest.status_code == 200
    file_url = manifest.get_json()["files"][0]["url"]
    assert anon.get(file_url.replace("https://portal.example.org", "")).data == b"x"
    assert anon.get(f"/api/v1/datasets/{uid}/manifest").status_code == 404
    other = world.create(alice)
    assert anon.get(f"/api/v1/datasets/{other}/manifest?token={token}").status_code == 404


def test_dataset_stats_example_reads_every_file_of_a_dataset(tmp_path: Path) -> None:
    world = World(tmp_path, PLUGINS=["gateway_kit.jobs.examples"])
    _allocate(world)
    alice = world.client("alice")
    uid = world.create(alice)
    files = {"a.txt": b"one two\nthree\n", "sub/b.txt": b"four five six", "sub/c/empty": b""}
    for path, data in files.items():
        assert upload(alice, uid, path, data).status_code == 201
    r = alice.post("/api/v1/jobs", json={"application": "dataset-stats", "inputs": {"dataset": uid}})
    assert r.status_code == 201, r.get_json()
    job = wait_for(world.app, r.get_json()["id"], set(TERMINAL), timeout=60)
    assert job.state == JobState.COMPLETED.value, (Path(job.workdir) / "stderr.txt").read_text()
    stats = json.loads(alice.get(f"/api/v1/jobs/{job.id}/outputs/stats.json").data)
    assert stats["files"] == [
        {"path": "a.txt", "lines": 2, "words": 3, "bytes": 14, "sha256": sha(files["a.txt"])},
        {"path": "sub/b.txt", "lines": 0, "words": 3, "bytes": 13, "sha256": sha(files["sub/b.txt"])},
        {"path": "sub/c/empty", "lines": 0, "words": 0, "bytes": 0, "sha256": sha(b"")},
    ]
    assert stats["total"] == {"files": 3, "lines": 2, "words": 6, "bytes": 27}
    tsv = alice.get(f"/api/v1/jobs/{job.id}/outputs/stats.tsv").get_data(as_text=True)
    assert tsv.splitlines()[0] == "path\tlines\twords\tbytes\tsha256"
    assert f"sub/b.txt\t0\t3\t13\t{sha(files['sub/b.txt'])}" in tsv.splitlines()
