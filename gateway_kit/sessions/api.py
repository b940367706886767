"""The sessions REST API under ``/api/v1/sessions`` (same scopes as jobs: a session is a kind of job)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..api.openapi import add_schema, add_tag, document, ref
from ..db import db
from ..errors import ValidationError
from ..identity.access import api_auth, current_user
from ..identity.models import PROJECT_JSON_SCHEMA, User
from ..jobs.apps import registry
from . import service, workshops
from .models import InteractiveSession

bp = Blueprint("sessions_api", __name__, url_prefix="/api/v1/sessions")


def _user() -> User:
    user = current_user()
    assert user is not None  # api_auth ran
    return user


def connect_url(row: InteractiveSession) -> str:
    """Where a browser reaches the session: the proxy's base URL (or this origin) + /sessions/<id>/."""
    return f"{current_app.config['SESSIONS_PROXY_URL'].rstrip('/')}/sessions/{row.id}/"


def session_json(row: InteractiveSession) -> dict[str, Any]:
    data = row.to_json()
    data["time_left"] = service.time_left(row)
    data["links"] = {
        "self": url_for("sessions_api.show_session", session_id=row.id),
        "events": url_for("sessions_api.session_events", session_id=row.id),
        "page": url_for("sessions.my_sessions") + f"#session-{row.id}",
    }
    if row.state == "ready":
        data["links"]["connect"] = connect_url(row)
    return data


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(
            [{"field": "", "message": "send a JSON object (Content-Type: application/json)"}]
        )
    return body


@bp.get("/applications")
@document(
    summary="List interactive applications",
    tags=["sessions"],
    scopes=["jobs:read"],
    responses={
        "200": {
            "type": "object",
            "properties": {"applications": {"type": "array", "items": ref("Application")}},
        }
    },
)
@api_auth("jobs:read")
def list_applications() -> ResponseReturnValue:
    return jsonify({"applications": [a.to_json() for a in registry().all("interactive")]})


@bp.get("")
@document(
    summary="List my sessions",
    tags=["sessions"],
    scopes=["jobs:read"],
    responses={
        "200": {"type": "object", "properties": {"sessions": {"type": "array", "items": ref("Session")}}}
    },
)
@api_auth("jobs:read")
def list_sessions() -> ResponseReturnValue:
    rows = service.list_sessions(db.session, _user())
    return jsonify({"sessions": [session_json(r) for r in rows]})


@bp.post("/estimate")
@document(
    summary="The SUs a session would reserve (its full duration), before launching it",
    tags=["sessions"],
    scopes=["jobs:read"],
    request=ref("SessionLaunch"),
    responses={"200": ref("SessionEstimate")},
)
@api_auth("jobs:read")
def estimate() -> ResponseReturnValue:
    return jsonify(service.estimate(service.parse_launch(_body())))


@bp.post("")
@document(
    summary="Launch a session",
    description="Reserves the SUs of the full duration on the project's allocation; the worker starts "
    "the server. Poll the session until its state is `ready`, then open `links.connect`.",
    tags=["sessions"],
    scopes=["jobs:write"],
    request=ref("SessionLaunch"),
    responses={"201": ref("Session")},
)
@api_auth("jobs:write")
def launch() -> ResponseReturnValue:
    row = service.launch(db.session, _user(), service.parse_launch(_body()))
    response = jsonify(session_json(row))
    response.status_code = 201
    response.headers["Location"] = url_for("sessions_api.show_session", session_id=row.id)
    return response


@bp.get("/<int:session_id>")
@document(
    summary="Show a session", tags=["sessions"], scopes=["jobs:read"], responses={"200": ref("Session")}
)
@api_auth("jobs:read")
def show_session(session_id: int) -> ResponseReturnValue:
    row = service.get_session(db.session, _user(), session_id)
    data = session_json(row)
    data["shared_with"] = service.shared_with(db.session, row)
    return jsonify(data)


@bp.get("/<int:session_id>/events")
@document(
    summary="A session's events",
    tags=["sessions"],
    scopes=["jobs:read"],
    responses={
        "200": {"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object"}}}}
    },
)
@api_auth("jobs:read")
def session_events(session_id: int) -> ResponseReturnValue:
    from sqlalchemy import select

    from .models import SessionEvent

    row = service.get_session(db.session, _user(), session_id)
    events = db.session.scalars(
        select(SessionEvent).where(SessionEvent.session_id == row.id).order_by(SessionEvent.id)
    )
    return jsonify({"events": [e.to_json() for e in events]})


