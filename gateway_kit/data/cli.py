"""``gateway-kit datasets ...`` and the ``gateway-kit db backup | backups | restore`` commands.

The ``db`` commands join the core ``db`` group through the data feature's declaration
(``Command("db backup", ...)`` in :mod:`gateway_kit.data`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..cli import kit_errors
from ..db import db
from . import backups, catalog, publishing


@click.group("datasets")
def datasets() -> None:
    """Datasets: upload and download files, list them, publish one under its own DNS name."""


_URL = click.option(
    "--url",
    envvar="GATEWAY_KIT_URL",
    required=True,
    help="The gateway's address, e.g. https://gateway.example.org (or set GATEWAY_KIT_URL).",
)
_TOKEN = click.option(
    "--token",
    envvar="GATEWAY_KIT_TOKEN",
    required=True,
    help="A personal access token with datasets:write (upload) or datasets:read (download), "
    "from your profile page (or set GATEWAY_KIT_TOKEN).",
)


def _client_errors(fn: Any) -> Any:
    """The client's errors as clean one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from .client import ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapped


@datasets.command("upload")
@click.argument("uid")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path, file_okay=True)
)
@click.option("--into", default="", help="A folder of the dataset to put the files in.")
@_URL
@_TOKEN
@_client_errors
def upload_cmd(uid: str, paths: tuple[Path, ...], into: str, url: str, token: str) -> None:
    """Upload files and folders (PATHS) into dataset UID, in checksummed chunks.

    A folder keeps its name and layout (run-7/logs/out.txt). Run the same command again after an
    interruption: files already uploaded are sent again only if they changed, and a file left
    half-way resumes from its missing chunks.
    """
    from .client import DatasetsClient, files_under
    from .storage import sha256_file

    client = DatasetsClient(url, token)
    have = {f["path"]: f["sha256"] for f in client.dataset(uid)["files"]}
    todo = [pair for p in paths for pair in files_under(p, into)]
    if not todo:
        raise click.ClickException("No files to upload under " + ", ".join(map(str, paths)) + ".")
    total = sum(local.stat().st_size for local, _ in todo)
    with click.progressbar(length=total, label="Uploading", file=sys.stderr) as bar:
        for local, remote in todo:
            if have.get(remote) == sha256_file(local):
                bar.update(local.stat().st_size)
                click.echo(f"  {remote}: already there", err=True)
                continue
            sent = client.upload_file(uid, local, remote, progress=bar.update)
            resumed = (
                f" (resumed: {sent.sent} of {sent.chunks} chunks sent)" if sent.sent < sent.chunks else ""
            )
            click.echo(f"  {remote}: {catalog.human_size(sent.size)}{resumed}", err=True)
    click.echo(f"Uploaded {len(todo)} file(s), {catalog.human_size(total)}, into {uid}.")


