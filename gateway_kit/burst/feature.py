"""The burst feature: agent API, pool reconciler (worker task), console page, ``gateway-kit burst``.

The ``agent`` command (``gateway-kit agent``) is registered separately, from
:mod:`gateway_kit.burst.agent`, because it runs on instances without the gateway's settings.
"""

from __future__ import annotations

import getpass
from typing import Any

import click
from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask.cli import with_appcontext
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from .. import audit
from ..db import db
from ..errors import BadRequest, GatewayError, NotFound
from ..identity.access import role_required
from ..identity.audit_log import actor, audited_action
from ..jobs.accounting import fmt as su_fmt
from ..jobs.models import utcnow
from ..web import add_nav
from ..worker import WorkerTask, register_task
from .api import init_api
from .models import LIVE_STATES, BurstInstance, BurstJob, BurstPoolSize
from .pool import Pool, aware

bp = Blueprint("burst", __name__, template_folder="templates")


def burst_destinations(settings: Any) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = settings.get("JOBS_DESTINATIONS_MAP", {})
    return {
        name: dict(opts)
        for name, opts in table.items()
        if isinstance(opts, dict) and opts.get("executor") == "burst"
    }


def pools(app: Flask) -> dict[str, Pool]:
    key = "gateway_kit.burst.pools"
    if key not in app.extensions:
        app.extensions[key] = {
            name: Pool(name, opts, app.config) for name, opts in burst_destinations(app.config).items()
        }
    found: dict[str, Pool] = app.extensions[key]
    return found


def reconcile_all(app: Flask) -> None:
    """The worker task: one pass over every burst destination's pool."""
    for pool in pools(app).values():
        pool.reconcile()


def pool_rows(destination: str) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for inst in db.session.scalars(
        select(BurstInstance)
        .where(BurstInstance.destination == destination)
        .order_by(BurstInstance.id.desc())
        .limit(50)
    ):
        jobs = [
            b.job_id
            for b in db.session.scalars(
                select(BurstJob).where(
                    BurstJob.instance_id == inst.id, BurstJob.state.in_(("assigned", "running"))
                )
            )
        ]
        idle = aware(inst.idle_since)
        live = inst.state in LIVE_STATES
        created = aware(inst.created_at) or now
        su = inst.su_charged if inst.settled else (now - created).total_seconds() / 3600 * inst.su_per_hour
        rows.append(
            {
                **inst.to_json(),
                "jobs": jobs,
                "live": live,
                "su_so_far": round(su, 6),
                "idle_seconds": int((now - idle).total_seconds()) if idle and live and not jobs else None,
            }
        )
    return rows


@bp.route("/operator/burst")
@role_required("operator")
def pool_page() -> ResponseReturnValue:
    dests = burst_destinations(current_app.config)
    data = {name: pool_rows(name) for name in dests}
    waiting = {
        name: list(
            db.session.scalars(
                select(BurstJob).where(BurstJob.destination == name, BurstJob.state == "waiting")
            )
        )
        for name in dests
    }
    return render_template("burst/pool.html", pools=data, waiting=waiting, options=dests, sizes=sizes())


def drain(destination: str) -> int:
    """Mark DESTINATION's live instances draining (no new jobs; deleted once idle); how many."""
    if destination not in burst_destinations(current_app.config):
        known = ", ".join(sorted(burst_destinations(current_app.config))) or "none"
        raise NotFound(f"{destination!r} is not a burst destination (burst destinations: {known}).")
    n = 0
    for inst in db.session.scalars(
        select(BurstInstance).where(
            BurstInstance.destination == destination, BurstInstance.state.in_(LIVE_STATES)
        )
    ):
        if inst.state != "draining":
            inst.state = "draining"
            inst.idle_since = inst.idle_since or utcnow()
            n += 1
    db.session.commit()
    return n


#: The largest pool a console resize may ask for (a typo must not launch a hundred instances).
RESIZE_MAX = 64


def sizes() -> dict[str, BurstPoolSize]:
    return {s.destination: s for s in db.session.scalars(select(BurstPoolSize))}