@bp.post("/<int:session_id>/extend")
@document(
    summary="Extend a session within its application's maximum and the allocation",
    tags=["sessions"],
    scopes=["jobs:write"],
    request={
        "type": "object",
        "properties": {"seconds": {"type": "integer", "minimum": 1}},
        "required": ["seconds"],
    },
    responses={"200": ref("Session")},
)
@api_auth("jobs:write")
def extend(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.owned(db.session, user, session_id)
    return jsonify(session_json(service.extend(db.session, user, row, _body().get("seconds"))))


@bp.delete("/<int:session_id>")
@document(
    summary="End a session (the server stops within the worker's next pass)",
    tags=["sessions"],
    scopes=["jobs:write"],
    responses={"202": ref("Session")},
)
@api_auth("jobs:write")
def end(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.end(db.session, user, service.owned(db.session, user, session_id))
    response = jsonify(session_json(row))
    response.status_code = 202
    return response


@bp.post("/<int:session_id>/shares")
@document(
    summary="Share a session with another user (they may connect to it)",
    tags=["sessions"],
    scopes=["jobs:write"],
    request={"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]},
    responses={
        "200": {
            "type": "object",
            "properties": {"shared_with": {"type": "array", "items": {"type": "string"}}},
        }
    },
)
@api_auth("jobs:write")
def share(session_id: int) -> ResponseReturnValue:
    user = _user()
    row = service.owned(db.session, user, session_id)
    service.share(db.session, user, row, _body().get("username", ""))
    return jsonify({"shared_with": service.shared_with(db.session, row)})


@bp.delete("/<int:session_id>/shares/<username>")
@document(
    summary="Stop sharing a session with a user",
    tags=["sessions"],
    scopes=["jobs:write"],
    responses={
        "200": {
            "type": "object",
            "properties": {"shared_with": {"type": "array", "items": {"type": "string"}}},
        }
    },
)
@api_auth("jobs:write")
def unshare(session_id: int, username: str) -> ResponseReturnValue:
    row = service.owned(db.session, _user(), session_id)
    service.unshare(db.session, row, username)
    return jsonify({"shared_with": service.shared_with(db.session, row)})


# -- workshops ---------------------------------------------------------------------------------

wbp = Blueprint("workshops_api", __name__, url_prefix="/api/v1/workshops")


@wbp.post("")
@document(
    summary="Create a workshop (instructors: managers of the paying project)",
    tags=["sessions"],
    scopes=["jobs:write"],
    request={
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "application": {"type": "string"},
            "resources": {"type": "object"},
            "seats": {"type": "integer", "minimum": 1},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": "string", "format": "date-time"},
            "project": {"type": "string"},
        },
        "required": ["title", "application", "seats", "starts_at", "ends_at", "project"],
    },
    responses={"201": ref("Workshop")},
)
@api_auth("jobs:write")
def create_workshop() -> ResponseReturnValue:
    workshop = workshops.create(db.session, _user(), request.get_json(silent=True))
    response = jsonify(workshop_json(workshop))
    response.status_code = 201
    return response


@wbp.get("/<int:workshop_id>")
@document(
    summary="A workshop: seats, who is connected, SUs spent (its instructor only)",
    tags=["sessions"],
    scopes=["jobs:read"],
    responses={"200": ref("Workshop")},
)
@api_auth("jobs:read")
def show_workshop(workshop_id: int) -> ResponseReturnValue:
    return jsonify(workshop_json(workshops.get_for_instructor(db.session, _user(), workshop_id)))


@wbp.post("/join")
@document(
    summary="Join a workshop with its code: a seat and a session in one call",
    tags=["sessions"],
    scopes=["jobs:write"],
    request={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    responses={
        "200": ref("Session"),
        "404": {
            "description": "No workshop has this join code",
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        },
        "409": {
            "description": "The workshop has not opened yet, has ended, or is full",
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        },
    },
)
@api_auth("jobs:write")
def join_workshop() -> ResponseReturnValue:
    _workshop, row = workshops.join(db.session, _user(), _body().get("code"))
    return jsonify(session_json(row))


def workshop_json(workshop: Any) -> dict[str, Any]:
    data = workshops.to_json(db.session, workshop)
    data["links"] = {"join": url_for("sessions.join_page", code=workshop.join_code, _external=True)}
    return data


SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "application": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "starting", "ready", "ending", "ended", "failed"]},
        "state_reason": {"type": "string"},
        "resources": {"type": "object"},
        "destination": {"type": "string"},
        **PROJECT_JSON_SCHEMA,
        "idle_timeout": {"type": "number"},
        "su_reserved": {"type": "number"},
        "su_charged": {"type": ["number", "null"]},
        "time_left": {"type": ["number", "null"], "description": "seconds until the duration runs out"},
        "ends_at": {"type": ["string", "null"], "format": "date-time"},
        "last_activity": {"type": ["string", "null"], "format": "date-time"},
        "links": {
            "type": "object",
            "properties": {"connect": {"type": "string", "description": "only while ready"}},
        },
    },
    "required": ["id", "application", "state", "links"],
}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(wbp)
    add_schema(
        app,
        "Workshop",
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "application": {"type": "string"},
                "seats": {"type": "integer"},
                "seats_taken": {"type": "integer"},
                "connected": {"type": "integer"},
                "su_spent": {"type": "number"},
                "join_code": {"type": "string"},
                "students": {"type": "array", "items": {"type": "object"}},
            },
        },
    )
    add_tag(
        app,
        "sessions",
        "Interactive sessions: web servers (JupyterLab...) reached through the session proxy.",
    )
    add_schema(app, "Session", SESSION_SCHEMA)
    add_schema(
        app,
        "SessionLaunch",
        {
            "type": "object",
            "properties": {
                "application": {"type": "string"},
                "inputs": {"type": "object"},
                "resources": {
                    "type": "object",
                    "properties": {k: {"type": "integer"} for k in ("cpus", "memory_mb", "gpus", "walltime")},
                },
                "project": {"type": "string"},
                "destination": {
                    "type": "string",
                    "description": "Where the session runs (default: where the routing rules send the "
                    "application); one of the application's destinations whose executor runs sessions.",
                },
            },
            "required": ["application"],
            "additionalProperties": False,
        },
    )
    add_schema(
        app,
        "SessionEstimate",
        {
            "type": "object",
            "properties": {
                "application": {"type": "string"},
                "destination": {"type": "string"},
                "resources": {"type": "object"},
                "su_per_hour": {"type": "number"},
                "su_estimate": {"type": "number"},
                "max_walltime": {"type": "integer"},
            },
        },
    )
