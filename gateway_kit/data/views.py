"""Dataset pages (browse, search, a dataset, create, small uploads, downloads) and the operator's
backups page."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..db import db
from ..errors import GatewayError, NotFound, ValidationError
from ..identity.access import current_user, login_required, role_required
from ..identity.models import Project, ProjectMember, User
from ..jobs import service as jobs_service
from ..jobs.files_web import add_output_action
from ..web import add_home_panel, add_nav
from ..web.bodylimits import body_limit
from ..web.preview import preview
from ..web.request import digits
from . import backups, catalog, storage, uploads
from .api import send_dataset_file
from .models import VISIBILITIES, Dataset

bp = Blueprint(
    "data", __name__, template_folder="templates", static_folder="static", static_url_path="/static/data"
)
#: The page hashes a whole file in memory (WebCrypto has no streaming digest): larger files go
#: through the CLI, which streams.
BROWSER_MAX_BYTES = 4 * 1024**3


@bp.get("/datasets")
def browse() -> ResponseReturnValue:
    user = current_user()
    q = request.args.get("q", "").strip()
    page = max(1, digits(request.args.get("page"), 10**6) or 1)
    rows, total = catalog.search(db.session, user, q, offset=(page - 1) * 25, limit=25)
    names = dict(
        db.session.query(Project.id, Project.name)
        .filter(Project.id.in_({d.project_id for d in rows} or {-1}))
        .all()
    )
    return render_template(
        "data/browse.html",
        datasets=rows,
        total=total,
        q=q,
        page=page,
        projects=names,
        human=catalog.human_size,
    )


def _my_projects() -> list[Project]:
    user = current_user()
    assert user is not None
    q = db.session.query(Project)
    if not user.is_admin:
        q = q.join(ProjectMember).filter(ProjectMember.user_id == user.id)
    return list(q.order_by(Project.name))


@bp.route("/datasets/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in catalog.FIELDS}
        user = current_user()
        assert user is not None
        try:
            ds = catalog.create(db.session, user, form)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Dataset {ds.name} created.", "success")
            return redirect(url_for("data.dataset_page", uid=ds.uid))
    return render_template(
        "data/new.html", projects=_my_projects(), errors=errors, visibilities=VISIBILITIES, form=request.form
    ), 422 if errors else 200


def _page(ds: Dataset) -> ResponseReturnValue:
    user = current_user()
    project = db.session.get(Project, ds.project_id)
    project_name = project.name if project else "?"
    quota = used = 0
    writable = catalog.can_write(db.session, user, ds)
    open_uploads: list[dict[str, Any]] = []
    if writable and project is not None:
        quota = catalog.quota_bytes(current_app.config, project)
        used = catalog.used_bytes(db.session, project.id)
        open_uploads = uploads.unfinished(db.session, ds)
    return render_template(
        "data/dataset.html",
        ds=ds,
        project=project_name,
        writable=writable,
        quota=quota,
        used=used,
        human=catalog.human_size,
        visibilities=VISIBILITIES,
        chunk_mb=current_app.config["DATA_CHUNK_MB"],
        chunk_bytes=uploads.max_chunk(current_app.config),
        max_hash_bytes=BROWSER_MAX_BYTES,
        open_uploads=open_uploads,
    )


@bp.get("/datasets/<uid>")
def dataset_page(uid: str) -> ResponseReturnValue:
    return _page(catalog.get_readable(db.session, current_user(), uid))


@bp.post("/datasets/<uid>")
@login_required
def dataset_update(uid: str) -> ResponseReturnValue:
    ds = catalog.get_writable(db.session, current_user(), uid)
    if request.form.get("action") == "delete":
        catalog.delete(db.session, ds)
        flash(f"Dataset {ds.name} deleted.", "success")
        return redirect(url_for("data.browse"))
    data = {
        k: request.form[k]
        for k in ("name", "description", "license", "doi", "visibility")
        if k in request.form
    }
    catalog.update(db.session, ds, data)
    flash("Saved.", "success")
    return redirect(url_for("data.dataset_page", uid=uid))


@bp.post("/datasets/<uid>/upload")
@login_required
@body_limit("DATA_CHUNK_MB")
def upload_form(uid: str) -> ResponseReturnValue:
    """A file from the page's form, as a one-chunk upload (large files: the API or the CLI)."""
    user = current_user()
    assert user is not None
    ds = catalog.get_writable(db.session, user, uid)
    fs = request.files.get("file")
    if fs is None or not fs.filename:
        flash("Choose a file to upload.", "error")
        return redirect(url_for("data.dataset_page", uid=uid))
    limit = int(float(current_app.config["DATA_CHUNK_MB"]) * 1024 * 1024)
    data = fs.stream.read(limit + 1)
    if len(data) > limit:
        flash(
            f"Files larger than {current_app.config['DATA_CHUNK_MB']:g} MB upload through the "
            "API (resumable); see the instructions below.",
            "error",
        )
        return redirect(url_for("data.dataset_page", uid=uid))
    path = (request.form.get("folder", "").strip("/") + "/" + fs.filename).lstrip("/")
    try:
        uploads.add_file(db.session, current_app.config, user, ds, path, lambda: io.BytesIO(data))
    except GatewayError as exc:
        flash(exc.user_message, "error")
    else:
        flash(f"Uploaded {path}.", "success")
    return redirect(url_for("data.dataset_page", uid=uid))


