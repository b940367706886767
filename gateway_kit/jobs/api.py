"""The jobs REST API under ``/api/v1``: applications, jobs, events, logs, outputs, usage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..api.openapi import EXTENSION_KEY, add_schema, add_tag, document, ref
from ..db import db
from ..errors import NotFound, ValidationError
from ..identity.access import api_auth, current_user
from ..identity.models import PROJECT_JSON_SCHEMA, Project, User
from ..web.bodylimits import body_limit
from ..web.request import ID_MAX, digits, int_arg
from . import accounting, service
from .apps import registry
from .inputs import Upload
from .models import Allocation, Job
from .states import TERMINAL, JobState

bp = Blueprint("jobs_api", __name__, url_prefix="/api/v1")


def submission_fields() -> dict[str, Any]:
    """The fields of a submission (JobSubmission; each optional in a resubmission)."""
    return {
        "application": {"type": "string"},
        "inputs": {
            "type": "object",
            "description": "Values by input name; see the "
            "application's input schema (and ApplicationInputs_<id> below).",
        },
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: {"type": "integer", "minimum": 0} for k in service.RESOURCE_KEYS},
        },
        "project": {
            "type": "string",
            "description": "Project to charge (default: the first you may charge)",
        },
        "name": {"type": "string", "maxLength": 200},
        "webhook_url": {
            "type": "string",
            "format": "uri",
            "description": "POSTed the job (signed) when it ends",
        },
        "notify_email": {"type": "boolean"},
    }


def _user() -> User:
    user = current_user()
    assert user is not None  # api_auth ran
    return user


# -- applications ------------------------------------------------------------------------------


@bp.get("/applications")
@document(
    summary="List applications",
    tags=["applications"],
    scopes=["jobs:read"],
    responses={
        "200": {
            "type": "object",
            "properties": {"applications": {"type": "array", "items": ref("ApplicationSummary")}},
        }
    },
)
@api_auth("jobs:read")
def list_applications() -> ResponseReturnValue:
    return jsonify({"applications": [a.summary() for a in registry().all()]})


@bp.get("/applications/<app_id>")
@document(
    summary="Show an application and its input schema",
    tags=["applications"],
    scopes=["jobs:read"],
    responses={"200": ref("Application")},
)
@api_auth("jobs:read")
def show_application(app_id: str) -> ResponseReturnValue:
    application = registry().get(app_id)
    if application is None:
        raise NotFound("No such application.")
    return jsonify(application.to_json())


# -- jobs --------------------------------------------------------------------------------------


def _job_links() -> tuple[str, str]:
    """The API and page URL prefixes of a job (the id goes at the end), built once per app and
    script root rather than five ``url_for`` per job."""
    cache: dict[str, tuple[str, str]] = current_app.extensions.setdefault("gateway_kit.jobs.links", {})
    root = request.script_root
    links = cache.get(root)
    if links is None:
        links = cache[root] = (
            url_for("jobs_api.show_job", job_id=0)[: -len("0")],
            url_for("jobs.job_page", job_id=0)[: -len("0")],
        )
    return links


def _job_json(job: Job) -> dict[str, Any]:
    data = job.to_json()
    api, page = _job_links()
    this = f"{api}{job.id}"
    data["links"] = {
        "self": this,
        "events": f"{this}/events",
        "logs": f"{this}/logs",
        "outputs": f"{this}/outputs",
        "page": f"{page}{job.id}",
    }
    return data


def _read_submission() -> service.Submission:
    key = request.headers.get("Idempotency-Key")
    if request.mimetype == "multipart/form-data":
        # Bound the whole request before reading it: the largest upload per file input, plus
        # room for the JSON part.
        app_limit = float(current_app.config["JOBS_MAX_UPLOAD_MB"])
        request.max_content_length = int((app_limit * 8 + 1) * 1024 * 1024)
        raw = request.form.get("request")
        if raw is None:
            raise ValidationError(
                [
                    {
                        "field": "request",
                        "message": "multipart submissions carry "
                        "the JSON body in a form field named 'request'",
                    }
                ]
            )
        try:
            body = json.loads(raw)
        except ValueError:
            raise ValidationError([{"field": "request", "message": "is not valid JSON"}]) from None
        uploads = {
            name: Upload(filename=fs.filename or "", stream=fs.stream) for name, fs in request.files.items()
        }
        return service.parse_submission(body, uploads, key)
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationError(
            [
                {
                    "field": "",
                    "message": "send a JSON object (Content-Type: application/json) or multipart/form-data",
                }
            ]
        )
    return service.parse_submission(body, None, key)


@bp.post("/jobs")
@document(
    summary="Submit a job",
    tags=["jobs"],
    scopes=["jobs:write"],
    description="Inputs are checked against the application's schema; every field's "
    "error is listed in one 422 answer. With an Idempotency-Key header, repeating a "
    "request answers the job created the first time (200). File inputs: send "
    "multipart/form-data with the JSON body in the 'request' field and one file part "
    "per file input.",
    parameters=[
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
        }
    ],
    request={
        "application/json": ref("JobSubmission"),
        "multipart/form-data": {
            "type": "object",
            "properties": {"request": {"type": "string", "description": "JobSubmission as JSON"}},
            "additionalProperties": {"type": "string", "format": "binary"},
        },
    },
    responses={
        "201": ref("Job"),
        "200": ref("Job"),
        "409": {
            "description": "Idempotency-Key reused for another request",
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        },
    },
)
@api_auth("jobs:write")
@body_limit("JOBS_MAX_UPLOAD_MB")
def submit_job() -> ResponseReturnValue:
    sub = _read_submission()
    job, created = service.submit(db.session, _user(), sub)
    resp = jsonify(_job_json(job))
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = f"{_job_links()[0]}{job.id}"
    return resp


@bp.get("/jobs")
@document(
    summary="List my jobs",
    tags=["jobs"],
    scopes=["jobs:read"],
    parameters=[
        {"name": "state", "in": "query", "schema": {"enum": [s.value for s in JobState]}},
        {"name": "application", "in": "query", "schema": {"type": "string"}},
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
            "description": "next_cursor of the previous page",
        },
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    ],
    responses={
        "200": {
            "type": "object",
            "properties": {
                "jobs": {"type": "array", "items": ref("Job")},
                "next_cursor": {"type": ["string", "null"]},
            },
        }
    },
)
@api_auth("jobs:read")
def list_jobs() -> ResponseReturnValue:
    errors = []
    # A parameter that is present must be valid, even empty ("?cursor=" is not a cursor): the
    # schema says so and a client that sends one has a bug worth hearing about.
    state = request.args.get("state")
    if state is not None and state not in JobState.__members__:
        errors.append({"field": "state", "message": "must be one of " + ", ".join(s.value for s in JobState)})
    cursor_raw = request.args.get("cursor")
    cursor = None
    if cursor_raw is not None:
        cursor = digits(cursor_raw, ID_MAX)
        if cursor is None:
            errors.append({"field": "cursor", "message": "is not a cursor from a previous page"})
    if errors:
        raise ValidationError(errors)
    limit = int_arg("limit", 20, 1, 100)
    jobs, nxt = service.list_jobs(
        db.session,
        _user(),
        state=state,
        application=request.args.get("application") or None,
        cursor=cursor,
        limit=limit,
    )
    return jsonify(
        {"jobs": [_job_json(j) for j in jobs], "next_cursor": str(nxt) if nxt is not None else None}
    )


@bp.get("/jobs/<int:job_id>")
@document(summary="Show a job", tags=["jobs"], scopes=["jobs:read"], responses={"200": ref("Job")})
@api_auth("jobs:read")
def show_job(job_id: int) -> ResponseReturnValue:
    return jsonify(_job_json(service.get_readable_job(db.session, _user(), job_id)))


@bp.post("/jobs/<int:job_id>/cancel")
@document(
    summary="Cancel a job",
    tags=["jobs"],
    scopes=["jobs:write"],
    responses={
        "202": ref("Job"),
        "409": {
            "description": "The job has already ended",
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        },
    },
)
@api_auth("jobs:write")
def cancel_job(job_id: int) -> ResponseReturnValue:
    job = service.cancel(db.session, _user(), service.get_job(db.session, _user(), job_id))
    return jsonify(_job_json(job)), 202


@bp.post("/jobs/<int:job_id>/resubmit")
@document(
    summary="Submit a job again with the same inputs (optionally changed)",
    tags=["jobs"],
    scopes=["jobs:write"],
    description="The body may change inputs, resources, name and notifications; uploaded "
    "files are reused unless uploaded again.",
    request={
        "application/json": {
            "type": "object",
            "additionalProperties": False,
            "description": "JobSubmission's fields, each optional (application is the job's own)",
            "properties": {k: v for k, v in submission_fields().items() if k != "application"},
        }
    },
    responses={"201": ref("Job")},
)
@api_auth("jobs:write")
def resubmit_job(job_id: int) -> ResponseReturnValue:
    user = _user()
    job = service.get_job(db.session, user, job_id)
    if job.user_id != user.id:
        raise NotFound("No such job.")
    # An empty body resubmits as it was; anything else must be a JSON object of known fields,
    # every one of the right type: garbage never becomes a job.
    body: Any = {}
    if request.get_data(cache=True).strip():
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            message = "must be a JSON object (Content-Type: application/json) or empty"
            raise ValidationError([{"field": "body", "message": message}])
    sub = service.resubmission(job)
    changes = service.parse_submission({**body, "application": job.app_id}, None, None)
    if "application" in body:
        changes.errors.append({"field": "application", "message": "is the job's own (submit a new job)"})
    if changes.errors:
        raise ValidationError(changes.errors)
    sub.inputs.update(changes.inputs)
    sub.resources.update(changes.resources)
    for key in ("name", "webhook_url"):
        if key in body:
            setattr(sub, key, getattr(changes, key))
    if "notify_email" in body:
        sub.notify_email = changes.notify_email
    if "project" in body:
        sub.project = changes.project
    new = service.submit_resubmission(db.session, user, job, sub)
    resp = jsonify(_job_json(new))
    resp.status_code = 201
    resp.headers["Location"] = url_for("jobs_api.show_job", job_id=new.id)
    return resp


@bp.get("/jobs/<int:job_id>/events")
@document(
    summary="A job's state changes and other events",
    tags=["jobs"],
    scopes=["jobs:read"],
    responses={
        "200": {"type": "object", "properties": {"events": {"type": "array", "items": ref("JobEvent")}}}
    },
)
@api_auth("jobs:read")
def job_events(job_id: int) -> ResponseReturnValue:
    job = service.get_readable_job(db.session, _user(), job_id)
    return jsonify({"events": [e.to_json() for e in service.events(db.session, job)]})


def _stream_arg() -> str:
    stream = request.args.get("stream", "stdout")
    if stream not in service.LOG_STREAMS:
        raise ValidationError([{"field": "stream", "message": "must be stdout or stderr"}])
    return stream


@bp.get("/jobs/<int:job_id>/logs")
@document(
    summary="Read a job's log from an offset",
    tags=["jobs"],
    scopes=["jobs:read"],
    parameters=[
        {"name": "stream", "in": "query", "schema": {"enum": list(service.LOG_STREAMS)}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1048576}},
    ],
    responses={"200": ref("LogChunk")},
)
@api_auth("jobs:read")
def job_logs(job_id: int) -> ResponseReturnValue:
    job = service.get_readable_job(db.session, _user(), job_id)
    stream = _stream_arg()
    offset = int_arg("offset", 0, 0, 2**62)
    limit = int_arg("limit", 65536, 1, 1048576)
    data, nxt = service.read_log(job, stream, offset, limit)
    finished = JobState(job.state) in TERMINAL
    return jsonify(
        {
            "stream": stream,
            "offset": offset,
            "next_offset": nxt,
            "data": data.decode("utf-8", errors="replace"),
            "state": job.state,
            "complete": finished and len(data) < limit,
        }
    )


@bp.get("/jobs/<int:job_id>/logs/follow")
@document(
    summary="Follow a job's log (Server-Sent Events)",
    tags=["jobs"],
    scopes=["jobs:read"],
    description="Each event's data is a JSON object {offset, data}; the event id is the "
    "next offset (reconnect with Last-Event-ID or ?offset=). A final 'end' event carries the "
    "job's terminal state.",
    parameters=[
        {"name": "stream", "in": "query", "schema": {"enum": list(service.LOG_STREAMS)}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ],
    responses={
        "200": {
            "description": "An event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
@api_auth("jobs:read")
def follow_logs(job_id: int) -> ResponseReturnValue:
    user = _user()
    service.get_readable_job(db.session, user, job_id)  # 404 unless the caller may see it
    stream = _stream_arg()
    offset = int_arg("offset", 0, 0, 2**62)
    last = request.headers.get("Last-Event-ID", "")
    if digits(last, 2**62) is not None:
        offset = int(last)
    max_seconds = 600.0

    def events() -> Iterator[str]:
        nonlocal offset
        started = time.monotonic()
        while time.monotonic() - started < max_seconds:
            db.session.expire_all()
            current = db.session.get(Job, job_id)
            assert current is not None
            data, nxt = service.read_log(current, stream, offset)
            if data:
                yield (
                    f"id: {nxt}\ndata: "
                    + json.dumps({"offset": offset, "data": data.decode("utf-8", errors="replace")})
                    + "\n\n"
                )
                offset = nxt
                continue
            if JobState(current.state) in TERMINAL:
                yield f"event: end\ndata: {json.dumps({'state': current.state})}\n\n"
                return
            yield ": keep-alive\n\n"
            time.sleep(0.5)

    return Response(
        stream_with_context(events()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/jobs/<int:job_id>/outputs")
@document(
    summary="List a job's output files",
    tags=["jobs"],
    scopes=["jobs:read"],
    responses={
        "200": {"type": "object", "properties": {"outputs": {"type": "array", "items": ref("OutputFile")}}}
    },
)
@api_auth("jobs:read")
def job_outputs(job_id: int) -> ResponseReturnValue:
    job = service.get_readable_job(db.session, _user(), job_id)
    return jsonify(
        {
            "outputs": [
                {**o, "url": url_for("jobs_api.download_output", job_id=job.id, path=o["path"])}
                for o in service.outputs(job)
            ]
        }
    )


@bp.get("/jobs/<int:job_id>/outputs/<path:path>")
@document(
    summary="Download an output file",
    tags=["jobs"],
    scopes=["jobs:read"],
    responses={
        "200": {
            "description": "The file",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
@api_auth("jobs:read")
def download_output(job_id: int, path: str) -> ResponseReturnValue:
    job = service.get_readable_job(db.session, _user(), job_id)
    file = service.open_output(job, path)
    return send_file(
        file, as_attachment=True, download_name=Path(path).name, mimetype="application/octet-stream"
    )


# -- usage -------------------------------------------------------------------------------------


@bp.get("/usage")
@document(
    summary="SU allocations and usage of my projects",
    tags=["accounting"],
    scopes=["jobs:read"],
    responses={
        "200": {"type": "object", "properties": {"projects": {"type": "array", "items": ref("ProjectUsage")}}}
    },
)
@api_auth("jobs:read")
def usage() -> ResponseReturnValue:
    return jsonify({"projects": usage_rows(_user())})


def usage_rows(user: User) -> list[dict[str, Any]]:
    session = db.session
    projects = accounting.chargeable_projects(session, user, current_app.config["JOBS_COMMUNITY_PROJECT"])
    if user.is_admin:
        projects = list(session.scalars(select(Project).order_by(Project.name)))
    out = []
    for p in projects:
        alloc = session.scalars(select(Allocation).where(Allocation.project_id == p.id)).first()
        granted = alloc.su_granted if alloc else 0.0
        used = alloc.su_used if alloc else 0.0
        reserved = alloc.su_reserved if alloc else 0.0
        out.append(
            {
                "project": p.name,
                "title": p.title,
                "su_granted": round(granted, 6),
                "su_used": round(used, 6),
                "su_reserved": round(reserved, 6),
                "su_remaining": round(granted - used, 6),
                "users": [
                    {"username": n, "su_used": round(v, 6)}
                    for n, v in accounting.usage_by_user(session, p.id)
                ],
                "su_unattributed": round(accounting.unattributed_usage(session, p.id), 6),
            }
        )
    return out


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_tag(app, "applications", "What can be run, and the inputs each application takes.")
    add_tag(app, "jobs", "Submit, follow, cancel and resubmit jobs; read logs and outputs.")
    add_tag(app, "accounting", "Service units: allocations and usage.")
    add_schema(
        app,
        "ApplicationSummary",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "version": {"type": "string"},
                "description": {"type": "string"},
            },
            "required": ["id", "title", "version"],
        },
    )
    add_schema(
        app,
        "Application",
        {
            "allOf": [
                ref("ApplicationSummary"),
                {
                    "type": "object",
                    "properties": {
                        "inputs": {"type": "object", "description": "JSON Schema of the inputs"},
                        "resources": {"type": "object"},
                        "outputs": {"type": "array", "items": {"type": "string"}},
                        "destinations": {"type": "array", "items": {"type": "string"}},
                    },
                },
            ]
        },
    )
    add_schema(
        app,
        "JobSubmission",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["application"],
            "properties": submission_fields(),
        },
    )
    add_schema(
        app,
        "Job",
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "application": {"type": "string"},
                "application_version": {"type": "string"},
                "name": {"type": "string"},
                "state": {"enum": [s.value for s in JobState]},
                "state_reason": {"type": "string"},
                "inputs": {"type": "object"},
                "resources": {"type": "object"},
                "destination": {"type": "string"},
                **PROJECT_JSON_SCHEMA,
                "exit_code": {"type": ["integer", "null"]},
                "su_reserved": {"type": "number"},
                "su_charged": {"type": ["number", "null"]},
                "cancel_requested": {"type": "boolean"},
                "resubmitted_from": {"type": ["integer", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "started_at": {"type": ["string", "null"], "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "links": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["id", "application", "state"],
        },
    )
    add_schema(
        app,
        "JobEvent",
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "from": {"type": ["string", "null"]},
                "to": {"type": ["string", "null"]},
                "message": {"type": "string"},
                "worker": {"type": ["string", "null"]},
            },
        },
    )
    add_schema(
        app,
        "LogChunk",
        {
            "type": "object",
            "properties": {
                "stream": {"enum": list(service.LOG_STREAMS)},
                "offset": {"type": "integer"},
                "next_offset": {"type": "integer"},
                "data": {"type": "string"},
                "state": {"type": "string"},
                "complete": {"type": "boolean"},
            },
        },
    )
    add_schema(
        app,
        "OutputFile",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "size": {"type": "integer"},
                "url": {"type": "string"},
            },
        },
    )
    add_schema(
        app,
        "ProjectUsage",
        {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "title": {"type": "string"},
                "su_granted": {"type": "number"},
                "su_used": {"type": "number"},
                "su_reserved": {"type": "number"},
                "su_remaining": {"type": "number"},
                "users": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"username": {"type": "string"}, "su_used": {"type": "number"}},
                    },
                },
                "su_unattributed": {
                    "type": "number",
                    "description": "SUs charged to no user (burst instances' lifetimes, deleted accounts); "
                    "with the users' it adds up to the project's charges",
                },
            },
        },
    )


def add_application_schemas(app: Flask) -> None:
    """One schema per application's inputs (called once plugins have registered theirs)."""
    ids = []
    for application in registry(app).all():
        ids.append(application.id)
        add_schema(app, f"ApplicationInputs_{application.id}", application.inputs_schema())
    submission = app.extensions[EXTENSION_KEY]["schemas"]["JobSubmission"]
    submission["properties"]["application"] = {"enum": ids, "description": "an application's id"}
