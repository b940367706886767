"""What users do with jobs: submit, list, cancel, resubmit, read logs and outputs.

Pages and the API both call these functions, so both validate the same way. State changes go
through :func:`transition`, a compare-and-set on the job's ``version`` that also records the
event; the worker side (:mod:`.queue`) uses it too.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, NoReturn

from flask import Flask, current_app
from sqlalchemy import Select, bindparam, func, insert, literal, null, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import inbox
from ..db import as_loaded, table_of
from ..errors import Conflict, NotFound, ValidationError
from ..identity.models import Project, ProjectMember, User
from . import accounting
from .apps import Application, registry
from .destinations import destinations
from .inputs import Errors, Upload, check_inputs, stage_uploads, validate_values
from .jobfiles import UnsafeJobFile, open_job_file
from .models import Job, JobEvent, utcnow
from .states import TERMINAL, JobState, check_transition
from .wakeup import CHANNEL, announce, wake_local

#: Prebuilt against the tables (not the mapped classes): executed without the ORM's bulk layer.
_INSERT_EVENT = insert(table_of(JobEvent))
#: A transition's compare-and-set on ``version``: the SET clause holds the columns named in the
#: parameters besides ``b_id`` and ``b_version``.
_COMPARE_AND_SET = update(table_of(Job)).where(
    table_of(Job).c.id == bindparam("b_id"), table_of(Job).c.version == bindparam("b_version")
)
_INSERT_JOB = insert(table_of(Job)).returning(table_of(Job).c.id)
_NULL_JOB = {c.key: None for c in Job.__table__.columns}
log = logging.getLogger("gateway_kit.jobs")

SUBMIT_FIELDS = ("application", "inputs", "resources", "project", "name", "webhook_url", "notify_email")
RESOURCE_KEYS = ("cpus", "memory_mb", "gpus", "walltime")


@dataclass
class Submission:
    application: str
    inputs: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    project: str | None = None
    name: str = ""
    webhook_url: str = ""
    notify_email: bool = False
    idempotency_key: str | None = None
    resubmitted_from: Job | None = None
    #: Problems found in the request's shape, reported with the value errors.
    errors: Errors = field(default_factory=list)


def parse_submission(
    body: Any, uploads: Mapping[str, Upload] | None = None, idempotency_key: str | None = None
) -> Submission:
    """Check the shape of an API body (unknown fields, wrong types); values are checked later."""
    if not isinstance(body, dict):
        raise ValidationError([{"field": "", "message": "the body must be a JSON object"}])
    errors: Errors = []
    for key in body:
        if key not in SUBMIT_FIELDS:
            errors.append(
                {"field": key, "message": f"is not a known field (expected {', '.join(SUBMIT_FIELDS)})"}
            )
    app_id = body.get("application")
    if not isinstance(app_id, str) or not app_id:
        errors.append({"field": "application", "message": "is required (an application id)"})
    for key in ("inputs", "resources"):
        if not isinstance(body.get(key, {}), dict):
            errors.append({"field": key, "message": "must be an object"})
    for key in ("project", "name", "webhook_url"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors.append({"field": key, "message": "must be a string"})
    if not isinstance(body.get("notify_email", False), bool):
        errors.append({"field": "notify_email", "message": "must be true or false"})
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        errors.append({"field": "Idempotency-Key", "message": "must be 1 to 200 characters"})
    if not isinstance(app_id, str) or not app_id:
        raise ValidationError(errors)

    def get(key: str, typ: type, default: Any) -> Any:
        value = body.get(key)
        return value if isinstance(value, typ) else default

    return Submission(
        application=app_id,
        inputs=dict(get("inputs", dict, {})),
        uploads=dict(uploads or {}),
        resources=dict(get("resources", dict, {})),
        project=get("project", str, None),
        name=get("name", str, ""),
        webhook_url=get("webhook_url", str, ""),
        notify_email=get("notify_email", bool, False),
        idempotency_key=idempotency_key,
        errors=errors,
    )


def check_resources(application: Application, raw: Mapping[str, Any]) -> tuple[dict[str, int], Errors]:
    errors: Errors = []
    out: dict[str, int] = {}
    for key in raw:
        if key not in RESOURCE_KEYS:
            errors.append(
                {
                    "field": f"resources.{key}",
                    "message": f"is not a resource (expected {', '.join(RESOURCE_KEYS)})",
                }
            )
    for key in RESOURCE_KEYS:
        spec = getattr(application.resources, key)
        value = raw.get(key)
        if value is None:
            out[key] = int(spec.default)
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append({"field": f"resources.{key}", "message": "must be an integer"})
            continue
        floor = 0 if key == "gpus" else 1
        if value < floor or value > spec.maximum:
            errors.append(
                {
                    "field": f"resources.{key}",
                    "message": f"must be between {floor} and {int(spec.maximum)} for {application.id}",
                }
            )
            continue
        out[key] = value
    return out, errors


def check_webhook(url: str, allow_private: bool = False) -> str | None:
    """Why ``url`` cannot be a webhook (scheme, length, and no private addresses; see
    :mod:`.notifications`)."""
    from .notifications import webhook_url_problem

    return webhook_url_problem(url, allow_private)


def _jobs_dir(app: Flask) -> Path:
    return Path(app.config["JOBS_DIR"])


def charge_project(session: Session, user: User, requested: str | None) -> tuple[Project | None, Errors]:
    """The project a submission charges: the one named (if ``user`` may charge it) or their first."""
    allowed = accounting.chargeable_projects(session, user, current_app.config["JOBS_COMMUNITY_PROJECT"])
    if requested:
        project = next((p for p in allowed if p.name == requested), None)
        if project is None:
            return None, [
                {
                    "field": "project",
                    "message": f"you cannot charge project "
                    f"{requested!r} (yours: {', '.join(p.name for p in allowed) or 'none'})",
                }
            ]
        return project, []
    if allowed:
        return allowed[0], []
    return None, [
        {
            "field": "project",
            "message": "you belong to no project with an allocation; ask an administrator to add you to one",
        }
    ]


def submit(session: Session, user: User, sub: Submission) -> tuple[Job, bool]:
    """Validate and queue a job; returns ``(job, created)`` (False: an idempotent repeat)."""
    app = current_app
    if sub.idempotency_key:
        existing = session.scalars(
            select(Job).where(Job.user_id == user.id, Job.idempotency_key == sub.idempotency_key)
        ).first()
        if existing is not None:
            return _same_request(existing, sub), False
    application = registry().get(sub.application)
    if application is None:
        raise ValidationError([{"field": "application", "message": f"no application {sub.application!r}"}])
    if application.kind != "batch":
        raise ValidationError(
            [
                {
                    "field": "application",
                    "message": f"{application.id!r} is an interactive application: launch it as a "
                    "session (POST /api/v1/sessions) instead of submitting a job",
                }
            ]
        )
    values, errors = validate_values(application, sub.inputs, sub.uploads)
    bad_fields = {e.get("field") for e in errors}
    errors = sub.errors + errors
    # Features check what the values name (a dataset exists and is the user's to read).
    errors += check_inputs(
        app,
        session,
        user,
        application,
        {k: v for k, v in values.items() if f"inputs.{k}" not in bad_fields},
    )
    resources, res_errors = check_resources(application, sub.resources)
    errors += res_errors
    if sub.webhook_url and (
        problem := check_webhook(sub.webhook_url, bool(app.config["JOBS_WEBHOOK_ALLOW_PRIVATE"]))
    ):
        errors.append({"field": "webhook_url", "message": problem})
    if len(sub.name) > 200:
        errors.append({"field": "name", "message": "must be at most 200 characters"})
    community = app.config["JOBS_COMMUNITY_PROJECT"]
    if errors:  # the project is checked in the reserving statement below; here to list it too
        errors += charge_project(session, user, sub.project)[1]
    jobs_dir = str(app.config["JOBS_DIR"])
    folder: Path | None = None
    files: dict[str, Any] = {}
    file_errors: Errors = []
    if not errors:  # only write uploads for a submission that is otherwise fine
        folder, files, file_errors = stage_uploads(
            application, sub.uploads, Path(jobs_dir, "tmp"), app.config["JOBS_MAX_UPLOAD_MB"]
        )
    errors += file_errors
    if errors:
        raise ValidationError(errors)
    values.update(files)
    dest_name = destinations().route(application)
    worst = accounting.worst_case(destinations().options(dest_name), resources)
    workdir = os.path.join(jobs_dir, f"job-{secrets.token_hex(8)}")
    now = utcnow()
    values_row: dict[str, Any] = {
        "user_id": user.id,
        "app_id": application.id,
        "app_version": application.version,
        "name": sub.name,
        "inputs": values,
        "resources": resources,
        "destination": dest_name,
        "workdir": workdir,
        "state": JobState.QUEUED.value,
        "state_reason": "",
        "version": 0,
        "cancel_requested": False,
        "idempotency_key": sub.idempotency_key,
        "resubmitted_from": sub.resubmitted_from.id if sub.resubmitted_from else None,
        "webhook_url": sub.webhook_url,
        "notify_email": sub.notify_email,
        "attempts": 0,
        "notified": False,
        "su_reserved": worst,
        "created_at": now,
        "updated_at": now,
    }
    named = sub.project is not None and sub.project != ""
    reserve = accounting.RESERVE_FOR_USER[named]
    params = accounting.reserve_params(user.id, community, sub.project if named else None, worst, now)
    try:
        # Files first, outside the transaction: on SQLite the first write below takes the
        # database's write lock until COMMIT, so nothing but the writes runs under it. A job
        # without files gets its directory from the worker when it is staged.
        if folder is not None:
            os.makedirs(workdir)
            os.replace(folder, os.path.join(workdir, "inputs"))
            folder = None
        elif sub.resubmitted_from is not None:
            os.makedirs(workdir)
            _copy_inputs(Path(sub.resubmitted_from.workdir), Path(workdir), values)
        # Prebuilt Core statements on the session's connection: no ORM flush, no statement
        # construction, nothing but the writes between the first one (which takes SQLite's
        # write lock) and COMMIT. The project is chosen by the reservation itself.
        conn = session.connection()
        message = f"submitted by {user.username}"
        if conn.dialect.name == "postgresql":
            # One round trip: reserve, insert the job and its event, notify the workers.
            params.update({f"j_{k}": v for k, v in values_row.items()}, message=message)
            found = conn.execute(_submit_in_one(tuple(values_row), named), params).first()
            if found is None:
                _refused(session, user, sub.project, worst)
            job_id, project_id, project_name = found[:3]
        else:
            reserved = conn.execute(reserve, params).first()
            if reserved is None:
                _refused(session, user, sub.project, worst)
            project_id, project_name = reserved
            values_row["project_id"] = project_id
            job_id = conn.execute(_INSERT_JOB, values_row).scalar_one()
            conn.execute(
                _INSERT_EVENT,
                {
                    "job_id": job_id,
                    "from_state": None,
                    "to_state": JobState.QUEUED.value,
                    "message": message,
                    "worker": None,
                },
            )
            announce(session)
        session.commit()
    except IntegrityError as exc:  # the same Idempotency-Key raced us: answer with that job
        session.rollback()
        shutil.rmtree(workdir, ignore_errors=True)
        existing = session.scalars(
            select(Job).where(Job.user_id == user.id, Job.idempotency_key == sub.idempotency_key)
        ).first()
        if existing is None:
            raise Conflict("The job could not be stored; try again.") from exc
        return _same_request(existing, sub), False
    except BaseException:
        session.rollback()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    wake_local(app)
    # Every column is known: the job without a SELECT (those the INSERT left out are NULL).
    row = {**_NULL_JOB, **values_row, "id": job_id, "project_id": project_id, "project_name": project_name}
    return as_loaded(session, Job, row), True


def _refused(session: Session, user: User, requested: str | None, amount: float) -> NoReturn:
    """Raise why the reservation of ``amount`` SUs for ``user``'s submission was refused: the
    project named (or the lack of one) in a ValidationError, else the allocation's QuotaExceeded."""
    session.rollback()
    project, errors = charge_project(session, user, requested)
    if errors or project is None:
        raise ValidationError(errors)
    accounting.refuse(session, project, amount)


