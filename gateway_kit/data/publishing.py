"""Publishing a dataset under its own DNS name: a Designate CNAME to the load balancer.

``ensure_published`` is idempotent (an existing CNAME with the same target is kept, one with
another target is updated) and waits for the record set to become ACTIVE, failing on ERROR,
within a timeout. ``unpublish`` ignores a record that is already gone. The gateway then answers
requests whose ``Host`` is the dataset's name with the dataset's page (see :mod:`.views`); the
load balancer's certificate must cover the name (the certs feature issues one per name).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from ..errors import Conflict, ValidationError
from .backups import BackupError
from .models import Dataset

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class PublishError(BackupError):
    reason = "publish_failed"
    title = "Publishing failed"


def fqdn(label: str, zone: str) -> str:
    """``label`` inside ``zone`` as an absolute name (``label.zone.``)."""
    zone = zone if zone.endswith(".") else zone + "."
    if not _LABEL.match(label):
        raise ValidationError(
            [
                {
                    "field": "name",
                    "message": "must be one DNS label: lower-case "
                    "letters, digits and '-', at most 63, not starting or ending "
                    "with '-'",
                }
            ]
        )
    return f"{label}.{zone}"


def ensure_published(
    conn: Any, session: Session, ds: Dataset, label: str, zone: str, target: str, timeout: float = 300
) -> str:
    """Point ``label.zone`` at ``target`` (CNAME) and record it on the dataset; the name."""
    from openstack import exceptions as os_exc

    name = fqdn(label, zone)
    target = target if target.endswith(".") else target + "."
    other = session.query(Dataset).filter(Dataset.dns_name == name, Dataset.id != ds.id).first()
    if other is not None:
        raise Conflict(f"{name} already publishes dataset {other.uid}.")
    try:
        zone_obj = conn.dns.find_zone(zone if zone.endswith(".") else zone + ".", ignore_missing=False)
        rs = conn.dns.find_recordset(zone_obj, name, type="CNAME")
        if rs is None:
            rs = conn.dns.create_recordset(
                zone_obj,
                name=name,
                type="CNAME",
                records=[target],
                ttl=300,
                description=f"gateway-kit dataset {ds.uid}",
            )
        elif list(rs.records or []) != [target]:
            rs = conn.dns.update_recordset(rs, records=[target])
        conn.dns.wait_for_status(rs, status="ACTIVE", failures=["ERROR"], interval=0.2, wait=int(timeout))
    except os_exc.ResourceTimeout as exc:
        raise PublishError(f"The record {name} did not become ACTIVE within {timeout:g} s.") from exc
    except os_exc.SDKException as exc:
        raise PublishError(
            f"Designate refused the record {name}: {exc.__class__.__name__}.",
            log_message=f"publishing {ds.uid} as {name}: {exc}",
        ) from exc
    ds.dns_name = name
    session.commit()
    return name


def unpublish(conn: Any, session: Session, ds: Dataset, zone: str) -> None:
    """Remove the dataset's CNAME (already gone is fine) and forget the name."""
    from openstack import exceptions as os_exc

    if not ds.dns_name:
        return
    try:
        zone_obj = conn.dns.find_zone(zone if zone.endswith(".") else zone + ".")
        if zone_obj is not None:
            rs = conn.dns.find_recordset(zone_obj, ds.dns_name, type="CNAME")
            if rs is not None:
                conn.dns.delete_recordset(rs, zone_obj, ignore_missing=True)
    except os_exc.SDKException as exc:
        raise PublishError(
            f"Designate refused to delete {ds.dns_name}.", log_message=f"unpublishing {ds.uid}: {exc}"
        ) from exc
    ds.dns_name = None
    session.commit()
