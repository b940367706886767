"""The agent API (``/api/v1/agent``): what ``gateway-kit agent`` on a burst instance calls.

Authentication is a per-instance bearer token (``gka_...``), not a user's token: it is minted
when the instance is launched (delivered in its user data), stored hashed, short-lived
(``BURST_TOKEN_TTL``, renewed by the agent at half-life, each renewal invalidating the previous
token), and revoked -- the hash is cleared -- when the instance is deleted or declared failed. A
token resolves to one instance; every job endpoint then also requires that the job is *running
on that instance*, and answers 404 otherwise, so a token is useless for another instance's work
or another job's inputs. These endpoints carry the OpenAPI scope ``agent``, which no user token
can hold.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.routing import BuildError

from ..db import db
from ..errors import BadRequest, Conflict, NotFound, Unauthorized, ValidationError
from ..jobs.executors.base import SERVER_ADDRESS_FILE
from ..jobs.jobfiles import UnsafeJobFile, open_fd, open_job_file
from ..jobs.models import Job, utcnow
from ..web.bodylimits import body_limit
from ..web.request import digits
from .models import LIVE_STATES, BurstInstance, BurstJob
from .pool import add_share, aware, digest, new_token, open_spec, take_back

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("burst_agent_api", __name__, url_prefix="/api/v1/agent")

LOG_STREAMS = ("stdout", "stderr")
#: Paths in a job directory that an agent may never write (the gateway's own records).
PROTECTED = (".gk", "inputs", "tmp")
MAX_UPLOAD = 1024 * 1024 * 1024


def _doc(summary: str, **kw: Any) -> Callable[[F], F]:
    from ..api.openapi import document

    return document(summary=summary, tags=["agent"], scopes=["agent"], **kw)


def current_instance() -> BurstInstance:
    """The instance whose token authenticates this request; Unauthorized otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith("gka_"):
        raise Unauthorized("An instance agent token is required.")
    row = db.session.scalars(
        select(BurstInstance).where(BurstInstance.token_hash == digest(token.strip()))
    ).first()
    expires = aware(row.token_expires) if row is not None else None
    if row is None or row.state not in LIVE_STATES or expires is None or expires <= utcnow():
        raise Unauthorized("This agent token is unknown, expired or revoked.")
    return row


def _running_job(instance: BurstInstance, job_id: int) -> tuple[BurstJob, Path]:
    """The job running on ``instance`` and its directory on the gateway (a batch job's, or an
    interactive session's: those run as jobs with negative ids and no ``jobs`` row)."""
    bj = db.session.get(BurstJob, job_id)
    # 404 for "not yours" as for "no such job": a token learns nothing about other jobs.
    if bj is None or bj.instance_id != instance.id or bj.state != "running":
        raise NotFound("No such job on this instance.")
    workdir = str((bj.spec or {}).get("workdir", ""))
    if not workdir:
        raise NotFound("No such job on this instance.")
    return bj, Path(workdir)


def _write_fd(workdir: Path, rel: str, flags: int) -> int:
    """A descriptor for writing ``workdir/rel`` that followed no link (:mod:`~gateway_kit.jobs.jobfiles`):
    what the gateway writes for an agent never lands outside the job's directory."""
    try:
        return open_fd(workdir, rel, flags)
    except UnsafeJobFile as exc:
        raise Conflict(f"{rel!r} is not a plain file in the job's directory.", log_message=str(exc)) from exc