@functools.lru_cache(maxsize=8)
def _submit_in_one(keys: tuple[str, ...], named: bool) -> Select[tuple[int, int, str, Any]]:
    """PostgreSQL's submission as one statement (built once): the reservation UPDATE on the
    project it chooses (:data:`.accounting.RESERVE_FOR_USER`), then the job INSERT only if it
    reserved (``SELECT ... FROM reserved``), its QUEUED event, and ``pg_notify`` (delivered at
    COMMIT). It answers the job's id, its project's id and name; no row: the reservation was
    refused. The job's values are the parameters ``j_<key>`` for each of ``keys``; ``message``
    and the reservation's parameters the others."""
    jobs, events = table_of(Job), table_of(JobEvent)
    reserved = accounting.RESERVE_FOR_USER[named].cte("reserved")
    project_id, project_name = reserved.c
    # j_<column>: a parameter named like a column of allocations would join the UPDATE's SET.
    row = select(project_id, *(bindparam(f"j_{k}", type_=jobs.c[k].type) for k in keys))
    # include_defaults=False: every value is a parameter (the INSERT above leaves the columns
    # out of values_row NULL; from_select would add the Python-side defaults).
    job = (
        insert(jobs)
        .from_select([jobs.c.project_id, *(jobs.c[k] for k in keys)], row, include_defaults=False)
        .returning(jobs.c.id)
        .cte("job")
    )
    event = insert(events).from_select(
        ["job_id", "at", "from_state", "to_state", "message", "worker"],
        select(
            job.c.id,
            bindparam("now", type_=events.c.at.type),
            null(),
            literal(JobState.QUEUED.value, events.c.to_state.type),
            bindparam("message", type_=events.c.message.type),
            null(),
        ),
        include_defaults=False,
    )
    return (
        select(job.c.id, project_id, project_name, func.pg_notify(CHANNEL, ""))
        .select_from(job.join(reserved, true()))
        .add_cte(event.cte("event"))
    )


