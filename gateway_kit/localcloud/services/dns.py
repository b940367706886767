"""Designate v2 (DNS as a service) for the local cloud, under ``/dns``.

What is implemented, with Designate's own rules and error bodies:

* ``GET /dns`` version discovery (v2, v2.0, v2.1; v2.1 brings shared zones);
* zones: create / show / list (filters ``name``, ``type``, ``email``, ``status``,
  ``description``, ``ttl``, ``*`` wildcards; ``limit``/``marker`` paging with ``links.next``),
  ``PATCH`` update, delete; ``/zones/{id}/nameservers``; shares (``/zones/{id}/shares``);
* recordsets: create / show / list / ``PUT`` update / delete under a zone, plus the flat
  ``/v2/recordsets`` listing; A, AAAA, CNAME, TXT, MX, SRV, NS, PTR, CAA, SPF, SSHFP;
  an SOA and an apex NS recordset are created with every zone and are managed (read-only);
* quotas (``/v2/quotas/{project}``), limits, TLDs, blacklists and service statuses.

**State machine.** Every write answers ``202`` with ``status: PENDING`` and ``action`` one of
``CREATE``/``UPDATE``/``DELETE``; after the core's transition delay the resource turns
``ACTIVE`` with ``action: NONE`` (a deleted one disappears). A recordset write also puts its zone
into ``PENDING``/``UPDATE`` and bumps the zone's serial, as Designate does.

**What the name server sees** (:func:`published_zones`, read by
:mod:`gateway_kit.localcloud.dnsserver`): a zone once it has been ``ACTIVE``; a recordset's data
as of its last transition to ``ACTIVE`` (an update in flight still serves the old data; a deleted
recordset is served until the delete completes).

**Errors** are Designate's: ``{"code", "type", "message", "request_id"}`` plus ``errors`` for
schema failures -- no other key, because python-designateclient builds its exceptions with
``**body``.

**Scoping.** A project sees its own zones and zones shared with it. ``X-Auth-All-Projects:
true`` (admin only) lists every project's; ``X-Auth-Sudo-Project-ID`` (admin only) acts as
another project. Other projects' zones answer 404 ``zone_not_found``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import flask
from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    Service,
    current_cloud,
    json_response,
    new_id,
    require_token,
)
from gateway_kit.localcloud.dnsserver import LocalDnsServer, PublishedRecordset, PublishedZone

__all__ = ["published_zones", "register", "render_designate_error", "start_dns_server"]

Doc = dict[str, Any]

ZONE = "dns.zone"
RECORDSET = "dns.recordset"
SHARE = "dns.share"
TLD = "dns.tld"
BLACKLIST = "dns.blacklist"

#: Designate's default quotas (``designate.conf`` ``quota_*``); a seed's ``[quotas.dns]``
#: table overrides them.
DEFAULT_QUOTAS: dict[str, int] = {
    "zones": 10,
    "zone_recordsets": 500,
    "zone_records": 500,
    "recordset_records": 20,
    "api_export_size": 1000,
}
QUOTA_KEYS = tuple(DEFAULT_QUOTAS)

#: The pool's name servers, used for the SOA MNAME and the apex NS recordset.
DEFAULT_NAMESERVERS = ("ns1.localcloud.test.",)
DEFAULT_POOL_ID = "794ccc2c-d751-44fe-b57f-8894c9f5c842"  # Designate's default pool id
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM = 3500, 600, 86400, 3600
MIN_TTL, MAX_TTL = 1, 2147483647
DEFAULT_PAGE, MAX_PAGE = 20, 1000

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "SRV", "TXT", "SPF", "NS", "PTR", "SSHFP", "SOA", "CAA")

# Name syntax as Designate checks it (labels of letters, digits, '-' and '_', no leading or
# trailing hyphen, absolute, at most 255 octets); hostnames may start with a '*' label.
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
RE_ZONENAME = re.compile(rf"^(?!.{{255,}})(?:{_LABEL}\.)+\Z")
RE_HOSTNAME = re.compile(rf"^(?!.{{255,}})(?:(?:^\*|{_LABEL})\.)+\Z")
RE_TLDNAME = re.compile(rf"^(?!.{{255,}}){_LABEL}(?:\.{_LABEL})*\Z")
RE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ZONE_FIELDS = (
    "id", "pool_id", "project_id", "name", "email", "description", "ttl", "serial", "status",
    "action", "version", "attributes", "type", "masters", "created_at", "updated_at",
    "transferred_at",
)  # fmt: skip
RECORDSET_FIELDS = (
    "id", "zone_id", "project_id", "name", "zone_name", "type", "records", "description",
    "ttl", "status", "action", "version", "created_at", "updated_at",
)  # fmt: skip


# -- errors -----------------------------------------------------------------------------------


class DesignateError(ApiError):
    """An error in Designate's shape; ``code`` is Designate's ``type`` (``zone_not_found``)."""

    def __init__(self, status: int, type_: str, message: str, errors: Any = None) -> None:
        super().__init__(status, message, type_, detail=errors)


_DEFAULT_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "unsupported_accept",
    409: "duplicate",
    413: "over_quota",
    415: "unsupported_content_type",
    429: "over_limit",
    503: "service_unavailable",
}


def render_designate_error(err: ApiError) -> Response:
    """Render ``err`` as Designate's fault middleware does: only the keys designateclient takes."""
    type_ = err.code if re.fullmatch(r"[a-z_]+", err.code or "") else ""
    request_id = "req-" + str(uuid.uuid4())
    body: dict[str, Any] = {
        "code": err.status,
        "type": type_ or _DEFAULT_TYPES.get(err.status, "unknown"),
        "message": err.message,
    }
    if err.detail is not None:
        body["errors"] = err.detail
    body["request_id"] = request_id
    return json_response(body, err.status, {"X-OpenStack-Request-ID": request_id})


