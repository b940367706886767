"""Designate's shared pieces: resource kinds, limits, name patterns, error shapes, request helpers,
rendering, pagination and list filters.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    require_token,
)
from gateway_kit.localcloud.rest import after_marker, now
from gateway_kit.localcloud.store import Doc

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
    return now(micro=True)


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
    items = after_marker(
        items,
        request.args.get("marker"),
        not_found=lambda m: DesignateError(400, "marker_not_found", f"Marker {m} could not be found"),
    )
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
