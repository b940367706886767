"""Fixtures for the jobs tests: an app with the example and test applications, users, projects."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.identity.models import Project, ProjectMember
from gateway_kit.jobs import accounting

from ..conftest import login, make_app, make_user

APPS_DIR = Path(__file__).parent / "apps"


def app_files(tmp_path: Path) -> list[str]:
    """The test TOML applications, with {python} replaced by this interpreter."""
    out = tmp_path / "apps"
    out.mkdir(exist_ok=True)
    for f in APPS_DIR.glob("*.toml"):
        (out / f.name).write_text(f.read_text().replace("{python}", sys.executable.replace("\\", "/")))
    return [str(out)]


def jobs_settings(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "PLUGINS": ["gateway_kit.jobs.examples"],
        "JOBS_APPLICATION_FILES": app_files(tmp_path),
        "JOBS_POLL_INTERVAL": 0.1,
        "JOBS_LEASE_SECONDS": 3.0,
        "JOBS_LOCAL_CPUS": 8,
        "JOBS_LOCAL_MAX_CONCURRENT": 8,
        "JOBS_LOCAL_GPUS": [],
        "JOBS_LOCAL_KILL_GRACE": 1.0,
        **extra,
    }


def make_jobs_app(tmp_path: Path, **extra: Any) -> Any:
    return make_app(tmp_path, **jobs_settings(tmp_path, **extra))


def seed_project(app: Any, name: str, members: list[Any], sus: float) -> None:
    with db.session_scope(app) as s:
        p = Project(name=name, title=name.title())
        s.add(p)
        s.flush()
        for u in members:
            s.add(ProjectMember(project_id=p.id, user_id=u.id))
        accounting.set_allocation(s, p, sus, None, top_up=False, note="test")


class World:
    """An app with two users (alice in project 'astro' with 100 SUs; bob in none) and an admin."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.app = make_jobs_app(tmp_path, **settings)
        self.alice = make_user(self.app, "alice")
        self.bob = make_user(self.app, "bob")
        self.admin = make_user(self.app, "root", role="admin")
        seed_project(self.app, "astro", [self.alice], 100.0)
        self.client = self.app.test_client()

    def login(self, user: Any) -> Any:
        login(self.client, user)
        return self.client

    def other_client(self, user: Any) -> Any:
        c = self.app.test_client()
        login(c, user)
        return c


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture()
def world_factory(tmp_path: Path) -> Callable[..., World]:
    def make(**settings: Any) -> World:
        return World(tmp_path, **settings)

    return make