def _same_request(job: Job, sub: Submission) -> Job:
    if job.app_id != sub.application:
        raise Conflict(
            f"This Idempotency-Key was used for a different request (job {job.id}, application {job.app_id})."
        )
    return job


def _copy_inputs(old: Path, new: Path, values: Mapping[str, Any]) -> None:
    for value in values.values():
        if isinstance(value, dict) and "filename" in value:
            dst = new / "inputs" / value["filename"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            # The old job could have replaced its input with a link: never copy through one.
            with open_job_file(old, f"inputs/{value['filename']}") as src, open(dst, "wb") as out:
                shutil.copyfileobj(src, out)


def resubmission(job: Job) -> Submission:
    """A submission with ``job``'s inputs (file inputs reuse its uploaded files)."""
    inputs = {k: v for k, v in job.inputs.items() if not (isinstance(v, dict) and "filename" in v)}
    return Submission(
        application=job.app_id,
        inputs=inputs,
        resources=dict(job.resources),
        name=job.name,
        webhook_url=job.webhook_url,
        notify_email=job.notify_email,
        resubmitted_from=job,
    )


def submit_resubmission(session: Session, user: User, job: Job, sub: Submission) -> Job:
    """Submit ``sub`` reusing ``job``'s uploaded files for file inputs not uploaded again."""
    application = registry().get(job.app_id)
    if application is None:
        raise Conflict(f"Application {job.app_id!r} is no longer offered.")
    kept = {
        k: v
        for k, v in job.inputs.items()
        if isinstance(v, dict) and "filename" in v and k not in sub.uploads
    }
    sub.resubmitted_from = job
    try:
        # Offer the kept files as uploads again, read from the old job's directory; the old job
        # (or whoever writes there) may have replaced one with a link: never read through it.
        for name, value in kept.items():
            try:
                stream = open_job_file(job.workdir, f"inputs/{value['filename']}")
            except (FileNotFoundError, UnsafeJobFile) as exc:
                raise Conflict(
                    f"The file of input {name!r} of job {job.id} is gone or no longer a plain file; "
                    "upload it again.",
                    log_message=f"job {job.id} input {name!r}: {exc}",
                ) from exc
            sub.uploads[name] = Upload(filename=PurePosixPath(value["filename"]).name, stream=stream)
        new, _ = submit(session, user, sub)
    finally:
        for up in sub.uploads.values():
            up.stream.close()
    return new


def transition(
    session: Session,
    job: Job,
    new: JobState,
    message: str = "",
    worker: str | None = None,
    also: Callable[[], None] | None = None,
    **changes: Any,
) -> bool:
    """Move ``job`` to ``new`` if nobody changed it meanwhile (compare-and-set on ``version``).

    Records the event, runs ``also`` (more writes for the same transaction) and commits.
    Returns False (and changes nothing) when another writer got
    there first; the caller reloads and decides again.
    """
    old = JobState(job.state)
    check_transition(old, new)
    values = dict(
        state=new.value, state_reason=message, version=job.version + 1, updated_at=utcnow(), **changes
    )
    session.flush()  # what the caller changed on its objects goes first (as the ORM would)
    # Prebuilt Core statements on the session's connection: building an UPDATE per call and the
    # ORM's bulk-update and flush layers were most of a worker's CPU per job.
    conn = session.connection()
    result = conn.execute(_COMPARE_AND_SET, {**values, "b_id": job.id, "b_version": job.version})
    if result.rowcount != 1:
        session.rollback()
        session.refresh(job)
        return False
    conn.execute(
        _INSERT_EVENT,
        {
            "job_id": job.id,
            "from_state": old.value,
            "to_state": new.value,
            "message": message,
            "worker": worker,
        },
    )
    if also is not None:
        also()
    if new in TERMINAL:
        what = f"{job.name} ({job.app_id})" if job.name else job.app_id
        ended = new.value.lower().replace("_", " ")
        inbox.notify(session, job.user_id, "job.ended", f"Job {job.id} {what} {ended}", f"/jobs/{job.id}")
    session.commit()
    # The row now holds exactly ``values``: no SELECT to learn them again.
    for key, value in values.items():
        set_committed_value(job, key, value)
    return True


def get_job(session: Session, user: User, job_id: int) -> Job:
    """The job if ``user`` may see it (owner, operator, admin); NotFound otherwise."""
    job = session.get(Job, job_id)
    if job is None or (job.user_id != user.id and not user.is_operator):
        raise NotFound("No such job.")
    return job


def get_readable_job(session: Session, user: User, job_id: int) -> Job:
    """:func:`get_job`, and also a job whose owner shared its results, for the members of its
    project (to read: its page, log and outputs; never to cancel, resubmit or share it)."""
    job = session.get(Job, job_id)
    if job is not None and (job.user_id == user.id or user.is_operator):
        return job
    if job is not None and job.shared and job.project_id is not None:
        member = session.scalar(
            select(ProjectMember.id).where(
                ProjectMember.project_id == job.project_id, ProjectMember.user_id == user.id
            )
        )
        if member is not None:
            return job
    raise NotFound("No such job.")


def set_shared(session: Session, user: User, job: Job, shared: bool) -> None:
    """Share (or stop sharing) ``job``'s results with its project's members; its owner only."""
    if job.user_id != user.id:
        raise NotFound("No such job.")
    if job.project_id is None:
        raise Conflict("This job is charged to no project: there is nobody to share it with.")
    job.shared = shared
    session.commit()


def cancel(session: Session, user: User, job: Job) -> Job:
    """Cancel a job: at once if no worker holds it yet, else by asking its worker."""
    for _ in range(5):
        state = JobState(job.state)
        if state in TERMINAL:
            raise Conflict(f"Job {job.id} has already ended ({state.value}); there is nothing to cancel.")
        if state is JobState.QUEUED:
            if transition(
                session,
                job,
                JobState.CANCELED,
                f"canceled by {user.username}",
                also=lambda: accounting.settle(session, job, 0.0),
                su_charged=0.0,
                finished_at=utcnow(),
                claimed_by=None,
                lease_until=None,
            ):
                return job
            continue
        if job.cancel_requested:
            return job
        result = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.version == job.version)
            .values(cancel_requested=True, version=job.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                JobEvent(
                    job_id=job.id,
                    from_state=state.value,
                    to_state=state.value,
                    message=f"cancel requested by {user.username}",
                )
            )
            session.commit()
            session.refresh(job)
            return job
        session.rollback()
        session.refresh(job)
    raise Conflict("The job changed while canceling it; try again.")


