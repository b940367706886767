"""Fixtures for the data tests: an app with projects and users of every role, upload helpers."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.identity.models import Project, ProjectMember

from ..conftest import login, make_app, make_token, make_user

CHUNK = 64 * 1024

APP_TOML = """
id = "wc"
title = "Count bytes of a dataset"
version = "1.0"
command = ["{python}", "-c", '''
import os, sys, hashlib
root = sys.argv[1]
total = 0
for d, _, fs in sorted(os.walk(root)):
    for f in sorted(fs):
        p = os.path.join(d, f)
        total += os.path.getsize(p)
        print(os.path.relpath(p, root), hashlib.sha256(open(p, "rb").read()).hexdigest())
try:
    open(os.path.join(root, "written-by-job"), "w").write("x")
    print("WRITE-OK")
except OSError as e:
    print("WRITE-REFUSED", e.errno)
print("TOTAL", total)
open("result.txt", "w").write(str(total))
''', "{data}"]
outputs = ["result.txt"]
[[inputs]]
name = "data"
type = "dataset"
"""


def data_settings(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    apps = tmp_path / "apps"
    apps.mkdir(exist_ok=True)
    (apps / "wc.toml").write_text(APP_TOML.replace("{python}", sys.executable))
    return {
        "JOBS_APPLICATION_FILES": [str(apps)],
        "JOBS_POLL_INTERVAL": 0.1,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_LOCAL_CPUS": 4,
        "DATA_PROJECT_QUOTA_GB": 0.001,
        **extra,
    }


class World:
    """alice: member of astro; carol: manager of astro; bob: member of bio; olga: operator;
    root: admin; nobody: signed in, no project. Quota: 1 MB per project."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.app = make_app(tmp_path, **data_settings(tmp_path, **settings))
        self.users = {
            name: make_user(self.app, name, role=role)
            for name, role in (
                ("alice", "user"),
                ("carol", "user"),
                ("bob", "user"),
                ("olga", "operator"),
                ("root", "admin"),
                ("nobody", "user"),
            )
        }
        with db.session_scope(self.app) as s:
            for pname, members in (
                ("astro", [("alice", "member"), ("carol", "manager")]),
                ("bio", [("bob", "member")]),
            ):
                p = Project(name=pname, title=pname.title())
                s.add(p)
                s.flush()
                for uname, role in members:
                    s.add(ProjectMember(project_id=p.id, user_id=self.users[uname].id, role=role))

    def client(self, name: str | None = None) -> Any:
        c = self.app.test_client()
        if name is not None:
            login(c, self.users[name])
        return c

    def token(self, name: str, scopes: list[str]) -> dict[str, str]:
        return {"Authorization": "Bearer " + make_token(self.app, self.users[name], scopes)}

    def create(
        self, client: Any, name: str = "Survey", visibility: str = "private", project: str = "astro"
    ) -> str:
        r = client.post(
            "/api/v1/datasets",
            json={"name": name, "visibility": visibility, "project": project, "license": "CC-BY-4.0"},
        )
        assert r.status_code == 201, r.get_json()
        uid: str = r.get_json()["id"]
        return uid


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start(client: Any, uid: str, path: str, data: bytes, chunk: int = CHUNK) -> Any:
    return client.post(
        f"/api/v1/datasets/{uid}/uploads",
        json={"path": path, "size": len(data), "sha256": sha(data), "chunk_size": chunk},
    )


def put(
    client: Any, uid: str, upload: str, index: int, data: bytes, chunk: int = CHUNK, digest: str | None = None
) -> Any:
    part = data[index * chunk : (index + 1) * chunk]
    return client.put(
        f"/api/v1/datasets/{uid}/uploads/{upload}/chunks/{index}",
        data=part,
        headers={"X-Chunk-SHA256": digest or sha(part), "Content-Type": "application/octet-stream"},
    )


def upload(client: Any, uid: str, path: str, data: bytes, chunk: int = CHUNK) -> Any:
    r = start(client, uid, path, data, chunk)
    assert r.status_code in (200, 201), r.get_json()
    body = r.get_json()
    for i in body["missing"]:
        assert put(client, uid, body["id"], i, data, chunk).status_code == 200
    return client.post(f"/api/v1/datasets/{uid}/uploads/{body['id']}/complete")


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return World(tmp_path)
