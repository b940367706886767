"""Neutron quotas: per-project limits, defaults and usage details."""

from __future__ import annotations

from flask import Response

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

from .common import COLLECTIONS, QUOTA_RESOURCES, routes
from .effects import _project_count

# -- quotas -----------------------------------------------------------------------------


def _quota_set(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    return {r: cloud.quota(project_id, r) for r in QUOTA_RESOURCES}


def _usage(cloud: LocalCloud, project_id: str) -> dict[str, int]:
    kinds = {v[2]: v[0] for v in COLLECTIONS.values()}
    return {r: (_project_count(cloud, kinds[r], project_id) if r in kinds else 0) for r in QUOTA_RESOURCES}


def _quota_project(project_id: str, auth: AuthContext) -> None:
    if project_id != auth.project_id and not auth.is_admin:
        raise ApiError(
            403, "Non-admin is not authorized to access quotas for another tenant", "HTTPForbidden"
        )


def _quota_admin(policy: str) -> AuthContext:
    auth = require_token()
    require_policy(auth.is_admin, policy, "PolicyNotAuthorized")
    return auth


@routes.get("/v2.0/quotas")
def list_quotas() -> Response:
    _quota_admin("get_quota")
    cloud = current_cloud()
    out = [
        {**_quota_set(cloud, p["id"]), "project_id": p["id"], "tenant_id": p["id"]}
        for p in cloud.store.all("identity.project")
    ]
    return json_response({"quotas": out})


@routes.get("/v2.0/quotas/<project_id>")
def get_quota(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    return json_response({"quota": _quota_set(current_cloud(), project_id)})


@routes.get("/v2.0/quotas/<project_id>/default")
def get_default_quota(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    cloud = current_cloud()
    defaults = cloud.seed_data.get("quotas", {}).get("network", {})
    return json_response({"quota": {r: int(defaults.get(r, -1)) for r in QUOTA_RESOURCES}})


@routes.get("/v2.0/quotas/<project_id>/details")
@routes.get("/v2.0/quotas/<project_id>/details.json")
def get_quota_details(project_id: str) -> Response:
    auth = require_token()
    _quota_project(project_id, auth)
    cloud = current_cloud()
    used = _usage(cloud, project_id)
    return json_response({"quota": quota_view(_quota_set(cloud, project_id), used, used_key="used")})


@routes.put("/v2.0/quotas/<project_id>")
def update_quota(project_id: str) -> Response:
    _quota_admin("update_quota")
    cloud = current_cloud()
    body = request_json().get("quota") or {}
    for key, value in body.items():
        if key not in QUOTA_RESOURCES:
            raise ApiError(400, f"Unrecognized attribute(s) '{key}'", "HTTPBadRequest")
        cloud.set_quota(project_id, key, int(value))
    return json_response({"quota": _quota_set(cloud, project_id)})


@routes.delete("/v2.0/quotas/<project_id>")
def reset_quota(project_id: str) -> Response:
    _quota_admin("delete_quota")
    current_cloud().reset_quota(project_id, QUOTA_RESOURCES)
    return json_response(None, 204)
