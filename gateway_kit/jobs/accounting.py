"""Service units: rates per destination, allocations per project, and the ledger.

A job is charged ``hours * (cpus * su_per_cpu_hour + gpus * su_per_gpu_hour)`` at its
destination's rates (defaults as on Jetstream2: 1 SU per vCPU-hour on CPU, 2 on large memory, 4 on
GPU -- set per destination). At submission the job's *worst case* (its full walltime) is reserved
on the project's allocation with one atomic ``UPDATE ... WHERE available >= worst case``, so two
concurrent submissions cannot overdraw it; at the end the reservation is replaced by the real
charge, written to the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..db import as_loaded, table_of
from ..errors import QuotaExceeded
from ..identity.models import Project, ProjectMember, User
from .models import Allocation, Job, LedgerEntry, utcnow


def rates(destination: Mapping[str, Any]) -> tuple[float, float]:
    return (float(destination.get("su_per_cpu_hour", 1.0)), float(destination.get("su_per_gpu_hour", 0.0)))


def cost(destination: Mapping[str, Any], cpus: float, gpus: float, seconds: float) -> float:
    per_cpu, per_gpu = rates(destination)
    return round(max(seconds, 0.0) / 3600.0 * (cpus * per_cpu + gpus * per_gpu), 6)


def worst_case(destination: Mapping[str, Any], resources: Mapping[str, Any]) -> float:
    return cost(destination, resources["cpus"], resources["gpus"], resources["walltime"])


def fmt(su: float) -> str:
    """Service units as people read them: ``1,234.57``, ``12.30``; below 1 SU enough decimals
    that a small charge shows (``0.0031``, ``0.000042``), never a misleading ``0.00``."""
    if su == 0:
        return "0.00"
    if abs(su) >= 1:
        return f"{su:,.2f}"
    # the digits after the decimal point's leading zeros, two of them (at most 6 decimals);
    # gateway-kit.js (GK.su) formats the same way in the browser
    lead = max(0, -math.floor(math.log10(abs(su))) - 1)
    return f"{su:.{min(6, max(2, lead + 2))}f}"


def used_percent(used: float, total: float) -> float:
    """The share of ``total`` used, in percent (100 when nothing was granted but some was used)."""
    if total <= 0:
        return 100.0 if used > 0 else 0.0
    return 100.0 * used / total


def fill_percent(used: float, total: float) -> float:
    """How full a usage bar is drawn: the share used, but at least 1 % for any charge, so a
    first small charge visibly moves the bar (the exact figure is printed next to it)."""
    pct = used_percent(used, total)
    return min(100.0, max(pct, 1.0) if used > 0 else 0.0)


#: Built once (no statement construction and cache-key work per submission).
_ALLOCATIONS = table_of(Allocation).c
_PROJECTS = table_of(Project).c
_MEMBER = table_of(ProjectMember).c
#: ``amount`` SUs more reserved, where that many are available (a WHERE on the project to add).
_RESERVE_WHERE_AVAILABLE = (
    update(table_of(Allocation))
    .where(_ALLOCATIONS.su_granted - _ALLOCATIONS.su_used - _ALLOCATIONS.su_reserved >= bindparam("amount"))
    .values(su_reserved=_ALLOCATIONS.su_reserved + bindparam("amount"), updated_at=bindparam("now"))
)
_RESERVE = _RESERVE_WHERE_AVAILABLE.where(_ALLOCATIONS.project_id == bindparam("b_project"))


def reserve(session: Session, project: Project, amount: float) -> None:
    """Reserve ``amount`` SUs on ``project``'s allocation, or raise QuotaExceeded."""
    # On the session's connection: a Core UPDATE without the ORM's bulk-update layer.
    params = {"b_project": project.id, "amount": amount, "now": utcnow()}
    result = session.connection().execute(_RESERVE, params)
    if result.rowcount != 1:
        refuse(session, project, amount)


