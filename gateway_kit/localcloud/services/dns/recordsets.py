"""Recordsets: create, list (per zone and across zones), show, update, delete."""

from __future__ import annotations

from flask import Response

from gateway_kit.localcloud.core import current_cloud, json_response, new_id
from gateway_kit.localcloud.store import Doc

from .access import (
    _check_keys,
    _check_limit,
    _check_records,
    _check_string,
    _check_ttl,
    _recordset_or_404,
    _visible,
    _zone_or_404,
    _zone_record_count,
)
from .common import (
    RE_HOSTNAME,
    RECORD_TYPES,
    RECORDSET,
    RECORDSET_FIELDS,
    ZONE,
    DesignateError,
    _apply_filters,
    _body,
    _Caller,
    _caller,
    _forbidden,
    _header_true,
    _now,
    _page,
    _render_recordset,
    _schema_error,
    _value_error,
)
from .state import _pending, _touch_zone

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
