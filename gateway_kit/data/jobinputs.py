"""Datasets as job inputs.

An application input of type ``dataset`` holds a dataset identifier (``ds-...``). When a job is
staged, the job queue calls the input resolvers features added (this module's :func:`job_inputs`,
added by the data feature's ``init_app``), which checks that the job's owner may read each dataset
and replaces the identifier with what the job's executor can use, by the executor's
``dataset_access`` (:class:`~gateway_kit.jobs.executors.Executor`):

``local-view`` (the ``local`` executor)
    a read-only view of the dataset in the job's folder, ``inputs/<input name>/``: a tree of
    read-only folders (0555) holding hard links to the dataset's read-only files (0444), so the
    job sees the files at no copying cost and cannot change or delete the dataset's own copy (nor
    add files to it). When the job folder is on another filesystem than ``DATA_ROOT`` (hard links
    impossible), the value is the dataset's own folder, read-only by its modes. Note that modes do
    not bind root: the worker must not run jobs as root.
``shared-path`` (the ``slurm`` executor)
    the dataset's folder on the cluster's shared filesystem (``DATA_SLURM_ROOT`` in place of
    ``DATA_ROOT``), which compute nodes mount.
``download`` (the ``burst`` executor, and the default)
    the URL of the dataset's manifest with a download token scoped to *this job's* dataset
    inputs and expiring with ``DATA_JOB_TOKEN_HOURS``: the burst instance's agent fetches the
    manifest (``GET <url>``: JSON with each file's path, size, SHA-256 and download URL, each URL
    carrying the same token) and downloads the files, checking their SHA-256. The token opens
    nothing else: not another dataset, not the API.

A dataset the owner may not read fails the job with "No such dataset" (the same answer as an
identifier that does not exist).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import db
from ..errors import NotFound
from ..identity.models import Project, User
from ..jobs.executors.base import ExecutorError
from . import catalog, storage
from .models import Dataset

_SALT = "gateway-kit.data.job-inputs"


class DatasetInputError(ExecutorError):
    """A dataset input cannot be given to the job (the job fails with this message)."""

    status = 422
    reason = "dataset_input"
    title = "Dataset input unavailable"


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=_SALT)


def job_token(app: Flask, job_id: int, uids: list[str]) -> str:
    """A download token for the datasets ``uids`` of job ``job_id``."""
    return _serializer(app).dumps({"job": job_id, "datasets": sorted(uids)})


def check_job_token(app: Flask, token: str, uid: str) -> int | None:
    """The job id if ``token`` is valid, unexpired and covers dataset ``uid``; else None."""
    max_age = int(float(app.config["DATA_JOB_TOKEN_HOURS"]) * 3600)
    try:
        data = _serializer(app).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or uid not in data.get("datasets", ()):
        return None
    job = data.get("job")
    return job if isinstance(job, int) else None


def read_only_view(source: Path, target: Path, marker: Path) -> bool:
    """Hard-link ``source``'s files into ``target`` under read-only folders; False on EXDEV.

    Idempotent: once complete, ``marker`` exists and the view is kept as it is (a retried
    staging after a worker restart sees the same files).
    """
    if marker.exists():
        return True
    target.mkdir(parents=True, exist_ok=True)
    folders: list[Path] = [target]
    try:
        for dirpath, dirnames, filenames in os.walk(source):
            rel = Path(dirpath).relative_to(source)
            for d in dirnames:
                (target / rel / d).mkdir(exist_ok=True)
                folders.append(target / rel / d)
            for f in filenames:
                dst = target / rel / f
                if not dst.exists():
                    os.link(Path(dirpath) / f, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        raise
    for folder in reversed(folders):
        folder.chmod(0o555)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True


def resolve_value(
    app: Flask, session: Session, ds: Dataset, *, access: str, job_id: int, workdir: Path, input_name: str
) -> str:
    """What the job sees for dataset ``ds`` given the executor's ``dataset_access`` (see the module
    docstring)."""
    source = storage.dataset_dir(app.config, ds.uid)
    if access == "local-view":
        view = workdir / "inputs" / input_name
        marker = workdir / ".gk" / f"dataset-{input_name}.staged"
        if read_only_view(source, view, marker):
            return f"inputs/{input_name}"
        return str(source.resolve())
    if access == "shared-path":
        shared = app.config["DATA_SLURM_ROOT"] or app.config["DATA_ROOT"]
        return str(Path(shared) / ds.uid / "files")
    token = job_token(app, job_id, [ds.uid])
    base = app.config["PUBLIC_URL"].rstrip("/")
    with app.test_request_context(base_url=base or "http://localhost"):
        return url_for("data_api.manifest", uid=ds.uid, token=token, _external=True)


def resolve_inputs(
    app: Flask,
    session: Session,
    *,
    application: Any,
    values: Mapping[str, Any],
    user_id: int,
    job_id: int,
    workdir: Path,
    access: str,
) -> dict[str, Any]:
    """``values`` with every dataset input replaced by what the executor can use.

    :param application: the job's :class:`~gateway_kit.jobs.apps.Application`.
    :param access: the ``dataset_access`` of the destination's executor.
    :raises DatasetInputError: a dataset does not exist or the job's owner may not read it.
    """
    out = dict(values)
    user = session.get(User, user_id)
    for inp in application.inputs:
        if inp.type != "dataset" or not isinstance(values.get(inp.name), str):
            continue
        try:
            ds = catalog.get_readable(session, user, values[inp.name])
        except NotFound as exc:
            raise DatasetInputError(f"Input {inp.name!r}: no such dataset {values[inp.name]!r}.") from exc
        out[inp.name] = resolve_value(
            app, session, ds, access=access, job_id=job_id, workdir=workdir, input_name=inp.name
        )
    return out


def job_inputs(app: Flask, application: Any, job: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The job queue's input resolver: ``values`` with dataset inputs resolved for the job's
    destination (:data:`gateway_kit.jobs.inputs.InputResolver`).

    Raising :class:`DatasetInputError` (an ``ExecutorError``) fails the job with its message.
    """
    if not any(i.type == "dataset" for i in application.inputs):
        return values
    from ..jobs.destinations import destinations

    access = destinations(app).classes[job.destination].dataset_access
    with db.session_scope(app) as session:
        return resolve_inputs(
            app,
            session,
            application=application,
            values=values,
            user_id=job.user_id,
            job_id=job.id,
            workdir=Path(job.workdir),
            access=access,
        )


