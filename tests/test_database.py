"""The database layer on SQLite and on a real PostgreSQL."""

import os
import subprocess
import sys
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from gateway_kit import create_app
from gateway_kit.db import current_heads, db, upgrade
from gateway_kit.identity.models import Project, ProjectMember, User
from gateway_kit.models import metadata

from .conftest import make_app


def test_migrations_match_models(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=database_url)
    with db.engine(app).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_idempotent_and_reaches_every_head(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=database_url)
    heads = current_heads(app)
    upgrade(app)
    assert current_heads(app) == heads
    assert "0001_core" in heads or heads  # at least the core branch is applied


def test_models_round_trip(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=database_url)
    with db.session_scope(app) as s:
        u = User(username="ada", display_name="Ada", email="ada@example.org")
        p = Project(name="astro", title="Astro")
        s.add_all([u, p])
        s.flush()
        s.add(ProjectMember(project_id=p.id, user_id=u.id, role="manager"))
    with db.session_scope(app) as s:
        user = s.scalars(select(User).where(User.username == "ada")).one()
        assert [m.project.name for m in user.memberships] == ["astro"]
        assert user.role == "user" and not user.disabled


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with db.engine(app).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_default_database_lives_in_instance_folder(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert Path(tmp_path / "instance" / "gateway.db").is_file()
    assert app.config["DATABASE_URL"].endswith("instance/gateway.db")


def _upgrade_process(tmp_path: Path, url: str, name: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GATEWAY_KIT_DATABASE_URL": url}
    (tmp_path / name).mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "db", "upgrade"],
        cwd=tmp_path / name,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_upgrades_on_postgres_take_turns(tmp_path: Path, postgres_url: str) -> None:
    """Two VMs of a release run `db upgrade` at once: the advisory lock serialises them."""
    from sqlalchemy import create_engine

    from gateway_kit.db import MIGRATION_LOCK

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            holder.commit()
            procs = [_upgrade_process(tmp_path, postgres_url, f"vm{i}") for i in (1, 2)]

            def waiting() -> int:
                with engine.connect() as conn:
                    return int(
                        conn.execute(
                            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                        ).scalar_one()
                    )

            deadline = time.monotonic() + 120
            while waiting() < 2:
                assert all(p.poll() is None for p in procs), [p.communicate()[0] for p in procs]
                assert time.monotonic() < deadline, "the upgrades never waited for the migration lock"
                time.sleep(0.2)
            # while the lock is held nothing has been migrated
            with engine.connect() as conn:
                assert conn.execute(text("SELECT to_regclass('alembic_version')")).scalar_one() is None
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            holder.commit()
        outputs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert all("Database is up to date." in out for out in outputs)
        migrated = create_app({"ENV": "testing", "DATABASE_URL": postgres_url}, instance_path=str(tmp_path))
        assert current_heads(migrated) == current_heads(make_app(tmp_path / "reference"))
    finally:
        engine.dispose()