def _safe_rel(rel: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or any(p in ("..", "") for p in path.parts) or not path.parts:
        raise BadRequest("The path must be relative, without '..'.")
    return path


@bp.post("/heartbeat")
@_doc("Heartbeat of an instance's agent", responses={"200": {"type": "object"}})
def heartbeat() -> ResponseReturnValue:
    inst = current_instance()
    now = utcnow()
    inst.heartbeat_at = now
    if inst.state == "booting":
        inst.state = "ready"
    mine = list(
        db.session.scalars(
            select(BurstJob).where(
                BurstJob.instance_id == inst.id, BurstJob.state.in_(("assigned", "running"))
            )
        )
    )
    body = request.get_json(silent=True)
    held = body.get("running") if isinstance(body, dict) else None
    if isinstance(held, list) and all(isinstance(j, int) for j in held):
        # A job this instance took that its agent no longer holds: the agent (or the whole
        # instance) restarted and the job's processes ended with it. Back to the pool's queue.
        limit = int(current_app.config.get("BURST_MAX_REQUEUES", 2))
        for bj in mine:
            if bj.state == "running" and bj.job_id not in held:
                take_back(
                    bj, inst, f"the agent on instance {inst.name} restarted and no longer runs it", limit
                )
        mine = [b for b in mine if b.state in ("assigned", "running")]
    cancel = [b.job_id for b in mine if b.cancel_requested and b.state == "running"]
    expires = aware(inst.token_expires) or now
    db.session.commit()
    return jsonify(
        {
            "instance": inst.id,
            "state": inst.state,
            "cancel": cancel,
            "drain": inst.state == "draining",
            "token_expires_in": max((expires - now).total_seconds(), 0.0),
        }
    )


@bp.post("/token")
@_doc(
    "Renew the agent token (the old one stops working)",
    responses={
        "200": {
            "type": "object",
            "properties": {"token": {"type": "string"}, "expires_in": {"type": "number"}},
        }
    },
)
def renew_token() -> ResponseReturnValue:
    inst = current_instance()
    token = new_token()
    ttl = float(current_app.config["BURST_TOKEN_TTL"])
    inst.token_hash = digest(token)
    inst.token_expires = utcnow() + timedelta(seconds=ttl)
    db.session.commit()
    return jsonify({"token": token, "expires_in": ttl})


@bp.post("/work")
@_doc(
    "Take the next job assigned to this instance (204: none)",
    responses={"200": {"type": "object"}, "204": {"description": "No work"}},
)
def take_work() -> ResponseReturnValue:
    inst = current_instance()
    if inst.state == "draining":
        return "", 204
    bj = db.session.scalars(
        select(BurstJob)
        .where(
            BurstJob.instance_id == inst.id,
            BurstJob.state == "assigned",
            BurstJob.cancel_requested.is_(False),
        )
        .order_by(BurstJob.job_id)
    ).first()
    if bj is None:
        return "", 204
    job = db.session.get(Job, bj.job_id) if bj.job_id > 0 else None  # < 0: an interactive session
    workdir = Path(str((bj.spec or {}).get("workdir", "")))
    if (bj.job_id > 0 and job is None) or not workdir.name:
        # Its job was deleted (with its user): it must not hold this instance.
        bj.state, bj.instance_id, bj.finished_at = "done", None, utcnow()
        bj.result = {"state": "CANCELED", "exit_code": None, "reason": "the job was deleted"}
        db.session.commit()
        return "", 204
    bj.state, bj.started_at = "running", utcnow()
    inst.idle_since = None
    for stream in LOG_STREAMS:  # a requeued job starts its logs afresh
        os.close(_write_fd(workdir, f"{stream}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    inputs = (
        sorted(
            p.relative_to(workdir / "inputs").as_posix()
            for p in (workdir / "inputs").rglob("*")
            if p.is_file()
        )
        if (workdir / "inputs").is_dir()
        else []
    )
    db.session.commit()
    spec = open_spec(current_app.config, bj.spec)
    return jsonify(
        {
            "job_id": bj.job_id,
            "spec": spec,
            "inputs": inputs,
            "datasets": dataset_inputs(job) if job is not None else [],
            "attempt": bj.requeues + 1,
        }
    )


def dataset_inputs(job: Job) -> list[dict[str, str]]:
    """The job's dataset inputs: ``[{"input": name, "dataset": "ds-...", "manifest": url}]``.

    The spec's argv holds each one's manifest URL, with a token scoped to this job's datasets
    (:mod:`gateway_kit.data.jobinputs`); the agent finds it there by the dataset id, downloads
    the files into ``inputs/<name>/`` and puts that path in the URL's place. That token was
    minted when the job was staged, and a job may wait in the pool's queue (quota full, spend
    cap) or be requeued for longer than ``DATA_JOB_TOKEN_HOURS``: ``manifest`` is the same URL
    with a token minted now, which the agent fetches instead.
    """
    from ..data.jobinputs import job_token
    from ..jobs.apps import EXTENSION_KEY

    apps = current_app.extensions.get(EXTENSION_KEY)
    application = apps.get(job.app_id) if apps is not None else None
    if application is None:
        return []
    out = []
    for inp in application.inputs:
        uid = job.inputs.get(inp.name)
        if inp.type != "dataset" or not isinstance(uid, str):
            continue
        entry = {"input": inp.name, "dataset": uid}
        with contextlib.suppress(BuildError):  # data feature off: the URL in argv is all
            entry["manifest"] = url_for(
                "data_api.manifest", uid=uid, _external=True, token=job_token(current_app, job.id, [uid])
            )
        out.append(entry)
    return out


@bp.get("/jobs/<int(signed=True):job_id>/inputs/<path:rel>")
@_doc(
    "Download one of the job's staged inputs",
    responses={"200": {"description": "The file", "content": {"application/octet-stream": {}}}},
)
def get_input(job_id: int, rel: str) -> ResponseReturnValue:
    from flask import send_file

    inst = current_instance()
    _bj, workdir = _running_job(inst, job_id)
    try:
        file = open_job_file(str(workdir), f"inputs/{_safe_rel(rel).as_posix()}")
    except (FileNotFoundError, UnsafeJobFile) as exc:
        raise NotFound("No such input.") from exc
    return send_file(file, mimetype="application/octet-stream")


@bp.put("/jobs/<int(signed=True):job_id>/logs/<stream>")
@_doc(
    "Write a chunk of the job's stdout or stderr at an offset (idempotent)",
    parameters=[{"name": "offset", "in": "query", "schema": {"type": "integer"}}],
    responses={"200": {"type": "object"}},
)
@body_limit(MAX_UPLOAD)
def put_log(job_id: int, stream: str) -> ResponseReturnValue:
    inst = current_instance()
    _bj, workdir = _running_job(inst, job_id)
    if stream not in LOG_STREAMS:
        raise NotFound("No such log.")
    offset = digits(request.args.get("offset"))
    if offset is None or offset < 0:
        raise ValidationError([{"field": "offset", "message": "is required (bytes, >= 0)"}])
    data = request.get_data(cache=False)
    with os.fdopen(_write_fd(workdir, f"{stream}.txt", os.O_RDWR | os.O_CREAT), "r+b") as f:
        f.seek(0, os.SEEK_END)
        if offset > f.tell():
            raise ValidationError([{"field": "offset", "message": f"is past the end ({f.tell()})"}])
        f.seek(offset)
        f.write(data)
        f.truncate()
    return jsonify({"size": offset + len(data)})


@bp.put("/jobs/<int(signed=True):job_id>/outputs/<path:rel>")
@_doc("Upload one output file of the job", responses={"200": {"type": "object"}})
@body_limit(MAX_UPLOAD)
def put_output(job_id: int, rel: str) -> ResponseReturnValue:
    inst = current_instance()
    _bj, workdir = _running_job(inst, job_id)
    relpath = _safe_rel(rel)
    if relpath.parts[0] in PROTECTED or rel in ("stdout.txt", "stderr.txt"):
        raise BadRequest(f"Outputs cannot be written under {relpath.parts[0]!r}.")
    if (request.content_length or 0) > MAX_UPLOAD:
        raise BadRequest("The output is too large.")
    target = workdir / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = relpath.with_name(f".{relpath.name}.upload")
    size = 0
    with os.fdopen(_write_fd(workdir, tmp.as_posix(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
        while chunk := request.stream.read(1024 * 1024):
            size += f.write(chunk)
    os.replace(workdir / tmp, target)  # (a link at the target is replaced, not followed)
    return jsonify({"path": relpath.as_posix(), "size": size})


@bp.post("/jobs/<int(signed=True):job_id>/status")
@_doc(
    "Report the job's end (after its outputs were uploaded)",
    request={
        "application/json": {
            "type": "object",
            "properties": {
                "state": {"type": "string"},
                "exit_code": {"type": ["integer", "null"]},
                "reason": {"type": "string"},
                "started": {"type": ["number", "null"]},
                "finished": {"type": ["number", "null"]},
            },
        }
    },
    responses={"200": {"type": "object"}},
)
def report_status(job_id: int) -> ResponseReturnValue:
    inst = current_instance()
    bj, _workdir = _running_job(inst, job_id)
    body = request.get_json(silent=True)
    terminal = ("COMPLETED", "FAILED", "CANCELED", "TIMED_OUT")
    if not isinstance(body, dict) or body.get("state") not in terminal:
        raise ValidationError([{"field": "state", "message": f"must be one of {terminal}"}])
    if body["state"] == "CANCELED" and not bj.cancel_requested:
        # Nobody asked: its instance ended it (shutting down: every process gets SIGTERM, which
        # the job's runner takes for a cancel). Not the job's end: it goes back to the queue.
        limit = int(current_app.config.get("BURST_MAX_REQUEUES", 2))
        take_back(bj, inst, f"instance {inst.name} ended it (shutting down) without a cancel request", limit)
        db.session.commit()
        return jsonify({"job_id": job_id, "state": "requeued"})
    bj.result = {
        "state": body["state"],
        "exit_code": body.get("exit_code"),
        "reason": str(body.get("reason", ""))[:500],
        "started": body.get("started"),
        "finished": body.get("finished"),
    }
    add_share(bj, inst)
    bj.state, bj.finished_at, bj.instance_id = "done", utcnow(), None
    db.session.flush()
    busy = db.session.scalar(
        select(BurstJob.job_id)
        .where(BurstJob.instance_id == inst.id, BurstJob.state.in_(("assigned", "running")))
        .limit(1)
    )
    if busy is None:
        inst.idle_since = utcnow()
    db.session.commit()
    return jsonify({"job_id": job_id, "state": body["state"]})


@bp.post("/jobs/<int(signed=True):job_id>/address")
@_doc(
    "Report the port the job's server listens on (an interactive session's)",
    request={
        "application/json": {
            "type": "object",
            "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
            "required": ["port"],
        }
    },
    responses={"200": {"type": "object"}},
)
def report_address(job_id: int) -> ResponseReturnValue:
    inst = current_instance()
    _bj, workdir = _running_job(inst, job_id)
    body = request.get_json(silent=True)
    port = body.get("port") if isinstance(body, dict) else None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValidationError([{"field": "port", "message": "must be a whole number from 1 to 65535"}])
    if not inst.address:
        raise Conflict(f"Instance {inst.name} has no recorded address yet; report again later.")
    # The host is the one the gateway recorded for this instance, never one the agent names: a
    # compromised instance can point the session proxy at its own ports, nowhere else (no SSRF).
    target = workdir / SERVER_ADDRESS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(SERVER_ADDRESS_FILE).with_name(f".{target.name}.tmp")
    with os.fdopen(_write_fd(workdir, tmp.as_posix(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
        f.write(json.dumps({"host": inst.address, "port": port}).encode())
    os.replace(workdir / tmp, target)
    return jsonify({"host": inst.address, "port": port})


def init_api(app: Flask) -> None:
    from ..api.openapi import add_tag

    app.register_blueprint(bp)
    add_tag(app, "agent", "Burst instance agents (per-instance tokens, scope 'agent').")
