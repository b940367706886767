"""The file browser of a job's outputs (folders, inline previews, downloads, a folder as a zip)
and the comparison of several jobs side by side.

Who may see what: the same rule as the job page (:func:`.service.get_readable_job`: the owner,
operators, administrators, and the project's members when the owner shared it); others' jobs
answer 404. Files are opened only through
:func:`.service.open_output` (no link followed). Other features add actions to a file's page
with :func:`add_output_action` (the data feature: copy an output into a dataset).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from ..db import db
from ..identity.access import current_user, login_required
from ..identity.models import User
from ..web.preview import is_image, preview
from ..web.request import ID_MAX, digits
from . import browse, service
from .apps import registry
from .models import Job
from .states import TERMINAL, JobState

bp = Blueprint("job_files", __name__)
ACTIONS_KEY = "gateway_kit.output_actions"
#: How many jobs the comparison shows side by side.
COMPARE_MAX = 4
OutputAction = Callable[[User, Job, str], "dict[str, Any] | None"]


def add_output_action(app: Flask, template: str, context: OutputAction) -> None:
    """Show ``template`` on an output file's page, rendered with ``ctx = context(user, job, path)``
    (None: not shown)."""
    app.extensions.setdefault(ACTIONS_KEY, []).append({"template": template, "context": context})


def _actions(user: User, job: Job, rel: str) -> list[dict[str, Any]]:
    out = []
    for action in current_app.extensions.get(ACTIONS_KEY, []):
        ctx = action["context"](user, job, rel)
        if ctx is not None:
            out.append({"template": action["template"], "ctx": ctx})
    return out


def _user() -> User:
    user = current_user()
    assert user is not None
    return user


def _crumbs(job: Job, rel: str) -> list[tuple[str, str]]:
    parts = PurePosixPath(rel).parts if rel else ()
    out = [("outputs", url_for("job_files.files", job_id=job.id))]
    for i, part in enumerate(parts):
        out.append((part, url_for("job_files.files", job_id=job.id, rel="/".join(parts[: i + 1]))))
    return out


@bp.get("/jobs/<int:job_id>/files/")
@bp.get("/jobs/<int:job_id>/files/<path:rel>")
@login_required
def files(job_id: int, rel: str = "") -> ResponseReturnValue:
    user = _user()
    job = service.get_readable_job(db.session, user, job_id)
    rel = rel.strip("/")
    kind, outputs = browse.find(job, rel)
    common = {
        "job": job,
        "rel": rel,
        "crumbs": _crumbs(job, rel),
        "application": registry().get(job.app_id),
        "terminal": JobState(job.state) in TERMINAL,
    }
    if kind == "folder":
        return render_template("jobs/files.html", entries=browse.split(outputs, rel), **common)
    size = next(o["size"] for o in outputs if o["path"] == rel)
    return render_template(
        "jobs/file.html",
        size=size,
        preview=preview(rel, size, lambda: service.open_output(job, rel)),
        download=url_for("jobs_api.download_output", job_id=job.id, path=rel),
        actions=_actions(user, job, rel),
        **common,
    )


@bp.get("/jobs/<int:job_id>/archive/")
@bp.get("/jobs/<int:job_id>/archive/<path:rel>")
@login_required
def archive(job_id: int, rel: str = "") -> ResponseReturnValue:
    """The outputs under folder ``rel`` as ``job-<id>[-folder].zip``."""
    job = service.get_readable_job(db.session, _user(), job_id)
    rel = rel.strip("/")
    name = f"job-{job.id}" + (f"-{rel.replace('/', '-')}" if rel else "") + ".zip"
    return send_file(
        browse.archive(job, rel), as_attachment=True, download_name=name, mimetype="application/zip"
    )


@bp.get("/jobs/compare")
@login_required
def compare() -> ResponseReturnValue:
    """Jobs ``?job=1&job=2`` side by side: inputs, state, time, SUs, outputs, and one output
    (``?file=stats.json``, by default the first that all of them have) previewed in each."""
    user = _user()
    ids = []
    for text in request.args.getlist("job"):
        number = digits(text, ID_MAX)
        if number is not None and number not in ids:
            ids.append(number)
    if not 2 <= len(ids) <= COMPARE_MAX:
        flash(f"Check between 2 and {COMPARE_MAX} jobs to compare them.", "error")
        return redirect(url_for("jobs.my_jobs"))
    jobs = [service.get_readable_job(db.session, user, i) for i in ids]
    outputs = {job.id: service.outputs(job) for job in jobs}
    shared = sorted(set.intersection(*({o["path"] for o in outs} for outs in outputs.values())))
    shared = [p for p in shared if p not in ("stdout.txt", "stderr.txt")] + [
        p for p in shared if p in ("stdout.txt", "stderr.txt")
    ]
    chosen = request.args.get("file", "")
    if chosen not in shared:
        chosen = shared[0] if shared else ""
    previews = {}
    if chosen:
        for job in jobs:
            size = next(o["size"] for o in outputs[job.id] if o["path"] == chosen)
            previews[job.id] = preview(chosen, size, lambda job=job: service.open_output(job, chosen))
    return render_template(
        "jobs/compare.html",
        jobs=jobs,
        outputs=outputs,
        shared=shared,
        chosen=chosen,
        previews=previews,
        titles={a.id: a.title for a in registry().all(None)},
        is_image=is_image,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(is_image, "is_image")
