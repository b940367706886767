"""``gateway-kit deploy | vm | volume | dns | lb``: deployments and day-2 operations.

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
from .cloud import Cloud, Timeouts
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


def _cloud() -> Cloud:
    app = _app()
    return Cloud(app.config["CLOUD_NAME"], Timeouts.from_config(app.config))


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


# -- vm --------------------------------------------------------------------------------------


@click.group(name="vm")
def vm() -> None:
    """Servers: list, show, and day-2 actions."""


@vm.command("list")
@click.option("--deployment", default=None, help="Only this deployment's servers.")
@with_appcontext
@kit_errors
def vm_list(deployment: str | None) -> None:
    """Servers with status, flavor, addresses and deployment."""
    for v in day2.list_vms(_cloud(), deployment):
        click.echo(
            f"{v['name']}\t{v['status']}\t{v['flavor']}\t{','.join(v['addresses'])}\t"
            f"{v['deployment'] or '-'}" + ("\tlocked" if v["locked"] else "")
        )


@vm.command("show")
@click.argument("server")
@with_appcontext
@kit_errors
def vm_show(server: str) -> None:
    """Everything about SERVER (name or id) as JSON."""
    _echo_json(day2.show_vm(_cloud(), server))


def _vm_action(action: str) -> None:
    @vm.command(action, help=f"{action.capitalize()} SERVER and wait for the result.")
    @click.argument("server")
    @with_appcontext
    @kit_errors
    def command(server: str) -> None:
        status = day2.vm_action(_cloud(), server, action)
        click.echo(f"{server}: {action} done ({status}).")


for _action in day2.VM_ACTIONS:
    _vm_action(_action)


@vm.command("resize")
@click.argument("server")
@click.argument("flavor")
@with_appcontext
@kit_errors
def vm_resize(server: str, flavor: str) -> None:
    """Resize SERVER to FLAVOR (resize, wait for VERIFY_RESIZE, confirm)."""
    day2.resize_vm(_cloud(), server, flavor)
    click.echo(f"{server} resized to {flavor}.")


@vm.command("snapshot")
@click.argument("server")
@click.argument("name")
@with_appcontext
@kit_errors
def vm_snapshot(server: str, name: str) -> None:
    """Snapshot SERVER into image NAME."""
    click.echo(day2.snapshot_vm(_cloud(), server, name))


@vm.command("console-log")
@click.argument("server")
@click.option("--lines", type=int, default=None, help="Only the last LINES lines.")
@with_appcontext
@kit_errors
def vm_console_log(server: str, lines: int | None) -> None:
    """SERVER's console output (boot messages, cloud-init), the last LINES lines with --lines."""
    click.echo(day2.console_log(_cloud(), server, lines))


# -- volume ----------------------------------------------------------------------------------


@click.group(name="volume")
def volume() -> None:
    """Volumes: list, extend, snapshot, and their snapshots."""


@volume.command("list")
@click.option("--deployment", default=None, help="Only this deployment's volumes.")
@with_appcontext
@kit_errors
def volume_list(deployment: str | None) -> None:
    """Volumes with size, status and deployment."""
    for v in day2.list_volumes(_cloud(), deployment):
        click.echo(f"{v['name']}\t{v['size']} GiB\t{v['status']}\t{v['deployment'] or '-'}")


@volume.command("extend")
@click.argument("name")
@click.argument("size", type=int)
@with_appcontext
@kit_errors
def volume_extend(name: str, size: int) -> None:
    """Grow volume NAME to SIZE GiB."""
    click.echo(f"{name}: {day2.extend_volume(_cloud(), name, size)} GiB.")


@volume.command("snapshot")
@click.argument("name")
@click.argument("snapshot")
@with_appcontext
@kit_errors
def volume_snapshot(name: str, snapshot: str) -> None:
    """Snapshot volume NAME into snapshot SNAPSHOT (works while attached); prints its id."""
    click.echo(day2.snapshot_volume(_cloud(), name, snapshot))


