"""The operator console for hosting: deployments with live status, drift and quota bars; plan,
apply and destroy with live progress (:mod:`.console_runs`); DNS zones and records; volume
snapshots. Every action is role-checked, CSRF-protected (the identity feature's check) and
written to the audit log."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..errors import BadRequest, GatewayError, NotFound
from ..identity.access import role_required
from ..identity.audit_log import actor, audited_action, console_action
from ..web import add_nav
from . import console_runs, day2
from .engine import Engine, engine_for
from .spec import spec_from_json

bp = Blueprint("hosting", __name__, template_folder="templates", url_prefix="/operator/hosting")


def _quotas(engine: Any) -> tuple[list[dict[str, Any]], str]:
    try:
        return day2.quota_usage(engine.cloud), ""
    except GatewayError as exc:
        current_app.logger.warning("hosting console: %s", exc.log_message)
        return [], exc.user_message


@bp.get("/")
@role_required("operator")
def index() -> ResponseReturnValue:
    engine = engine_for(current_app)
    try:
        quotas, cloud_error = _quotas(engine)
        return render_template(
            "hosting/index.html",
            deployments=engine.deployments(),
            quotas=quotas,
            cloud_error=cloud_error,
            cloud_name=engine.cloud.name,
        )
    finally:
        engine.cloud.close()


def _status(name: str) -> dict[str, Any]:
    engine = engine_for(current_app)
    try:
        dep, rows = engine.status(name)
        return {
            "name": dep.name,
            "status": dep.status,
            "last_error": dep.last_error,
            "resources": [
                {
                    "key": r.key,
                    "kind": r.kind,
                    "id": r.cloud_id,
                    "recorded": r.recorded,
                    "live": r.live,
                    "drift": r.drift,
                    "detail": r.detail,
                }
                for r in rows
            ],
            "steps": [
                {
                    "action": s.action,
                    "key": s.key,
                    "state": s.state,
                    "error": s.error,
                    "at": s.started_at.isoformat(),
                }
                for s in engine.steps(name, 20)
            ],
        }
    finally:
        engine.cloud.close()


@bp.get("/<name>")
@role_required("operator")
def show(name: str) -> ResponseReturnValue:
    try:
        data, cloud_error = _status(name), ""
    except GatewayError as exc:
        if exc.status == 404 and "no deployment" in exc.user_message:
            raise
        data, cloud_error = {"name": name, "status": "?", "resources": [], "steps": []}, exc.user_message
    return render_template("hosting/show.html", d=data, cloud_error=cloud_error)


@bp.get("/<name>/status.json")
@role_required("operator")
def status_json(name: str) -> ResponseReturnValue:
    return jsonify(_status(name))


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def show_value(value: Any) -> str:
    """A resource attribute for a table cell: no Python reprs (``{}``, ``False``, ``['a']``)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ", ".join(show_value(v) for v in value)
    return str(value)


def _spec_of(name: str) -> Any:
    for dep in engine_for(_app()).deployments():
        if dep.name == name:
            if not dep.spec:
                raise BadRequest(f"Deployment {name} has no recorded spec; apply it from the CLI first.")
            return spec_from_json(dep.spec)
    raise NotFound(f"There is no deployment named {name!r}.")


@bp.get("/<name>/plan")
@role_required("operator")
def plan_page(name: str) -> ResponseReturnValue:
    spec = _spec_of(name)
    engine = engine_for(_app(), spec.cloud)
    try:
        text, error = engine.plan(spec).render(), ""
    except GatewayError as exc:
        text, error = "", exc.user_message
    finally:
        engine.cloud.close()
    return render_template("hosting/plan.html", name=name, plan=text, cloud_error=error)


@bp.post("/<name>/apply")
@role_required("operator")
def apply_action(name: str) -> ResponseReturnValue:
    spec = _spec_of(name)

    def work(engine: Engine) -> str:
        return engine.apply(spec).render()

    console_runs.start(_app(), name, "apply", actor(), work)
    return redirect(url_for("hosting.run_page", name=name))


@bp.post("/<name>/destroy")
@role_required("operator")
def destroy_action(name: str) -> ResponseReturnValue:
    with_snapshots = request.form.get("with_snapshots") == "on"
    if request.form.get("confirm", "").strip() != name:
        flash(f"Type the deployment's name ({name}) to confirm that it is to be destroyed.", "error")
        return redirect(url_for("hosting.show", name=name))
    engine = engine_for(_app())
    try:
        engine.status(name)  # 404 for an unknown deployment
        snaps = day2.list_snapshots(engine.cloud, deployment=name)
        if snaps and not with_snapshots:
            message = day2.snapshots_blocking(engine.cloud, name)
            with audited_action("hosting.destroy", name):
                raise BadRequest(message.replace("--with-snapshots", "'also delete snapshots'"))
    except BadRequest as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("hosting.show", name=name))
    finally:
        engine.cloud.close()

    def work(engine: Engine) -> str:
        for snap in snaps:
            engine.reporter.step(f"snapshot {day2.delete_snapshot(engine.cloud, snap['id'])} deleted")
        count = engine.destroy(name)
        return f"Deployment {name} destroyed ({count} resources deleted)."

    console_runs.start(_app(), name, "destroy", actor(), work)
    return redirect(url_for("hosting.run_page", name=name))


