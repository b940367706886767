"""Services, endpoints and regions, read-only from the registered services' catalog."""

from __future__ import annotations

from flask import Response

from gateway_kit.localcloud.core import current_cloud, json_response, require_token

from .common import _link, routes

# -- services and endpoints (read-only, from the catalog) -------------------------------


@routes.get("/v3/services")
def list_services() -> Response:
    auth = require_token()
    out = [
        {
            "id": e["id"],
            "type": e["type"],
            "name": e["name"],
            "enabled": True,
            "links": _link("/services/" + e["id"]),
        }
        for e in current_cloud().catalog(auth.project_id)
    ]
    return json_response({"services": out, "links": _link("/services")})


@routes.get("/v3/endpoints")
def list_endpoints() -> Response:
    auth = require_token()
    out = []
    for entry in current_cloud().catalog(auth.project_id):
        for ep in entry["endpoints"]:
            out.append(
                {**ep, "service_id": entry["id"], "enabled": True, "links": _link("/endpoints/" + ep["id"])}
            )
    return json_response({"endpoints": out, "links": _link("/endpoints")})


@routes.get("/v3/regions")
def list_regions() -> Response:
    require_token()
    region = current_cloud().config.region
    return json_response(
        {
            "regions": [
                {
                    "id": region,
                    "description": "",
                    "parent_region_id": None,
                    "links": _link("/regions/" + region),
                }
            ],
            "links": _link("/regions"),
        }
    )
