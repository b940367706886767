"""``gateway-kit deploy``: deployments (the day-2 ``vm``, ``volume``, ``dns``, ``lb`` commands are in
:mod:`.day2_cli`).

Errors from the kit are printed as one message (exit status 1; 2 for configuration errors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..cli import kit_errors
from ..errors import GatewayError
from . import day2, releases
from .engine import Engine, engine_for
from .spec import load_spec


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


class ProgressReporter:
    """Progress bar on stderr (rich), one line per step."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.task: Any = None

    def begin(self, total: int, title: str) -> None:
        self.progress.start()
        self.task = self.progress.add_task(title, total=total, step="")

    def step(self, text: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, step=text)

    def end(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[0].total, step="")
        self.progress.stop()


def _engine(spec_cloud: str | None = None, progress: bool = False) -> Engine:
    return engine_for(_app(), spec_cloud, ProgressReporter() if progress else None)


def _name_or_spec(target: str) -> tuple[str, Any]:
    path = Path(target)
    if path.suffix == ".toml" or path.is_file():
        spec = load_spec(path)
        return spec.name, spec
    return target, None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _holds(name: str) -> str:
    """What deployment ``name`` holds in the cloud now, as its records say (one sentence)."""
    from sqlalchemy import select

    from ..db import db
    from .models import Deployment

    db.session.expire_all()  # the engine's own session wrote them
    dep = db.session.scalars(select(Deployment).where(Deployment.name == name)).first()
    rows = [] if dep is None else [r for r in dep.resources if r.cloud_id]
    ready = sum(1 for r in rows if r.status == "ready")
    if not rows:
        return f"Deployment {name} holds no cloud resource."
    pending = sorted(r.key for r in rows if r.status != "ready")
    return f"Deployment {name} holds {len(rows)} cloud resources, {ready} ready" + (
        f" ({', '.join(pending)} not)." if pending else "."
    )


def left_behind(name: str, spec: Path) -> str:
    """For an apply that failed: what the deployment holds now, and the commands that go on."""
    return (
        f"{_holds(name)} Continue with `gateway-kit deploy apply {spec}` (it resumes), see them with "
        f"`gateway-kit deploy status {name}`, or delete them with `gateway-kit deploy destroy {name}`."
    )


# -- deploy ----------------------------------------------------------------------------------


@click.group(name="deploy")
def deploy() -> None:
    """Declarative deployments: service VMs, volumes, DNS names and a load balancer."""


@deploy.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-refresh", is_flag=True, help="Do not read the cloud; compare with the records only.")
@with_appcontext
@kit_errors
def deploy_plan(spec: Path, no_refresh: bool) -> None:
    """Show what apply would create (+), change (~) or delete (-), changing nothing."""
    s = load_spec(spec)
    click.echo(_engine(s.cloud).plan(s, refresh=not no_refresh).render())


@deploy.command("apply")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rollback-on-failure", is_flag=True, help="Delete what this run created if it fails.")
@click.option("--no-refresh", is_flag=True, help="Trust the records; do not read the cloud first.")
@click.option(
    "--rotate",
    multiple=True,
    metavar="NAME",
    help="Make secret NAME anew (or re-read it from its [secrets] source) and replace, one at a "
    "time, the VMs that carry it (repeatable), e.g. --rotate secret_key.",
)
@with_appcontext
@kit_errors
def deploy_apply(spec: Path, rollback_on_failure: bool, no_refresh: bool, rotate: tuple[str, ...]) -> None:
    """Create or change the deployment so that the cloud matches SPEC (resumes after a crash).

    With a [tls] table, then issues (or reuses, or renews) the certificate of its names through
    the certs feature and delivers it to the deployment's load balancer (port 443).
    """
    s = load_spec(spec)
    engine = _engine(s.cloud, progress=True)
    try:
        plan = engine.apply(s, rollback_on_failure=rollback_on_failure, refresh=not no_refresh, rotate=rotate)
    except GatewayError as exc:
        exc.user_message = f"{exc.user_message}\n{left_behind(s.name, spec)}"
        raise
    click.echo(plan.render())
    if not plan.empty:
        click.echo(f"Deployment {s.name} is ready.")
    if s.tls is not None:
        from .tls import ensure_certificate

        click.echo(ensure_certificate(_app(), s, engine.cloud_id(s.name, "lb")))


@deploy.command("release")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rotate",
    multiple=True,
    metavar="NAME",
    help="Also make secret NAME anew in this pass (repeatable).",
)
@with_appcontext
@kit_errors
def deploy_release(spec: Path, rotate: tuple[str, ...]) -> None:
    """Roll the release SPEC's [app] names (its wheel, else its requirement) across the web and
    worker VMs, one at a time, with no failed request: a new VM per VM, its pool member healthy
    before the old one is drained and deleted. Refuses a spec that changes anything else."""
    s = load_spec(spec)
    plan = _engine(s.cloud, progress=True).release(s, rotate=rotate)
    click.echo(plan.render())
    click.echo(f"Deployment {s.name} runs release {releases.release_of(s)}.")