#: How job lists may be sorted: name -> the ORDER BY columns (each ends with the id, so the
#: order is total).
JOB_ORDERS: dict[str, tuple[Any, ...]] = {
    "newest": (Job.id.desc(),),
    "oldest": (Job.id.asc(),),
    "name": (Job.name.asc(), Job.id.desc()),
    "application": (Job.app_id.asc(), Job.id.desc()),
    "state": (Job.state.asc(), Job.id.desc()),
}


def list_jobs(
    session: Session,
    user: User,
    *,
    state: str | None = None,
    application: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
    name: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    order: str = "newest",
    offset: int = 0,
) -> tuple[list[Job], int | None]:
    """The user's jobs, newest first; returns the page and the next cursor (None at the end).

    :param name: only jobs whose name contains this (case-insensitive).
    :param since: only jobs submitted at or after this time; ``until``: before it.
    :param order: a key of :data:`JOB_ORDERS`; with an order other than ``newest`` page with
        ``offset`` (the next cursor is then the next offset).
    """
    q = select(Job).where(Job.user_id == user.id)
    if state:
        q = q.where(Job.state == state)
    if application:
        q = q.where(Job.app_id == application)
    if name:
        q = q.where(func.lower(Job.name).contains(name.lower(), autoescape=True))
    if since is not None:
        q = q.where(Job.created_at >= since)
    if until is not None:
        q = q.where(Job.created_at < until)
    if cursor is not None:
        q = q.where(Job.id < cursor)
    q = q.order_by(*JOB_ORDERS.get(order, JOB_ORDERS["newest"]))
    rows = list(session.scalars(q.offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if order != "newest" or offset:
        return rows, (offset + limit if more else None)
    return rows, (rows[-1].id if more and rows else None)


def events(session: Session, job: Job) -> list[JobEvent]:
    return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)))


