"""Data settings: where datasets live, quotas, uploads, job inputs, backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import Setting, at_least, between, positive


def _quota_table(value: Any) -> str | None:
    for name, gb in value.items():
        if isinstance(gb, bool) or not isinstance(gb, int | float) or gb < 0:
            return f"a table of project name = GB (a number >= 0); {name!r} has {gb!r}"
    return None


SETTINGS: list[Setting] = [
    Setting(
        "DATA_ROOT",
        str,
        lambda s: str(Path(s["INSTANCE_PATH"]) / "datasets"),
        "Folder holding dataset files, uploads in progress and database archives (the "
        "deployment's datasets volume; a folder in the instance folder by default).",
    ),
    Setting(
        "DATA_PROJECT_QUOTA_GB",
        float,
        100.0,
        "Dataset storage each project may use, in GB (1 GB = 10^9 bytes).",
        validate=at_least(0),
    ),
    Setting(
        "DATA_PROJECT_QUOTAS",
        dict,
        {},
        "Per-project dataset quotas in GB overriding DATA_PROJECT_QUOTA_GB, e.g. {astro = 500}.",
        validate=_quota_table,
    ),
    Setting(
        "DATA_CHUNK_MB",
        float,
        8.0,
        "Chunk size offered to upload clients, in MB (a client may choose a smaller one).",
        validate=between(0, 512, unit="MB"),
    ),
    Setting(
        "DATA_UPLOAD_EXPIRE_HOURS",
        float,
        72.0,
        "Unfinished uploads older than this are removed (their space returns to the quota).",
        validate=positive(),
    ),
    Setting(
        "DATA_SLURM_ROOT",
        str,
        "",
        "Path of DATA_ROOT on the cluster's shared filesystem (SLURM jobs get dataset paths "
        "under it); empty: the same path as DATA_ROOT.",
    ),
    Setting(
        "DATA_JOB_TOKEN_HOURS",
        float,
        48.0,
        "Lifetime of the download tokens given to burst jobs for their dataset inputs.",
        validate=positive(),
    ),
    Setting("DATA_BACKUP_DIR", str, "", "Folder of database archives (empty: DATA_ROOT/.backups/database)."),
    Setting(
        "DATA_BACKUP_INTERVAL_HOURS",
        float,
        24.0,
        "Hours between two scheduled database backups; the console warns when the newest "
        "is older than this plus DATA_BACKUP_GRACE_HOURS.",
        validate=positive(),
    ),
    Setting(
        "DATA_BACKUP_GRACE_HOURS",
        float,
        2.0,
        "Slack before a late backup is shown as a warning.",
        validate=at_least(0),
    ),
    Setting(
        "DATA_BACKUP_KEEP",
        int,
        14,
        "Database archives to keep (older ones are removed after each backup).",
        validate=positive(),
    ),
    Setting(
        "DATA_PG_BIN_DIR",
        str,
        "",
        "Folder of pg_dump and pg_restore (empty: found on PATH, then /usr/lib/postgresql/*/bin).",
    ),
    Setting(
        "DATA_SNAPSHOT_VOLUMES",
        list,
        [],
        "Cinder volumes (names or ids) snapshotted by the scheduled backup, e.g. the database "
        "and datasets volumes; empty: no snapshots.",
    ),
    Setting(
        "DATA_SNAPSHOT_KEEP",
        int,
        7,
        "Snapshots kept per volume (older gateway-kit snapshots are deleted).",
        validate=positive(),
    ),
    Setting(
        "DATA_SNAPSHOT_TIMEOUT",
        float,
        600.0,
        "Seconds to wait for a snapshot to become available.",
        validate=positive(),
    ),
    Setting(
        "DATA_DNS_ZONE", str, "", "Designate zone datasets are published in (e.g. gateway.example.org.)."
    ),
    Setting(
        "DATA_DNS_TARGET",
        str,
        "",
        "Name the dataset CNAMEs point at (the load balancer's name, e.g. portal.example.org.).",
    ),
]