@deploy.command("rollback")
@click.argument("target")
@with_appcontext
@kit_errors
def deploy_rollback(target: str) -> None:
    """Return deployment TARGET (a name or its spec file) to the release before the one it runs,
    one VM at a time (the kit keeps the last releases, wheels included). The spec file still
    names the newer release: the next `deploy apply` or `deploy release` of it rolls forward."""
    name, spec = _name_or_spec(target)
    release, plan = _engine(spec.cloud if spec else None, progress=True).rollback(name, spec)
    click.echo(plan.render())
    click.echo(f"Deployment {name} runs release {release} again.")


@deploy.command("destroy")
@click.argument("target")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--with-snapshots",
    is_flag=True,
    help="Also delete the snapshots of the deployment's volumes (a volume with snapshots cannot be deleted).",
)
@with_appcontext
@kit_errors
def deploy_destroy(target: str, yes: bool, with_snapshots: bool) -> None:
    """Delete everything the deployment TARGET (a name or a spec file) owns, in reverse order.

    Stops before deleting anything when a volume has snapshots, unless --with-snapshots.
    """
    name, spec = _name_or_spec(target)
    engine = _engine(spec.cloud if spec else None, progress=True)
    engine.status(name)  # an unknown deployment fails here, before any question
    snaps = day2.list_snapshots(engine.cloud, deployment=name)
    if snaps and not with_snapshots:
        raise click.ClickException(day2.snapshots_blocking(engine.cloud, name))
    if not yes:
        also = f" and {len(snaps)} volume snapshot(s)" if snaps else ""
        click.confirm(f"Delete every resource of deployment {name}{also}?", abort=True)
    for snap in snaps:
        click.echo(f"snapshot {day2.delete_snapshot(engine.cloud, snap['id'])} deleted.")
    try:
        count = engine.destroy(name)
    except GatewayError as exc:
        exc.user_message = (
            f"{exc.user_message}\n{_holds(name)} Continue with `gateway-kit deploy destroy {name} --yes` "
            f"(it resumes) once the cloud answers; see them with `gateway-kit deploy status {name}`."
        )
        raise
    click.echo(f"Deployment {name} destroyed ({count} resources deleted).")


@deploy.command("status")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
@kit_errors
def deploy_status(target: str, as_json: bool) -> None:
    """Each resource of deployment TARGET with its live state and any drift."""
    name, spec = _name_or_spec(target)
    dep, rows = _engine(spec.cloud if spec else None).status(name)
    if as_json:
        _echo_json(
            {
                "name": dep.name,
                "status": dep.status,
                "last_error": dep.last_error,
                "resources": [r.__dict__ for r in rows],
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("resource", "id", "recorded", "live", "drift", title=f"{dep.name}: {dep.status}")
    for r in rows:
        table.add_row(r.key, (r.cloud_id or "-")[-36:], r.recorded, r.live, "; ".join(r.drift) or "-")
    Console(width=160).print(table)
    for r in rows:
        release = (r.detail.get("metadata") or {}).get(releases.META_RELEASE) if r.kind == "server" else None
        if release:
            click.echo(f"{r.key.removeprefix('server:')} runs release {release}")
    if dep.last_error:
        click.echo(f"last error: {dep.last_error}")
    drifted = sum(1 for r in rows if r.drift)
    click.echo(f"{len(rows)} resources, {drifted} drifted" + (" (run deploy apply)" if drifted else ""))


@deploy.command("list")
@with_appcontext
@kit_errors
def deploy_list() -> None:
    """Deployments the kit knows."""
    for d in _engine().deployments():
        click.echo(f"{d.name}\t{d.status}\t{d.cloud}\t{len(d.spec.get('roles', []))} roles")


@deploy.command("orphans")
@click.option("--delete", is_flag=True, help="Delete them.")
@with_appcontext
@kit_errors
def deploy_orphans(delete: bool) -> None:
    """Resources marked by the kit (tags, metadata, or only the description an interrupted
    apply left) that no deployment owns."""
    found = _engine().orphans(delete=delete)
    for o in found:
        note = ""
        if o.get("untagged") and not o.get("deleted"):
            dep = o["deployment"]
            adopt = f"; `gateway-kit deploy apply` of {dep} adopts it" if o["deployment_known"] else ""
            note = f"\tuntagged (left by an interrupted apply{adopt})"
        click.echo(
            f"{o['kind']}\t{o['id']}\t{o['name']}\tdeployment={o['deployment']} key={o['key']}"
            + ("\tdeleted" if o.get("deleted") else "")
            + note
        )
    click.echo(f"{len(found)} orphan(s)" + (" deleted" if delete and found else ""))
