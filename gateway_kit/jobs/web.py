"""The job pages: catalog, forms generated from input schemas, my jobs, a job, usage, admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import db
from ..errors import Conflict, NotFound, QuotaExceeded, ValidationError
from ..identity.access import current_user, login_required, role_required
from ..identity.models import Project, User
from ..web import add_home_panel, add_nav
from ..web.bodylimits import body_limit
from ..web.request import ID_MAX, digits
from . import accounting, service
from .api import usage_rows
from .apps import Application, registry
from .destinations import destinations
from .inputs import Upload, from_form, input_choices
from .models import Allocation, Job, LedgerEntry
from .states import TERMINAL, JobState

bp = Blueprint(
    "jobs", __name__, template_folder="templates", static_folder="static", static_url_path="/static/jobs"
)


def _user() -> User:
    user = current_user()
    assert user is not None
    return user


def _application(app_id: str) -> Application:
    application = registry().get(app_id)
    if application is None:
        raise NotFound("No such application.")
    return application


# Pages are named as the API is (/applications, /api/v1/applications); /apps, their earlier name,
# keeps serving them for bookmarks and scripts (url_for builds the first rule: /applications).
@bp.get("/apps")
@bp.get("/applications")
def catalog() -> ResponseReturnValue:
    # Public: visitors see what the gateway offers; running an application asks them to log in.
    return render_template("jobs/catalog.html", applications=registry().all())


def _form_submission(application: Application) -> service.Submission:
    """Read the generated form: strings converted to the input types, files as uploads."""
    inputs: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    for inp in application.inputs:
        if inp.type == "file":
            fs = request.files.get(inp.name)
            if fs is not None and fs.filename:
                uploads[inp.name] = Upload(filename=fs.filename, stream=fs.stream)
            continue
        value = from_form(inp, request.form.get(inp.name))
        if value is not None:
            inputs[inp.name] = value
    resources: dict[str, Any] = {}
    for key in service.RESOURCE_KEYS:
        text = request.form.get(f"resources.{key}", "").strip()
        if text:
            resources[key] = int(text) if text.lstrip("-").isdigit() else text
    return service.Submission(
        application=application.id,
        inputs=inputs,
        uploads=uploads,
        resources=resources,
        project=request.form.get("project") or None,
        name=request.form.get("name", "").strip(),
        webhook_url=request.form.get("webhook_url", "").strip(),
        notify_email=request.form.get("notify_email") == "on",
    )


def _render_form(
    application: Application,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    resubmit_of: Any = None,
) -> ResponseReturnValue:
    user = _user()
    projects = accounting.chargeable_projects(db.session, user, current_app.config["JOBS_COMMUNITY_PROJECT"])
    allocations = {
        a.project_id: a
        for a in db.session.scalars(
            select(Allocation).where(Allocation.project_id.in_([p.id for p in projects] or [-1]))
        )
    }
    choices = {
        inp.name: input_choices(current_app, db.session, user, inp.type)
        for inp in application.inputs
        if inp.type == "dataset"
    }
    destination = destinations().options(destinations().route(application))
    per_cpu, per_gpu = accounting.rates(destination)
    resources: dict[str, int] = {}
    for key, spec in application.resources.as_dict().items():
        text = str(values.get(f"resources.{key}", ""))
        resources[key] = int(text) if text.isdigit() else int(spec["default"])
    return render_template(
        "jobs/form.html",
        application=application,
        values=values,
        errors=errors,
        projects=projects,
        balances={p.name: (allocations[p.id].available if p.id in allocations else 0.0) for p in projects},
        choices=choices,
        rates={"cpu": per_cpu, "gpu": per_gpu},
        estimate=accounting.worst_case(destination, resources),
        smtp=bool(current_app.config["JOBS_SMTP_HOST"]),
        resubmit_of=resubmit_of,
    ), status


def _form_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.get("field", ""), e.get("message", ""))
    return out


def _values_from(sub: service.Submission) -> dict[str, Any]:
    return {
        **sub.inputs,
        **{f"resources.{k}": v for k, v in sub.resources.items()},
        "name": sub.name,
        "project": sub.project or "",
        "webhook_url": sub.webhook_url,
        "notify_email": sub.notify_email,
    }


@bp.route("/apps/<app_id>", methods=["GET", "POST"])
@bp.route("/applications/<app_id>", methods=["GET", "POST"])
@login_required
@body_limit("JOBS_MAX_UPLOAD_MB")
def submit_form(app_id: str) -> ResponseReturnValue:
    application = _application(app_id)
    if request.method == "GET":
        return _render_form(application, {}, {})
    sub = _form_submission(application)
    try:
        job, _ = service.submit(db.session, _user(), sub)
    except ValidationError as exc:
        return _render_form(application, _values_from(sub), _form_errors(exc), 422)
    except QuotaExceeded as exc:
        return _render_form(application, _values_from(sub), {"": exc.user_message}, 403)
    flash(f"Job {job.id} submitted.", "success transient")  # job.js drops it once it runs
    return redirect(url_for("jobs.job_page", job_id=job.id))


def _day(text: str) -> datetime | None:
    """A ``YYYY-MM-DD`` filter as midnight UTC (None when empty or not a date)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