def _schema_error(path: str, message: str, validator: str = "format") -> DesignateError:
    return DesignateError(
        400,
        "invalid_object",
        "Provided object does not match schema",
        {
            "errors": [
                {
                    "path": [path],
                    "message": message,
                    "validator": validator,
                    "validator_value": path,
                    "raw": message,
                }
            ]
        },
    )


def _value_error(message: str) -> DesignateError:
    return DesignateError(
        400,
        "invalid_object",
        f"Provided object is not valid. Got a ValueError error with message {message}",
    )


def _forbidden() -> DesignateError:
    return DesignateError(403, "forbidden", "You are not authorized to perform this action.")


# -- request helpers ----------------------------------------------------------------------


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        raise DesignateError(400, "empty_request_body", "Request Body is empty")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise DesignateError(400, "invalid_json", "Request Body contains invalid JSON") from exc
    if not isinstance(body, dict):
        raise DesignateError(400, "invalid_json", "Request Body contains invalid JSON")
    return body


def _check_uuid(name: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise DesignateError(400, "invalid_uuid", f"Invalid UUID {name}: {value}") from exc


def _header_true(name: str) -> bool:
    return request.headers.get(name, "").strip().lower() in ("1", "true", "yes")


class _Caller:
    """The effective project of a request, after Designate's sudo/all-projects headers."""

    def __init__(self, auth: AuthContext) -> None:
        self.auth = auth
        self.project_id = auth.project_id
        self.all_projects = False
        sudo = request.headers.get("X-Auth-Sudo-Project-ID")
        if sudo:
            if not auth.is_admin:
                raise _forbidden()
            self.project_id = sudo
        if _header_true("X-Auth-All-Projects"):
            if not auth.is_admin:
                raise _forbidden()
            self.all_projects = True

    @property
    def is_admin(self) -> bool:
        return self.auth.is_admin


def _caller() -> _Caller:
    return _Caller(require_token())


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"


def _link(path: str) -> str:
    return current_cloud().url("/dns/v2" + path)


# -- rendering -------------------------------------------------------------------------------


def _shared(cloud: LocalCloud, zone_id: str) -> bool:
    return bool(cloud.store.find(SHARE, lambda s: s["zone_id"] == zone_id))


def _render_zone(cloud: LocalCloud, zone: Doc) -> dict[str, Any]:
    out = {key: zone.get(key) for key in ZONE_FIELDS}
    out["shared"] = _shared(cloud, zone["id"])
    out["links"] = {"self": _link(f"/zones/{zone['id']}")}
    return out


def _render_recordset(rs: Doc) -> dict[str, Any]:
    out = {key: rs.get(key) for key in RECORDSET_FIELDS}
    out["links"] = {"self": _link(f"/zones/{rs['zone_id']}/recordsets/{rs['id']}")}
    return out


def _page(
    items: list[Doc],
    collection: str,
    render: Callable[[Doc], dict[str, Any]],
    path: str,
) -> Response:
    """Designate's paging: ``limit``/``marker``, ``links.self``/``links.next``, ``total_count``."""
    raw_limit = request.args.get("limit")
    limit = DEFAULT_PAGE
    if raw_limit is not None:
        if raw_limit == "max":
            limit = MAX_PAGE
        else:
            try:
                limit = int(raw_limit)
            except ValueError as exc:
                raise DesignateError(400, "invalid_limit", "limit should be an integer") from exc
            if limit <= 0:
                raise DesignateError(400, "invalid_limit", "limit should be a positive integer")
            limit = min(limit, MAX_PAGE)
    sort_key = request.args.get("sort_key", "created_at")
    sort_dir = request.args.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise DesignateError(400, "invalid_sort_dir", "sort_dir must be either 'asc' or 'desc'")
    items = sorted(items, key=lambda d: (str(d.get(sort_key) or ""), d["id"]), reverse=sort_dir == "desc")
    total = len(items)
    marker = request.args.get("marker")
    if marker:
        ids = [d["id"] for d in items]
        if marker not in ids:
            raise DesignateError(400, "marker_not_found", f"Marker {marker} could not be found")
        items = items[ids.index(marker) + 1 :]
    page = items[:limit]
    query = "&".join(f"{k}={v}" for k, v in request.args.items(multi=True) if k != "marker")
    links: dict[str, str] = {"self": _link(path) + (f"?{query}" if query else "")}
    if len(items) > limit and page:
        sep = "&" if query else ""
        links["next"] = _link(path) + f"?{query}{sep}marker={page[-1]['id']}"
    return json_response(
        {collection: [render(d) for d in page], "links": links, "metadata": {"total_count": total}}
    )


def _filter_match(value: Any, wanted: str) -> bool:
    if value is None:
        return False
    text = str(value)
    if "*" in wanted:
        pattern = "^" + ".*".join(re.escape(p) for p in wanted.split("*")) + "$"
        return re.match(pattern, text, re.IGNORECASE) is not None
    return text.lower() == wanted.lower() if isinstance(value, str) else text == wanted


def _apply_filters(items: Iterable[Doc], accepted: Sequence[str]) -> list[Doc]:
    out = list(items)
    for key in accepted:
        wanted = request.args.get(key)
        if wanted is None:
            continue
        if key == "data":
            out = [d for d in out if any(_filter_match(r, wanted) for r in d.get("records", []))]
        else:
            out = [d for d in out if _filter_match(d.get(key), wanted)]
    return out


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


# -- views: discovery -------------------------------------------------------------------


def _versions() -> Response:
    href = current_cloud().url("/dns/v2")
    versions = []
    for vid, status, updated in (
        ("v2", "SUPPORTED", "2022-06-29T00:00:00Z"),
        ("v2.0", "SUPPORTED", "2022-06-29T00:00:00Z"),
        ("v2.1", "CURRENT", "2023-01-25T00:00:00Z"),
    ):
        versions.append(
            {
                "id": vid,
                "status": status,
                "updated": updated,
                "links": [
                    {"href": href, "rel": "self"},
                    {"href": "https://docs.openstack.org/api-ref/dns", "rel": "help"},
                ],
            }
        )
    return json_response({"versions": versions})


# -- views: zones ----------------------------------------------------------------------------


def _create_zone() -> Response:
    cloud = current_cloud()
    caller = _caller()
    body = _body()
    allowed = (
        "name", "email", "ttl", "description", "type", "masters", "attributes", "project_id",
        "pool_id",
    )  # fmt: skip
    _check_keys(body, allowed, "zone")
    zone_type = str(body.get("type") or "PRIMARY").upper()
    if zone_type not in ("PRIMARY", "SECONDARY"):
        raise _value_error(f"Field value {body.get('type')} is invalid")
    name = _check_zone_name(cloud, caller, body.get("name"))
    email = _check_string(body, "email", 255)
    masters = body.get("masters") or []
    if zone_type == "PRIMARY":
        if masters:
            raise DesignateError(
                400, "invalid_object", "Provided object does not match schema",
                {"errors": [{"path": ["masters"], "message": "masters not allowed for PRIMARY",
                             "validator": "type", "validator_value": "PRIMARY",
                             "raw": "masters not allowed"}]},
            )  # fmt: skip
        if not email:
            raise _schema_error("email", "'email' is a required property", "required")
        if not RE_EMAIL.match(email):
            raise _value_error(f"{email} is not an email")
    else:
        if not masters:
            raise _schema_error("masters", "'masters' is a required property", "required")
        email = "hostmaster@localcloud.test"
    ttl = _check_ttl(body.get("ttl")) or 3600
    description = _check_string(body, "description")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise _schema_error("attributes", "attributes is not of type 'object'", "type")
    project_id = caller.project_id
    if body.get("project_id") and body["project_id"] != project_id:
        if not caller.is_admin:
            raise _forbidden()
        project_id = str(body["project_id"])

    lowered = name.lower()
    for other in cloud.list(ZONE):
        other_name = str(other["name"]).lower()
        if other_name == lowered:
            raise DesignateError(409, "duplicate_zone", "Duplicate Zone")
        if other["project_id"] != project_id:
            if lowered.endswith("." + other_name):
                raise DesignateError(403, "illegal_child", "Unable to create subzone in another tenants zone")
            if other_name.endswith("." + lowered):
                raise DesignateError(
                    403,
                    "illegal_parent",
                    "Unable to create zone because another tenant owns a subzone of the zone",
                )
    owned = len(cloud.list(ZONE, lambda z: z["project_id"] == project_id))
    _check_limit(cloud, project_id, "zones", owned + 1)

    now = _now()
    zone: Doc = {
        "id": new_id(),
        "pool_id": DEFAULT_POOL_ID,
        "project_id": project_id,
        "name": name,
        "email": email,
        "description": description,
        "ttl": ttl,
        "serial": int(time.time()),
        "status": "PENDING",
        "action": "CREATE",
        "version": 1,
        "attributes": attributes,
        "type": zone_type,
        "masters": [{"host": m} if isinstance(m, str) else m for m in masters],
        "created_at": now,
        "updated_at": None,
        "transferred_at": None,
        "_served": False,
    }
    if zone_type == "SECONDARY":
        zone["masters"] = list(masters)
    _pending(cloud, ZONE, zone, "CREATE", "dns.zone_active")
    cloud.put(ZONE, zone)
    if zone_type == "PRIMARY":
        for rtype, records in (
            ("SOA", [_soa_record(cloud, zone)]),
            ("NS", _nameservers(cloud)),
        ):
            cloud.put(
                RECORDSET,
                {
                    "id": new_id(),
                    "zone_id": zone["id"],
                    "project_id": project_id,
                    "name": name,
                    "zone_name": name,
                    "type": rtype,
                    "records": records,
                    "description": None,
                    "ttl": None,
                    "status": "PENDING",
                    "action": "CREATE",
                    "version": 1,
                    "created_at": now,
                    "updated_at": None,
                    "_managed": True,
                    "_published": None,
                },
            )
    rendered = _render_zone(cloud, zone)
    return json_response(rendered, 202, {"Location": rendered["links"]["self"]})


def _list_zones() -> Response:
    cloud = current_cloud()
    caller = _caller()
    zones = cloud.list(ZONE, lambda z: _visible(cloud, caller, z))
    zones = _apply_filters(zones, ("name", "type", "email", "status", "description", "ttl"))
    return _page(zones, "zones", lambda z: _render_zone(cloud, z), "/zones")


def _show_zone(zone_id: str) -> Response:
    cloud = current_cloud()
    zone = _zone_or_404(cloud, _caller(), zone_id)
    return json_response(_render_zone(cloud, zone))


def _update_zone(zone_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _owned_zone_or_404(cloud, caller, zone_id)
    if zone["action"] == "DELETE":
        raise DesignateError(400, "bad_request", "Can not update a deleting zone")
    body = _body()
    writable = ("email", "ttl", "description")
    for key, value in body.items():
        if key in writable:
            continue
        if key in ZONE_FIELDS and key != "name" and zone.get(key) == value:
            continue  # Designate accepts read-only keys sent back unchanged
        if key == "name" and value != zone["name"]:
            raise DesignateError(400, "bad_request", "Renaming a zone is not allowed")
        if key in ("name", "attributes", "type") and zone.get(key) == value:
            continue
        raise DesignateError(
            400,
            "invalid_object",
            f"Provided object does not match schema. Keys ['{key}'] are not valid for zone",
        )
    if "ttl" in body:
        zone["ttl"] = _check_ttl(body["ttl"]) or zone["ttl"]
    if "email" in body:
        email = _check_string(body, "email", 255)
        if not email or not RE_EMAIL.match(email):
            raise _value_error(f"{email} is not an email")
        zone["email"] = email
    if "description" in body:
        zone["description"] = _check_string(body, "description")
    _touch_zone(cloud, zone)
    cloud.put(ZONE, zone)
    return json_response(_render_zone(cloud, zone), 202)


def _delete_zone(zone_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _owned_zone_or_404(cloud, caller, zone_id)
    if zone["action"] != "DELETE":
        shares = cloud.store.find(SHARE, lambda s: s["zone_id"] == zone["id"])
        if shares and not _header_true("X-Designate-Delete-Shares"):
            raise DesignateError(
                400,
                "zone_is_shared",
                "This zone is shared with other projects, please remove these shares before "
                "deletion or use the delete-shares modifier to override.",
            )
        zone["status"], zone["action"] = "PENDING", "DELETE"
        zone["updated_at"] = _now()
        # Cancel a pending create/update: the delete supersedes it.
        zone.get("_lc", {}).get("queue", []).clear()
        cloud.transition(ZONE, zone, {"_hook": "dns.zone_deleted"})
        cloud.put(ZONE, zone)
    return json_response(_render_zone(cloud, zone), 202)


def _nameservers_view(zone_id: str) -> Response:
    cloud = current_cloud()
    _zone_or_404(cloud, _caller(), zone_id)
    return json_response(
        {"nameservers": [{"hostname": ns, "priority": i + 1} for i, ns in enumerate(_nameservers(cloud))]}
    )


# -- views: shares ---------------------------------------------------------------------------


def _render_share(share: Doc) -> dict[str, Any]:
    out = {k: share.get(k) for k in ("id", "zone_id", "project_id", "target_project_id")}
    out["created_at"] = share.get("created_at")
    out["updated_at"] = share.get("updated_at")
    out["links"] = {
        "self": _link(f"/zones/{share['zone_id']}/shares/{share['id']}"),
        "zone": _link(f"/zones/{share['zone_id']}"),
    }
    return out


def _create_share(zone_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _owned_zone_or_404(cloud, caller, zone_id)
    body = _body()
    _check_keys(body, ("target_project_id",), "shared_zone")
    target = body.get("target_project_id")
    if not isinstance(target, str) or not target:
        raise _schema_error("target_project_id", "'target_project_id' is a required property")
    if target == zone["project_id"]:
        raise DesignateError(400, "bad_request", "Cannot share the zone with the zone owner.")
    if cloud.store.find(SHARE, lambda s: s["zone_id"] == zone["id"] and s["target_project_id"] == target):
        raise DesignateError(409, "duplicate_shared_zone", "Duplicate Shared Zone")
    share = {
        "id": new_id(),
        "zone_id": zone["id"],
        "project_id": zone["project_id"],
        "target_project_id": target,
        "created_at": _now(),
        "updated_at": None,
    }
    cloud.put(SHARE, share)
    return json_response(_render_share(share), 201)


def _list_shares(zone_id: str) -> Response:
    cloud = current_cloud()
    zone = _zone_or_404(cloud, _caller(), zone_id)
    shares = cloud.list(SHARE, lambda s: s["zone_id"] == zone["id"])
    shares = _apply_filters(shares, ("target_project_id",))
    return _page(shares, "shared_zones", _render_share, f"/zones/{zone_id}/shares")


def _share_or_404(cloud: LocalCloud, zone: Doc, share_id: str) -> Doc:
    return _zone_child_or_404(cloud, SHARE, zone, share_id)


def _show_share(zone_id: str, share_id: str) -> Response:
    cloud = current_cloud()
    zone = _zone_or_404(cloud, _caller(), zone_id)
    return json_response(_render_share(_share_or_404(cloud, zone, share_id)))


def _delete_share(zone_id: str, share_id: str) -> Response:
    cloud = current_cloud()
    zone = _owned_zone_or_404(cloud, _caller(), zone_id)
    share = _share_or_404(cloud, zone, share_id)
    cloud.delete(SHARE, share["id"])
    return Response(status=204)


# -- views: recordsets -----------------------------------------------------------------------


def _create_recordset(zone_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _zone_or_404(cloud, caller, zone_id)
    body = _body()
    _check_keys(body, ("name", "type", "records", "ttl", "description"), "recordset")
    rtype = body.get("type")
    if not isinstance(rtype, str):
        raise _schema_error("type", "'type' is a required property", "required")
    rtype = rtype.upper()
    if rtype not in RECORD_TYPES:
        raise _value_error(f"Field value {body['type']} is invalid")
    name = body.get("name")
    if not isinstance(name, str):
        raise _schema_error("name", "'name' is a required property", "required")
    if "records" not in body:
        raise _schema_error("records", "'records' is a required property", "required")
    if not name.endswith("."):
        raise DesignateError(400, "bad_request", "Please supply a FQDN")
    if not RE_HOSTNAME.match(name):
        raise _value_error(f"Host name {name} is invalid")
    ttl = _check_ttl(body.get("ttl"))
    description = _check_string(body, "description")
    records = _check_records(rtype, body["records"])
    if rtype == "SOA":
        raise DesignateError(400, "bad_request", "Creating a SOA recordset is not allowed")
    if zone["action"] == "DELETE":
        raise DesignateError(400, "bad_request", "Can not update a deleting zone")
    zname = str(zone["name"]).lower()
    lname = name.lower()
    if lname != zname and not lname.endswith("." + zname):
        raise DesignateError(
            400,
            "invalid_recordset_location",
            "RecordSet is not contained within it's parent zone",
        )
    if rtype == "CNAME" and lname == zname:
        raise DesignateError(
            400,
            "invalid_recordset_location",
            "CNAME recordsets may not be created at the zone apex",
        )
    same_name = cloud.list(
        RECORDSET, lambda r: r["zone_id"] == zone["id"] and str(r["name"]).lower() == lname
    )
    if any(r["type"] == rtype for r in same_name):
        raise DesignateError(409, "duplicate_recordset", "Duplicate RecordSet")
    if (rtype == "CNAME" and same_name) or any(r["type"] == "CNAME" for r in same_name):
        raise DesignateError(
            400,
            "invalid_recordset_location",
            "CNAME recordsets may not share a name with any other records",
        )
    for child in cloud.list(ZONE):
        cname = str(child["name"]).lower()
        if (cname != zname and cname.endswith("." + zname)) and (
            lname == cname or lname.endswith("." + cname)
        ):
            raise DesignateError(
                400,
                "invalid_recordset_location",
                f"RecordSet belongs in a child zone: {child['name']}",
            )
    count = len(cloud.store.find(RECORDSET, lambda r: r["zone_id"] == zone["id"]))
    owner = zone["project_id"]
    _check_limit(cloud, owner, "zone_recordsets", count + 1)
    _check_limit(cloud, owner, "zone_records", _zone_record_count(cloud, zone["id"]) + len(records))
    _check_limit(cloud, owner, "recordset_records", len(records))

    rs: Doc = {
        "id": new_id(),
        "zone_id": zone["id"],
        "project_id": caller.project_id,
        "name": name,
        "zone_name": zone["name"],
        "type": rtype,
        "records": records,
        "description": description,
        "ttl": ttl,
        "version": 1,
        "created_at": _now(),
        "updated_at": None,
        "_published": None,
    }
    _pending(cloud, RECORDSET, rs, "CREATE", "dns.recordset_active")
    cloud.put(RECORDSET, rs)
    _touch_zone(cloud, zone)
    cloud.put(ZONE, zone)
    rendered = _render_recordset(rs)
    return json_response(rendered, 202, {"Location": rendered["links"]["self"]})


def _list_recordsets(zone_id: str) -> Response:
    cloud = current_cloud()
    zone = _zone_or_404(cloud, _caller(), zone_id)
    items = cloud.list(RECORDSET, lambda r: r["zone_id"] == zone["id"])
    items = _apply_filters(items, ("name", "type", "ttl", "data", "status", "description"))
    return _page(items, "recordsets", _render_recordset, f"/zones/{zone_id}/recordsets")


def _list_all_recordsets() -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone_ids = {z["id"] for z in cloud.list(ZONE, lambda z: _visible(cloud, caller, z))}
    items = cloud.list(RECORDSET, lambda r: r["zone_id"] in zone_ids)
    items = _apply_filters(items, ("name", "type", "ttl", "data", "status", "description", "zone_id"))
    return _page(items, "recordsets", _render_recordset, "/recordsets")


def _show_recordset(zone_id: str, rs_id: str) -> Response:
    cloud = current_cloud()
    zone = _zone_or_404(cloud, _caller(), zone_id)
    return json_response(_render_recordset(_recordset_or_404(cloud, zone, rs_id)))


def _check_recordset_writable(caller: _Caller, zone: Doc, rs: Doc, verb: str) -> None:
    if rs["type"] == "SOA":
        raise DesignateError(400, "bad_request", f"{verb} SOA recordsets is not allowed")
    if rs.get("_managed") and not _header_true("X-Designate-Edit-Managed-Records"):
        word = "updated" if verb == "Updating" else "deleted"
        raise DesignateError(400, "bad_request", f"Managed records may not be {word}")
    if (
        zone["project_id"] != caller.project_id
        and rs["project_id"] != caller.project_id
        and not caller.all_projects
    ):
        raise _forbidden()


def _update_recordset(zone_id: str, rs_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _zone_or_404(cloud, caller, zone_id)
    rs = _recordset_or_404(cloud, zone, rs_id)
    _check_recordset_writable(caller, zone, rs, "Updating")
    if rs["type"] == "NS" and str(rs["name"]).lower() == str(zone["name"]).lower():
        raise DesignateError(400, "bad_request", "Updating a root zone NS record is not allowed")
    if zone["action"] == "DELETE":
        raise DesignateError(400, "bad_request", "Can not update a deleting zone")
    body = _body()
    for key, value in body.items():
        if key in ("records", "ttl", "description"):
            continue
        if key in RECORDSET_FIELDS and rs.get(key) == value:
            continue
        if key == "type" and str(value).upper() == rs["type"]:
            continue
        if key == "type":
            raise DesignateError(400, "bad_request", "Changing a recordsets type is not allowed")
        raise DesignateError(
            400,
            "invalid_object",
            f"Provided object does not match schema. Keys ['{key}'] are not valid for recordset",
        )
    if "records" in body:
        records = _check_records(rs["type"], body["records"])
        owner = zone["project_id"]
        _check_limit(
            cloud,
            owner,
            "zone_records",
            _zone_record_count(cloud, zone["id"], exclude=rs["id"]) + len(records),
        )
        _check_limit(cloud, owner, "recordset_records", len(records))
        rs["records"] = records
    if "ttl" in body:
        rs["ttl"] = _check_ttl(body["ttl"])
    if "description" in body:
        rs["description"] = _check_string(body, "description")
    rs["version"] = int(rs.get("version", 1)) + 1
    rs["updated_at"] = _now()
    if rs["action"] == "CREATE" and rs.get("status") == "PENDING":
        # Still being created: the pending CREATE publishes the new data when it completes.
        pass
    else:
        _pending(cloud, RECORDSET, rs, "UPDATE", "dns.recordset_active")
    cloud.put(RECORDSET, rs)
    _touch_zone(cloud, zone)
    cloud.put(ZONE, zone)
    return json_response(_render_recordset(rs), 202)


def _delete_recordset(zone_id: str, rs_id: str) -> Response:
    cloud = current_cloud()
    caller = _caller()
    zone = _zone_or_404(cloud, caller, zone_id)
    rs = _recordset_or_404(cloud, zone, rs_id)
    if rs["type"] == "SOA":
        raise DesignateError(400, "bad_request", "Deleting a SOA recordset is not allowed")
    _check_recordset_writable(caller, zone, rs, "Deleting")
    if rs["action"] != "DELETE":
        rs["status"], rs["action"] = "PENDING", "DELETE"
        rs["updated_at"] = _now()
        rs.get("_lc", {}).get("queue", []).clear()
        cloud.transition(RECORDSET, rs, {"_hook": "dns.recordset_deleted"})
        cloud.put(RECORDSET, rs)
        _touch_zone(cloud, zone)
        cloud.put(ZONE, zone)
    return json_response(_render_recordset(rs), 202)


# -- views: quotas, limits, tlds, blacklists, service statuses --------------------------


def _quota_target(project_id: str) -> tuple[LocalCloud, _Caller]:
    cloud = current_cloud()
    caller = _caller()
    if project_id != caller.auth.project_id and not caller.is_admin:
        raise _forbidden()
    return cloud, caller


def _get_quotas(project_id: str) -> Response:
    cloud, _ = _quota_target(project_id)
    return json_response(_quotas(cloud, project_id))


def _get_own_quotas() -> Response:
    caller = _caller()
    return json_response(_quotas(current_cloud(), caller.project_id))


def _set_quotas(project_id: str) -> Response:
    cloud, caller = _quota_target(project_id)
    if not caller.is_admin:
        raise _forbidden()
    body = _body()
    for key, value in body.items():
        if key not in QUOTA_KEYS:
            raise DesignateError(
                400, "invalid_object",
                f"Provided object does not match schema. Keys ['{key}'] are not valid for quota",
            )  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise _schema_error(key, f"{value!r} is not a valid quota", "type")
    for key, value in body.items():
        cloud.set_quota(project_id, key, value)
    return json_response(_quotas(cloud, project_id))


def _reset_quotas(project_id: str) -> Response:
    cloud, caller = _quota_target(project_id)
    if not caller.is_admin:
        raise _forbidden()
    doc = cloud.store.get("core.quota", project_id)
    if doc is not None:
        for key in QUOTA_KEYS:
            doc.get("limits", {}).pop(key, None)
        cloud.store.put("core.quota", doc)
    return Response(status=204)


def _limits() -> Response:
    cloud = current_cloud()
    caller = _caller()
    q = _quotas(cloud, caller.project_id)
    return json_response(
        {
            "max_page_limit": MAX_PAGE,
            "max_recordset_name_length": 255,
            "max_recordset_records": q["recordset_records"],
            "max_zone_name_length": 255,
            "max_zone_records": q["zone_records"],
            "max_zone_recordsets": q["zone_recordsets"],
            "max_zones": q["zones"],
            "min_ttl": None,
        }
    )


def _admin() -> _Caller:
    caller = _caller()
    if not caller.is_admin:
        raise _forbidden()
    return caller


def _render_simple(kind_path: str, fields: Sequence[str]) -> Callable[[Doc], dict[str, Any]]:
    def render(doc: Doc) -> dict[str, Any]:
        out = {k: doc.get(k) for k in fields}
        out["links"] = {"self": _link(f"/{kind_path}/{doc['id']}")}
        return out

    return render


_TLD_FIELDS = ("id", "name", "description", "created_at", "updated_at")
_BL_FIELDS = ("id", "pattern", "description", "created_at", "updated_at")


def _tld_name(value: Any) -> str:
    if not isinstance(value, str) or not RE_TLDNAME.match(value):
        raise _value_error(f"{value} is not a TLD")
    return value


def _pattern(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _schema_error("pattern", "'pattern' is a required property", "required")
    try:
        re.compile(value)
    except re.error as exc:
        raise _value_error(f"{value} is not a valid regular expression") from exc
    return value


def _get_simple(kind: str, name: str, type_: str, doc_id: str) -> Doc:
    _check_uuid(f"{name}_id", doc_id)
    doc = current_cloud().get(kind, doc_id)
    if doc is None:
        raise DesignateError(404, type_, f"Could not find {name.capitalize()}")
    return doc


@dataclass(frozen=True)
class _Simple:
    """An admin-managed list of ``{key, description}`` entries (TLDs, blacklists)."""

    kind: str
    name: str  # "tld": error types tld_not_found/duplicate_tld, request schema name
    path: str  # "tlds"
    key: str  # the unique field
    fields: tuple[str, ...]
    validate: Callable[[Any], str]
    duplicate: str
    fold: Callable[[str], str] = str
    public_read: bool = False  # TLDs can be read by anyone, blacklists by admins only

    def render(self, doc: Doc) -> dict[str, Any]:
        return _render_simple(self.path, self.fields)(doc)

    def authorize_read(self) -> None:
        if self.public_read:
            _caller()
        else:
            _admin()

    def get(self, doc_id: str) -> Doc:
        return _get_simple(self.kind, self.name, f"{self.name}_not_found", doc_id)

    def check_unique(self, cloud: LocalCloud, value: str, doc_id: str | None = None) -> None:
        wanted = self.fold(value)
        if cloud.store.find(self.kind, lambda d: self.fold(str(d[self.key])) == wanted and d["id"] != doc_id):
            raise DesignateError(409, f"duplicate_{self.name}", self.duplicate)


SIMPLE = (
    _Simple(TLD, "tld", "tlds", "name", _TLD_FIELDS, _tld_name, "Duplicate Tld", str.lower, True),
    _Simple(BLACKLIST, "blacklist", "blacklists", "pattern", _BL_FIELDS, _pattern, "Duplicate Blacklist"),
)


def _simple_list(spec: _Simple) -> Response:
    spec.authorize_read()
    items = _apply_filters(current_cloud().list(spec.kind), (spec.key, "description"))
    return _page(items, spec.path, spec.render, f"/{spec.path}")


def _simple_create(spec: _Simple) -> Response:
    cloud = current_cloud()
    _admin()
    body = _body()
    _check_keys(body, (spec.key, "description"), spec.name)
    value = spec.validate(body.get(spec.key))
    spec.check_unique(cloud, value)
    doc = {
        "id": new_id(),
        spec.key: value,
        "description": _check_string(body, "description"),
        "created_at": _now(),
        "updated_at": None,
    }
    cloud.put(spec.kind, doc)
    return json_response(spec.render(doc), 201)


def _simple_show(spec: _Simple, doc_id: str) -> Response:
    spec.authorize_read()
    return json_response(spec.render(spec.get(doc_id)))


def _simple_update(spec: _Simple, doc_id: str) -> Response:
    _admin()
    cloud = current_cloud()
    doc = spec.get(doc_id)
    body = _body()
    _check_keys(body, (spec.key, "description"), spec.name)
    if spec.key in body:
        value = spec.validate(body[spec.key])
        spec.check_unique(cloud, value, doc["id"])
        doc[spec.key] = value
    if "description" in body:
        doc["description"] = _check_string(body, "description")
    doc["updated_at"] = _now()
    cloud.put(spec.kind, doc)
    return json_response(spec.render(doc))


def _simple_delete(spec: _Simple, doc_id: str) -> Response:
    _admin()
    doc = spec.get(doc_id)
    current_cloud().delete(spec.kind, doc["id"])
    return Response(status=204)


def _route_simple(bp: Blueprint, v2: str, spec: _Simple) -> None:
    def collection() -> Response:
        return _simple_create(spec) if request.method == "POST" else _simple_list(spec)

    def item(doc_id: str) -> Response:
        if request.method == "PATCH":
            return _simple_update(spec, doc_id)
        if request.method == "DELETE":
            return _simple_delete(spec, doc_id)
        return _simple_show(spec, doc_id)

    bp.add_url_rule(f"{v2}/{spec.path}", f"{spec.path}_collection", collection, methods=["GET", "POST"])
    bp.add_url_rule(
        f"{v2}/{spec.path}/<doc_id>", f"{spec.path}_item", item, methods=["GET", "PATCH", "DELETE"]
    )


_SERVICES = ("api", "central", "mdns", "producer", "worker")


def _service_status_docs() -> list[Doc]:
    started = _now()
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"localcloud-designate-{name}")),
            "hostname": "localcloud",
            "service_name": name,
            "status": "UP",
            "stats": {},
            "capabilities": {},
            "heartbeated_at": started,
            "created_at": started,
            "updated_at": started,
        }
        for name in _SERVICES
    ]


def _render_status(doc: Doc) -> dict[str, Any]:
    out = dict(doc)
    out["links"] = {"self": _link(f"/service_statuses/{doc['id']}")}
    return out


def _list_service_statuses() -> Response:
    _admin()
    items = _apply_filters(_service_status_docs(), ("hostname", "service_name", "status"))
    return _page(items, "service_statuses", _render_status, "/service_statuses")


def _show_service_status(status_id: str) -> Response:
    _admin()
    _check_uuid("service_id", status_id)
    for doc in _service_status_docs():
        if doc["id"] == status_id:
            return json_response(_render_status(doc))
    raise DesignateError(404, "service_status_not_found", "Could not find ServiceStatus")


# -- what the name server publishes --------------------------------------------------------


def published_zones(cloud: LocalCloud) -> list[PublishedZone]:
    """The zones and records a Designate backend would serve now (see the module docstring).

    Transitions that are due are applied first without counting as API reads, so in ``time``
    mode a TXT record appears in DNS as soon as its delay has passed, polled or not.
    """
    with cloud.lock:
        for kind in (ZONE, RECORDSET):
            for doc in cloud.store.all(kind):
                cloud.settle_now(kind, doc)
        zones = [z for z in cloud.store.all(ZONE) if z.get("_served")]
        recordsets = cloud.store.all(RECORDSET)
    by_zone: dict[str, list[PublishedRecordset]] = {}
    for rs in recordsets:
        published = rs.get("_published")
        if not published:
            continue
        by_zone.setdefault(rs["zone_id"], []).append(
            PublishedRecordset(
                name=str(rs["name"]),
                type=str(rs["type"]),
                ttl=int(published.get("ttl") or 0),
                records=tuple(published["records"]),
            )
        )
    out = []
    for zone in zones:
        ttl = int(zone.get("ttl") or 3600)
        rrsets = tuple(
            PublishedRecordset(r.name, r.type, r.ttl or ttl, r.records) for r in by_zone.get(zone["id"], [])
        )
        out.append(PublishedZone(name=str(zone["name"]), recordsets=rrsets))
    return out


class _CloudZoneSource:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def published_zones(self) -> Sequence[PublishedZone]:
        return published_zones(self.cloud)


def start_dns_server(cloud: LocalCloud, host: str = "127.0.0.1", port: int = 0) -> LocalDnsServer:
    """Start the DNS server for ``cloud``'s Designate zones on ``host:port`` (UDP and TCP).

    The caller (``gateway-kit localcloud serve --dns-port``, the test fixture) owns the
    returned server and calls :meth:`LocalDnsServer.stop` at shutdown. It is also recorded in
    ``cloud.extensions["dns_server"]`` so the control API can report its port.
    """
    server = LocalDnsServer(_CloudZoneSource(cloud), host=host, port=port)
    server.start()
    cloud.extensions["dns_server"] = server
    return server


# -- registration --------------------------------------------------------------------------


def _route(bp: Blueprint, rule: str, view: Callable[..., Response], *methods: str) -> None:
    bp.add_url_rule(rule, endpoint=f"{view.__name__}", view_func=view, methods=list(methods))


def register(cloud: LocalCloud) -> None:
    """Register Designate under ``/dns`` (see :mod:`gateway_kit.localcloud.core`)."""
    quotas = cloud.seed_data.setdefault("quotas", {}).setdefault("dns", {})
    for key, value in DEFAULT_QUOTAS.items():
        quotas.setdefault(key, value)

    bp = flask.Blueprint("dns", __name__, url_prefix="/dns")
    _route(bp, "", _versions, "GET")
    _route(bp, "/", _versions, "GET")
    v2 = "/v2"
    _route(bp, f"{v2}/zones", _list_zones, "GET")
    _route(bp, f"{v2}/zones", _create_zone, "POST")
    _route(bp, f"{v2}/zones/<zone_id>", _show_zone, "GET")
    _route(bp, f"{v2}/zones/<zone_id>", _update_zone, "PATCH")
    _route(bp, f"{v2}/zones/<zone_id>", _delete_zone, "DELETE")
    _route(bp, f"{v2}/zones/<zone_id>/nameservers", _nameservers_view, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares", _list_shares, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares", _create_share, "POST")
    _route(bp, f"{v2}/zones/<zone_id>/shares/<share_id>", _show_share, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares/<share_id>", _delete_share, "DELETE")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets", _list_recordsets, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets", _create_recordset, "POST")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _show_recordset, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _update_recordset, "PUT")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _delete_recordset, "DELETE")
    _route(bp, f"{v2}/recordsets", _list_all_recordsets, "GET")
    _route(bp, f"{v2}/quotas", _get_own_quotas, "GET")
    _route(bp, f"{v2}/quotas/<project_id>", _get_quotas, "GET")
    _route(bp, f"{v2}/quotas/<project_id>", _set_quotas, "PATCH")
    _route(bp, f"{v2}/quotas/<project_id>", _reset_quotas, "DELETE")
    _route(bp, f"{v2}/limits", _limits, "GET")
    for spec in SIMPLE:
        _route_simple(bp, v2, spec)
    _route(bp, f"{v2}/service_statuses", _list_service_statuses, "GET")
    _route(bp, f"{v2}/service_statuses/<status_id>", _show_service_status, "GET")

    cloud.add_hook("dns.zone_active", _hook_zone_active)
    cloud.add_hook("dns.zone_deleted", _hook_zone_deleted)
    cloud.add_hook("dns.recordset_active", _hook_recordset_active)
    cloud.add_hook("dns.recordset_deleted", _hook_recordset_deleted)
    cloud.add_service(
        Service(
            name="dns",
            prefix="/dns",
            blueprint=bp,
            catalog=[CatalogEntry("dns", "designate", "/dns")],
            render_error=render_designate_error,
        )
    )