def check_dataset_inputs(
    session: Session, user: User, application: Any, values: dict[str, Any]
) -> list[dict[str, str]]:
    """The job form's and API's check at submission: each dataset input names a dataset the
    user may read (an unknown one and another project's private one get the same answer)."""
    errors: list[dict[str, str]] = []
    for inp in application.inputs:
        uid = values.get(inp.name)
        if inp.type != "dataset" or not isinstance(uid, str):
            continue
        ds = session.scalars(select(Dataset).where(Dataset.uid == uid)).first()
        if ds is None or not catalog.can_read(session, user, ds):
            errors.append(
                {
                    "field": f"inputs.{inp.name}",
                    "message": f"no dataset {uid!r} that you may read; choose one of your "
                    "datasets or a shared one (see /datasets)",
                }
            )
    return errors


def dataset_choices(session: Session, user: User | None) -> list[tuple[str, str]]:
    """The datasets a form offers: those ``user`` may read, the newest first (at most 500)."""
    rows = session.execute(
        select(Dataset.uid, Dataset.name, Project.name)
        .join(Project, Project.id == Dataset.project_id)
        .where(catalog.visible_clause(session, user))
        .order_by(Dataset.id.desc())
        .limit(500)
    ).all()
    return [(uid, f"{name} · {project}") for uid, name, project in rows]