@datasets.command("download")
@click.argument("uid")
@click.argument("files", nargs=-1)
@click.option(
    "--to",
    "target",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write into (the dataset's layout is kept).",
)
@_URL
@_TOKEN
@_client_errors
def download_cmd(uid: str, files: tuple[str, ...], target: Path, url: str, token: str) -> None:
    """Download dataset UID's files (all, or FILES: paths or folders of it), each checked
    against its SHA-256; files already present with the same content are skipped."""
    from .client import DatasetsClient, safe_local

    client = DatasetsClient(url, token)
    listed = client.dataset(uid)["files"]
    wanted = [
        f
        for f in listed
        if not files
        or any(f["path"] == w.strip("/") or f["path"].startswith(w.strip("/") + "/") for w in files)
    ]
    if files and not wanted:
        raise click.ClickException(f"Dataset {uid} has no file or folder named " + ", ".join(files) + ".")
    fetched = 0
    for f in wanted:
        if client.download_file(uid, f["path"], f["sha256"], safe_local(target, f["path"])):
            fetched += 1
            click.echo(f"  {f['path']}: {catalog.human_size(f['size'])}", err=True)
    click.echo(f"Downloaded {fetched} file(s) into {target} ({len(wanted) - fetched} already there).")


@datasets.command("list")
@with_appcontext
def list_cmd() -> None:
    """List every dataset (as an administrator would see them)."""
    from .models import Dataset

    for ds in db.session.query(Dataset).order_by(Dataset.name):
        click.echo(
            f"{ds.uid}  {ds.visibility:8} {catalog.human_size(ds.size):>10}  {ds.name}"
            + (f"  ({ds.dns_name})" if ds.dns_name else "")
        )


def _dataset(uid: str) -> object:
    from ..errors import NotFound
    from .models import Dataset

    ds = db.session.query(Dataset).filter_by(uid=uid).first()
    if ds is None:
        raise NotFound(f"No dataset {uid}.")
    return ds


@datasets.command("publish")
@click.argument("uid")
@click.argument("label")
@click.option("--zone", default=None, help="Designate zone (default: DATA_DNS_ZONE).")
@click.option("--target", default=None, help="CNAME target (default: DATA_DNS_TARGET).")
@with_appcontext
@kit_errors
def publish_cmd(uid: str, label: str, zone: str | None, target: str | None) -> None:
    """Publish dataset UID as LABEL.<zone> (a CNAME to the load balancer)."""
    from ..errors import ConfigError
    from .models import Dataset

    zone = zone or current_app.config["DATA_DNS_ZONE"]
    target = target or current_app.config["DATA_DNS_TARGET"]
    if not zone or not target:
        raise ConfigError("Set DATA_DNS_ZONE and DATA_DNS_TARGET (or pass --zone and --target).")
    ds = _dataset(uid)
    assert isinstance(ds, Dataset)
    name = publishing.ensure_published(
        backups.connect(current_app.config), db.session, ds, label, zone, target
    )
    click.echo(f"{ds.uid} is published at {name} (CNAME {target}).")


@datasets.command("unpublish")
@click.argument("uid")
@click.option("--zone", default=None, help="Designate zone (default: DATA_DNS_ZONE).")
@with_appcontext
@kit_errors
def unpublish_cmd(uid: str, zone: str | None) -> None:
    """Remove dataset UID's DNS name."""
    from .models import Dataset

    ds = _dataset(uid)
    assert isinstance(ds, Dataset)
    publishing.unpublish(
        backups.connect(current_app.config), db.session, ds, zone or current_app.config["DATA_DNS_ZONE"]
    )
    click.echo(f"{ds.uid} is no longer published.")


@click.command("backup")
@click.option(
    "--snapshots/--no-snapshots", default=True, show_default=True, help="Also snapshot DATA_SNAPSHOT_VOLUMES."
)
@with_appcontext
@kit_errors
def db_backup(snapshots: bool) -> None:
    """Archive the database now (pg_dump, or SQLite's backup API), then apply retention."""
    settings = current_app.config
    archive = backups.backup_database(settings)
    removed = backups.prune_archives(settings)
    click.echo(
        f"Backup {archive.name} written ({catalog.human_size(archive.size)}, sha256 "
        f"{archive.sha256[:16]}...); {len(removed)} old archive(s) removed."
    )
    if snapshots:
        for snap in backups.snapshot_volumes(settings):
            click.echo(f"Snapshot {snap.name} ({snap.id}) of volume {snap.volume_id}.")


@click.command("backups")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
@kit_errors
def db_backups(as_json: bool) -> None:
    """List database archives, newest first, with their age."""
    settings = current_app.config
    archives = backups.list_archives(settings)
    status = backups.health(settings)
    if as_json:
        click.echo(
            json.dumps(
                {"archives": [a.to_json() for a in archives], "late": status.late, "message": status.message},
                indent=2,
            )
        )
        return
    for a in archives:
        click.echo(
            f"{a.name}  {a.kind:8} {backups.format_age(a.age()):>10} old  {catalog.human_size(a.size):>10}"
        )
    click.echo(("WARNING: " if status.late else "") + status.message, err=status.late)


@click.command("restore")
@click.argument("name")
@click.option(
    "--target-url",
    required=True,
    help="Database to restore into (e.g. a scratch database). Use the live "
    "DATABASE_URL only with the gateway stopped.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@kit_errors
def db_restore(name: str, target_url: str, yes: bool) -> None:
    """Restore archive NAME into the database at --target-url (its objects are replaced)."""
    from sqlalchemy.engine import make_url

    shown = make_url(target_url).render_as_string(hide_password=True)
    if not yes:
        click.confirm(f"Replace the contents of {shown} with backup {name}?", abort=True)
    backups.restore_database(current_app.config, name, target_url)
    click.echo(f"Backup {name} restored into {shown}.")
