"""Admin APIs: host aggregates, simple tenant usage and server groups."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    current_cloud,
    json_response,
    new_id,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import SERVER, SERVER_GROUP, _admin, _paginate_docs, at_least, routes

# -- aggregates and usage (admin) -------------------------------------------------------

AGGREGATE = "compute.aggregate"


def _aggregate_view(doc: Doc) -> dict[str, Any]:
    out = {
        k: doc.get(k)
        for k in (
            "id",
            "name",
            "availability_zone",
            "hosts",
            "metadata",
            "created_at",
            "updated_at",
            "deleted",
            "deleted_at",
        )
    }
    if at_least("2.41"):
        out["uuid"] = doc["uuid"]
    return out


def _aggregate(agg_id: str) -> Doc:
    doc = current_cloud().get(AGGREGATE, agg_id)
    if doc is None:
        raise ApiError(404, f"Aggregate {agg_id} could not be found.", "itemNotFound")
    return doc


@routes.get("/os-aggregates")
def list_aggregates() -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:index")
    return json_response({"aggregates": [_aggregate_view(d) for d in current_cloud().list(AGGREGATE)]})


@routes.post("/os-aggregates")
def create_aggregate() -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:create")
    cloud = current_cloud()
    spec = request_json().get("aggregate") or {}
    if not spec.get("name"):
        raise ApiError(400, "Invalid input for field/attribute aggregate.", "badRequest")
    if cloud.store.find(AGGREGATE, lambda a: a["name"] == spec["name"]):
        raise ApiError(409, f"Aggregate {spec['name']} already exists.", "conflictingRequest")
    agg_id = str(1 + max([int(a["id"]) for a in cloud.store.all(AGGREGATE)] or [0]))
    doc = {
        "id": agg_id,
        "uuid": new_id(),
        "name": spec["name"],
        "availability_zone": spec.get("availability_zone"),
        "hosts": [],
        "metadata": {},
        "created_at": now_iso(micro=True),
        "updated_at": None,
        "deleted": False,
        "deleted_at": None,
    }
    if doc["availability_zone"]:
        doc["metadata"]["availability_zone"] = doc["availability_zone"]
    cloud.put(AGGREGATE, doc)
    return json_response({"aggregate": _aggregate_view(doc)})


@routes.get("/os-aggregates/<agg_id>")
def get_aggregate(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:show")
    return json_response({"aggregate": _aggregate_view(_aggregate(agg_id))})


@routes.put("/os-aggregates/<agg_id>")
def update_aggregate(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:update")
    doc = _aggregate(agg_id)
    spec = request_json().get("aggregate") or {}
    for key in ("name", "availability_zone"):
        if key in spec:
            doc[key] = spec[key]
    if spec.get("availability_zone"):
        doc["metadata"]["availability_zone"] = spec["availability_zone"]
    doc["updated_at"] = now_iso(micro=True)
    current_cloud().put(AGGREGATE, doc)
    return json_response({"aggregate": _aggregate_view(doc)})


@routes.delete("/os-aggregates/<agg_id>")
def delete_aggregate(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:delete")
    doc = _aggregate(agg_id)
    if doc["hosts"]:
        raise ApiError(400, f"Aggregate {agg_id} still has hosts.", "badRequest")
    current_cloud().delete(AGGREGATE, agg_id)
    return json_response(None, 200)


@routes.post("/os-aggregates/<agg_id>/action")
def aggregate_action(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:set_metadata")
    doc = _aggregate(agg_id)
    body = request_json()
    if "set_metadata" in body:
        for key, value in (body["set_metadata"].get("metadata") or {}).items():
            if value is None:
                doc["metadata"].pop(key, None)
            else:
                doc["metadata"][key] = str(value)
    elif "add_host" in body:
        host = body["add_host"].get("host")
        if host != "localcloud":
            raise ApiError(404, f"Compute host {host} could not be found.", "itemNotFound")
        if host in doc["hosts"]:
            raise ApiError(409, f"Aggregate {agg_id} already has host {host}.", "conflictingRequest")
        doc["hosts"].append(host)
    elif "remove_host" in body:
        host = body["remove_host"].get("host")
        if host not in doc["hosts"]:
            raise ApiError(404, f"Cannot remove host {host} in aggregate {agg_id}", "itemNotFound")
        doc["hosts"].remove(host)
    else:
        raise ApiError(400, "Invalid aggregate action.", "badRequest")
    current_cloud().put(AGGREGATE, doc)
    return json_response({"aggregate": _aggregate_view(doc)})


def _usage_for(project: str, start: str, end: str) -> dict[str, Any]:
    from datetime import datetime

    cloud = current_cloud()

    def ts(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None).timestamp()

    servers = cloud.list(SERVER, lambda s: s["project_id"] == project)
    t0, t1 = ts(start), ts(end)
    usages = []
    total_hours = total_vcpu = total_mem = total_disk = 0.0
    for srv in servers:
        launched = ts(srv["launched_at"]) if srv.get("launched_at") else t1
        hours = max(0.0, (t1 - max(t0, launched)) / 3600.0)
        total_hours += hours
        total_vcpu += hours * srv["flavor"]["vcpus"]
        total_mem += hours * srv["flavor"]["ram"]
        total_disk += hours * srv["flavor"]["disk"]
        usages.append(
            {
                "instance_id": srv["id"],
                "name": srv["name"],
                "hours": hours,
                "memory_mb": srv["flavor"]["ram"],
                "local_gb": srv["flavor"]["disk"],
                "vcpus": srv["flavor"]["vcpus"],
                "tenant_id": project,
                "flavor": srv["flavor"]["name"],
                "started_at": srv.get("launched_at"),
                "ended_at": None,
                "state": srv["vm_state"],
                "uptime": int(hours * 3600),
            }
        )
    return {
        "tenant_id": project,
        "start": start,
        "stop": end,
        "total_hours": total_hours,
        "total_vcpus_usage": total_vcpu,
        "total_memory_mb_usage": total_mem,
        "total_local_gb_usage": total_disk,
        "server_usages": usages,
    }


@routes.get("/os-simple-tenant-usage/<project>")
def tenant_usage(project: str) -> Response:
    auth = require_token()
    if project != auth.project_id:
        _admin(auth, "os_compute_api:os-simple-tenant-usage:show")
    start = request.args.get("start") or now_iso()
    end = request.args.get("end") or now_iso(micro=True)
    return json_response({"tenant_usage": _usage_for(project, start, end)})


@routes.get("/os-simple-tenant-usage")
def tenant_usages() -> Response:
    _admin(require_token(), "os_compute_api:os-simple-tenant-usage:list")
    start = request.args.get("start") or now_iso()
    end = request.args.get("end") or now_iso(micro=True)
    projects = {s["project_id"] for s in current_cloud().list(SERVER)}
    out = [_usage_for(p, start, end) for p in sorted(projects)]
    if request.args.get("detailed") not in ("1", "true"):
        for u in out:
            u.pop("server_usages")
    return json_response({"tenant_usages": out})


# -- server groups ----------------------------------------------------------------------


def _group_view(doc: Doc) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc["name"],
        "members": list(doc.get("members", [])),
        "metadata": {},
    }
    if at_least("2.64"):
        out["policy"] = doc["policies"][0]
        out["rules"] = doc.get("rules", {})
        out.pop("metadata")
    else:
        out["policies"] = list(doc["policies"])
    if at_least("2.13"):
        out["project_id"] = doc["project_id"]
        out["user_id"] = doc["user_id"]
    return out


@routes.get("/os-server-groups")
def list_groups() -> Response:
    auth = require_token()
    everyone = auth.is_admin and bool(request.args.get("all_projects"))
    docs = current_cloud().list(SERVER_GROUP, lambda g: everyone or g["project_id"] == auth.project_id)
    return json_response({"server_groups": [_group_view(d) for d in _paginate_docs(docs)]})


@routes.post("/os-server-groups")
def create_group() -> Response:
    auth = require_token()
    cloud = current_cloud()
    spec = request_json().get("server_group") or {}
    policies = [spec.get("policy")] if at_least("2.64") else spec.get("policies") or []
    if (
        not spec.get("name")
        or len(policies) != 1
        or policies[0] not in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")
    ):
        raise ApiError(400, "Invalid input for field/attribute server_group.", "badRequest")
    used = cloud.store.count(SERVER_GROUP, lambda g: g["project_id"] == auth.project_id)
    if cloud.over_quota(auth.project_id, "server_groups", used, 1):
        raise ApiError(403, "Quota exceeded, too many server groups.", "forbidden")
    doc = {
        "id": new_id(),
        "name": spec["name"],
        "policies": policies,
        "rules": spec.get("rules", {}),
        "members": [],
        "project_id": auth.project_id,
        "user_id": auth.user_id,
    }
    cloud.put(SERVER_GROUP, doc)
    return json_response({"server_group": _group_view(doc)})


@routes.get("/os-server-groups/<group_id>")
def get_group(group_id: str) -> Response:
    auth = require_token()
    doc = current_cloud().get(SERVER_GROUP, group_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance group {group_id} could not be found.", "itemNotFound")
    return json_response({"server_group": _group_view(doc)})


@routes.delete("/os-server-groups/<group_id>")
def delete_group(group_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = cloud.get(SERVER_GROUP, group_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance group {group_id} could not be found.", "itemNotFound")
    cloud.delete(SERVER_GROUP, group_id)
    return json_response(None, 204)
