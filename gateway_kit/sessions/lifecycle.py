"""The worker's ``sessions`` task: start queued sessions, wait for readiness, cull, end, charge.

Each pass takes every session that is not terminal, one row lock at a time (``SKIP LOCKED`` on
PostgreSQL, so several workers share the work), and moves it along:

* ``queued`` -> ``starting``: the launcher places the server, the destination's executor starts
  the rendered command (a job of that executor, so it gets CPU/GPU slots as jobs do);
* ``starting`` -> ``ready``: the readiness path answers 2xx/3xx (with the server's token);
  ``failed`` if the server exits or misses ``startup_timeout``;
* ``ready`` -> ``ending``: end requested, duration over, or idle longer than the idle timeout --
  activity comes from the server's own API (``jupyter``: ``/api/status`` ``last_activity``, as
  jupyterhub-idle-culler reads it) and from the proxy's traffic clock, whichever is later;
* ``ending`` -> ``ended``: the executor ends the server's process group / job and releases its
  slots; the wall time since the start is charged at the destination's rates.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import db
from ..jobs import accounting
from ..jobs.apps import Application, registry, render_argv, render_env
from ..jobs.destinations import destinations
from ..jobs.executors.base import CapacityExhausted, ExecutorError, JobSpec, PollResult
from ..jobs.jobfiles import open_job_file
from ..jobs.states import TERMINAL as JOB_TERMINAL
from ..jobs.states import JobState
from .launchers import launcher_for
from .models import InteractiveSession, aware, utcnow
from .nodeserver import PORT_MARK
from .service import add_event, finish, idle_for
from .states import TERMINAL, SessionState

log = logging.getLogger("gateway_kit.sessions")
#: Added to the executor's hard walltime so that the session's own end (with its charge) comes first.
HARD_LIMIT_GRACE = 120


def base_url(session_id: int) -> str:
    return f"/sessions/{session_id}/"


def executor_job_id(row: InteractiveSession) -> int:
    """Sessions run as executor jobs with negative ids: they never collide with batch jobs."""
    return -row.id


def run_sessions(app: Flask) -> None:
    """One pass over the sessions that are not terminal (the worker calls it every interval)."""
    ids = list(
        db.session.scalars(
            select(InteractiveSession.id)
            .where(InteractiveSession.state.not_in([s.value for s in TERMINAL]))
            .order_by(InteractiveSession.id)
        )
    )
    db.session.rollback()
    for sid in ids:
        try:
            step(app, db.session, sid)
        except Exception:
            db.session.rollback()
            log.exception("session %s: pass failed; retrying next pass", sid)


def step(app: Flask, session: Session, sid: int) -> None:
    query = select(InteractiveSession).where(InteractiveSession.id == sid)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).first()
    if row is None or row.session_state in TERMINAL:
        session.rollback()
        return
    state = row.session_state
    if state is SessionState.QUEUED:
        _start(app, session, row)
    elif state is SessionState.STARTING:
        _check_starting(app, session, row)
    elif state is SessionState.READY:
        _check_ready(app, session, row)
    if row.session_state is SessionState.ENDING:
        _stop(app, session, row)
    session.commit()


def _move(session: Session, row: InteractiveSession, new: SessionState, reason: str) -> None:
    old = row.session_state
    row.state = new.value
    row.state_reason = reason
    row.updated_at = utcnow()
    add_event(session, row, old, new, reason)


def _start(app: Flask, session: Session, row: InteractiveSession) -> None:
    if row.end_requested:
        finish(session, row, SessionState.ENDED, "ended before it started", 0.0)
        return
    application = registry(app).get(row.app_id)
    if application is None or application.interactive is None:
        finish(session, row, SessionState.FAILED, f"application {row.app_id!r} is no longer installed", 0.0)
        return
    options = destinations(app).options(row.destination)
    launcher = launcher_for(options, row.destination)
    placed = launcher.place(row.id)
    token = secrets.token_hex(24)  # hex: never starts with "-" (an option to argv parsers)
    workdir = Path(row.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port_text = str(placed[1]) if placed is not None else PORT_MARK
    provided = {
        "port": port_text,
        "host": launcher.bind_address(),
        "base_url": base_url(row.id),
        "token": token,
    }
    rendered = render_argv(application, row.inputs, row.resources, provided)
    argv = launcher.wrap(rendered, workdir)
    spec = JobSpec(
        job_id=executor_job_id(row),
        argv=argv,
        workdir=str(workdir),
        env=render_env(application, provided),
        cpus=int(row.resources["cpus"]),
        memory_mb=int(row.resources["memory_mb"]),
        gpus=int(row.resources["gpus"]),
        walltime=int(application.resources.walltime.maximum)
        + int(application.interactive.startup_timeout)
        + HARD_LIMIT_GRACE,
        app_id=application.id,
        options=options,
    )
    try:
        state = destinations(app).executor(row.destination).submit(spec)
    except CapacityExhausted as exc:
        if row.state_reason != f"waiting for capacity: {exc.user_message}":
            row.state_reason = f"waiting for capacity: {exc.user_message}"
        return
    except ExecutorError as exc:
        finish(session, row, SessionState.FAILED, f"could not start: {exc.user_message}", 0.0)
        return
    row.launcher_state = {"executor": state, "placed": list(placed) if placed is not None else None}
    row.backend_host, row.backend_port = placed if placed is not None else ("", 0)
    row.set_token(app.config, token)
    row.started_at = utcnow()
    _move(session, row, SessionState.STARTING, f"starting on {row.destination}")


def _executor_ended(app: Flask, row: InteractiveSession) -> str | None:
    """The executor's reason when the server's job has ended, else None."""
    result = _poll(app, row)
    return None if result is None else (result.reason or result.state.value.lower())


def _poll(app: Flask, row: InteractiveSession, *, ended_only: bool = True) -> PollResult | None:
    """The executor's view of the server's job: only when it has ended (``ended_only``), else always;
    a session without a job reads as FAILED."""
    state = (row.launcher_state or {}).get("executor")
    if state is None:
        return PollResult(JobState.FAILED, reason="no server was started")
    result = destinations(app).executor(row.destination).poll(state)
    if result.executor_state is not None:
        row.launcher_state = {**(row.launcher_state or {}), "executor": result.executor_state}
    if result.state in JOB_TERMINAL or not ended_only:
        return result
    return None


def _client() -> httpx.Client:
    # trust_env=False: never route a loopback/private backend call through an HTTP(S)_PROXY.
    return httpx.Client(timeout=3.0, trust_env=False, follow_redirects=False)


def _url(row: InteractiveSession, path: str) -> str:
    return f"http://{row.backend_host}:{row.backend_port}{base_url(row.id)}{path}"


def _headers(row: InteractiveSession) -> dict[str, str]:
    return {"Authorization": f"token {row.token(current_app.config)}"}


def _check_starting(app: Flask, session: Session, row: InteractiveSession) -> None:
    application = registry(app).get(row.app_id)
    assert application is not None and application.interactive is not None
    result = _poll(app, row, ended_only=False)
    assert result is not None
    if result.state in JOB_TERMINAL:
        reason = result.reason or result.state.value.lower()
        _fail(app, session, row, f"the server exited before it was ready ({reason}){_log_tail(row)}")
        return
    if row.end_requested:
        _move(session, row, SessionState.ENDING, "ended by its owner")
        return
    if result.state in (JobState.QUEUED, JobState.SUBMITTED):
        # Still in the executor's queue (a SLURM partition, a burst instance booting): the
        # session's clocks -- startup timeout, duration, charge -- start when its job runs.
        row.started_at = utcnow()
        waiting = f"waiting on {row.destination}: {result.reason or 'queued'}"
        if row.state_reason != waiting:
            row.state_reason = waiting
        return
    if row.state_reason.startswith("waiting on "):
        row.state_reason = f"starting on {row.destination}"
    raw = (row.launcher_state or {}).get("placed")
    placed = (str(raw[0]), int(raw[1])) if raw else None
    launcher = launcher_for(destinations(app).options(row.destination), row.destination)
    located = launcher.locate(placed, Path(row.workdir))
    if located is not None:
        row.backend_host, row.backend_port = located
        try:
            with _client() as client:
                answer = client.get(_url(row, application.interactive.readiness_path), headers=_headers(row))
            if answer.status_code < 400:
                row.ready_at = row.last_activity = utcnow()
                waited = (row.ready_at - aware(row.started_at or row.ready_at)).total_seconds()
                _move(session, row, SessionState.READY, f"ready after {waited:.1f} s")
                return
        except httpx.HTTPError:
            pass  # not listening yet
    started = aware(row.started_at or utcnow())
    if utcnow() - started > timedelta(seconds=application.interactive.startup_timeout):
        _fail(
            app,
            session,
            row,
            f"the server was not ready within {application.interactive.startup_timeout:g} s{_log_tail(row)}",
        )


def _fail(app: Flask, session: Session, row: InteractiveSession, reason: str) -> None:
    _end_server(app, row)
    finish(session, row, SessionState.FAILED, reason, _charge(app, row))


def _log_tail(row: InteractiveSession, limit: int = 400) -> str:
    """The end of the server's stderr, for the failure reason (the token is masked)."""
    try:
        # The server's user can replace the file with a link (to a file only the gateway may
        # read, or /dev/zero) or a FIFO: never follow one, and read only the end.
        with open_job_file(row.workdir, "stderr.txt") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            data = f.read(limit)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").strip()
    token = row.token(current_app.config)
    if token:
        text = text.replace(token, "***")
    return f": ...{text}" if text else ""


