"""The dataset catalog: who may see and change which dataset, search, quotas.

Visibility
    ``public``: everyone, signed in or not. ``project``: the members of the owning project.
    ``private``: the user who created it and the owning project's managers. Operators and admins
    see every dataset (they run the service), as they see every job.

Changing a dataset (metadata, uploads, deleting files) is for its creator, the owning project's
managers and admins. Creating one needs membership of the owning project.

A dataset the caller may not see answers 404, exactly like one that does not exist: its existence
is not leaked, and a guessed identifier tells nothing.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from ..errors import Forbidden, NotFound, QuotaExceeded, ValidationError
from ..identity.models import Project, ProjectMember, User
from ..web.sizes import human_size as _human
from . import storage
from .models import VISIBILITIES, Dataset, DatasetFile, Upload, utcnow

GB = 1000**3
FIELDS = ("name", "description", "license", "doi", "visibility", "project")


def new_uid() -> str:
    return f"ds-{secrets.token_hex(6)}"


def _memberships(session: Session, user: User) -> dict[int, str]:
    rows = session.execute(
        select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == user.id)
    ).all()
    return {pid: role for pid, role in rows}


def visible_clause(session: Session, user: User | None) -> ColumnElement[bool]:
    """A WHERE clause selecting the datasets ``user`` (None: anonymous) may see."""
    public = Dataset.visibility == "public"
    if user is None:
        return public
    if user.is_operator:
        return Dataset.id.is_not(None)
    roles = _memberships(session, user)
    managed = [pid for pid, role in roles.items() if role == "manager"]
    return or_(
        public,
        (Dataset.visibility == "project") & Dataset.project_id.in_(list(roles) or [-1]),
        (Dataset.visibility == "private")
        & ((Dataset.created_by == user.id) | Dataset.project_id.in_(managed or [-1])),
    )


def can_read(session: Session, user: User | None, ds: Dataset) -> bool:
    if ds.visibility == "public":
        return True
    if user is None:
        return False
    if user.is_operator:
        return True
    role = _memberships(session, user).get(ds.project_id)
    if ds.visibility == "project":
        return role is not None
    return ds.created_by == user.id or role == "manager"


def can_write(session: Session, user: User | None, ds: Dataset) -> bool:
    if user is None:
        return False
    if user.is_admin or ds.created_by == user.id:
        return True
    return _memberships(session, user).get(ds.project_id) == "manager"


def writable(session: Session, user: User, limit: int = 200) -> list[Dataset]:
    """The datasets ``user`` may change (see :func:`can_write`), by name."""
    query = select(Dataset)
    if not user.is_admin:
        managed = [pid for pid, role in _memberships(session, user).items() if role == "manager"]
        query = query.where(or_(Dataset.created_by == user.id, Dataset.project_id.in_(managed or [-1])))
    return list(session.scalars(query.order_by(Dataset.name).limit(limit)))


def get_readable(session: Session, user: User | None, uid: str) -> Dataset:
    """The dataset if ``user`` may see it; NotFound otherwise (also when it does not exist)."""
    ds = session.scalars(select(Dataset).where(Dataset.uid == uid)).first()
    if ds is None or not can_read(session, user, ds):
        raise NotFound("No such dataset.")
    return ds


def get_writable(session: Session, user: User | None, uid: str) -> Dataset:
    """The dataset if ``user`` may change it; NotFound if unseen, Forbidden if only readable."""
    ds = get_readable(session, user, uid)
    if not can_write(session, user, ds):
        raise Forbidden(
            "Only the dataset's creator, its project's managers and administrators may change it."
        )
    return ds


def search(
    session: Session,
    user: User | None,
    q: str = "",
    *,
    project: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Dataset], int]:
    """Datasets visible to ``user`` whose name, description or license contains ``q``."""
    where = [visible_clause(session, user)]
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        where.append(
            or_(
                func.lower(Dataset.name).like(like),
                func.lower(Dataset.description).like(like),
                func.lower(Dataset.license).like(like),
                Dataset.uid == q,
            )
        )
    if project:
        where.append(Dataset.project_id.in_(select(Project.id).where(Project.name == project)))
    total = session.scalar(select(func.count()).select_from(Dataset).where(*where)) or 0
    rows = list(
        session.scalars(
            select(Dataset).where(*where).order_by(Dataset.name, Dataset.id).offset(offset).limit(limit)
        )
    )
    return rows, total


def _check_fields(data: Mapping[str, Any], *, creating: bool) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for key in data:
        if key not in FIELDS:
            errors.append({"field": key, "message": f"is not a known field (expected {', '.join(FIELDS)})"})
    limits = {"name": 200, "description": 20000, "license": 100, "doi": 200, "project": 64}
    for key, most in limits.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append({"field": key, "message": "must be a string"})
        elif len(value) > most:
            errors.append({"field": key, "message": f"must be at most {most} characters"})
    if creating and not str(data.get("name") or "").strip():
        errors.append({"field": "name", "message": "is required"})
    doi = data.get("doi")
    if isinstance(doi, str) and doi and not doi.startswith("10."):
        errors.append({"field": "doi", "message": "must be a DOI such as 10.5281/zenodo.123"})
    vis = data.get("visibility")
    if vis is not None and vis not in VISIBILITIES:
        errors.append({"field": "visibility", "message": f"must be one of {', '.join(VISIBILITIES)}"})
    return errors


def create(session: Session, user: User, data: Mapping[str, Any]) -> Dataset:
    """Create an empty dataset owned by one of ``user``'s projects. Commits."""
    errors = _check_fields(data, creating=True)
    roles = _memberships(session, user)
    projects = (
        {p.name: p for p in session.scalars(select(Project).where(Project.id.in_(list(roles) or [-1])))}
        if not user.is_admin
        else {p.name: p for p in session.scalars(select(Project))}
    )
    name = data.get("project")
    project: Project | None = None
    if name:
        project = projects.get(str(name))
        if project is None:
            errors.append(
                {
                    "field": "project",
                    "message": f"you are not a member of project "
                    f"{name!r} (yours: {', '.join(sorted(projects)) or 'none'})",
                }
            )
    elif len(projects) == 1:
        project = next(iter(projects.values()))
    else:
        errors.append(
            {
                "field": "project",
                "message": "is required: one of "
                f"{', '.join(sorted(projects)) or '(you belong to no project)'}",
            }
        )
    if errors:
        raise ValidationError(errors)
    assert project is not None
    ds = Dataset(
        uid=new_uid(),
        name=str(data["name"]).strip(),
        description=str(data.get("description") or ""),
        license=str(data.get("license") or ""),
        doi=str(data.get("doi") or ""),
        project_id=project.id,
        created_by=user.id,
        visibility=str(data.get("visibility") or "private"),
    )
    session.add(ds)
    session.commit()
    storage.dataset_dir(current_app.config, ds.uid).mkdir(parents=True, exist_ok=True)
    return ds


