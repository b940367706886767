"""Backups: pg_dump/pg_restore round trip on a real PostgreSQL, SQLite archives, retention,
the console page and CLI, and volume snapshots with retention against the local cloud."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from gateway_kit.cli import main
from gateway_kit.data import backups
from gateway_kit.db import db
from gateway_kit.localcloud.testing import RunningLocalCloud, running_local_cloud
from gateway_kit.models import metadata

from ..conftest import login, make_app, make_project, make_user, scratch_database
from .conftest import World, upload


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in metadata.sorted_tables:
                cols = list(table.c)
                out[table.name] = sorted(
                    (tuple(str(v) for v in row) for row in conn.execute(select(*cols))), key=repr
                )
            out["alembic_version"] = sorted(
                conn.execute(text("SELECT version_num FROM alembic_version")).all()
            )
            return out
    finally:
        engine.dispose()


@pytest.fixture()
def scratch_db() -> Iterator[str]:
    """An empty scratch PostgreSQL database to restore into."""
    with scratch_database("gk_restore_") as url:
        yield url


def test_postgres_backup_and_restore_round_trip(
    tmp_path: Path,
    postgres_url: str,
    scratch_db: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The gateway connects with a password, as it does on the database VM.
    password = "pw-" + secrets.token_urlsafe(12)
    role = f"gk_role_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f"GRANT ALL ON SCHEMA public TO {role}"))
        conn.execute(text(f"ALTER SCHEMA public OWNER TO {role}"))
    admin.dispose()
    url = make_url(postgres_url).set(username=role, password=password).render_as_string(hide_password=False)
    world_app = make_app(tmp_path, DATABASE_URL=url, DATA_PROJECT_QUOTA_GB=1.0)
    alice = make_user(world_app, "alice")
    make_project(world_app, "astro", {alice: "manager"}, "Astro \N{GREEK SMALL LETTER ALPHA}; DROP TABLE x;'")
    c = world_app.test_client()
    login(c, alice)
    r = c.post(
        "/api/v1/datasets",
        json={"name": "Survey 'quoted'", "project": "astro", "description": "line1\nline2"},
    )
    assert upload(c, r.get_json()["id"], "x.bin", b"payload").status_code == 201

    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        seen.append(list(argv))
        assert "shell" not in kwargs
        return real_run(argv, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", spy)
    caplog.set_level("DEBUG")
    archive = backups.backup_database(world_app.config)
    assert archive.kind == "pg_dump" and archive.size > 0
    assert Path(archive.path).stat().st_mode & 0o077 == 0
    # Restore into a scratch database (owned by the superuser) and compare every table.
    backups.restore_database(world_app.config, archive.name, scratch_db)
    assert [a.name for a in backups.list_archives(world_app.config)] == [archive.name]
    for argv in seen:
        assert password not in " ".join(argv)
        assert os.path.basename(argv[0]) in ("pg_dump", "pg_restore")
    assert password not in caplog.text
    restored, source = _rows(scratch_db), _rows(url)
    assert restored == source
    assert any("Survey 'quoted'" in row for row in [r for rs in restored["data_datasets"] for r in rs])
    assert inspect(create_engine(scratch_db)).has_table("data_files")
    with create_engine(postgres_url, isolation_level="AUTOCOMMIT").connect() as conn:
        db.engine(world_app).dispose()
        conn.execute(text(f"REASSIGN OWNED BY {role} TO postgres"))
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))


def test_sqlite_backup_restore_retention_and_cli(world: World, tmp_path: Path) -> None:
    app = world.app
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    names = [backups.backup_database(app.config, now=t0 + timedelta(hours=h)).name for h in range(4)]
    assert [a.name for a in backups.list_archives(app.config)] == names[::-1]
    assert backups.prune_archives(app.config, keep=2) == [names[1], names[0]]
    assert [a.name for a in backups.list_archives(app.config)] == [names[3], names[2]]
    target = tmp_path / "restored.db"
    backups.restore_database(app.config, names[3], f"sqlite:///{target}")
    users = (
        create_engine(f"sqlite:///{target}")
        .connect()
        .execute(text("SELECT username FROM users ORDER BY username"))
        .scalars()
        .all()
    )
    assert users == sorted(world.users)
    runner = app.test_cli_runner()
    out = runner.invoke(main, ["db", "backups"])
    assert out.exit_code == 0 and names[3] in out.output and "WARNING" in out.output
    out = runner.invoke(main, ["db", "backup", "--no-snapshots"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["db", "backups", "--json"])
    assert '"late": false' in out.output
    out = runner.invoke(
        main, ["db", "restore", names[2], "--target-url", f"sqlite:///{tmp_path / 'r2.db'}", "--yes"]
    )
    assert out.exit_code == 0 and "restored" in out.output
    out = runner.invoke(main, ["db", "restore", "db-nope", "--target-url", "sqlite:///x", "--yes"])
    assert out.exit_code == 1 and "No backup named" in out.output


def test_backups_page_warns_when_late(world: World) -> None:
    app = world.app
    olga = world.client("olga")
    page = olga.get("/operator/backups")
    assert page.status_code == 200 and b"no database backup yet" in page.data
    old = datetime.now(UTC) - timedelta(hours=30)
    backups.backup_database(app.config, now=old)
    page = olga.get("/operator/backups").get_data(as_text=True)
    assert "30.0 h old" in page and "the schedule allows 26.0 h" in page
    assert 'class="flash error"' in page
    backups.backup_database(app.config)
    page = olga.get("/operator/backups").get_data(as_text=True)
    assert "0 min old" in page and 'id="backup-health">' in page
    assert 'class="flash success" id="backup-health"' in page
    assert world.client("alice").get("/operator/backups").status_code == 403
    # The schedule: due only when the newest archive is older than the interval.
    assert backups.run_scheduled(app.config) is None
    assert backups.due(app.config, datetime.now(UTC) + timedelta(hours=25))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("lc") / "state", delay=0.05) as running:
        yield running


def test_volume_snapshots_with_retention(
    cloud: RunningLocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = cloud.connect()
    bs = conn.block_storage
    vol = bs.wait_for_status(
        bs.create_volume(name="gk-database", size=1), "available", interval=0.05, wait=10
    )
    foreign = bs.wait_for_status(
        bs.create_snapshot(volume_id=vol.id, name="manual"), "available", interval=0.05, wait=10
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for i in range(4):
        snap, deleted = backups.snapshot_volume(
            conn, "gk-database", keep=2, timeout=20, now=t0 + timedelta(hours=i)
        )
        assert snap.status == "available"
        made.append(snap.id)
        assert len(deleted) == (1 if i >= 2 else 0)
    kept = [s.id for s in backups.list_snapshots(conn, vol.id)]
    assert kept == [made[3], made[2]]
    # The snapshot an operator made by hand is never pruned.
    assert bs.get_snapshot(foreign.id).status == "available"
    # Through the settings and the console page.
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
    world = World(tmp_path, DATA_SNAPSHOT_VOLUMES=["gk-database"], DATA_SNAPSHOT_KEEP=2)
    snaps = backups.snapshot_volumes(world.app.config)
    assert len(snaps) == 1
    page = world.client("olga").get("/operator/backups").get_data(as_text=True)
    assert snaps[0].name in page
    assert len(backups.list_snapshots(conn, vol.id)) == 2


def test_failed_snapshot_is_reported(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect()
    bs = conn.block_storage
    vol = bs.wait_for_status(bs.create_volume(name="gk-fail", size=1), "available", interval=0.05, wait=10)
    cloud.controller.fail_next_create("volume.snapshot")
    try:
        with pytest.raises(backups.BackupError):
            backups.snapshot_volume(conn, vol.id, keep=2, timeout=10)
        with pytest.raises(backups.BackupError):
            backups.snapshot_volume(conn, "no-such-volume", keep=2, timeout=10)
    finally:
        cloud.controller.reset()
