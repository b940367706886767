"""Quotas, providers, flavors, flavor profiles, availability zones, amphorae and listener stats."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import ApiError, LocalCloud, current_cloud, json_response, new_id
from gateway_kit.localcloud.store import Doc

from .common import (
    AMPHORA,
    AZ,
    AZ_CAPABILITIES,
    AZ_PROFILE,
    FLAVOR,
    FLAVOR_CAPABILITIES,
    FLAVOR_PROFILE,
    LB,
    LISTENER,
    PROVIDERS,
    QUOTA_ALIASES,
    QUOTA_RESOURCES,
    _auth,
    _body,
    _filter,
    _forbidden,
    _get,
    _int,
    _invalid,
    _not_found,
    _unknown_attr,
)
from .health import stats

# -- quotas, providers, flavors, availability zones, amphorae ------------------------------------


def _quota_doc(cloud: LocalCloud, project_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in QUOTA_RESOURCES:
        value = cloud.quota(project_id, res)
        out[res] = value
        if res in QUOTA_ALIASES:
            out[QUOTA_ALIASES[res]] = value
    return out


def _list_quotas() -> Response:
    cloud = current_cloud()
    auth = _auth()
    projects = [
        d["id"]
        for d in cloud.store.all("core.quota")
        if any(r in d.get("limits", {}) for r in QUOTA_RESOURCES)
    ]
    if not auth.is_admin:
        projects = [p for p in projects if p == auth.project_id]
    quotas = [{"project_id": p, "tenant_id": p, **_quota_doc(cloud, p)} for p in projects]
    return json_response({"quotas": quotas, "quotas_links": []})


def _quota_defaults() -> Response:
    cloud = current_cloud()
    _auth()
    out: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for table in cloud.seed_data.get("quotas", {}).values():
        if isinstance(table, dict):
            defaults.update(table)
    for res in QUOTA_RESOURCES:
        out[res] = int(defaults.get(res, -1))
        if res in QUOTA_ALIASES:
            out[QUOTA_ALIASES[res]] = out[res]
    return json_response({"quota": out})


def _show_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if project_id != auth.project_id and not auth.is_admin:
        raise _forbidden()
    return json_response({"quota": _quota_doc(cloud, project_id)})


def _update_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    body = _body("quota")
    reverse = {v: k for k, v in QUOTA_ALIASES.items()}
    for key, value in body.items():
        res = reverse.get(key, key)
        if res not in QUOTA_RESOURCES:
            raise _unknown_attr("quota", body, key)
        if value is not None:
            limit = _int(body, key, -1, 2000000000)
            cloud.set_quota(project_id, res, limit)
    return json_response({"quota": _quota_doc(cloud, project_id)}, 202)


def _reset_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    cloud.reset_quota(project_id, QUOTA_RESOURCES)
    return Response(status=204)


def _providers() -> Response:
    _auth()
    return json_response({"providers": [{"name": n, "description": d} for n, d in PROVIDERS.items()]})


def _provider_caps(provider: str, which: str) -> Response:
    _auth()
    if provider not in PROVIDERS:
        raise ApiError(400, f"Provider '{provider}' is not enabled.")
    caps = FLAVOR_CAPABILITIES if which == "flavor" else AZ_CAPABILITIES
    return json_response({f"{which}_capabilities": caps})


@dataclass
class AdminSpec:
    kind: str
    root: str
    collection: str
    label: str
    keys: tuple[str, ...]
    required: tuple[str, ...]
    id_key: str = "id"
    json_keys: tuple[str, ...] = ()
    ref: tuple[str, str, str] | None = None  # (field, kind, label) that must exist


ADMIN_SPECS: dict[str, AdminSpec] = {
    "flavorprofiles": AdminSpec(
        FLAVOR_PROFILE,
        "flavorprofile",
        "flavorprofiles",
        "Flavor profile",
        ("id", "name", "provider_name", "flavor_data"),
        ("name", "provider_name", "flavor_data"),
        json_keys=("flavor_data",),
    ),
    "flavors": AdminSpec(
        FLAVOR,
        "flavor",
        "flavors",
        "Flavor",
        ("id", "name", "description", "enabled", "flavor_profile_id"),
        ("name", "flavor_profile_id"),
        ref=("flavor_profile_id", FLAVOR_PROFILE, "Flavor profile"),
    ),
    "availabilityzoneprofiles": AdminSpec(
        AZ_PROFILE,
        "availability_zone_profile",
        "availability_zone_profiles",
        "Availability Zone Profile",
        ("id", "name", "provider_name", "availability_zone_data"),
        ("name", "provider_name", "availability_zone_data"),
        json_keys=("availability_zone_data",),
    ),
    "availabilityzones": AdminSpec(
        AZ,
        "availability_zone",
        "availability_zones",
        "Availability Zone",
        ("name", "description", "enabled", "availability_zone_profile_id"),
        ("name", "availability_zone_profile_id"),
        id_key="name",
        ref=("availability_zone_profile_id", AZ_PROFILE, "Availability Zone Profile"),
    ),
}


def _admin_render(spec: AdminSpec, doc: Doc) -> dict[str, Any]:
    return {k: doc.get(k) for k in spec.keys}


def _admin_validate(cloud: LocalCloud, spec: AdminSpec, doc: Doc, body: dict[str, Any]) -> None:
    for key in body:
        if key not in spec.keys or key == "id":
            raise _unknown_attr(spec.root, body, key)
    for key in spec.json_keys:
        if key in body:
            try:
                json.loads(body[key])
            except (TypeError, ValueError) as exc:
                raise ApiError(400, f"Validation failure: {key} must be a JSON object.") from exc
    if "provider_name" in body and body["provider_name"] not in PROVIDERS:
        raise ApiError(400, f"Provider '{body['provider_name']}' is not enabled.")
    if (
        spec.ref
        and body.get(spec.ref[0]) is not None
        and cloud.get(spec.ref[1], str(body[spec.ref[0]])) is None
    ):
        raise ApiError(400, f"{spec.ref[2]} {body[spec.ref[0]]} not found.")
    doc.update(body)


def _admin_list(spec: AdminSpec) -> Response:
    cloud = current_cloud()
    _auth()
    docs = _filter(cloud.list(spec.kind), spec.keys)
    return json_response(
        {spec.collection: [_admin_render(spec, d) for d in docs], f"{spec.collection}_links": []}
    )


def _admin_get(cloud: LocalCloud, spec: AdminSpec, rid: str) -> Doc:
    doc = cloud.get(spec.kind, rid)
    if doc is None:
        raise _not_found(spec.label, rid)
    return doc


def _admin_show(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    _auth()
    return json_response({spec.root: _admin_render(spec, _admin_get(cloud, spec, rid))})


def _admin_create(spec: AdminSpec) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    body = _body(spec.root)
    for key in spec.required:
        if body.get(key) is None:
            raise _invalid(key, None, "Mandatory field missing.")
    doc: Doc = {k: None for k in spec.keys}
    if "enabled" in spec.keys:
        doc["enabled"] = True
    if "description" in spec.keys:
        doc["description"] = ""
    _admin_validate(cloud, spec, doc, body)
    if spec.id_key == "name":
        doc["id"] = doc["name"]
        if cloud.get(spec.kind, doc["id"]) is not None:
            raise ApiError(409, f"A {spec.label} of {doc['name']} already exists.")
    else:
        if cloud.store.find(spec.kind, lambda d: d.get("name") == doc["name"]):
            raise ApiError(409, f"A {spec.label} of {doc['name']} already exists.")
        doc["id"] = new_id()
    cloud.put(spec.kind, doc)
    return json_response({spec.root: _admin_render(spec, doc)}, 201)


def _admin_update(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = _admin_get(cloud, spec, rid)
    body = _body(spec.root)
    if spec.id_key == "name" and "name" in body:
        raise _unknown_attr(spec.root, body, "name")
    _admin_validate(cloud, spec, doc, body)
    cloud.put(spec.kind, doc)
    return json_response({spec.root: _admin_render(spec, doc)})


def _admin_delete(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = _admin_get(cloud, spec, rid)
    users: list[Doc] = []
    if spec.kind == FLAVOR_PROFILE:
        users = cloud.store.find(FLAVOR, lambda d: d.get("flavor_profile_id") == rid)
    elif spec.kind == AZ_PROFILE:
        users = cloud.store.find(AZ, lambda d: d.get("availability_zone_profile_id") == rid)
    elif spec.kind == FLAVOR:
        users = cloud.store.find(LB, lambda d: d.get("flavor_id") == rid)
    elif spec.kind == AZ:
        users = cloud.store.find(LB, lambda d: d.get("availability_zone") == rid)
    if users:
        raise ApiError(409, f"{spec.label} {rid} is in use and cannot be modified.")
    cloud.delete(spec.kind, doc["id"])
    return Response(status=204)


_AMP_KEYS = (
    "id",
    "loadbalancer_id",
    "compute_id",
    "lb_network_ip",
    "vrrp_ip",
    "ha_ip",
    "vrrp_port_id",
    "ha_port_id",
    "cert_expiration",
    "cert_busy",
    "role",
    "status",
    "vrrp_interface",
    "vrrp_id",
    "vrrp_priority",
    "cached_zone",
    "created_at",
    "updated_at",
    "image_id",
    "compute_flavor",
)


def _amphorae() -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    for _lb in cloud.list(LB):
        pass
    docs = _filter(cloud.list(AMPHORA), ("id", "loadbalancer_id", "role", "status", "compute_id"))
    return json_response({"amphorae": [{k: d.get(k) for k in _AMP_KEYS} for d in docs], "amphorae_links": []})


def _amphora(amp_id: str) -> Doc:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = cloud.get(AMPHORA, amp_id)
    if doc is None:
        raise _not_found("Amphora", amp_id)
    return doc


def _show_amphora(amp_id: str) -> Response:
    doc = _amphora(amp_id)
    return json_response({"amphora": {k: doc.get(k) for k in _AMP_KEYS}})


def _amphora_action(amp_id: str) -> Response:
    _amphora(amp_id)
    return Response(status=202)


def _amphora_stats(amp_id: str) -> Response:
    doc = _amphora(amp_id)
    stats = [
        {
            "id": amp_id,
            "listener_id": lis["id"],
            "loadbalancer_id": doc["loadbalancer_id"],
            "active_connections": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "request_errors": 0,
            "total_connections": 0,
        }
        for lis in current_cloud().store.find(
            LISTENER, lambda d: d["loadbalancer_id"] == doc["loadbalancer_id"]
        )
    ]
    return json_response({"amphora_stats": stats})


def _listener_stats(rid: str) -> Response:
    cloud = current_cloud()
    _get(cloud, _auth(), LISTENER, rid, "Listener")
    return json_response({"stats": stats(cloud, LISTENER, rid)})


def _versions() -> Response:
    href = current_cloud().url("/load-balancer/v2")
    return json_response(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "updated": "2024-10-01T00:00:00Z",
                    "links": [{"href": href, "rel": "self"}],
                }
            ]
        }
    )


def _caps(which: str, provider: str) -> Response:
    return _provider_caps(provider, which)
