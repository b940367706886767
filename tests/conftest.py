"""Shared fixtures: the app built through the real factory, databases, and service gating.

Suites that need a real service (PostgreSQL, SLURM, Pebble, Chromium) call :func:`require_service`.
On a laptop without the service they are skipped with the reason printed; in CI
(``GK_REQUIRE_SERVICES=1``, set by ``.ci/run``) a missing service is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit import create_app
from gateway_kit.db import upgrade
from gateway_kit.identity.testing import login, make_project, make_token, make_user  # noqa: F401  (tests import them here)


def require_service(name: str, available: bool, how: str) -> None:
    if available:
        return
    message = f"{name} is not available: {how}"
    if os.environ.get("GK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (GK_REQUIRE_SERVICES=1: CI must start it in .ci/run)")
    pytest.skip(message)


def require_postgres_server() -> str:
    """PostgreSQL's server binaries, ``runuser``, a ``postgres`` user and root: what running a
    database server as that user takes (initdb). Returns the newest binaries' folder."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    have = bool(bins) and shutil.which("runuser") is not None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        have = False
    require_service(
        "PostgreSQL server binaries (run as root with a postgres user)",
        have and os.geteuid() == 0,
        "install postgresql and run the tests as root (initdb needs runuser)",
    )
    return bins[-1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's GATEWAY_KIT_* variables must not leak into tests."""
    for key in list(os.environ):
        if key.startswith("GATEWAY_KIT_"):
            monkeypatch.delenv(key)


@contextlib.contextmanager
def scratch_database(prefix: str = "gk_test_") -> Iterator[str]:
    """A fresh, empty database on the test PostgreSQL (``GK_TEST_POSTGRES_URL``), dropped on exit."""
    base = os.environ.get("GK_TEST_POSTGRES_URL", "")
    require_service(
        "PostgreSQL",
        bool(base),
        "set GK_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:55432/"
        "postgres); .ci/services.sh starts one",
    )
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    with scratch_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrises a test over SQLite and a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def make_app(tmp_path: Path, **config: Any) -> Any:
    settings = {"ENV": "testing", **config}
    app = create_app(settings, instance_path=str(tmp_path / "instance"))
    upgrade(app)
    return app


@pytest.fixture()
def app(tmp_path: Path) -> Any:
    """The app on SQLite in a temporary instance folder, migrated."""
    return make_app(tmp_path)


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()