@bp.get("/datasets/<uid>/files/<path:rel>")
def download_page(uid: str, rel: str) -> ResponseReturnValue:
    return send_dataset_file(catalog.get_readable(db.session, current_user(), uid), rel)


@bp.get("/datasets/<uid>/view/<path:rel>")
def file_page(uid: str, rel: str) -> ResponseReturnValue:
    """One file of a dataset, previewed (text, tables, JSON, images) with its download link."""
    ds = catalog.get_readable(db.session, current_user(), uid)
    row = next((f for f in ds.files if f.path == rel), None)
    if row is None:
        raise NotFound("No such file.")
    path = storage.file_path(current_app.config, ds.uid, rel)
    return render_template(
        "data/file.html",
        ds=ds,
        file=row,
        preview=preview(rel, row.size, lambda: open(path, "rb")),
        download=url_for("data.download_page", uid=ds.uid, rel=rel),
    )


@bp.post("/jobs/<int:job_id>/to-dataset")
@login_required
def copy_output(job_id: int) -> ResponseReturnValue:
    """Copy output ``rel`` of a job the user may see into a dataset they may change."""
    user = current_user()
    assert user is not None
    job = jobs_service.get_readable_job(db.session, user, job_id)
    rel = request.form.get("rel", "")
    back = url_for("job_files.files", job_id=job.id, rel=rel)
    try:
        ds = catalog.get_writable(db.session, user, request.form.get("dataset", ""))
        target = request.form.get("path", "").strip().strip("/") or rel
        with jobs_service.open_output(job, rel):
            pass  # an unknown output answers 404 before anything is written
        row = uploads.add_file(
            db.session, current_app.config, user, ds, target, lambda: jobs_service.open_output(job, rel)
        )
    except NotFound:
        raise
    except GatewayError as exc:
        flash(exc.user_message, "error")
        return redirect(back)
    flash(f"Copied {rel} of job {job.id} into {ds.name} as {row.path}.", "success")
    return redirect(url_for("data.dataset_page", uid=ds.uid))


def _copy_action(user: User, job: Any, rel: str) -> dict[str, Any]:
    return {"job": job, "rel": rel, "datasets": catalog.writable(db.session, user)}


def _published_host() -> ResponseReturnValue | None:
    """A request for a published dataset's own name shows that dataset."""
    if request.path != "/" or request.method not in ("GET", "HEAD"):
        return None
    host = (request.host or "").split(":", 1)[0].lower().rstrip(".") + "."
    ds = db.session.query(Dataset).filter(Dataset.dns_name == host).first()
    if ds is None:
        return None
    if not catalog.can_read(db.session, current_user(), ds):
        abort(404)
    return _page(ds)


# -- operator console --------------------------------------------------------------------------


@bp.get("/operator/backups")
@role_required("operator")
def backups_page() -> ResponseReturnValue:
    settings = current_app.config
    archives = backups.list_archives(settings)
    status = backups.health(settings)
    snapshots: list[Any] = []
    snapshot_error = ""
    if settings["DATA_SNAPSHOT_VOLUMES"]:
        try:
            snapshots = backups.list_snapshots(backups.connect(settings))
        except GatewayError as exc:
            snapshot_error = exc.user_message
        except Exception as exc:  # the cloud's configuration may be missing on this host
            snapshot_error = f"The cloud could not be reached ({exc.__class__.__name__})."
    return render_template(
        "data/backups.html",
        archives=archives,
        health=status,
        snapshots=snapshots,
        snapshot_error=snapshot_error,
        format_age=backups.format_age,
        human=catalog.human_size,
        interval=settings["DATA_BACKUP_INTERVAL_HOURS"],
        volumes=settings["DATA_SNAPSHOT_VOLUMES"],
    )


def _datasets_panel(user: Any) -> dict[str, Any]:
    """The newest datasets ``user`` (None: a visitor) may read."""
    rows = list(
        db.session.scalars(
            select(Dataset)
            .where(catalog.visible_clause(db.session, user))
            .order_by(Dataset.id.desc())
            .limit(6)
        )
    )
    return {"datasets": rows, "human": catalog.human_size}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_home_panel(app, "data/_home_datasets.html", _datasets_panel, order=30, visitors=True)
    app.before_request(_published_host)
    add_nav(app, "data.browse", "Datasets", role=None, order=30)
    add_output_action(app, "data/_copy_output.html", _copy_action)
    add_nav(app, "data.backups_page", "Backups", role="operator", order=85)
