"""Quotas, limits, TLDs, blacklists and service statuses (admin APIs)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import LocalCloud, current_cloud, json_response, new_id
from gateway_kit.localcloud.store import Doc

from .access import _check_keys, _check_string, _quotas
from .common import (
    BLACKLIST,
    MAX_PAGE,
    QUOTA_KEYS,
    RE_TLDNAME,
    TLD,
    DesignateError,
    _apply_filters,
    _body,
    _Caller,
    _caller,
    _check_uuid,
    _forbidden,
    _link,
    _now,
    _page,
    _schema_error,
    _value_error,
)

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
    cloud.reset_quota(project_id, QUOTA_KEYS)
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