def _chosen_project(named: bool) -> Any:
    """The project a submission charges, as a scalar subquery of :data:`_CHARGEABLE`'s rule: the
    first of the user's projects by name (``uid``), else the community project (``community``);
    ``named``: only the one called ``requested``, if the user may charge it."""
    chosen = select(_PROJECTS.id).outerjoin(
        table_of(ProjectMember), and_(_MEMBER.project_id == _PROJECTS.id, _MEMBER.user_id == bindparam("uid"))
    )
    chosen = chosen.where(or_(_MEMBER.user_id.is_not(None), _PROJECTS.name == bindparam("community")))
    if named:
        chosen = chosen.where(_PROJECTS.name == bindparam("requested"))
    return chosen.order_by(_MEMBER.user_id.is_(None), _PROJECTS.name).limit(1).scalar_subquery()


#: A submission's reservation on the project it charges, chosen in the same statement (no
#: lookup of its own): by ``named`` (a project was named), the UPDATE answering the project's id
#: and name, or no row when nothing was reserved (no such project of the user's, no allocation,
#: or too few SUs left: :func:`refusal` says which). Parameters: ``uid``, ``community``,
#: ``requested`` (``named``), ``amount``, ``now``.
RESERVE_FOR_USER = {
    named: _RESERVE_WHERE_AVAILABLE.where(_ALLOCATIONS.project_id == _chosen_project(named)).returning(
        _ALLOCATIONS.project_id,
        select(_PROJECTS.name).where(_PROJECTS.id == _ALLOCATIONS.project_id).scalar_subquery(),
    )
    for named in (False, True)
}


def reserve_params(
    user_id: int, community: str, requested: str | None, amount: float, now: datetime
) -> dict[str, Any]:
    """The parameters of :data:`RESERVE_FOR_USER` ``[requested is not None]``."""
    params = {"uid": user_id, "community": community or None, "amount": amount, "now": now}
    if requested is not None:
        params["requested"] = requested
    return params


def refuse(session: Session, project: Project, amount: float) -> NoReturn:
    """Raise the QuotaExceeded that says why ``amount`` SUs could not be reserved on ``project``."""
    alloc = session.scalars(select(Allocation).where(Allocation.project_id == project.id)).first()
    if alloc is None:
        raise QuotaExceeded(
            f"Project {project.name} has no allocation of service units; ask an administrator for one."
        )
    raise QuotaExceeded(
        f"Project {project.name} has {fmt(max(alloc.available, 0))} SUs left (after jobs in "
        f"progress); this job may use up to {fmt(amount)} SUs. Ask for fewer resources or a "
        "shorter walltime, or ask for a top-up.",
        extra={"su_available": round(alloc.available, 6), "su_requested": amount},
    )


def settle(session: Session, job: Job, charged: float) -> None:
    """Replace ``job``'s reservation with its real charge and write the ledger entry.

    Called inside the transaction that moves the job to its terminal state (and sets
    ``su_charged``), so the balance and the job never disagree.
    """
    if job.project_id is None:
        return
    settle_reservation(
        session,
        job.project_id,
        reserved=job.su_reserved,
        charged=charged,
        user_id=job.user_id,
        note=f"job {job.id} ({job.app_id}) on {job.destination}",
        job_id=job.id,
    )


def settle_reservation(
    session: Session,
    project_id: int,
    *,
    reserved: float,
    charged: float,
    user_id: int | None,
    note: str,
    job_id: int | None = None,
) -> None:
    """Release ``reserved`` SUs of ``project_id``'s allocation and charge ``charged`` to the ledger.

    Jobs settle through :func:`settle`; interactive sessions (:mod:`gateway_kit.sessions`) call this
    directly with their own note.
    """
    conn = session.connection()  # prebuilt Core statements: no statement built per job
    conn.execute(
        _SETTLE[conn.dialect.name == "sqlite"],
        {"b_project": project_id, "reserved": reserved, "charged": charged, "now": utcnow()},
    )
    if charged > 0:
        conn.execute(
            _INSERT_LEDGER,
            {
                "project_id": project_id,
                "job_id": job_id,
                "user_id": user_id,
                "kind": "charge",
                "amount": -charged,
                "note": note,
                "actor_id": None,
            },
        )