LOG_STREAMS = ("stdout", "stderr")


def read_log(job: Job, stream: str, offset: int, limit: int = 64 * 1024) -> tuple[bytes, int]:
    """``limit`` bytes of a log from ``offset``; returns the data and the next offset."""
    try:
        with open_job_file(job.workdir, f"{stream}.txt") as f:
            if offset >= os.fstat(f.fileno()).st_size:
                return b"", offset  # nothing new yet (an offset past the end is not an error)
            f.seek(offset)
            data = f.read(limit)
    except FileNotFoundError:
        return b"", offset
    except UnsafeJobFile as exc:
        log.warning("job %s: refusing to read its %s log: %s", job.id, stream, exc)
        return b"", offset
    return data, offset + len(data)


def outputs(job: Job) -> list[dict[str, Any]]:
    """The job's output files (matching its application's globs), as relative paths."""
    root = Path(job.workdir)
    if not root.is_dir():
        return []
    application = registry().get(job.app_id)
    globs = list(application.outputs) if application else []
    found: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or path.is_symlink() or rel.startswith((".gk/", "inputs/", "tmp/")):
            continue
        if rel in ("stdout.txt", "stderr.txt") or any(fnmatch.fnmatch(rel, g) for g in globs):
            found.append({"path": rel, "size": path.stat().st_size})
    return found


def open_output(job: Job, rel: str) -> IO[Any]:
    """Output ``rel``, opened; NotFound unless it is one of :func:`outputs` (no traversal) and a
    regular file reached without following a link (:mod:`.jobfiles`)."""
    if rel not in {o["path"] for o in outputs(job)}:
        raise NotFound("No such output.")
    try:
        return open_job_file(job.workdir, rel)
    except (FileNotFoundError, UnsafeJobFile) as exc:
        raise NotFound("No such output.", log_message=f"job {job.id} output {rel!r}: {exc}") from exc


def project_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all())