def _server_activity(application: Application, row: InteractiveSession) -> datetime | None:
    assert application.interactive is not None
    if application.interactive.activity != "jupyter":
        return None
    try:
        with _client() as client:
            answer = client.get(_url(row, "api/status"), headers=_headers(row))
        value = answer.json().get("last_activity") if answer.status_code == 200 else None
        return aware(datetime.fromisoformat(value.replace("Z", "+00:00"))) if isinstance(value, str) else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def _check_ready(app: Flask, session: Session, row: InteractiveSession) -> None:
    application = registry(app).get(row.app_id)
    assert application is not None and application.interactive is not None
    ended = _executor_ended(app, row)
    if ended is not None:
        _fail(app, session, row, f"the server exited ({ended}){_log_tail(row)}")
        return
    if row.end_requested:
        _move(session, row, SessionState.ENDING, "ended by its owner")
        return
    ends = row.ends_at
    if ends is not None and utcnow() >= ends:
        _move(
            session, row, SessionState.ENDING, f"its duration of {int(row.resources['walltime'])} s ran out"
        )
        return
    seen = _server_activity(application, row)
    if seen is not None and (row.last_activity is None or seen > aware(row.last_activity)):
        row.last_activity = seen
    idle = idle_for(row)
    if idle.total_seconds() > row.idle_timeout:
        _move(
            session,
            row,
            SessionState.ENDING,
            f"culled: idle for {int(idle.total_seconds())} s (limit {row.idle_timeout:g} s)",
        )


def _end_server(app: Flask, row: InteractiveSession) -> None:
    state = (row.launcher_state or {}).get("executor")
    if state is None:
        return
    executor = destinations(app).executor(row.destination)
    executor.cancel(state)
    executor.release(state)


def _charge(app: Flask, row: InteractiveSession) -> float:
    if row.started_at is None:
        return 0.0
    seconds = (utcnow() - aware(row.started_at)).total_seconds()
    return accounting.cost(
        destinations(app).options(row.destination), row.resources["cpus"], row.resources["gpus"], seconds
    )


def _stop(app: Flask, session: Session, row: InteractiveSession) -> None:
    _end_server(app, row)
    finish(session, row, SessionState.ENDED, row.state_reason or "ended", _charge(app, row))
