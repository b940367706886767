"""Version discovery, zones (create, list, show, update, delete, nameservers) and zone shares."""

from __future__ import annotations

import time
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import LocalCloud, current_cloud, json_response, new_id
from gateway_kit.localcloud.store import Doc

from .access import (
    _check_keys,
    _check_limit,
    _check_string,
    _check_ttl,
    _check_zone_name,
    _owned_zone_or_404,
    _visible,
    _zone_child_or_404,
    _zone_or_404,
)
from .common import (
    DEFAULT_POOL_ID,
    RE_EMAIL,
    RECORDSET,
    SHARE,
    ZONE,
    ZONE_FIELDS,
    DesignateError,
    _apply_filters,
    _body,
    _caller,
    _forbidden,
    _header_true,
    _link,
    _now,
    _page,
    _render_zone,
    _schema_error,
    _value_error,
)
from .state import _nameservers, _pending, _soa_record, _touch_zone

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
