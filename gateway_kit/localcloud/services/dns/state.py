"""The zone and recordset state machine: PENDING -> ACTIVE, serials and SOA records, deletion hooks."""

from __future__ import annotations

import time

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

from .common import (
    DEFAULT_NAMESERVERS,
    RECORDSET,
    SHARE,
    SOA_EXPIRE,
    SOA_MINIMUM,
    SOA_REFRESH,
    SOA_RETRY,
    ZONE,
    _now,
)

# -- state machine ---------------------------------------------------------------------------


def _soa_record(cloud: LocalCloud, zone: Doc) -> str:
    email = str(zone.get("email") or "hostmaster@localcloud.test")
    local, _, domain = email.partition("@")
    rname = local.replace(".", "\\.") + "." + domain.rstrip(".") + "."
    mname = _nameservers(cloud)[0]
    return f"{mname} {rname} {zone['serial']} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {SOA_MINIMUM}"


def _nameservers(cloud: LocalCloud) -> list[str]:
    configured = cloud.seed_data.get("dns", {}).get("nameservers")
    return list(configured or DEFAULT_NAMESERVERS)


def _pending(cloud: LocalCloud, kind: str, doc: Doc, action: str, hook: str) -> None:
    """Put ``doc`` into PENDING/``action`` and queue its completion (then the caller puts it)."""
    doc["status"] = "PENDING"
    doc["action"] = action
    cloud.transition(
        kind,
        doc,
        {"status": "ACTIVE", "action": "NONE", "_hook": hook},
        create=action == "CREATE",
        error={"status": "ERROR"},
    )


def _touch_zone(cloud: LocalCloud, zone: Doc) -> None:
    """A change inside the zone: new serial, SOA rewritten, zone PENDING/UPDATE until pushed."""
    zone["serial"] = max(int(zone["serial"]) + 1, int(time.time()))
    zone["version"] = int(zone.get("version", 1)) + 1
    zone["updated_at"] = _now()
    if zone.get("status") != "PENDING":  # a pending create/update pushes this change too
        _pending(cloud, ZONE, zone, "UPDATE", "dns.zone_active")
    for soa in cloud.store.find(RECORDSET, lambda r: r["zone_id"] == zone["id"] and r["type"] == "SOA"):
        soa["records"] = [_soa_record(cloud, zone)]
        cloud.store.put(RECORDSET, soa)


def _publish(rs: Doc) -> None:
    rs["_published"] = {"records": list(rs["records"]), "ttl": rs.get("ttl")}


def _hook_zone_active(cloud: LocalCloud, kind: str, zone: Doc) -> Doc | None:
    zone["_served"] = True
    for rs in cloud.store.find(RECORDSET, lambda r: r["zone_id"] == zone["id"] and bool(r.get("_managed"))):
        rs["status"], rs["action"] = "ACTIVE", "NONE"
        _publish(rs)
        cloud.store.put(RECORDSET, rs)
    return zone


def _hook_zone_deleted(cloud: LocalCloud, kind: str, zone: Doc) -> Doc | None:
    for rs in cloud.store.find(RECORDSET, lambda r: r["zone_id"] == zone["id"]):
        cloud.delete(RECORDSET, rs["id"])
    for share in cloud.store.find(SHARE, lambda s: s["zone_id"] == zone["id"]):
        cloud.delete(SHARE, share["id"])
    cloud.delete(ZONE, zone["id"])
    return None


def _hook_recordset_active(cloud: LocalCloud, kind: str, rs: Doc) -> Doc | None:
    _publish(rs)
    return rs


def _hook_recordset_deleted(cloud: LocalCloud, kind: str, rs: Doc) -> Doc | None:
    cloud.delete(RECORDSET, rs["id"])
    return None
