"""Launching, ending, extending and sharing sessions: the rules every page and API call goes through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import inbox
from ..errors import Conflict, NotFound, ValidationError
from ..identity.models import Project, User
from ..jobs import accounting
from ..jobs.apps import Application, registry
from ..jobs.destinations import destinations
from ..jobs.inputs import Errors, validate_values
from ..jobs.service import charge_project, check_resources
from ..jobs.wakeup import announce, wake_local
from .launchers import installed_launchers, launcher_for
from .models import InteractiveSession, SessionEvent, SessionShare, aware, utcnow
from .states import LIVE, TERMINAL, SessionState


@dataclass
class Launch:
    """A launch request, as the page or the API read it."""

    application: str
    inputs: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    project: str | None = None
    #: One of :func:`session_destinations` (None: where the routing rules send the application).
    destination: str | None = None


def parse_launch(body: Any) -> Launch:
    if not isinstance(body, Mapping):
        raise ValidationError([{"field": "", "message": "send a JSON object"}])
    errors: Errors = []
    known = {"application", "inputs", "resources", "project", "destination"}
    for key in body:
        if key not in known:
            errors.append({"field": key, "message": f"is not known (expected {', '.join(sorted(known))})"})
    app_id = body.get("application")
    if not isinstance(app_id, str) or not app_id:
        errors.append({"field": "application", "message": "is required: an interactive application id"})
    for key in ("inputs", "resources"):
        if not isinstance(body.get(key, {}), Mapping):
            errors.append({"field": key, "message": "must be an object"})
    project = body.get("project")
    if project is not None and not isinstance(project, str):
        errors.append({"field": "project", "message": "must be a project name"})
    destination = body.get("destination")
    if destination is not None and not isinstance(destination, str):
        errors.append({"field": "destination", "message": "must be a destination name"})
    if errors:
        raise ValidationError(errors)
    return Launch(
        application=str(app_id),
        inputs=dict(body.get("inputs", {})),
        resources=dict(body.get("resources", {})),
        project=project,
        destination=destination,
    )


def interactive_application(app_id: str) -> Application:
    application = registry().get(app_id)
    if application is None or application.kind != "interactive":
        names = ", ".join(a.id for a in registry().all("interactive")) or "none"
        raise ValidationError(
            [
                {
                    "field": "application",
                    "message": f"no interactive application {app_id!r} (installed: {names})",
                }
            ]
        )
    return application


def session_destinations(application: Application) -> list[str]:
    """The destinations a user may pick for ``application``'s sessions: those it may run on
    whose executor has a launcher; the routing rules' choice first."""
    table = destinations()
    names = [table.route(application)]
    names += [d for d in (application.destinations or list(table)) if d in table and d not in names]
    launchers = installed_launchers()
    return [d for d in names if str(table.options(d).get("executor", "local")) in launchers]


def plan(
    application: Application, raw_resources: Mapping[str, Any], destination: str | None = None
) -> tuple[str, dict[str, int], float]:
    """Where a launch would run, its resources and the most SUs it may cost (its full duration)."""
    resources, errors = check_resources(application, raw_resources)
    if destination is not None and destination not in (allowed := session_destinations(application)):
        errors.append(
            {
                "field": "destination",
                "message": f"{application.id!r} cannot run sessions on {destination!r} "
                f"(it can on: {', '.join(allowed) or 'none'})",
            }
        )
    if errors:
        raise ValidationError(errors)
    dest = destination or destinations().route(application)
    launcher_for(destinations().options(dest), dest)  # refuses executors without session support
    return dest, resources, accounting.worst_case(destinations().options(dest), resources)


def estimate(launch: Launch) -> dict[str, Any]:
    application = interactive_application(launch.application)
    dest, resources, worst = plan(application, launch.resources, launch.destination)
    per_cpu, per_gpu = accounting.rates(destinations().options(dest))
    return {
        "application": application.id,
        "destination": dest,
        "resources": resources,
        "su_per_hour": round(resources["cpus"] * per_cpu + resources["gpus"] * per_gpu, 6),
        "su_estimate": worst,
        "max_walltime": int(application.resources.walltime.maximum),
    }


def idle_timeout(declared: float) -> float:
    """The application's idle timeout, within the site's cap (``SESSIONS_MAX_IDLE_TIMEOUT``)."""
    cap = float(current_app.config["SESSIONS_MAX_IDLE_TIMEOUT"])
    return min(declared, cap) if cap > 0 else declared


