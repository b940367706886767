"""Nova flavors: list/show/create/update/delete, extra specs and access."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    current_cloud,
    json_response,
    new_id,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import FLAVOR, _admin, _listing, _paginate_docs, at_least, routes

# -- flavors ----------------------------------------------------------------------------


def _flavor_links(flavor_id: str) -> list[dict[str, str]]:
    cloud = current_cloud()
    return [
        {"rel": "self", "href": cloud.url(f"/compute/v2.1/flavors/{flavor_id}")},
        {"rel": "bookmark", "href": cloud.url(f"/compute/flavors/{flavor_id}")},
    ]


def flavor_view(doc: Doc, detail: bool = True) -> dict[str, Any]:
    if not detail:
        out = {"id": doc["id"], "name": doc["name"], "links": _flavor_links(doc["id"])}
        if at_least("2.55"):
            out["description"] = doc.get("description")
        return out
    swap: Any = doc.get("swap", 0)
    if not at_least("2.75") and not swap:
        swap = ""
    out = {
        "id": doc["id"],
        "name": doc["name"],
        "ram": doc["ram"],
        "disk": doc["disk"],
        "vcpus": doc["vcpus"],
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": doc.get("ephemeral", 0),
        "OS-FLV-DISABLED:disabled": doc.get("disabled", False),
        "os-flavor-access:is_public": doc.get("is_public", True),
        "rxtx_factor": doc.get("rxtx_factor", 1.0),
        "links": _flavor_links(doc["id"]),
    }
    if at_least("2.55"):
        out["description"] = doc.get("description")
    if at_least("2.61"):
        out["extra_specs"] = dict(doc.get("extra_specs", {}))
    return out


def _flavor_visible(doc: Doc, auth: AuthContext) -> bool:
    return auth.is_admin or doc.get("is_public", True) or auth.project_id in doc.get("access", [])


def _get_flavor(flavor_id: str, auth: AuthContext) -> Doc:
    doc = current_cloud().get(FLAVOR, flavor_id)
    if doc is None or not _flavor_visible(doc, auth):
        raise ApiError(404, f"Flavor {flavor_id} could not be found.", "itemNotFound")
    return doc


def _list_flavors(detail: bool) -> Response:
    auth = require_token()
    docs = current_cloud().list(FLAVOR)
    is_public = request.args.get("is_public", "true").lower()
    if auth.is_admin:
        if is_public in ("true", "t", "1", "yes", "y"):
            docs = [d for d in docs if d.get("is_public", True)]
        elif is_public in ("false", "f", "0", "no", "n"):
            docs = [d for d in docs if not d.get("is_public", True)]
    else:
        docs = [d for d in docs if _flavor_visible(d, auth)]
    if "minRam" in request.args:
        docs = [d for d in docs if d["ram"] >= int(request.args["minRam"])]
    if "minDisk" in request.args:
        docs = [d for d in docs if d["disk"] >= int(request.args["minDisk"])]
    sort_key = request.args.get("sort_key", "flavorid")
    key_map = {"flavorid": "id", "memory_mb": "ram", "root_gb": "disk"}
    sk = key_map.get(sort_key, sort_key)

    def sort_value(d: Doc) -> Any:
        v = d.get(sk)
        if sk == "id" and str(v).isdigit():
            return (0, int(str(v)), "")
        return (1, 0, str(v)) if not isinstance(v, int) else (0, v, "")

    docs.sort(key=sort_value, reverse=request.args.get("sort_dir", "asc") == "desc")
    docs = _paginate_docs(docs)
    return _listing("flavors", [flavor_view(d, detail) for d in docs], docs, detail)


@routes.get("/flavors", defaults={"detail": False})
@routes.get("/flavors/detail", defaults={"detail": True})
def list_flavors(detail: bool) -> Response:
    return _list_flavors(detail)


@routes.get("/flavors/<flavor_id>")
def get_flavor(flavor_id: str) -> Response:
    auth = require_token()
    return json_response({"flavor": flavor_view(_get_flavor(flavor_id, auth))})


_EXTRA_SPEC_RE = re.compile(r"^[\w.:\-/ ]+$")


def _validate_extra_specs(specs: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in specs.items():
        if not isinstance(value, (str, int, float, bool)):
            raise ApiError(
                400, f"Invalid input for field/attribute extra_specs. Value: {specs}", "badRequest"
            )
        if not _EXTRA_SPEC_RE.match(key) or len(key) > 255:
            raise ApiError(400, f"Invalid input for field/attribute extra_specs. Value: {key}", "badRequest")
        if at_least("2.86"):
            if key == "pci_passthrough:alias" and not re.fullmatch(r"[^:,]+:\d+(,[^:,]+:\d+)*", str(value)):
                raise ApiError(400, f"Validation failed; '{value}' is not valid for '{key}'.", "badRequest")
            if key.startswith("resources:") and not str(value).isdigit():
                raise ApiError(400, f"Validation failed; '{value}' is not valid for '{key}'.", "badRequest")
        out[key] = str(value)
    return out


@routes.post("/flavors")
def create_flavor() -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-manage:create")
    body = request_json().get("flavor")
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input for field/attribute flavor.", "badRequest")
    for key in ("name", "ram", "vcpus", "disk"):
        if key not in body:
            raise ApiError(
                400,
                f"Invalid input for field/attribute flavor. Value: {body}. '{key}' is a required property",
                "badRequest",
            )
    cloud = current_cloud()
    flavor_id = str(body.get("id") or new_id())
    if cloud.store.get(FLAVOR, flavor_id) is not None:
        raise ApiError(409, f"Flavor with ID {flavor_id} already exists.", "conflictingRequest")
    if cloud.store.find(FLAVOR, lambda f: f["name"] == body["name"]):
        raise ApiError(409, f"Flavor with name {body['name']} already exists.", "conflictingRequest")
    for key in ("ram", "vcpus"):
        if int(body[key]) < 1:
            raise ApiError(
                400,
                f"Invalid input for field/attribute {key}. Value: "
                f"{body[key]}. {body[key]} is less than the minimum of 1",
                "badRequest",
            )
    doc = {
        "id": flavor_id,
        "name": body["name"],
        "ram": int(body["ram"]),
        "vcpus": int(body["vcpus"]),
        "disk": int(body["disk"]),
        "swap": int(body.get("swap") or 0),
        "ephemeral": int(body.get("OS-FLV-EXT-DATA:ephemeral", 0)),
        "rxtx_factor": float(body.get("rxtx_factor", 1.0)),
        "is_public": bool(body.get("os-flavor-access:is_public", True)),
        "description": body.get("description"),
        "extra_specs": {},
        "access": [],
    }
    cloud.put(FLAVOR, doc)
    return json_response({"flavor": flavor_view(doc)})


@routes.put("/flavors/<flavor_id>")
def update_flavor(flavor_id: str) -> Response:
    auth = require_token()
    if not at_least("2.55"):
        raise ApiError(405, "The method is not allowed for the requested URL.")
    _admin(auth, "os_compute_api:os-flavor-manage:update")
    doc = _get_flavor(flavor_id, auth)
    body = request_json().get("flavor") or {}
    if set(body) != {"description"}:
        raise ApiError(
            400, "Invalid input for field/attribute flavor: only description may be updated.", "badRequest"
        )
    doc["description"] = body["description"]
    current_cloud().put(FLAVOR, doc)
    return json_response({"flavor": flavor_view(doc)})


@routes.delete("/flavors/<flavor_id>")
def delete_flavor(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-manage:delete")
    _get_flavor(flavor_id, auth)
    current_cloud().delete(FLAVOR, flavor_id)
    return json_response(None, 202)


@routes.get("/flavors/<flavor_id>/os-extra_specs")
def list_extra_specs(flavor_id: str) -> Response:
    auth = require_token()
    return json_response({"extra_specs": _get_flavor(flavor_id, auth).get("extra_specs", {})})


@routes.post("/flavors/<flavor_id>/os-extra_specs")
def create_extra_specs(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-extra-specs:create")
    doc = _get_flavor(flavor_id, auth)
    specs = request_json().get("extra_specs")
    if not isinstance(specs, dict):
        raise ApiError(400, "Invalid input for field/attribute extra_specs.", "badRequest")
    doc.setdefault("extra_specs", {}).update(_validate_extra_specs(specs))
    current_cloud().put(FLAVOR, doc)
    return json_response({"extra_specs": doc["extra_specs"]})


@routes.get("/flavors/<flavor_id>/os-extra_specs/<key>")
def get_extra_spec(flavor_id: str, key: str) -> Response:
    auth = require_token()
    specs = _get_flavor(flavor_id, auth).get("extra_specs", {})
    if key not in specs:
        raise ApiError(404, f"Flavor {flavor_id} has no extra specs with key {key}.", "itemNotFound")
    return json_response({key: specs[key]})


@routes.put("/flavors/<flavor_id>/os-extra_specs/<key>")
def update_extra_spec(flavor_id: str, key: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-extra-specs:update")
    doc = _get_flavor(flavor_id, auth)
    body = request_json()
    if list(body) != [key]:
        raise ApiError(400, "Request body and URI mismatch", "badRequest")
    doc.setdefault("extra_specs", {}).update(_validate_extra_specs(body))
    current_cloud().put(FLAVOR, doc)
    return json_response({key: doc["extra_specs"][key]})


@routes.delete("/flavors/<flavor_id>/os-extra_specs/<key>")
def delete_extra_spec(flavor_id: str, key: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-extra-specs:delete")
    doc = _get_flavor(flavor_id, auth)
    if key not in doc.get("extra_specs", {}):
        raise ApiError(404, f"Flavor {flavor_id} has no extra specs with key {key}.", "itemNotFound")
    del doc["extra_specs"][key]
    current_cloud().put(FLAVOR, doc)
    return json_response(None, 200)


@routes.get("/flavors/<flavor_id>/os-flavor-access")
def flavor_access(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-access")
    doc = _get_flavor(flavor_id, auth)
    if doc.get("is_public", True):
        raise ApiError(404, "Access list not available for public flavors.", "itemNotFound")
    return json_response(
        {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": t} for t in doc.get("access", [])]}
    )


@routes.post("/flavors/<flavor_id>/action")
def flavor_action(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-access:add_tenant_access")
    doc = _get_flavor(flavor_id, auth)
    body = request_json()
    access = doc.setdefault("access", [])
    if "addTenantAccess" in body:
        tenant = body["addTenantAccess"]["tenant"]
        if doc.get("is_public", True):
            raise ApiError(409, "Can not add access to a public flavor.", "conflictingRequest")
        if tenant in access:
            raise ApiError(
                409,
                f"Flavor access already exists for flavor {flavor_id} and project {tenant} combination.",
                "conflictingRequest",
            )
        access.append(tenant)
    elif "removeTenantAccess" in body:
        tenant = body["removeTenantAccess"]["tenant"]
        if tenant not in access:
            raise ApiError(
                404, f"Flavor access not found for {flavor_id} / {tenant} combination.", "itemNotFound"
            )
        access.remove(tenant)
    else:
        raise ApiError(400, "Invalid flavor action.", "badRequest")
    current_cloud().put(FLAVOR, doc)
    return json_response({"flavor_access": [{"flavor_id": flavor_id, "tenant_id": t} for t in access]})