def resize(destination: str, min_text: str, max_text: str, by: str) -> tuple[int, int]:
    """Set DESTINATION's pool bounds (the worker applies them on its next pass)."""
    if destination not in burst_destinations(current_app.config):
        known = ", ".join(sorted(burst_destinations(current_app.config))) or "none"
        raise NotFound(f"{destination!r} is not a burst destination (burst destinations: {known}).")
    try:
        low, high = int(min_text), int(max_text)
    except ValueError:
        raise BadRequest(
            f"Minimum and maximum instances must be whole numbers (got {min_text!r} and {max_text!r})."
        ) from None
    if not 0 <= low <= high or not 1 <= high <= RESIZE_MAX:
        raise BadRequest(
            f"Give a minimum of 0 or more, no larger than the maximum, and a maximum from 1 to "
            f"{RESIZE_MAX} (got {low} and {high})."
        )
    row = db.session.get(BurstPoolSize, destination)
    if row is None:
        row = BurstPoolSize(destination=destination)
        db.session.add(row)
    row.min_instances, row.max_instances, row.updated_by, row.updated_at = low, high, by, utcnow()
    db.session.commit()
    return low, high


@bp.post("/operator/burst/<destination>/resize")
@role_required("operator")
def resize_action(destination: str) -> ResponseReturnValue:
    with audited_action("burst.resize", destination) as entry:
        low, high = resize(
            destination, request.form.get("min_instances", ""), request.form.get("max_instances", ""), actor()
        )
        entry.detail = f"{low} to {high} instances"
    flash(f"Pool {destination} now keeps {low} to {high} instances (from the worker's next pass).", "success")
    return redirect(url_for("burst.pool_page"))


@bp.post("/operator/burst/<destination>/drain")
@role_required("operator")
def drain_action(destination: str) -> ResponseReturnValue:
    with audited_action("burst.drain", destination) as entry:
        n = drain(destination)
        entry.detail = f"{n} instance(s) draining"
    flash(f"{n} instance(s) of {destination} draining: each is deleted once its jobs end.", "success")
    return redirect(url_for("burst.pool_page"))


@click.group("burst")
def burst_cli() -> None:
    """Burst pools: status, drain, clean orphans."""


@burst_cli.command("status")
@with_appcontext
def status_cmd() -> None:
    """Show each burst destination's instances."""
    for name in burst_destinations(current_app.config):
        click.echo(f"{name}:")
        rows = [r for r in pool_rows(name) if r["live"]]
        if not rows:
            click.echo("  no live instances")
        for r in rows:
            idle = f" idle {r['idle_seconds']}s" if r["idle_seconds"] is not None else ""
            click.echo(
                f"  {r['name']:<28} {r['flavor']:<10} {r['state']:<9} "
                f"jobs={','.join(map(str, r['jobs'])) or '-'}{idle} "
                f"su={su_fmt(r['su_so_far'])} {r['address']}"
            )
        waiting = db.session.scalars(
            select(BurstJob).where(BurstJob.destination == name, BurstJob.state == "waiting")
        ).all()
        for bj in waiting:
            click.echo(f"  job {bj.job_id} waits: {bj.wait_reason or 'for a pass'}")


@burst_cli.command("drain")
@click.argument("destination")
@with_appcontext
def drain_cmd(destination: str) -> None:
    """Stop giving DESTINATION's instances new jobs; each is deleted once idle."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with audit.audited(app, f"cli:{getpass.getuser()}", "burst.drain", destination) as entry:
            n = drain(destination)
            entry.detail = f"{n} instance(s) draining"
    except GatewayError as exc:
        raise click.ClickException(exc.user_message) from exc
    click.echo(f"{n} instance(s) of {destination} draining.")


@burst_cli.command("clean-orphans")
@click.option("--dry-run", is_flag=True, help="List them only.")
@with_appcontext
def clean_orphans_cmd(dry_run: bool) -> None:
    """Delete this gateway's burst servers that no live pool instance accounts for."""
    for name, pool in pools(current_app._get_current_object()).items():  # type: ignore[attr-defined]
        known = {
            i.server_id
            for i in db.session.scalars(
                select(BurstInstance).where(
                    BurstInstance.destination == name, BurstInstance.state.in_(LIVE_STATES)
                )
            )
        }
        for server_id, server in pool.cloud.servers(pool.gateway).items():
            if (server.metadata or {}).get("gk_destination") != name or server_id in known:
                continue
            click.echo(f"orphan {server.name} ({server_id}) on {name}" + ("" if dry_run else ": deleted"))
            if not dry_run:
                pool.cloud.delete(server_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    init_api(app)
    add_nav(app, "burst.pool_page", "Burst pools", role="operator", order=75)
    register_task(
        app, WorkerTask("burst.reconcile", float(app.config["BURST_RECONCILE_INTERVAL"]), reconcile_all)
    )
