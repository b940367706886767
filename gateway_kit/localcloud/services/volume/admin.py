"""Volume types, availability zones, limits and quota sets."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import ApiError, LocalCloud, current_cloud, json_response, request_json
from gateway_kit.localcloud.rest import require_policy

from .common import DEFAULT_TYPE, QUOTA_KEYS, _scope, _usage, routes

# -- types, zones, limits, quotas -------------------------------------------------------


@routes.get("/<project_id>/types")
def list_types(project_id: str) -> Response:
    _scope(project_id)
    return json_response({"volume_types": [DEFAULT_TYPE]})


@routes.get("/<project_id>/types/<type_id>")
def get_type(project_id: str, type_id: str) -> Response:
    _scope(project_id)
    if type_id not in (DEFAULT_TYPE["id"], "default", DEFAULT_TYPE["name"]):
        raise ApiError(404, f"Volume type {type_id} could not be found.", "itemNotFound")
    return json_response({"volume_type": DEFAULT_TYPE})


@routes.get("/<project_id>/os-availability-zone")
def availability_zones(project_id: str) -> Response:
    _scope(project_id)
    return json_response({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]})


@routes.get("/<project_id>/limits")
def limits(project_id: str) -> Response:
    auth = _scope(project_id)
    cloud = current_cloud()
    used = _usage(cloud, auth.project_id)
    q = {k: cloud.quota(auth.project_id, k) for k in QUOTA_KEYS}
    return json_response(
        {
            "limits": {
                "rate": [],
                "absolute": {
                    "maxTotalVolumes": q["volumes"],
                    "maxTotalVolumeGigabytes": q["gigabytes"],
                    "maxTotalSnapshots": q["snapshots"],
                    "maxTotalBackups": q["backups"],
                    "maxTotalBackupGigabytes": q["backup_gigabytes"],
                    "totalVolumesUsed": used["volumes"],
                    "totalGigabytesUsed": used["gigabytes"],
                    "totalSnapshotsUsed": used["snapshots"],
                    "totalBackupsUsed": 0,
                    "totalBackupGigabytesUsed": 0,
                },
            }
        }
    )


def _quota_values(cloud: LocalCloud, target: str, usage: bool) -> dict[str, Any]:
    used = _usage(cloud, target)
    out: dict[str, Any] = {}
    for key in QUOTA_KEYS:
        limit = cloud.quota(target, key)
        out[key] = (
            {"limit": limit, "in_use": used.get(key, 0), "reserved": 0, "allocated": 0} if usage else limit
        )
    out[f"volumes_{DEFAULT_TYPE['name']}"] = out["volumes"]
    out[f"gigabytes_{DEFAULT_TYPE['name']}"] = out["gigabytes"]
    out[f"snapshots_{DEFAULT_TYPE['name']}"] = out["snapshots"]
    out["id"] = target
    return out


@routes.get("/<project_id>/os-quota-sets/<target>")
def get_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    require_policy(auth.is_admin or target == auth.project_id, "volume_extension:quotas:show")
    usage = request.args.get("usage", "false").lower() == "true"
    return json_response({"quota_set": _quota_values(current_cloud(), target, usage)})


@routes.get("/<project_id>/os-quota-sets/<target>/defaults")
def get_quota_defaults(project_id: str, target: str) -> Response:
    _scope(project_id)
    defaults = current_cloud().seed_data.get("quotas", {}).get("volume", {})
    out: dict[str, Any] = {k: int(defaults.get(k, -1)) for k in QUOTA_KEYS}
    out["id"] = target
    return json_response({"quota_set": out})


@routes.put("/<project_id>/os-quota-sets/<target>")
def update_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    require_policy(auth.is_admin, "volume_extension:quotas:update")
    cloud = current_cloud()
    body = request_json().get("quota_set")
    if not isinstance(body, dict):
        raise ApiError(400, "Missing required element 'quota_set' in request body.", "badRequest")
    for key, value in body.items():
        base = key.split("_" + str(DEFAULT_TYPE["name"]))[0]
        if base not in QUOTA_KEYS:
            raise ApiError(400, f"Bad key(s) in quota set: {key}", "badRequest")
        cloud.set_quota(target, base, int(value))
    out = _quota_values(cloud, target, False)
    out.pop("id")
    return json_response({"quota_set": out})


@routes.delete("/<project_id>/os-quota-sets/<target>")
def delete_quota_set(project_id: str, target: str) -> Response:
    auth = _scope(project_id)
    require_policy(auth.is_admin, "volume_extension:quotas:delete")
    current_cloud().reset_quota(target, QUOTA_KEYS)
    return json_response(None, 200)