#: By whether the database is SQLite (``max`` of two values; elsewhere ``greatest``): the
#: reservation released and the charge added.
_SETTLE = {
    sqlite: update(table_of(Allocation))
    .where(_ALLOCATIONS.project_id == bindparam("b_project"))
    .values(
        su_reserved=(func.max if sqlite else func.greatest)(
            _ALLOCATIONS.su_reserved - bindparam("reserved"), 0.0
        ),
        su_used=_ALLOCATIONS.su_used + bindparam("charged"),
        updated_at=bindparam("now"),
    )
    for sqlite in (False, True)
}
_INSERT_LEDGER = insert(table_of(LedgerEntry))


def set_allocation(
    session: Session, project: Project, amount: float, actor: User | None, *, top_up: bool, note: str = ""
) -> Allocation:
    """Set (or add to) a project's granted SUs, with a ledger entry."""
    alloc = session.scalars(select(Allocation).where(Allocation.project_id == project.id)).first()
    if alloc is None:
        alloc = Allocation(project_id=project.id, su_granted=0.0, su_used=0.0, su_reserved=0.0)
        session.add(alloc)
        session.flush()
    if top_up:
        delta = amount
        alloc.su_granted += amount
        kind = "topup"
    else:
        delta = amount - alloc.su_granted
        alloc.su_granted = amount
        kind = "set"
    alloc.updated_at = utcnow()
    session.add(
        LedgerEntry(
            project_id=project.id, kind=kind, amount=delta, note=note, actor_id=actor.id if actor else None
        )
    )
    return alloc


_PROJECT_COLUMNS = tuple(Project.__table__.columns)
#: One prebuilt statement: the user's projects by name, then the community project if it is
#: not one of them (``community`` NULL when none is configured).
_CHARGEABLE = (
    select(*_PROJECT_COLUMNS)
    .outerjoin(
        ProjectMember.__table__,
        and_(_MEMBER.project_id == Project.__table__.c.id, _MEMBER.user_id == bindparam("uid")),
    )
    .where(or_(_MEMBER.user_id.is_not(None), Project.__table__.c.name == bindparam("community")))
    .order_by(_MEMBER.user_id.is_(None), Project.__table__.c.name)
)


def chargeable_projects(session: Session, user: User, community: str) -> list[Project]:
    """Projects ``user`` may charge: theirs, and the community project if one is configured."""
    rows = session.connection().execute(_CHARGEABLE, {"uid": user.id, "community": community or None})
    keys = [c.key for c in _PROJECT_COLUMNS]
    return [as_loaded(session, Project, dict(zip(keys, row, strict=True))) for row in rows]


def usage_by_user(session: Session, project_id: int) -> list[tuple[str, float]]:
    rows = session.execute(
        select(User.username, func.sum(-LedgerEntry.amount))
        .join(User, User.id == LedgerEntry.user_id)
        .where(LedgerEntry.project_id == project_id, LedgerEntry.kind == "charge")
        .group_by(User.username)
        .order_by(User.username)
    ).all()
    return [(name, float(total or 0.0)) for name, total in rows]


def unattributed_usage(session: Session, project_id: int) -> float:
    """SUs charged to the project but to no user: burst instances' lifetimes (their idle time
    included), charges of deleted accounts. With :func:`usage_by_user` it adds up to the
    project's charges."""
    total = session.scalar(
        select(func.sum(-LedgerEntry.amount)).where(
            LedgerEntry.project_id == project_id, LedgerEntry.kind == "charge", LedgerEntry.user_id.is_(None)
        )
    )
    return float(total or 0.0)
