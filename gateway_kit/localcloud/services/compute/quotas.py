"""Nova limits and quota sets, and counting a project's usage against them."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import quota_view, require_policy
from gateway_kit.localcloud.services import network as neutron

from .common import (
    _INJECTED,
    _LEGACY_QUOTAS,
    KEYPAIR,
    QUOTA_KEYS,
    SERVER,
    SERVER_GROUP,
    _admin,
    at_least,
    routes,
)

# -- servers: create --------------------------------------------------------------------


def _project_usage(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    servers = cloud.store.find(SERVER, lambda s: s["project_id"] == project_id)
    return {
        "instances": len(servers),
        "cores": sum(s["flavor"]["vcpus"] for s in servers),
        "ram": sum(s["flavor"]["ram"] for s in servers),
    }


def _check_compute_quota(cloud: LocalCloud, project_id: str, deltas: dict[str, int]) -> None:
    used = _project_usage(cloud, project_id)
    for resource in ("instances", "cores", "ram"):
        delta = deltas.get(resource, 0)
        if cloud.over_quota(project_id, resource, used[resource], delta):
            limit = cloud.quota(project_id, resource)
            raise ApiError(
                403,
                f"Quota exceeded for {resource}: Requested {delta}, but "
                f"already used {used[resource]} of {limit} {resource}",
                "forbidden",
            )


# -- limits and quotas ------------------------------------------------------------------


@routes.get("/limits")
def limits() -> Response:
    auth = require_token()
    cloud = current_cloud()
    project = request.args.get("tenant_id") or auth.project_id
    if project != auth.project_id:
        _admin(auth, "os_compute_api:limits:other_project")
    used = _project_usage(cloud, project)
    q = {k: cloud.quota(project, k) for k in QUOTA_KEYS}
    absolute: dict[str, Any] = {
        "maxServerMeta": q["metadata_items"],
        "maxTotalInstances": q["instances"],
        "maxTotalCores": q["cores"],
        "maxTotalRAMSize": q["ram"],
        "maxTotalKeypairs": q["key_pairs"],
        "maxServerGroups": q["server_groups"],
        "maxServerGroupMembers": q["server_group_members"],
        "totalInstancesUsed": used["instances"],
        "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": cloud.store.count(SERVER_GROUP, lambda g: g["project_id"] == project),
    }
    if not at_least("2.36"):
        absolute.update(
            {
                "maxSecurityGroups": cloud.quota(project, "security_group"),
                "maxSecurityGroupRules": cloud.quota(project, "security_group_rule"),
                "maxTotalFloatingIps": cloud.quota(project, "floatingip"),
                "totalFloatingIpsUsed": cloud.store.count(neutron.FIP, lambda f: f["project_id"] == project),
                "totalSecurityGroupsUsed": cloud.store.count(
                    neutron.SG, lambda g: g["project_id"] == project
                ),
            }
        )
    if not at_least("2.39"):
        absolute["maxImageMeta"] = 128
    if not at_least("2.57"):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    return json_response({"limits": {"rate": [], "absolute": absolute}})


def _quota_body(project: str, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if not at_least("2.57"):
        out.update(
            {
                k: (
                    v
                    if not isinstance(values.get("instances"), dict)
                    else {"limit": v, "in_use": 0, "reserved": 0}
                )
                for k, v in _INJECTED.items()
            }
        )
    if not at_least("2.36"):
        out.update(
            {
                k: (
                    v
                    if not isinstance(values.get("instances"), dict)
                    else {"limit": v, "in_use": 0, "reserved": 0}
                )
                for k, v in _LEGACY_QUOTAS.items()
            }
        )
    out["id"] = project
    return out


def _quota_access(project: str, auth: AuthContext) -> None:
    require_policy(auth.is_admin or project == auth.project_id, "os_compute_api:os-quota-sets:show")


@routes.get("/os-quota-sets/<project>")
def get_quota_set(project: str) -> Response:
    auth = require_token()
    _quota_access(project, auth)
    cloud = current_cloud()
    return json_response(
        {"quota_set": _quota_body(project, {k: cloud.quota(project, k) for k in QUOTA_KEYS})}
    )


@routes.get("/os-quota-sets/<project>/defaults")
def get_quota_defaults(project: str) -> Response:
    auth = require_token()
    _quota_access(project, auth)
    defaults = current_cloud().seed_data.get("quotas", {}).get("compute", {})
    return json_response(
        {"quota_set": _quota_body(project, {k: int(defaults.get(k, -1)) for k in QUOTA_KEYS})}
    )


@routes.get("/os-quota-sets/<project>/detail")
def get_quota_detail(project: str) -> Response:
    auth = require_token()
    _quota_access(project, auth)
    cloud = current_cloud()
    used = _project_usage(cloud, project)
    used["key_pairs"] = cloud.store.count(KEYPAIR, lambda k: k["user_id"] == auth.user_id)
    used["server_groups"] = cloud.store.count(SERVER_GROUP, lambda g: g["project_id"] == project)
    return json_response(
        {
            "quota_set": _quota_body(
                project, quota_view({k: cloud.quota(project, k) for k in QUOTA_KEYS}, used)
            )
        }
    )


@routes.put("/os-quota-sets/<project>")
def update_quota_set(project: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-quota-sets:update")
    cloud = current_cloud()
    body = request_json().get("quota_set")
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute quota_set.", "badRequest")
    for key, value in body.items():
        if key == "force":
            continue
        if key not in QUOTA_KEYS:
            raise ApiError(
                400,
                "Invalid input for field/attribute quota_set. Additional "
                f"properties are not allowed ('{key}' was unexpected)",
                "badRequest",
            )
        cloud.set_quota(project, key, int(value))
    values = {k: cloud.quota(project, k) for k in QUOTA_KEYS}
    out = _quota_body(project, values)
    out.pop("id")
    return json_response({"quota_set": out})


@routes.delete("/os-quota-sets/<project>")
def delete_quota_set(project: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-quota-sets:delete")
    current_cloud().reset_quota(project, QUOTA_KEYS)
    return json_response(None, 202)
