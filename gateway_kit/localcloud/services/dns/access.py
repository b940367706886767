"""Who may see and change which zone, quota checks, and validation of names, TTLs and records."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

from .common import (
    BLACKLIST,
    MAX_TTL,
    MIN_TTL,
    QUOTA_KEYS,
    RE_HOSTNAME,
    RE_ZONENAME,
    RECORDSET,
    SHARE,
    TLD,
    ZONE,
    DesignateError,
    _Caller,
    _check_uuid,
    _forbidden,
    _schema_error,
    _value_error,
)

# -- lookups and access ------------------------------------------------------------------


def _visible(cloud: LocalCloud, caller: _Caller, zone: Doc) -> bool:
    if caller.all_projects or zone["project_id"] == caller.project_id:
        return True
    return bool(
        cloud.store.find(
            SHARE,
            lambda s: s["zone_id"] == zone["id"] and s["target_project_id"] == caller.project_id,
        )
    )


def _zone_or_404(cloud: LocalCloud, caller: _Caller, zone_id: str) -> Doc:
    _check_uuid("zone_id", zone_id)
    zone = cloud.get(ZONE, zone_id)
    if zone is None or not _visible(cloud, caller, zone):
        raise DesignateError(404, "zone_not_found", "Could not find Zone")
    return zone


def _owned_zone_or_404(cloud: LocalCloud, caller: _Caller, zone_id: str) -> Doc:
    zone = _zone_or_404(cloud, caller, zone_id)
    if zone["project_id"] != caller.project_id and not caller.all_projects:
        raise _forbidden()
    return zone


def _zone_child_or_404(cloud: LocalCloud, kind: str, zone: Doc, child_id: str) -> Doc:
    """A recordset or share of ``zone`` (404 in Designate's words otherwise)."""
    field, type_, label = {
        RECORDSET: ("recordset_id", "recordset_not_found", "RecordSet"),
        SHARE: ("zone_share_id", "shared_zone_not_found", "SharedZone"),
    }[kind]
    _check_uuid(field, child_id)
    doc = cloud.get(kind, child_id)
    if doc is None or doc["zone_id"] != zone["id"]:
        raise DesignateError(404, type_, f"Could not find {label}")
    return doc


def _recordset_or_404(cloud: LocalCloud, zone: Doc, rs_id: str) -> Doc:
    return _zone_child_or_404(cloud, RECORDSET, zone, rs_id)


def _quota(cloud: LocalCloud, project_id: str, resource: str) -> int:
    return cloud.quota(project_id, resource)


def _quotas(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    return {key: _quota(cloud, project_id, key) for key in QUOTA_KEYS}


def _over_quota(resource: str) -> DesignateError:
    return DesignateError(413, "over_quota", f"Quota exceeded for {resource}.")


def _check_limit(cloud: LocalCloud, project_id: str, resource: str, value: int) -> None:
    limit = _quota(cloud, project_id, resource)
    if limit >= 0 and value > limit:
        raise _over_quota(resource)


# -- validation ------------------------------------------------------------------------------


def _check_ttl(value: Any, field: str = "ttl") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _schema_error(field, f"{value!r} is not of type 'integer'", "type")
    if value < MIN_TTL or value > MAX_TTL:
        raise _value_error(f"Field value {value} must be >= {MIN_TTL} and <= {MAX_TTL}")
    return value


def _check_keys(body: dict[str, Any], allowed: Iterable[str], resource: str) -> None:
    bad = [k for k in body if k not in allowed]
    if bad:
        raise DesignateError(
            400,
            "invalid_object",
            f"Provided object does not match schema. Keys {bad} are not valid for {resource}",
        )


def _check_string(body: dict[str, Any], key: str, max_len: int = 160) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _schema_error(key, f"{value!r} is not of type 'string'", "type")
    if len(value) > max_len:
        raise _value_error(f"Field value {value} is longer than {max_len}")
    return value


def _check_zone_name(cloud: LocalCloud, caller: _Caller, name: Any) -> str:
    if not isinstance(name, str):
        raise _schema_error("name", "'name' is a required property", "required")
    if not name.endswith("."):
        raise _value_error(f"Domain {name} does not end with a dot")
    if not RE_ZONENAME.match(name):
        raise _value_error(f"Domain {name} is invalid")
    labels = name.rstrip(".").split(".")
    if len(labels) <= 1:
        raise DesignateError(400, "invalid_zone_name", "More than one label is required")
    tlds = {t["name"].lower() for t in cloud.store.all(TLD)}
    if tlds:
        lowered = [label.lower() for label in labels]
        if not any(".".join(lowered[i:]) in tlds for i in range(len(lowered))):
            raise DesignateError(400, "invalid_zone_name", "Invalid TLD")
        if ".".join(lowered) in tlds:
            raise DesignateError(400, "invalid_zone_name", "Zone name cannot be the same as a TLD")
    if not caller.is_admin:
        for entry in cloud.store.all(BLACKLIST):
            if re.search(entry["pattern"], name):
                raise DesignateError(400, "invalid_zone_name", "Blacklisted zone name")
    return name


def _check_record(rtype: str, record: Any) -> str:
    """Validate one record's presentation data for its type; raise Designate's error."""
    if not isinstance(record, str):
        raise _schema_error("records", f"{record!r} is not of type 'string'", "type")

    def bad(why: str) -> DesignateError:
        return _schema_error("records", why)

    if rtype == "A":
        try:
            ipaddress.IPv4Address(record)
        except ValueError as exc:
            raise bad(f"{record} is not an ipv4") from exc
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(record)
        except ValueError as exc:
            raise bad(f"{record} is not an ipv6") from exc
    elif rtype in ("CNAME", "NS", "PTR"):
        if not record.endswith(".") or not RE_HOSTNAME.match(record):
            raise bad(f"Host name {record} is invalid or does not end with a dot")
    elif rtype in ("TXT", "SPF"):
        if not record or len(record) > 65535 or record.endswith("\\") or "\n" in record:
            raise bad(f"TXT record {record!r} is invalid")
    elif rtype == "MX":
        parts = record.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].endswith("."):
            raise bad(f"{record} is not a valid MX record")
    elif rtype == "SRV":
        parts = record.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
            raise bad(f"{record} is not a valid SRV record")
    elif rtype == "SSHFP":
        parts = record.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise bad(f"{record} is not a valid SSHFP record")
    elif rtype == "CAA":
        parts = record.split(None, 2)
        if len(parts) != 3 or not parts[0].isdigit():
            raise bad(f"{record} is not a valid CAA record")
    return record


def _check_records(rtype: str, records: Any) -> list[str]:
    if not isinstance(records, list):
        raise _schema_error("records", f"{records!r} is not of type 'array'", "type")
    out = [_check_record(rtype, r) for r in records]
    if len(set(out)) != len(out):
        raise DesignateError(400, "duplicate_record", "Duplicate Record")
    if rtype == "CNAME" and len(out) > 1:
        raise DesignateError(400, "bad_request", "CNAME recordsets may not have more than 1 record")
    return out


def _zone_record_count(cloud: LocalCloud, zone_id: str, exclude: str | None = None) -> int:
    return sum(
        len(r["records"])
        for r in cloud.store.find(
            RECORDSET,
            lambda r: r["zone_id"] == zone_id and not r.get("_managed") and r["id"] != exclude,
        )
    )