def update(session: Session, ds: Dataset, data: Mapping[str, Any]) -> Dataset:
    """Change metadata (not the owning project). Commits."""
    errors = _check_fields(data, creating=False)
    if "project" in data:
        errors.append({"field": "project", "message": "cannot be changed"})
    if "name" in data and not str(data["name"] or "").strip():
        errors.append({"field": "name", "message": "must not be empty"})
    if errors:
        raise ValidationError(errors)
    for key in ("name", "description", "license", "doi", "visibility"):
        if key in data:
            setattr(ds, key, str(data[key] or "").strip() if key == "name" else str(data[key] or ""))
    ds.updated_at = utcnow()
    session.commit()
    return ds


def delete(session: Session, ds: Dataset) -> None:
    """Delete the dataset, its files and its unfinished uploads. Commits."""
    uid = ds.uid
    for up in session.scalars(select(Upload).where(Upload.dataset_id == ds.id)):
        storage.part_path(current_app.config, up.id).unlink(missing_ok=True)
    session.delete(ds)
    session.commit()
    shutil.rmtree(storage.root(current_app.config) / uid, ignore_errors=True)


def delete_file(session: Session, ds: Dataset, rel: str) -> None:
    row = session.scalars(
        select(DatasetFile).where(DatasetFile.dataset_id == ds.id, DatasetFile.path == rel)
    ).first()
    if row is None:
        raise NotFound("No such file.")
    path = storage.file_path(current_app.config, ds.uid, rel)
    session.delete(row)
    ds.updated_at = utcnow()
    session.commit()
    path.unlink(missing_ok=True)


# -- quotas ------------------------------------------------------------------------------------


def quota_bytes(settings: Mapping[str, Any], project: Project) -> int:
    gb = settings["DATA_PROJECT_QUOTAS"].get(project.name, settings["DATA_PROJECT_QUOTA_GB"])
    return int(float(gb) * GB)


def used_bytes(session: Session, project_id: int) -> int:
    """Bytes of the project's dataset files plus the declared size of its unfinished uploads."""
    files = (
        session.scalar(
            select(func.coalesce(func.sum(DatasetFile.size), 0))
            .join(Dataset, Dataset.id == DatasetFile.dataset_id)
            .where(Dataset.project_id == project_id)
        )
        or 0
    )
    pending = (
        session.scalar(
            select(func.coalesce(func.sum(Upload.size), 0))
            .join(Dataset, Dataset.id == Upload.dataset_id)
            .where(Dataset.project_id == project_id)
        )
        or 0
    )
    return int(files) + int(pending)


def check_quota(
    session: Session, settings: Mapping[str, Any], ds: Dataset, adding: int, replacing: int = 0
) -> None:
    """Raise QuotaExceeded, with the numbers, unless the project has room for ``adding`` bytes."""
    project = session.get(Project, ds.project_id)
    assert project is not None
    limit = quota_bytes(settings, project)
    used = used_bytes(session, ds.project_id) - replacing
    if used + adding > limit:
        raise QuotaExceeded(
            f"Project {project.name} has a dataset quota of {_human(limit)} ({limit} bytes); "
            f"{_human(used)} ({used} bytes) are used or reserved, and this upload needs "
            f"{_human(adding)} ({adding} bytes) more.",
            extra={
                "quota_bytes": limit,
                "used_bytes": used,
                "requested_bytes": adding,
                "project": project.name,
            },
        )


human_size = _human
