"""The database layer on SQLite and on a real PostgreSQL."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

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