@bp.get("/jobs")
@login_required
def my_jobs() -> ResponseReturnValue:
    args = request.args
    state = args.get("state") or None
    if state is not None and state not in JobState.__members__:
        state = None
    apps = registry().all()
    app_id = args.get("app") or None
    if app_id is not None and registry().get(app_id) is None:
        app_id = None
    order = args.get("sort", "newest")
    if order not in service.JOB_ORDERS:
        order = "newest"
    since, until = _day(args.get("from", "")), _day(args.get("to", ""))
    filters = {
        "state": state or "",
        "app": app_id or "",
        "q": args.get("q", "").strip()[:200],
        "from": args.get("from", "") if since else "",
        "to": args.get("to", "") if until else "",
        "sort": order,
    }
    cursor = args.get("cursor", "")
    position = digits(cursor, ID_MAX)
    keyset = order == "newest"
    jobs, nxt = service.list_jobs(
        db.session,
        _user(),
        state=state,
        application=app_id,
        name=filters["q"],
        since=since,
        until=until + timedelta(days=1) if until else None,
        order=order,
        cursor=position if keyset else None,
        offset=0 if keyset else (position or 0),
        limit=25,
    )
    return render_template(
        "jobs/list.html",
        jobs=jobs,
        next_cursor=nxt,
        state=state,
        states=[s.value for s in JobState],
        applications=apps,
        titles=_titles(),
        filters=filters,
        orders=list(service.JOB_ORDERS),
        terminal={s.value for s in TERMINAL},
    )


@bp.post("/jobs/cancel")
@login_required
def bulk_cancel() -> ResponseReturnValue:
    """Cancel the checked jobs of the list (the user's own; others' ids answer as unknown), or
    compare them (the same form's other button)."""
    user = _user()
    if request.form.get("action") == "compare":
        ids = [t for t in request.form.getlist("job")[:100] if t.isdigit() and len(t) <= 18]
        return redirect(url_for("job_files.compare", job=ids))
    done, skipped = [], 0
    for text in request.form.getlist("job")[:100]:
        if not text.isdigit() or len(text) > 18:
            continue
        try:
            job = service.get_job(db.session, user, int(text))
            if job.user_id != user.id:
                raise NotFound("No such job.")
            service.cancel(db.session, user, job)
            done.append(job.id)
        except (NotFound, Conflict):
            skipped += 1
    if done:
        listed = ", ".join(map(str, done))
        flash(f"Cancel requested for job{'s' if len(done) > 1 else ''} {listed}.", "success")
    if skipped:
        flash(f"{skipped} job(s) could not be canceled (already ended or not yours).", "error")
    elif not done:
        flash("Check the jobs to cancel first.", "error")
    return redirect(url_for("jobs.my_jobs"))


@bp.get("/jobs/<int:job_id>")
@login_required
def job_page(job_id: int) -> ResponseReturnValue:
    job = service.get_readable_job(db.session, _user(), job_id)
    return render_template(
        "jobs/job.html",
        job=job,
        events=service.events(db.session, job),
        outputs=service.outputs(job),
        terminal=JobState(job.state) in TERMINAL,
        application=registry().get(job.app_id),
        projects=service.project_names(db.session, {job.project_id} if job.project_id else set()),
    )


@bp.post("/jobs/<int:job_id>/share")
@login_required
def share(job_id: int) -> ResponseReturnValue:
    """Share the job's results with its project's members, or stop (``shared`` = ``on`` or not)."""
    user = _user()
    job = service.get_job(db.session, user, job_id)
    shared = request.form.get("shared") == "on"
    try:
        service.set_shared(db.session, user, job, shared)
    except Conflict as exc:
        flash(exc.user_message, "error")
    else:
        flash("Shared with the project's members." if shared else "No longer shared.", "success")
    return redirect(url_for("jobs.job_page", job_id=job_id))


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int) -> ResponseReturnValue:
    job = service.get_job(db.session, _user(), job_id)
    try:
        service.cancel(db.session, _user(), job)
        flash(f"Job {job.id}: cancel requested.", "success")
    except Conflict as exc:
        flash(exc.user_message, "error")
    return redirect(url_for("jobs.job_page", job_id=job_id))