@volume.group("snapshots", invoke_without_command=True)
@click.option("--volume", "volume_name", default=None, help="Only this volume's snapshots.")
@click.option("--deployment", default=None, help="Only the snapshots of this deployment's volumes.")
@click.pass_context
@with_appcontext
@kit_errors
def volume_snapshots(ctx: click.Context, volume_name: str | None, deployment: str | None) -> None:
    """List volume snapshots (name, volume, size, status, created); `snapshots delete NAME` deletes one."""
    if ctx.invoked_subcommand is not None:
        return
    snaps = day2.list_snapshots(_cloud(), volume_name, deployment)
    for snap in snaps:
        click.echo(
            f"{snap['name'] or '-'}\t{snap['volume']}\t{snap['size']} GiB\t{snap['status']}\t"
            f"{snap['created_at']}\t{snap['id']}"
        )
    if not snaps:
        click.echo("No volume snapshots.")


@volume_snapshots.command("delete")
@click.argument("snapshots", nargs=-1, required=True)
@with_appcontext
@kit_errors
def volume_snapshot_delete(snapshots: tuple[str, ...]) -> None:
    """Delete each snapshot (name or id) in SNAPSHOTS and wait until it is gone."""
    cloud = _cloud()
    for snap in snapshots:
        click.echo(f"snapshot {day2.delete_snapshot(cloud, snap)} deleted.")


# -- dns -------------------------------------------------------------------------------------


@click.group(name="dns")
def dns() -> None:
    """DNS zones and records (Designate)."""


@dns.command("zones")
@with_appcontext
@kit_errors
def dns_zones() -> None:
    """This project's DNS zones with status and TTL."""
    for z in day2.list_zones(_cloud()):
        click.echo(f"{z['name']}\t{z['status']}\tttl={z['ttl']}")


@dns.command("records")
@click.argument("zone")
@with_appcontext
@kit_errors
def dns_records(zone: str) -> None:
    """The record sets of ZONE (name, type, records, TTL, status)."""
    for r in day2.list_records(_cloud(), zone):
        click.echo(f"{r['name']}\t{r['type']}\t{' '.join(r['records'])}\tttl={r['ttl']}\t{r['status']}")


@dns.command("add")
@click.argument("zone")
@click.argument("name")
@click.argument("rtype")
@click.argument("records", nargs=-1, required=True)
@click.option("--ttl", type=int, default=None, help="Time to live in seconds (default: the zone's).")
@with_appcontext
@kit_errors
def dns_add(zone: str, name: str, rtype: str, records: tuple[str, ...], ttl: int | None) -> None:
    """Create or replace record NAME of type RTYPE (A, AAAA, CNAME, TXT, CAA...) in ZONE."""
    day2.add_record(_cloud(), zone, name, rtype, list(records), ttl)
    click.echo(f"{name} {rtype.upper()} {' '.join(records)}")


@dns.command("rm")
@click.argument("zone")
@click.argument("name")
@click.argument("rtype")
@with_appcontext
@kit_errors
def dns_rm(zone: str, name: str, rtype: str) -> None:
    """Delete record set NAME of type RTYPE from ZONE."""
    n = day2.remove_record(_cloud(), zone, name, rtype)
    click.echo(f"{n} record set(s) removed.")


# -- lb --------------------------------------------------------------------------------------


@click.group(name="lb")
def lb() -> None:
    """Load balancers (Octavia)."""


@lb.command("status")
@click.argument("name", required=False)
@with_appcontext
@kit_errors
def lb_status(name: str | None) -> None:
    """Listeners, pools and members with their operating status."""
    for item in day2.lb_status(_cloud(), name):
        click.echo(
            f"{item['name']} {item['vip_address']} {item['provisioning_status']}/{item['operating_status']}"
        )
        for li in item["listeners"]:
            click.echo(f"  listener {li['name']} {li['protocol']}:{li['port']} {li['operating_status']}")
        for p in item["pools"]:
            click.echo(f"  pool {p['name']} {p['algorithm']} {p['operating_status']}")
            for m in p["members"]:
                click.echo(f"    member {m['name']} {m['address']}:{m['port']} {m['operating_status']}")
