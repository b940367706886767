"""Workshops: an instructor books N seats of one interactive application for a time window; each
student who joins with the code gets a session in one click, charged to the instructor's project.

An instructor is a *manager* of the project that pays (a project permission, see
:class:`~gateway_kit.identity.models.ProjectMember`) or an administrator. Others see no workshop
(404). The join code is random (72 bits) and is the invitation: anyone signed in who has it may
take a seat while seats are left, from ``SESSIONS_WORKSHOP_EARLY_JOIN`` seconds before the start
until the end. A seat's session lasts at most until the workshop ends.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import utc_iso as iso
from ..errors import Conflict, NotFound, ValidationError
from ..identity.models import Project, ProjectMember, User
from ..jobs.inputs import Errors
from ..jobs.reservations import Reservation
from ..jobs.service import check_resources
from . import service
from .models import InteractiveSession, Workshop, WorkshopSeat, aware, utcnow
from .states import TERMINAL


def _when(raw: Any, field: str, errors: Errors) -> datetime | None:
    if not isinstance(raw, str):
        errors.append({"field": field, "message": "is required: an ISO 8601 time with a zone"})
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        errors.append({"field": field, "message": f"{raw!r} is not an ISO 8601 time"})
        return None
    if value.tzinfo is None:
        errors.append({"field": field, "message": "needs a time zone, e.g. 2026-12-04T14:00:00Z"})
        return None
    return value


def may_teach(session: Session, user: User, project: Project) -> bool:
    if user.role == "admin":
        return True
    return (
        session.scalars(
            select(ProjectMember.id).where(
                ProjectMember.project_id == project.id,
                ProjectMember.user_id == user.id,
                ProjectMember.role == "manager",
            )
        ).first()
        is not None
    )


def managed_projects(session: Session, user: User) -> list[Project]:
    """The projects ``user`` may hold workshops for (every project for an administrator)."""
    query = select(Project).order_by(Project.name)
    if user.role != "admin":
        query = query.join(ProjectMember).where(
            ProjectMember.user_id == user.id, ProjectMember.role == "manager"
        )
    return list(session.scalars(query))


def taught_by(session: Session, user: User) -> list[Workshop]:
    return list(
        session.scalars(
            select(Workshop).where(Workshop.instructor_id == user.id).order_by(Workshop.starts_at.desc())
        )
    )


def create(session: Session, instructor: User, body: Any) -> Workshop:
    if not isinstance(body, dict):
        raise ValidationError([{"field": "", "message": "send a JSON object"}])
    errors: Errors = []
    known = {"title", "application", "resources", "seats", "starts_at", "ends_at", "project"}
    errors += [
        {"field": k, "message": f"is not known (expected {', '.join(sorted(known))})"}
        for k in body
        if k not in known
    ]
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title) <= 200:
        errors.append({"field": "title", "message": "is required (at most 200 characters)"})
    seats = body.get("seats")
    limit = int(current_app.config["SESSIONS_WORKSHOP_MAX_SEATS"])
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= limit:
        errors.append({"field": "seats", "message": f"must be a whole number from 1 to {limit}"})
    starts, ends = (
        _when(body.get("starts_at"), "starts_at", errors),
        _when(body.get("ends_at"), "ends_at", errors),
    )
    if starts and ends and ends <= starts:
        errors.append({"field": "ends_at", "message": "must be after starts_at"})
    project = session.scalars(select(Project).where(Project.name == body.get("project"))).first()
    if project is None or not may_teach(session, instructor, project):
        errors.append(
            {"field": "project", "message": "must name a project you manage (it pays for the seats)"}
        )
    application = service.interactive_application(str(body.get("application", "")))
    raw = body.get("resources", {})
    resources, res_errors = check_resources(application, raw if isinstance(raw, dict) else {})
    errors += res_errors
    if errors:
        raise ValidationError(errors)
    assert starts and ends and project is not None and isinstance(seats, int) and isinstance(title, str)
    service.plan(application, resources)  # the destination must run sessions
    workshop = Workshop(
        title=title,
        instructor_id=instructor.id,
        project_id=project.id,
        app_id=application.id,
        resources=resources,
        seats=seats,
        starts_at=starts,
        ends_at=ends,
        join_code=secrets.token_urlsafe(9),
    )
    session.add(workshop)
    session.commit()
    return workshop


def get_for_instructor(session: Session, user: User, workshop_id: int) -> Workshop:
    workshop = session.get(Workshop, workshop_id)
    if workshop is None or (workshop.instructor_id != user.id and user.role != "admin"):
        raise NotFound("No such workshop.")
    return workshop


def join(session: Session, user: User, code: Any) -> tuple[Workshop, InteractiveSession]:
    """Take a seat (or find one's seat) and get a running session: the one-click join.

    A ``code`` that is no code at all (missing, empty, a list, a number) is the caller's mistake
    and answers 422 naming the field; a well-formed code of no workshop answers 404.
    """
    if not isinstance(code, str) or not code:
        raise ValidationError(
            [{"field": "code", "message": "is required: the workshop's join code (a string)"}]
        )
    workshop = session.scalars(select(Workshop).where(Workshop.join_code == code)).first()
    if workshop is None:
        raise NotFound("No workshop has this join code.")
    now = utcnow()
    early = timedelta(seconds=float(current_app.config["SESSIONS_WORKSHOP_EARLY_JOIN"]))
    if now < aware(workshop.starts_at) - early:
        raise Conflict(f"The workshop {workshop.title!r} opens at {iso(workshop.starts_at)}.")
    if now >= aware(workshop.ends_at):
        raise Conflict(f"The workshop {workshop.title!r} has ended.")
    seat = session.scalars(
        select(WorkshopSeat).where(WorkshopSeat.workshop_id == workshop.id, WorkshopSeat.user_id == user.id)
    ).first()
    if seat is not None and seat.session_id is not None:
        current = session.get(InteractiveSession, seat.session_id)
        if current is not None and current.session_state not in TERMINAL:
            return workshop, current
    if seat is None:
        taken = session.scalar(
            select(func.count(WorkshopSeat.id)).where(WorkshopSeat.workshop_id == workshop.id)
        )
        if int(taken or 0) >= workshop.seats:
            raise Conflict(f"The workshop {workshop.title!r} is full ({workshop.seats} seats).")
        seat = WorkshopSeat(workshop_id=workshop.id, user_id=user.id)
        session.add(seat)
        try:
            session.flush()
        except IntegrityError as exc:  # the same student joined twice at once
            session.rollback()
            raise Conflict("You are joining this workshop already; reload the page.") from exc
    project = session.get(Project, workshop.project_id)
    assert project is not None
    left = int((aware(workshop.ends_at) - now).total_seconds())
    resources = {**workshop.resources, "walltime": max(1, min(int(workshop.resources["walltime"]), left))}
    row = service.launch(
        session,
        user,
        service.Launch(application=workshop.app_id, resources=resources),
        paid_by=project,
        note=f" in workshop {workshop.id}",
    )
    seat.session_id = row.id
    session.commit()
    return workshop, row


def seats(session: Session, workshop: Workshop) -> list[dict[str, Any]]:
    rows = session.execute(
        select(WorkshopSeat, User.username, InteractiveSession)
        .join(User, User.id == WorkshopSeat.user_id)
        .outerjoin(InteractiveSession, InteractiveSession.id == WorkshopSeat.session_id)
        .where(WorkshopSeat.workshop_id == workshop.id)
        .order_by(WorkshopSeat.id)
    ).all()
    out = []
    for seat, username, row in rows:
        out.append(
            {
                "username": username,
                "joined_at": iso(seat.joined_at),
                "session_id": row.id if row else None,
                "state": row.state if row else None,
                "connected": bool(row and row.state == "ready"),
                "last_activity": iso(row.last_activity) if row else None,
                "su": (row.su_charged if row.su_charged is not None else 0.0) if row else 0.0,
            }
        )
    return out


def reservations(session: Session, destination: str, now: datetime) -> list[Reservation]:
    """The workshops on ``destination`` that have not ended, with their seats not in use (a
    :data:`gateway_kit.jobs.reservations.Source`): the burst pool warms instances for them."""
    from ..jobs.apps import registry
    from ..jobs.destinations import destinations

    out = []
    for workshop in session.scalars(select(Workshop).where(Workshop.ends_at > now)):
        application = registry().get(workshop.app_id)
        if application is None or destinations().route(application) != destination:
            continue
        in_use = session.scalar(
            select(func.count(WorkshopSeat.id))
            .join(InteractiveSession, InteractiveSession.id == WorkshopSeat.session_id)
            .where(
                WorkshopSeat.workshop_id == workshop.id,
                InteractiveSession.state.not_in([s.value for s in TERMINAL]),
            )
        )
        res = workshop.resources
        out.append(
            Reservation(
                key=f"workshop-{workshop.id}",
                destination=destination,
                starts=aware(workshop.starts_at),
                ends=aware(workshop.ends_at),
                cpus=int(res["cpus"]),
                memory_mb=int(res["memory_mb"]),
                gpus=int(res["gpus"]),
                pending=max(workshop.seats - int(in_use or 0), 0),
                seats=workshop.seats,
            )
        )
    return out


def to_json(session: Session, workshop: Workshop) -> dict[str, Any]:
    taken = seats(session, workshop)
    return {
        "id": workshop.id,
        "title": workshop.title,
        "application": workshop.app_id,
        "resources": workshop.resources,
        "seats": workshop.seats,
        "seats_taken": len(taken),
        "starts_at": iso(workshop.starts_at),
        "ends_at": iso(workshop.ends_at),
        "join_code": workshop.join_code,
        "connected": sum(1 for s in taken if s["connected"]),
        "su_spent": round(sum(s["su"] for s in taken), 6),
        "students": taken,
    }
