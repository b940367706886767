"""A burst job with a dataset input: the agent fetches the manifest, downloads and checks files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from gateway_kit.burst.models import BurstJob
from gateway_kit.data import storage
from gateway_kit.db import db
from gateway_kit.jobs.states import TERMINAL, JobState
from tests.burst.conftest import APP, Env
from tests.conftest import login

DONE = {s.value for s in TERMINAL}
DSUM = {
    **APP,
    "id": "dsum",
    "title": "Checksum a dataset",
    "command": [
        "/bin/sh",
        "-c",
        'echo "data=$1"; (cd "$1" && find . -type f | sort | xargs sha256sum) > sums.txt; '
        'if touch "$1/x" 2>/dev/null; then echo WRITE-OK; else echo WRITE-REFUSED; fi',
        "sh",
        "{data}",
    ],
    "outputs": ["sums.txt"],
    "inputs": [{"name": "data", "type": "dataset"}],
}
FILES = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(200_000)}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: Any, uid: str, path: str, data: bytes) -> None:
    r = client.post(
        f"/api/v1/datasets/{uid}/uploads",
        json={"path": path, "size": len(data), "sha256": sha(data), "chunk_size": 64 * 1024},
    )
    assert r.status_code in (200, 201), r.get_json()
    body = r.get_json()
    for i in body["missing"]:
        part = data[i * 64 * 1024 : (i + 1) * 64 * 1024]
        assert (
            client.put(
                f"/api/v1/datasets/{uid}/uploads/{body['id']}/chunks/{i}",
                data=part,
                headers={"X-Chunk-SHA256": sha(part), "Content-Type": "application/octet-stream"},
            ).status_code
            == 200
        )
    done = client.post(f"/api/v1/datasets/{uid}/uploads/{body['id']}/complete")
    assert done.status_code == 201, done.get_json()


def dataset(client: Any, name: str, files: dict[str, bytes]) -> str:
    r = client.post(
        "/api/v1/datasets",
        json={"name": name, "visibility": "private", "project": "science", "license": "CC-BY-4.0"},
    )
    assert r.status_code == 201, r.get_json()
    uid: str = r.get_json()["id"]
    for path, data in files.items():
        upload(client, uid, path, data)
    return uid


def submit(env: Env, uid: str) -> int:
    from gateway_kit.identity.models import User
    from gateway_kit.jobs.service import Submission
    from gateway_kit.jobs.service import submit as do_submit

    with env.app.test_request_context():
        user = db.session.get(User, env.user.id)
        assert user is not None
        job, _ = do_submit(db.session, user, Submission(application="dsum", inputs={"data": uid}))
        return int(job.id)


def test_burst_job_reads_a_dataset(env: Env) -> None:
    from gateway_kit.jobs.apps import Application, registry

    registry(env.app).add(Application.from_mapping(DSUM))
    # The gateway's public name, which instances cannot reach: the agent fetches from the
    # gateway URL it was given (BURST_AGENT_URL), and sends the token nowhere else.
    env.app.config["PUBLIC_URL"] = "https://portal.invalid"
    client = env.app.test_client()
    login(client, env.user)
    uid = dataset(client, "Survey", FILES)
    other = dataset(client, "Other", {"c.txt": b"other\n"})

    job_id = submit(env, uid)
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    job = env.job(job_id)
    workdir = Path(job.workdir)
    stdout = (workdir / "stdout.txt").read_text()
    assert job.state == JobState.COMPLETED.value, (
        job.state_reason,
        stdout,
        (workdir / "stderr.txt").read_text(),
    )
    # The job saw the files where the local executor puts them: inputs/<input name>/.
    assert stdout.startswith("data=inputs/data\n"), stdout
    sums = (workdir / "sums.txt").read_text().splitlines()
    assert sums == [f"{sha(FILES['a.txt'])}  ./a.txt", f"{sha(FILES['sub/b.bin'])}  ./sub/b.bin"]
    if os.geteuid() != 0:  # read-only (0555/0444) as on the local executor; modes do not bind root
        assert "WRITE-REFUSED" in stdout
    # Nothing of the dataset came back as an output.
    assert not (workdir / "inputs").exists() or not any((workdir / "inputs").rglob("*.bin"))

    # The token in the job's argv is scoped to its own datasets.
    with env.app.app_context():
        bj = db.session.get(BurstJob, job_id)
        assert bj is not None
        argv = bj.spec["argv"]
    [url] = [a for a in argv if "/manifest?token=" in a]
    assert url.startswith(f"https://portal.invalid/api/v1/datasets/{uid}/manifest?token=")
    token = url.split("token=", 1)[1]
    anonymous = env.app.test_client()
    assert anonymous.get(f"/api/v1/datasets/{uid}/manifest?token={token}").status_code == 200
    assert anonymous.get(f"/api/v1/datasets/{other}/manifest?token={token}").status_code == 404

    # A file that no longer matches its SHA-256 fails the job instead of feeding it bad data.
    stored = storage.file_path(env.app.config, uid, "a.txt")
    stored.chmod(0o644)
    stored.write_bytes(b"ALPHA\n")
    bad = submit(env, uid)
    env.until(lambda: env.job(bad).state in DONE, timeout=60)
    job = env.job(bad)
    assert job.state == JobState.FAILED.value, job.state_reason
    assert "SHA-256 mismatch" in job.state_reason and "a.txt" in job.state_reason, job.state_reason


def test_dataset_token_older_than_its_lifetime_after_a_quota_wait(env: Env) -> None:
    """The token in argv is minted at staging; the agent gets a fresh one with the work."""
    import time

    from gateway_kit.data.jobinputs import check_job_token
    from gateway_kit.jobs.apps import Application, registry

    registry(env.app).add(Application.from_mapping(DSUM))
    env.app.config["DATA_JOB_TOKEN_HOURS"] = 3 / 3600  # 3 s
    client = env.app.test_client()
    login(client, env.user)
    uid = dataset(client, "Survey", {"a.txt": b"alpha\n"})
    env.control("PUT", "/quotas", {"project": "demo", "resource": "instances", "limit": 0})
    job_id = submit(env, uid)
    env.until(lambda: "quota full" in env.job(job_id).state_reason, timeout=20)
    with env.app.app_context():
        bj = db.session.get(BurstJob, job_id)
        assert bj is not None
        [url] = [a for a in bj.spec["argv"] if "/manifest?token=" in a]
    token = url.split("token=", 1)[1]
    deadline = time.monotonic() + 10
    while check_job_token(env.app, token, uid) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    env.control("PUT", "/quotas", {"project": "demo", "resource": "instances", "limit": 10})
    env.until(lambda: env.job(job_id).state in DONE, timeout=60)
    job = env.job(job_id)
    assert job.state == JobState.COMPLETED.value, job.state_reason
    digest = sha(b"alpha\n")
    assert (Path(job.workdir) / "sums.txt").read_text() == f"{digest}  ./a.txt\n"


def test_agent_keeps_dataset_paths_and_urls_to_its_gateway(tmp_path: Path) -> None:
    import pytest

    from gateway_kit.burst.agent import Agent, DatasetError, remove_tree, safe_rel

    for bad in ("../x", "/etc/passwd", "a/../b", "", "a//b"):
        with pytest.raises(DatasetError):
            safe_rel(bad)
    assert safe_rel("sub/b.bin") == Path("sub/b.bin")
    agent = Agent(
        {"gateway": "http://10.0.0.5:8000/gw/", "token": "gka_x", "instance": 1}, tmp_path / "agent"
    )
    assert agent.on_gateway("https://portal.example.org/gw/api/v1/datasets/ds-1/manifest?token=abc") == (
        "http://10.0.0.5:8000/gw/api/v1/datasets/ds-1/manifest?token=abc"
    )
    with pytest.raises(DatasetError):
        agent.on_gateway("https://elsewhere.example.org/steal?token=abc")
    # A retried job's folder goes even when it holds a read-only dataset.
    ro = tmp_path / "job" / "inputs" / "data" / "sub"
    ro.mkdir(parents=True)
    (ro / "f").write_text("x")
    for p in (ro / "f", ro, ro.parent):
        p.chmod(0o444 if p.is_file() else 0o555)
    remove_tree(tmp_path / "job")
    assert not (tmp_path / "job").exists()