def live_count(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count(InteractiveSession.id)).where(
                InteractiveSession.user_id == user.id,
                InteractiveSession.state.in_([SessionState.QUEUED.value, *(s.value for s in LIVE)]),
            )
        )
        or 0
    )


def launch(
    session: Session, user: User, req: Launch, *, paid_by: Project | None = None, note: str = ""
) -> InteractiveSession:
    """Validate, reserve the SUs of the full duration and queue a session; commits.

    ``paid_by``: the project charged instead of one of ``user``'s (a workshop's seat).
    """
    application = interactive_application(req.application)
    assert application.interactive is not None
    values, errors = validate_values(application, req.inputs, {})
    resource_values, res_errors = check_resources(application, req.resources)
    project, project_errors = (
        (paid_by, []) if paid_by is not None else charge_project(session, user, req.project)
    )
    errors += res_errors + project_errors
    if errors:
        raise ValidationError(errors)
    dest, resources, worst = plan(application, resource_values, req.destination)
    limit = int(current_app.config["SESSIONS_MAX_PER_USER"])
    if live_count(session, user) >= limit:
        raise Conflict(f"You already have {limit} sessions running or starting; end one to launch another.")
    row = InteractiveSession(
        user_id=user.id,
        project_id=project.id if project else None,
        app_id=application.id,
        app_version=application.version,
        inputs=values,
        resources=resources,
        destination=dest,
        workdir="",
        state=SessionState.QUEUED.value,
        state_reason="",
        backend_host="",
        backend_port=0,
        backend_token="",
        end_requested=False,
        idle_timeout=idle_timeout(application.interactive.idle_timeout),
        su_reserved=worst,
    )
    try:
        session.add(row)
        session.flush()
        row.workdir = str(Path(current_app.config["SESSIONS_DIR"]) / f"session-{row.id}")
        if project is not None:
            accounting.reserve(session, project, worst)
        add_event(session, row, None, SessionState.QUEUED, f"launched by {user.username}{note}")
        announce(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    wake_local(current_app)
    return row


def add_event(
    session: Session,
    row: InteractiveSession,
    old: SessionState | None,
    new: SessionState | None,
    message: str,
) -> None:
    session.add(
        SessionEvent(
            session_id=row.id,
            from_state=old.value if old else None,
            to_state=new.value if new else None,
            message=message,
        )
    )


def get_session(session: Session, user: User, session_id: int) -> InteractiveSession:
    """The session if ``user`` owns it (operators and admins see every one), else 404."""
    row = session.get(InteractiveSession, session_id)
    if row is None or (row.user_id != user.id and user.role not in ("operator", "admin")):
        raise NotFound("No such session.")
    return row


def owned(session: Session, user: User, session_id: int) -> InteractiveSession:
    """The session if ``user`` owns it, else 404 (changing a session is for its owner only)."""
    row = session.get(InteractiveSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such session.")
    return row


def list_sessions(session: Session, user: User, *, include_ended: bool = True) -> list[InteractiveSession]:
    query = select(InteractiveSession).where(InteractiveSession.user_id == user.id)
    if not include_ended:
        query = query.where(InteractiveSession.state.not_in([s.value for s in TERMINAL]))
    return list(session.scalars(query.order_by(InteractiveSession.id.desc()).limit(200)))


def end(session: Session, user: User, row: InteractiveSession) -> InteractiveSession:
    """Ask for the session to end (the worker stops the server within a pass); idempotent."""
    state = row.session_state
    if state in TERMINAL or row.end_requested:
        return row
    row.end_requested = True
    row.updated_at = utcnow()
    if state is SessionState.QUEUED:  # nothing was started: end it here, charge nothing
        finish(session, row, SessionState.ENDED, f"ended by {user.username} before it started", 0.0)
    else:
        add_event(session, row, None, None, f"end requested by {user.username}")
        announce(session)
    session.commit()
    wake_local(current_app)
    return row


def finish(session: Session, row: InteractiveSession, new: SessionState, reason: str, charged: float) -> None:
    """Move ``row`` to a terminal state and settle its SUs (in the caller's transaction)."""
    old = row.session_state
    row.state = new.value
    row.state_reason = reason
    row.finished_at = utcnow()
    row.updated_at = row.finished_at
    row.su_charged = charged
    add_event(session, row, old, new, reason)
    inbox.notify(
        session,
        row.user_id,
        "session.ended",
        f"Session {row.id} ({row.app_id}) {new.value.lower()}: {reason}",
        "/interactive/",
    )
    if row.project_id is not None:
        accounting.settle_reservation(
            session,
            row.project_id,
            reserved=row.su_reserved,
            charged=charged,
            user_id=row.user_id,
            note=f"session {row.id} ({row.app_id}) on {row.destination}",
        )


def extend(session: Session, user: User, row: InteractiveSession, seconds: Any) -> InteractiveSession:
    """Add ``seconds`` to the session's duration, within the application's maximum and the allocation."""
    if row.session_state in TERMINAL or row.end_requested:
        raise Conflict(f"Session {row.id} is {row.state}; only a running session can be extended.")
    application = registry().get(row.app_id)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise ValidationError([{"field": "seconds", "message": "must be a whole number of seconds above 0"}])
    maximum = int(application.resources.walltime.maximum) if application else int(row.resources["walltime"])
    current = int(row.resources["walltime"])
    if current + seconds > maximum:
        raise ValidationError(
            [
                {
                    "field": "seconds",
                    "message": f"the session may last at most {maximum} s in all; it has {current} s, "
                    f"so at most {max(maximum - current, 0)} s more",
                }
            ]
        )
    more = accounting.cost(
        destinations().options(row.destination), row.resources["cpus"], row.resources["gpus"], seconds
    )
    if row.project_id is not None:
        project = session.get(Project, row.project_id)
        assert project is not None
        accounting.reserve(session, project, more)
    row.resources = {**row.resources, "walltime": current + seconds}
    row.su_reserved += more
    row.updated_at = utcnow()
    add_event(
        session,
        row,
        None,
        None,
        f"extended by {seconds} s by {user.username} (+{accounting.fmt(more)} SUs reserved)",
    )
    session.commit()
    return row


def time_left(row: InteractiveSession) -> float | None:
    """Seconds until the session's duration runs out (None before it starts)."""
    ends = row.ends_at
    if ends is None or row.session_state in TERMINAL:
        return None
    return max((ends - utcnow()).total_seconds(), 0.0)


def share(session: Session, owner: User, row: InteractiveSession, username: str) -> User:
    if not isinstance(username, str) or not username:
        raise ValidationError([{"field": "username", "message": "is required"}])
    other = session.scalars(select(User).where(User.username == username)).first()
    if other is None or other.disabled:
        raise ValidationError([{"field": "username", "message": f"no user {username!r}"}])
    if other.id == owner.id:
        raise ValidationError([{"field": "username", "message": "is the session's owner"}])
    exists = session.scalars(
        select(SessionShare).where(SessionShare.session_id == row.id, SessionShare.user_id == other.id)
    ).first()
    if exists is None:
        session.add(SessionShare(session_id=row.id, user_id=other.id))
        add_event(session, row, None, None, f"shared with {other.username}")
        session.commit()
    return other


def unshare(session: Session, row: InteractiveSession, username: str) -> None:
    other = session.scalars(select(User).where(User.username == username)).first()
    share_row = None
    if other is not None:
        share_row = session.scalars(
            select(SessionShare).where(SessionShare.session_id == row.id, SessionShare.user_id == other.id)
        ).first()
    if share_row is None:
        raise NotFound(f"Session {row.id} is not shared with {username!r}.")
    session.delete(share_row)
    add_event(session, row, None, None, f"no longer shared with {username}")
    session.commit()


def shared_with(session: Session, row: InteractiveSession) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .join(SessionShare, SessionShare.user_id == User.id)
            .where(SessionShare.session_id == row.id)
            .order_by(User.username)
        )
    )


def shared_with_me(session: Session, user: User) -> list[tuple[InteractiveSession, str]]:
    """Other people's sessions that are shared with ``user`` and not over, with their owner's name."""
    rows = session.execute(
        select(InteractiveSession, User.username)
        .join(SessionShare, SessionShare.session_id == InteractiveSession.id)
        .join(User, User.id == InteractiveSession.user_id)
        .where(
            SessionShare.user_id == user.id,
            InteractiveSession.state.not_in([s.value for s in TERMINAL]),
        )
        .order_by(InteractiveSession.id.desc())
        .limit(200)
    ).all()
    return [(row, owner) for row, owner in rows]


def may_connect(session: Session, user: User, row: InteractiveSession) -> bool:
    """Whether ``user`` reaches the session's server through the proxy: its owner and the people
    it is shared with. Not operators: an administrator has no business inside a user's notebook."""
    if row.user_id == user.id:
        return True
    return (
        session.scalars(
            select(SessionShare.id).where(SessionShare.session_id == row.id, SessionShare.user_id == user.id)
        ).first()
        is not None
    )


def idle_for(row: InteractiveSession) -> timedelta:
    since = row.last_activity or row.ready_at or row.started_at or row.created_at
    return utcnow() - aware(since)