@bp.get("/<name>/run")
@role_required("operator")
def run_page(name: str) -> ResponseReturnValue:
    run = console_runs.current(_app(), name)
    if run is None:
        raise NotFound(f"No console action on {name} since the gateway started.")
    return render_template("hosting/run.html", run=run)


@bp.get("/<name>/run.json")
@role_required("operator")
def run_json(name: str) -> ResponseReturnValue:
    run = console_runs.current(_app(), name)
    if run is None:
        raise NotFound(f"No console action on {name} since the gateway started.")
    return jsonify(run.to_json())


# -- DNS ---------------------------------------------------------------------------------------

RTYPES = ("A", "AAAA", "CNAME", "TXT", "CAA", "MX", "SRV", "NS")


@bp.get("/dns")
@role_required("operator")
def dns_page() -> ResponseReturnValue:
    engine = engine_for(_app())
    zone = request.args.get("zone", "")
    try:
        zones, records, error = day2.list_zones(engine.cloud), [], ""
        if zone:
            records = day2.list_records(engine.cloud, zone)
    except GatewayError as exc:
        if zone and exc.status == 404:
            raise
        zones, records, error = [], [], exc.user_message
    finally:
        engine.cloud.close()
    return render_template(
        "hosting/dns.html", zones=zones, zone=zone, records=records, rtypes=RTYPES, cloud_error=error
    )


@bp.post("/dns/<zone>/records")
@role_required("operator")
def dns_add(zone: str) -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    rtype = request.form.get("type", "").strip().upper()
    values = [v for v in re.split(r"[\r\n]+", request.form.get("records", "")) if v.strip()]
    ttl_text = request.form.get("ttl", "").strip()
    if rtype not in RTYPES:
        raise BadRequest(f"Record type {rtype or '(none)'} is not one of {', '.join(RTYPES)}.")
    if not values:
        raise BadRequest("Give at least one record value (one per line), e.g. 203.0.113.7 for an A record.")
    if ttl_text and not ttl_text.isdigit():
        raise BadRequest(f"TTL {ttl_text!r} is not a whole number of seconds.")
    engine = engine_for(_app())
    target = f"{name or '@'} {rtype} in {zone}"
    try:
        with console_action("dns.add", target, f"Record {target} not saved") as done:
            day2.add_record(
                engine.cloud, zone, name, rtype, [v.strip() for v in values], int(ttl_text or 0) or None
            )
            done.entry.detail = " ".join(values)[:200]
    finally:
        engine.cloud.close()
    if not done.failed:
        flash(f"Record {target} saved.", "success")
    return redirect(url_for("hosting.dns_page", zone=zone))


@bp.post("/dns/<zone>/records/delete")
@role_required("operator")
def dns_remove(zone: str) -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    rtype = request.form.get("type", "").strip().upper()
    engine = engine_for(_app())
    target = f"{name} {rtype} in {zone}"
    try:
        with console_action("dns.remove", target, f"Record {target} not removed") as done:
            n = day2.remove_record(engine.cloud, zone, name, rtype)
            done.entry.detail = f"{n} record set(s) removed"
    finally:
        engine.cloud.close()
    if not done.failed:
        flash(f"{n} record set(s) {name} {rtype} removed.", "success")
    return redirect(url_for("hosting.dns_page", zone=zone))


# -- volume snapshots ------------------------------------------------------------------------


@bp.get("/snapshots")
@role_required("operator")
def snapshots_page() -> ResponseReturnValue:
    engine = engine_for(_app())
    try:
        snaps, error = day2.list_snapshots(engine.cloud), ""
    except GatewayError as exc:
        snaps, error = [], exc.user_message
    finally:
        engine.cloud.close()
    return render_template("hosting/snapshots.html", snapshots=snaps, cloud_error=error)


@bp.post("/snapshots/<snapshot_id>/delete")
@role_required("operator")
def snapshot_delete(snapshot_id: str) -> ResponseReturnValue:
    engine = engine_for(_app())
    failed = f"Snapshot {snapshot_id} not deleted"
    try:
        with console_action("volume.snapshot_delete", snapshot_id, failed) as done:
            done.entry.detail = day2.delete_snapshot(engine.cloud, snapshot_id)
    finally:
        engine.cloud.close()
    if not done.failed:
        flash(f"Snapshot {done.entry.detail} deleted.", "success")
    return redirect(url_for("hosting.snapshots_page"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(show_value, "show_value")
    add_nav(app, "hosting.index", "Hosting", role="operator", order=80)
