"""The session pages: interactive applications with a launch form, and "My sessions"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..db import db
from ..errors import Conflict, GatewayError, NotFound, QuotaExceeded, ValidationError
from ..identity.access import current_user, login_required
from ..identity.models import User
from ..jobs import accounting
from ..jobs.apps import registry
from ..jobs.inputs import from_form
from ..jobs.service import RESOURCE_KEYS
from ..web import add_home_panel, add_nav
from ..web.request import digits
from . import service, workshops
from .api import connect_url
from .states import TERMINAL

bp = Blueprint(
    "sessions",
    __name__,
    url_prefix="/interactive",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/sessions",
)


def _user() -> User:
    user = current_user()
    assert user is not None
    return user


def _projects(user: User) -> list[str]:
    from flask import current_app

    return [
        p.name
        for p in accounting.chargeable_projects(
            db.session, user, current_app.config["JOBS_COMMUNITY_PROJECT"]
        )
    ]


@bp.get("/")
@login_required
def my_sessions() -> ResponseReturnValue:
    user = _user()
    rows = service.list_sessions(db.session, user)
    return render_template(
        "sessions/list.html",
        sessions=rows,
        shares={r.id: service.shared_with(db.session, r) for r in rows if r.session_state not in TERMINAL},
        shared_with_me=service.shared_with_me(db.session, user),
        applications=registry().all("interactive"),
        connect_url=connect_url,
        time_left=service.time_left,
        fmt=accounting.fmt,
    )


def _estimates(app_id: str) -> list[dict[str, Any]]:
    """The expected charge of a launch with the defaults on each destination it may pick."""
    application = service.interactive_application(app_id)
    out = []
    for dest in service.session_destinations(application):
        try:
            out.append(service.estimate(service.Launch(application=app_id, destination=dest)))
        except GatewayError:
            continue
    return out


@bp.get("/launch/<app_id>")
@login_required
def launch_form(app_id: str) -> ResponseReturnValue:
    application = service.interactive_application(app_id)
    return render_template(
        "sessions/launch.html",
        application=application,
        estimates=_estimates(app_id),
        projects=_projects(_user()),
        errors=[],
        form={},
    )


@bp.post("/launch/<app_id>")
@login_required
def launch(app_id: str) -> ResponseReturnValue:
    user = _user()
    application = service.interactive_application(app_id)
    inputs: dict[str, Any] = {}
    for inp in application.inputs:
        value = from_form(inp, request.form.get(inp.name))
        if value is not None:
            inputs[inp.name] = value
    resources: dict[str, Any] = {}
    for key in RESOURCE_KEYS:
        text = request.form.get(f"resources.{key}", "").strip()
        if key == "walltime" and request.form.get("hours", "").strip():
            text = request.form["hours"].strip()
            try:
                resources[key] = round(float(text) * 3600)
            except ValueError:
                resources[key] = text
            continue
        if text:
            resources[key] = int(text) if text.lstrip("-").isdigit() else text
    req = service.Launch(
        application=app_id,
        inputs=inputs,
        resources=resources,
        project=request.form.get("project") or None,
        destination=request.form.get("destination") or None,
    )
    try:
        row = service.launch(db.session, user, req)
    except (ValidationError, QuotaExceeded, Conflict) as exc:
        errors = getattr(exc, "errors", None) or [{"field": "", "message": exc.user_message}]
        return (
            render_template(
                "sessions/launch.html",
                application=application,
                estimates=_estimates(app_id),
                projects=_projects(user),
                errors=errors,
                form=request.form,
            ),
            exc.status,
        )
    flash(f"Session {row.id} is starting; Connect appears when it is ready.")
    return redirect(url_for("sessions.my_sessions") + f"#session-{row.id}")


@bp.post("/<int:session_id>/end")
@login_required
def end(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.end(db.session, user, service.owned(db.session, user, session_id))
    flash(f"Session {row.id} is ending.")
    return redirect(url_for("sessions.my_sessions"))


@bp.post("/<int:session_id>/extend")
@login_required
def extend(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.owned(db.session, user, session_id)
    text = request.form.get("minutes", "").strip()
    minutes = digits(text)
    seconds: Any = minutes * 60 if minutes is not None else text
    try:
        service.extend(db.session, user, row, seconds)
        flash(f"Session {row.id} extended by {text} minutes.")
    except (ValidationError, QuotaExceeded, Conflict) as exc:
        errors = getattr(exc, "errors", None) or [{"message": exc.user_message}]
        flash("; ".join(e["message"] for e in errors), "error")
    return redirect(url_for("sessions.my_sessions"))


@bp.post("/<int:session_id>/share")
@login_required
def share(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.owned(db.session, user, session_id)
    try:
        other = service.share(db.session, user, row, request.form.get("username", "").strip())
        flash(f"Session {row.id} is shared with {other.username}: they may connect to it.")
    except ValidationError as exc:
        flash("; ".join(e["message"] for e in exc.errors), "error")
    return redirect(url_for("sessions.my_sessions") + f"#session-{row.id}")


@bp.post("/<int:session_id>/unshare")
@login_required
def unshare(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.owned(db.session, user, session_id)
    username = request.form.get("username", "")
    try:
        service.unshare(db.session, row, username)
        flash(f"Session {row.id} is no longer shared with {username}.")
    except NotFound as exc:
        flash(exc.user_message, "error")
    return redirect(url_for("sessions.my_sessions") + f"#session-{row.id}")


@bp.get("/join/<code>")
@login_required
def join_page(code: str) -> ResponseReturnValue:
    from sqlalchemy import select

    from .models import Workshop

    workshop = db.session.scalars(select(Workshop).where(Workshop.join_code == code)).first()
    if workshop is None:
        raise NotFound("No workshop has this join code.")
    return render_template("sessions/join.html", workshop=workshop, code=code)


@bp.post("/join/<code>")
@login_required
def join(code: str) -> ResponseReturnValue:
    try:
        _workshop, row = workshops.join(db.session, _user(), code)
    except Conflict as exc:
        flash(exc.user_message, "error")
        return redirect(url_for("sessions.join_page", code=code))
    flash(f"Your workshop session {row.id} is starting; Connect appears when it is ready.")
    return redirect(url_for("sessions.my_sessions") + f"#session-{row.id}")


@bp.get("/workshops")
@login_required
def workshops_page() -> ResponseReturnValue:
    user = _user()
    return render_template(
        "sessions/workshops.html",
        workshops=workshops.taught_by(db.session, user),
        projects=workshops.managed_projects(db.session, user),
        applications=registry().all("interactive"),
        errors=[],
        form={},
    )


@bp.post("/workshops")
@login_required
def create_workshop() -> ResponseReturnValue:
    from datetime import UTC, datetime, timedelta

    user = _user()
    form = request.form
    body: dict[str, Any] = {
        "title": form.get("title", "").strip(),
        "application": form.get("application", ""),
        "project": form.get("project", ""),
    }
    errors: list[dict[str, str]] = []
    try:
        body["seats"] = int(form.get("seats", ""))
    except ValueError:
        errors.append({"field": "seats", "message": "must be a whole number"})
    try:  # a datetime-local field, read as UTC
        starts = datetime.fromisoformat(form.get("starts_at", "")).replace(tzinfo=UTC)
        hours = float(form.get("hours", ""))
        body["starts_at"] = starts.isoformat()
        body["ends_at"] = (starts + timedelta(hours=hours)).isoformat()
        body["resources"] = {"walltime": max(60, int(hours * 3600))}
    except ValueError:
        errors.append({"field": "starts_at", "message": "needs a start time and a duration in hours"})
    try:
        if errors:
            raise ValidationError(errors)
        workshop = workshops.create(db.session, user, body)
    except ValidationError as exc:
        return (
            render_template(
                "sessions/workshops.html",
                workshops=workshops.taught_by(db.session, user),
                projects=workshops.managed_projects(db.session, user),
                applications=registry().all("interactive"),
                errors=exc.errors,
                form=form,
            ),
            exc.status,
        )
    flash(f"Workshop {workshop.title!r} created; share its invitation link with the students.")
    return redirect(url_for("sessions.workshop_page", workshop_id=workshop.id))


@bp.get("/workshops/<int:workshop_id>")
@login_required
def workshop_page(workshop_id: int) -> ResponseReturnValue:
    workshop = workshops.get_for_instructor(db.session, _user(), workshop_id)
    return render_template(
        "sessions/workshop.html",
        workshop=workshop,
        data=workshops.to_json(db.session, workshop),
        join_url=url_for("sessions.join_page", code=workshop.join_code, _external=True),
    )


def _sessions_panel(user: User) -> dict[str, Any]:
    return {
        "sessions": service.list_sessions(db.session, user, include_ended=False)[:6],
        "titles": {a.id: a.title for a in registry().all("interactive")},
        "connect_url": connect_url,
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_panel(app, "sessions/_home_sessions.html", _sessions_panel, order=15)
    add_nav(app, "sessions.my_sessions", "Sessions", role="user", order=21)