@bp.route("/jobs/<int:job_id>/resubmit", methods=["GET", "POST"])
@login_required
def resubmit(job_id: int) -> ResponseReturnValue:
    user = _user()
    job = service.get_job(db.session, user, job_id)
    if job.user_id != user.id:
        raise NotFound("No such job.")
    application = _application(job.app_id)
    if request.method == "GET":
        return _render_form(application, _values_from(service.resubmission(job)), {}, resubmit_of=job)
    sub = _form_submission(application)
    try:
        new = service.submit_resubmission(db.session, user, job, sub)
    except ValidationError as exc:
        return _render_form(application, _values_from(sub), _form_errors(exc), 422, resubmit_of=job)
    except (QuotaExceeded, Conflict) as exc:
        return _render_form(
            application, _values_from(sub), {"": exc.user_message}, exc.status, resubmit_of=job
        )
    flash(f"Job {new.id} submitted (again with the inputs of job {job.id}).", "success transient")
    return redirect(url_for("jobs.job_page", job_id=new.id))


@bp.get("/usage")
@login_required
def usage() -> ResponseReturnValue:
    return render_template("jobs/usage.html", rows=usage_rows(_user()))


@bp.route("/admin/allocations", methods=["GET", "POST"])
@role_required("admin")
def admin_allocations() -> ResponseReturnValue:
    session = db.session
    if request.method == "POST":
        project = session.scalars(
            select(Project).where(Project.name == request.form.get("project", ""))
        ).first()
        if project is None:
            abort(404)
        try:
            amount = float(request.form.get("amount", ""))
            if not amount >= 0 or amount > 1e12:
                raise ValueError
        except ValueError:
            flash("The amount must be a number of SUs, 0 or more.", "error")
            return redirect(url_for("jobs.admin_allocations"))
        top_up = request.form.get("action") == "topup"
        accounting.set_allocation(
            session, project, amount, _user(), top_up=top_up, note=request.form.get("note", "")[:500]
        )
        session.commit()
        flash(
            f"Project {project.name}: {'added' if top_up else 'set to'} {accounting.fmt(amount)} SUs.",
            "success",
        )
        return redirect(url_for("jobs.admin_allocations"))
    projects = list(session.scalars(select(Project).order_by(Project.name)))
    allocs = {a.project_id: a for a in session.scalars(select(Allocation))}
    ledger = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(50)))
    names = {p.id: p.name for p in projects}
    return render_template(
        "jobs/admin_allocations.html", projects=projects, allocs=allocs, ledger=ledger, names=names
    )


# -- the home page's panels ---------------------------------------------------------------------


def _titles() -> dict[str, str]:
    return {a.id: a.title for a in registry().all(None)}


def _jobs_panel(user: User) -> dict[str, Any]:
    recent, _ = service.list_jobs(db.session, user, limit=6)
    active = list(
        db.session.scalars(
            select(Job)
            .where(Job.user_id == user.id, Job.state.not_in([s.value for s in TERMINAL]))
            .order_by(Job.id.desc())
            .limit(10)
        )
    )
    return {"recent": recent, "active": active, "titles": _titles()}


def _allocation_panel(user: User) -> dict[str, Any]:
    # The projects this user may charge (the usage page shows an administrator every project).
    mine = {
        p.name
        for p in accounting.chargeable_projects(
            db.session, user, current_app.config["JOBS_COMMUNITY_PROJECT"]
        )
    }
    return {"rows": [r for r in usage_rows(user) if r["project"] in mine]}


def _apps_panel(user: User | None) -> dict[str, Any]:
    return {"applications": registry().all()}


def duration(start: datetime, end: datetime) -> str:
    """``end - start`` as people read it: ``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _su_filters(app: Flask) -> None:
    app.add_template_global(duration, "duration")
    app.add_template_filter(accounting.fmt, "su")
    app.add_template_global(accounting.fill_percent, "su_fill")
    app.add_template_global(accounting.used_percent, "su_percent")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    _su_filters(app)
    add_home_panel(app, "jobs/_home_jobs.html", _jobs_panel, order=10)
    add_home_panel(app, "jobs/_home_allocation.html", _allocation_panel, order=20)
    add_home_panel(app, "jobs/_home_apps.html", _apps_panel, order=40, visitors=True)
    add_nav(app, "jobs.catalog", "Applications", role=None, order=20)
    add_nav(app, "jobs.my_jobs", "My jobs", role="user", order=21)
    add_nav(app, "jobs.usage", "Usage", role="user", order=22)
    add_nav(app, "jobs.admin_allocations", "Allocations", role="admin", order=80)
    add_nav(app, "openapi.docs_page", "API", role=None, order=90)
