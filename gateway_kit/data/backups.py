"""Backups of the gateway's database (``pg_dump`` archives on the datasets volume) and of
volumes (Cinder snapshots with a retention policy).

Database archives
    :func:`backup_database` runs the real ``pg_dump --format=custom`` (argv list, never a shell)
    into ``DATA_BACKUP_DIR`` (on the datasets volume, so that an archive survives the loss of the
    database VM), writes ``<name>.dump`` atomically and a ``<name>.json`` sidecar (time, size,
    SHA-256, database name -- never the password). The connection is passed in ``PG*`` environment
    variables: the password is never on argv (``ps`` shows argv to every user) nor logged.
    :func:`restore_database` runs ``pg_restore --clean --if-exists --no-owner`` into a target
    database (a scratch database in tests; the live one only when the operator names it).
    On the embedded default (SQLite) the same functions copy the database with SQLite's online
    backup API. :func:`prune_archives` keeps the newest ``DATA_BACKUP_KEEP``.

Volume snapshots
    :func:`snapshot_volumes` snapshots each of ``DATA_SNAPSHOT_VOLUMES`` through openstacksdk
    (``is_forced``: the volumes are attached), waits for ``available`` (failing on ``error``,
    within ``DATA_SNAPSHOT_TIMEOUT``), tags them (``metadata["gateway-kit"] = "backup"``) and then
    deletes that volume's older gateway-kit snapshots beyond ``DATA_SNAPSHOT_KEEP``. Snapshots we
    did not make are never touched.

Schedule
    The worker task ``data.backups`` runs every few minutes and backs up when the newest archive
    is older than ``DATA_BACKUP_INTERVAL_HOURS``; :func:`health` tells the console page whether the
    newest is later than the schedule allows.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from ..errors import GatewayError, NotFound
from . import storage

log = logging.getLogger("gateway_kit.data.backups")
SNAPSHOT_TAG = "gateway-kit"
SNAPSHOT_PREFIX = "gk-backup-"


class BackupError(GatewayError):
    status = 500
    reason = "backup_failed"
    title = "Backup failed"


@dataclass(frozen=True)
class Archive:
    name: str
    kind: str  # "pg_dump" or "sqlite"
    created_at: datetime
    size: int
    sha256: str
    database: str
    path: str

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.created_at

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def archive_dir(settings: Mapping[str, Any]) -> Path:
    return Path(settings["DATA_BACKUP_DIR"] or storage.root(settings) / ".backups" / "database")


def pg_binary(settings: Mapping[str, Any], name: str) -> str:
    """The path of ``pg_dump``/``pg_restore``: DATA_PG_BIN_DIR, else the newest
    ``/usr/lib/postgresql/*/bin`` (a dump must come from a client at least as new as the server),
    else PATH."""
    if settings.get("DATA_PG_BIN_DIR"):
        return str(Path(settings["DATA_PG_BIN_DIR"]) / name)
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return found[-1]
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client or set DATA_PG_BIN_DIR.")
    return exe


def pg_env(url: URL) -> dict[str, str]:
    """libpq environment for ``url``: the password travels here, never on argv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=url.host or "localhost",
        PGPORT=str(url.port or 5432),
        PGUSER=url.username or "postgres",
        PGDATABASE=url.database or "postgres",
        PGCONNECT_TIMEOUT="10",
    )
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _run(argv: list[str], env: dict[str, str], what: str, timeout: float = 3600) -> None:
    try:
        proc = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(
            f"{what} could not run: {exc.__class__.__name__}.", log_message=f"{what}: {argv[0]}: {exc}"
        ) from exc
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise BackupError(
            f"{what} failed (exit status {proc.returncode}): {' '.join(tail)}",
            log_message=f"{what} failed: {proc.stderr.strip()}",
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def backup_database(
    settings: Mapping[str, Any], url: str | None = None, now: datetime | None = None
) -> Archive:
    """Archive the database at ``url`` (default ``DATABASE_URL``); returns the archive."""
    parsed = make_url(url or settings["DATABASE_URL"])
    now = now or datetime.now(UTC)
    folder = archive_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # archives hold every user's data
    backend = parsed.get_backend_name()
    database = parsed.database or ""
    if backend == "postgresql":
        name = f"db-{_stamp(now)}"
        final = folder / f"{name}.dump"
        partial = folder / f"{name}.dump.partial"
        argv = [
            pg_binary(settings, "pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial}",
        ]
        try:
            _run(argv, pg_env(parsed), "pg_dump")
        except BackupError:
            partial.unlink(missing_ok=True)
            raise
        kind = "pg_dump"
    elif backend == "sqlite":
        name = f"db-{_stamp(now)}"
        final = folder / f"{name}.sqlite"
        partial = folder / f"{name}.sqlite.partial"
        src = sqlite3.connect(database)
        try:
            dst = sqlite3.connect(partial)
            with dst:
                src.backup(dst)
            dst.close()
        finally:
            src.close()
        kind = "sqlite"
    else:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {backend}.")
    partial.chmod(0o600)
    os.replace(partial, final)
    archive = Archive(
        name=name,
        kind=kind,
        created_at=now,
        size=final.stat().st_size,
        sha256=_sha256(final),
        database=os.path.basename(database),
        path=str(final),
    )
    sidecar = folder / f"{name}.json"
    sidecar.write_text(json.dumps(archive.to_json(), indent=2))
    log.info("database backup %s written (%d bytes)", name, archive.size)
    return archive


def list_archives(settings: Mapping[str, Any]) -> list[Archive]:
    """Complete archives, newest first."""
    folder = archive_dir(settings)
    found: list[Archive] = []
    for sidecar in folder.glob("db-*.json") if folder.is_dir() else []:
        try:
            data = json.loads(sidecar.read_text())
            data["created_at"] = datetime.fromisoformat(data["created_at"])
            archive = Archive(**data)
        except (OSError, ValueError, TypeError, KeyError):
            log.warning("ignoring unreadable backup record %s", sidecar)
            continue
        if Path(archive.path).is_file():
            found.append(archive)
    return sorted(found, key=lambda a: a.created_at, reverse=True)


def get_archive(settings: Mapping[str, Any], name: str) -> Archive:
    for archive in list_archives(settings):
        if archive.name == name:
            return archive
    raise NotFound(f"No backup named {name!r}.")


def prune_archives(settings: Mapping[str, Any], keep: int | None = None) -> list[str]:
    """Remove all but the newest ``keep`` (default DATA_BACKUP_KEEP) archives; their names."""
    keep = int(keep if keep is not None else settings["DATA_BACKUP_KEEP"])
    removed = []
    for archive in list_archives(settings)[keep:]:
        Path(archive.path).unlink(missing_ok=True)
        (archive_dir(settings) / f"{archive.name}.json").unlink(missing_ok=True)
        removed.append(archive.name)
    return removed


def restore_database(settings: Mapping[str, Any], name: str, target_url: str) -> Archive:
    """Restore archive ``name`` into the database at ``target_url`` (replacing its objects)."""
    archive = get_archive(settings, name)
    if _sha256(Path(archive.path)) != archive.sha256:
        raise BackupError(f"Backup {name} is damaged: its SHA-256 no longer matches.")
    target = make_url(target_url)
    backend = target.get_backend_name()
    if archive.kind == "pg_dump":
        if backend != "postgresql":
            raise BackupError("A pg_dump archive restores into PostgreSQL only.")
        argv = [
            pg_binary(settings, "pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={target.database}",
            archive.path,
        ]
        _run(argv, pg_env(target), "pg_restore")
    else:
        if backend != "sqlite" or not target.database:
            raise BackupError("A SQLite archive restores into a SQLite file only.")
        tmp = Path(f"{target.database}.restoring")
        shutil.copyfile(archive.path, tmp)
        os.replace(tmp, target.database)
    log.info("backup %s restored into %s", name, target.render_as_string(hide_password=True))
    return archive


@dataclass(frozen=True)
class Health:
    newest: Archive | None
    late: bool
    message: str


def health(settings: Mapping[str, Any], now: datetime | None = None) -> Health:
    """Whether the newest archive is as recent as the schedule promises."""
    now = now or datetime.now(UTC)
    archives = list_archives(settings)
    allowed = timedelta(
        hours=float(settings["DATA_BACKUP_INTERVAL_HOURS"]) + float(settings["DATA_BACKUP_GRACE_HOURS"])
    )
    if not archives:
        return Health(None, True, "There is no database backup yet.")
    newest = archives[0]
    age = newest.age(now)
    if age > allowed:
        return Health(
            newest,
            True,
            f"The newest database backup is {format_age(age)} old; the "
            f"schedule allows {format_age(allowed)}. Check the worker's log.",
        )
    return Health(newest, False, f"The newest database backup is {format_age(age)} old.")


def format_age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def due(settings: Mapping[str, Any], now: datetime | None = None) -> bool:
    archives = list_archives(settings)
    if not archives:
        return True
    interval = timedelta(hours=float(settings["DATA_BACKUP_INTERVAL_HOURS"]))
    return archives[0].age(now) >= interval


# -- volume snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    name: str
    volume_id: str
    status: str
    created_at: str
    size: int


def _cloud_error(exc: Exception, what: str) -> BackupError:
    return BackupError(
        f"The cloud refused to {what}: {exc.__class__.__name__}.", log_message=f"{what}: {exc}"
    )


def snapshot_volume(
    conn: Any, volume: str, *, keep: int, timeout: float, now: datetime | None = None
) -> tuple[SnapshotInfo, list[str]]:
    """Snapshot one volume, wait for it, prune older ones; ``(snapshot, deleted ids)``."""
    from openstack import exceptions as os_exc

    now = now or datetime.now(UTC)
    try:
        vol = conn.block_storage.find_volume(volume, ignore_missing=False)
        snap = conn.block_storage.create_snapshot(
            volume_id=vol.id,
            name=f"{SNAPSHOT_PREFIX}{vol.name or vol.id}-{_stamp(now)}",
            description="gateway-kit scheduled backup",
            is_forced=True,
            metadata={SNAPSHOT_TAG: "backup"},
        )
        snap = conn.block_storage.wait_for_status(
            snap, status="available", failures=["error"], interval=0.2, wait=timeout
        )
    except os_exc.ResourceTimeout as exc:
        raise BackupError(
            f"The snapshot of volume {volume} did not become available within {timeout:g} s."
        ) from exc
    except os_exc.SDKException as exc:
        raise _cloud_error(exc, f"snapshot volume {volume}") from exc
    deleted = prune_snapshots(conn, vol.id, keep)
    return _info(snap), deleted


def _info(snap: Any) -> SnapshotInfo:
    return SnapshotInfo(
        id=snap.id,
        name=snap.name or "",
        volume_id=snap.volume_id,
        status=snap.status,
        created_at=str(snap.created_at or ""),
        size=int(snap.size or 0),
    )


def _ours(snap: Any) -> bool:
    return bool(
        (snap.metadata or {}).get(SNAPSHOT_TAG) == "backup" or (snap.name or "").startswith(SNAPSHOT_PREFIX)
    )


def list_snapshots(conn: Any, volume_id: str | None = None) -> list[SnapshotInfo]:
    """gateway-kit backup snapshots (of one volume, or all), newest first."""
    from openstack import exceptions as os_exc

    query: dict[str, Any] = {"volume_id": volume_id} if volume_id else {}
    try:
        # A snapshot being deleted is gone as far as retention is concerned.
        snaps = [
            s
            for s in conn.block_storage.snapshots(details=True, **query)
            if _ours(s) and s.status not in ("deleting", "error_deleting")
        ]
    except os_exc.SDKException as exc:
        raise _cloud_error(exc, "list snapshots") from exc
    if volume_id:
        snaps = [s for s in snaps if s.volume_id == volume_id]
    snaps.sort(key=lambda s: (str(s.created_at or ""), s.name or ""), reverse=True)
    return [_info(s) for s in snaps]


def prune_snapshots(conn: Any, volume_id: str, keep: int) -> list[str]:
    """Delete this volume's gateway-kit snapshots beyond the newest ``keep``; their ids."""
    from openstack import exceptions as os_exc

    deleted = []
    for snap in list_snapshots(conn, volume_id)[keep:]:
        try:
            conn.block_storage.delete_snapshot(snap.id, ignore_missing=True)
        except os_exc.SDKException as exc:
            raise _cloud_error(exc, f"delete snapshot {snap.id}") from exc
        deleted.append(snap.id)
    return deleted


def connect(settings: Mapping[str, Any]) -> Any:
    """An openstacksdk connection to the gateway's cloud (through :mod:`gateway_kit.cloud`)."""
    from .. import cloud

    return cloud.connect(settings, "data").conn


def snapshot_volumes(settings: Mapping[str, Any], conn: Any | None = None) -> list[SnapshotInfo]:
    """Snapshot every volume of DATA_SNAPSHOT_VOLUMES (with retention)."""
    volumes = list(settings["DATA_SNAPSHOT_VOLUMES"])
    if not volumes:
        return []
    conn = conn or connect(settings)
    made = []
    for volume in volumes:
        snap, deleted = snapshot_volume(
            conn,
            volume,
            keep=int(settings["DATA_SNAPSHOT_KEEP"]),
            timeout=float(settings["DATA_SNAPSHOT_TIMEOUT"]),
        )
        log.info("volume %s: snapshot %s; removed %d old ones", volume, snap.id, len(deleted))
        made.append(snap)
    return made


def run_scheduled(settings: Mapping[str, Any], now: datetime | None = None) -> Archive | None:
    """The worker task's body: back up when due, then prune archives and snapshots."""
    if not due(settings, now):
        return None
    archive = backup_database(settings, now=now)
    prune_archives(settings)
    snapshot_volumes(settings)
    return archive
