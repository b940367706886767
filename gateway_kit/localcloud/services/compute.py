"""Nova (compute v2.1) for the local cloud (``/compute/v2.1``).

Microversions 2.1 to :data:`MAX_MICROVERSION` (2.100) are honoured: the response fields follow
the version asked for (2.3 extended attributes, 2.9 ``locked``, 2.19 ``description``, 2.26
``tags``, 2.47 embedded flavor, 2.61 flavor ``extra_specs``, 2.73 ``locked_reason``, 2.89
volume attachment ids, 2.96 ``pinned_availability_zone``, 2.100 ``scheduler_hints``; limits
and quota sets shrink at 2.36/2.39/2.57) and both ``OpenStack-API-Version`` and
``X-OpenStack-Nova-API-Version`` are echoed. Versions outside the range get 406.

Servers follow Nova's state machine (BUILD -> ACTIVE | ERROR; SHUTOFF, SUSPENDED, PAUSED,
SHELVED -> SHELVED_OFFLOADED, RESIZE -> VERIFY_RESIZE, REBOOT, HARD_REBOOT, REBUILD) with
transitions on the cloud's clock; wrong-state actions and actions on locked servers answer 409.
Their NICs are Neutron ports, their ``addresses`` come from Neutron (floating IPs included), and
their volume attachments drive Cinder's ``in-use``/``available`` states.

**Boot hook.** Servers do not run anything yet. When a server becomes ACTIVE the core calls every
function in ``cloud.extensions["compute.boot_hooks"]`` as ``fn(cloud, server_doc)``, and on
delete every function in ``cloud.extensions["compute.destroy_hooks"]``; a data plane registers
there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    MicroversionSpec,
    Service,
    current_cloud,
    json_response,
    microversion,
    new_id,
    new_secret,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

bp = Blueprint("compute", __name__, url_prefix="/compute/v2.1")

MIN_MICROVERSION = "2.1"
#: The highest compute microversion the local cloud implements (Nova 2024.2 "Dalmatian").
MAX_MICROVERSION = "2.100"

SERVER = "compute.server"
FLAVOR = "compute.flavor"
KEYPAIR = "compute.keypair"
SERVER_GROUP = "compute.server_group"

QUOTA_KEYS = (
    "instances",
    "cores",
    "ram",
    "key_pairs",
    "metadata_items",
    "server_groups",
    "server_group_members",
)
_LEGACY_QUOTAS = {"fixed_ips": -1, "floating_ips": -1, "security_group_rules": -1, "security_groups": -1}
_INJECTED = {"injected_file_content_bytes": 10240, "injected_file_path_bytes": 255, "injected_files": 5}

#: status -> (vm_state, power_state)
STATES: dict[str, tuple[str, int]] = {
    "BUILD": ("building", 0),
    "ACTIVE": ("active", 1),
    "SHUTOFF": ("stopped", 4),
    "SUSPENDED": ("suspended", 7),
    "PAUSED": ("paused", 3),
    "SHELVED": ("shelved", 4),
    "SHELVED_OFFLOADED": ("shelved_offloaded", 4),
    "VERIFY_RESIZE": ("resized", 1),
    "ERROR": ("error", 0),
    "RESCUE": ("rescued", 1),
}


def state(status: str, task: str | None = None, shown: str | None = None) -> dict[str, Any]:
    """Fields for a server in ``status`` (with a task, shown as ``shown`` meanwhile)."""
    vm_state, power = STATES[status]
    return {"status": shown or status, "vm_state": vm_state, "task_state": task, "power_state": power}


def mv() -> tuple[int, int]:
    return microversion()


def at_least(version: str) -> bool:
    major, _, minor = version.partition(".")
    return mv() >= (int(major), int(minor))


_NOVA_CODES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "HTTPMethodNotAllowed",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    429: "overLimit",
    500: "computeFault",
    503: "serviceUnavailable",
}


def render_error(err: ApiError) -> Response:
    code = err.code if err.code in _NOVA_CODES.values() else _NOVA_CODES.get(err.status, "computeFault")
    return json_response({code: {"code": err.status, "message": err.message}}, err.status)


def _conflict(server: Doc, action: str) -> ApiError:
    if server.get("task_state"):
        return ApiError(
            409,
            f"Cannot '{action}' instance {server['id']} while it is in task_state {server['task_state']}",
            "conflictingRequest",
        )
    return ApiError(
        409,
        f"Cannot '{action}' instance {server['id']} while it is in vm_state {server['vm_state']}",
        "conflictingRequest",
    )


def _locked(server: Doc, auth: AuthContext) -> None:
    if server.get("locked") and not auth.is_admin:
        raise ApiError(409, f"Instance {server['id']} is locked", "conflictingRequest")


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
    body: dict[str, Any] = {"flavors": [flavor_view(d, detail) for d in docs]}
    limit = request.args.get("limit")
    if limit and docs and len(docs) == int(limit):
        body["flavors_links"] = [
            {
                "rel": "next",
                "href": current_cloud().url(
                    f"/compute/v2.1/flavors{'/detail' if detail else ''}?limit={limit}"
                    f"&marker={docs[-1]['id']}"
                ),
            }
        ]
    return json_response(body)


def _paginate_docs(docs: list[Doc]) -> list[Doc]:
    marker = request.args.get("marker")
    if marker:
        ids = [d["id"] for d in docs]
        if marker not in ids:
            raise ApiError(400, f"marker [{marker}] not found", "badRequest")
        docs = docs[ids.index(marker) + 1 :]
    limit = request.args.get("limit")
    if limit:
        docs = docs[: int(limit)]
    return docs


@bp.get("/flavors", defaults={"detail": False})
@bp.get("/flavors/detail", defaults={"detail": True})
def list_flavors(detail: bool) -> Response:
    return _list_flavors(detail)


@bp.get("/flavors/<flavor_id>")
def get_flavor(flavor_id: str) -> Response:
    auth = require_token()
    return json_response({"flavor": flavor_view(_get_flavor(flavor_id, auth))})


def _admin(auth: AuthContext, rule: str) -> None:
    if not auth.is_admin:
        raise ApiError(403, f"Policy doesn't allow {rule} to be performed.", "forbidden")


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


@bp.post("/flavors")
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


@bp.put("/flavors/<flavor_id>")
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


@bp.delete("/flavors/<flavor_id>")
def delete_flavor(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-manage:delete")
    _get_flavor(flavor_id, auth)
    current_cloud().delete(FLAVOR, flavor_id)
    return json_response(None, 202)


@bp.get("/flavors/<flavor_id>/os-extra_specs")
def list_extra_specs(flavor_id: str) -> Response:
    auth = require_token()
    return json_response({"extra_specs": _get_flavor(flavor_id, auth).get("extra_specs", {})})


@bp.post("/flavors/<flavor_id>/os-extra_specs")
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


@bp.get("/flavors/<flavor_id>/os-extra_specs/<key>")
def get_extra_spec(flavor_id: str, key: str) -> Response:
    auth = require_token()
    specs = _get_flavor(flavor_id, auth).get("extra_specs", {})
    if key not in specs:
        raise ApiError(404, f"Flavor {flavor_id} has no extra specs with key {key}.", "itemNotFound")
    return json_response({key: specs[key]})


@bp.put("/flavors/<flavor_id>/os-extra_specs/<key>")
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


@bp.delete("/flavors/<flavor_id>/os-extra_specs/<key>")
def delete_extra_spec(flavor_id: str, key: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-extra-specs:delete")
    doc = _get_flavor(flavor_id, auth)
    if key not in doc.get("extra_specs", {}):
        raise ApiError(404, f"Flavor {flavor_id} has no extra specs with key {key}.", "itemNotFound")
    del doc["extra_specs"][key]
    current_cloud().put(FLAVOR, doc)
    return json_response(None, 200)


@bp.get("/flavors/<flavor_id>/os-flavor-access")
def flavor_access(flavor_id: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-flavor-access")
    doc = _get_flavor(flavor_id, auth)
    if doc.get("is_public", True):
        raise ApiError(404, "Access list not available for public flavors.", "itemNotFound")
    return json_response(
        {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": t} for t in doc.get("access", [])]}
    )


@bp.post("/flavors/<flavor_id>/action")
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


# -- keypairs ---------------------------------------------------------------------------

_KEY_NAME = re.compile(r"^[a-zA-Z0-9 _\-@.]{1,255}$")


def _fingerprint(public_key: str) -> str:
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValueError("not an OpenSSH public key")
    blob = base64.b64decode(parts[1], validate=True)
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def _generate_key(name: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, f"{public} Generated-by-Nova"


def keypair_view(doc: Doc, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": doc["name"],
        "public_key": doc["public_key"],
        "fingerprint": doc["fingerprint"],
    }
    if at_least("2.2"):
        out["type"] = doc.get("type", "ssh")
    if detail:
        out.update(
            {
                "user_id": doc["user_id"],
                "created_at": doc["created_at"],
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
                "id": doc["seq"],
            }
        )
    return out


def _keypair_owner(auth: AuthContext) -> str:
    user = request.args.get("user_id")
    if user and user != auth.user_id:
        if not at_least("2.10"):
            raise ApiError(400, "user_id requires microversion 2.10", "badRequest")
        _admin(auth, "os_compute_api:os-keypairs:index")
        return user
    return auth.user_id


def _find_keypair(user_id: str, name: str) -> Doc:
    doc = current_cloud().get(KEYPAIR, f"{user_id}:{name}")
    if doc is None:
        raise ApiError(404, f"Keypair {name} not found for user {user_id}", "itemNotFound")
    return doc


@bp.get("/os-keypairs")
def list_keypairs() -> Response:
    auth = require_token()
    owner = _keypair_owner(auth)
    docs = current_cloud().list(KEYPAIR, lambda k: k["user_id"] == owner)
    docs.sort(key=lambda k: k["name"])
    if at_least("2.35"):
        docs = _paginate_docs_by(docs, "name")
    return json_response({"keypairs": [{"keypair": keypair_view(d, False)} for d in docs]})


def _paginate_docs_by(docs: list[Doc], key: str) -> list[Doc]:
    marker = request.args.get("marker")
    if marker:
        names = [d[key] for d in docs]
        if marker not in names:
            raise ApiError(400, f"marker [{marker}] not found", "badRequest")
        docs = docs[names.index(marker) + 1 :]
    limit = request.args.get("limit")
    return docs[: int(limit)] if limit else docs


@bp.get("/os-keypairs/<name>")
def get_keypair(name: str) -> Response:
    auth = require_token()
    return json_response({"keypair": keypair_view(_find_keypair(_keypair_owner(auth), name), True)})


@bp.post("/os-keypairs")
def create_keypair() -> Response:
    auth = require_token()
    body = request_json().get("keypair")
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(
            400, "Invalid input for field/attribute keypair. 'name' is a required property", "badRequest"
        )
    name = str(body["name"])
    if not _KEY_NAME.match(name):
        raise ApiError(
            400,
            "Invalid input for field/attribute name. Value: "
            f"{name}. '{name}' does not match the allowed pattern",
            "badRequest",
        )
    user_id = auth.user_id
    if body.get("user_id") and body["user_id"] != auth.user_id:
        _admin(auth, "os_compute_api:os-keypairs:create")
        user_id = body["user_id"]
    cloud = current_cloud()
    if cloud.store.get(KEYPAIR, f"{user_id}:{name}") is not None:
        raise ApiError(409, f"Key pair '{name}' already exists.", "conflictingRequest")
    used = cloud.store.count(KEYPAIR, lambda k: k["user_id"] == user_id)
    if cloud.over_quota(auth.project_id, "key_pairs", used, 1):
        raise ApiError(403, "Quota exceeded, too many key pairs.", "forbidden")
    private = None
    public = body.get("public_key")
    if public is None:
        if at_least("2.92"):
            raise ApiError(
                400,
                "Invalid input for field/attribute keypair. 'public_key' is a required property",
                "badRequest",
            )
        private, public = _generate_key(name)
    try:
        fingerprint = _fingerprint(public)
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint", "badRequest") from exc
    seq = cloud.store.count(KEYPAIR) + 1
    doc = {
        "id": f"{user_id}:{name}",
        "name": name,
        "user_id": user_id,
        "public_key": public,
        "fingerprint": fingerprint,
        "type": body.get("type", "ssh"),
        "created_at": now_iso(micro=True),
        "seq": seq,
    }
    cloud.put(KEYPAIR, doc)
    out = keypair_view(doc, False)
    out["user_id"] = user_id
    if private is not None:
        out["private_key"] = private
    return json_response({"keypair": out}, 201 if at_least("2.2") else 200)


@bp.delete("/os-keypairs/<name>")
def delete_keypair(name: str) -> Response:
    auth = require_token()
    doc = _find_keypair(_keypair_owner(auth), name)
    current_cloud().delete(KEYPAIR, doc["id"])
    return json_response(None, 204 if at_least("2.2") else 202)


# -- servers: rendering -----------------------------------------------------------------


def _server_links(server_id: str) -> list[dict[str, str]]:
    cloud = current_cloud()
    return [
        {"rel": "self", "href": cloud.url(f"/compute/v2.1/servers/{server_id}")},
        {"rel": "bookmark", "href": cloud.url(f"/compute/servers/{server_id}")},
    ]


def _host_id(doc: Doc) -> str:
    if doc["status"] in ("BUILD", "SHELVED_OFFLOADED", "ERROR") and not doc.get("launched_at"):
        return ""
    return hashlib.sha224((doc["project_id"] + "localcloud-host").encode()).hexdigest()


def server_view(doc: Doc, auth: AuthContext) -> dict[str, Any]:
    cloud = current_cloud()
    flavor = doc["flavor"]
    image: Any = ""
    if doc.get("image_id"):
        image = {
            "id": doc["image_id"],
            "links": [{"rel": "bookmark", "href": cloud.url(f"/compute/images/{doc['image_id']}")}],
        }
        if at_least("2.98"):
            img = cloud.store.get("image.image", doc["image_id"]) or {}
            image["properties"] = {
                k: str(v) for k, v in img.get("properties", {}).items() if not k.startswith("_")
            }
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc["name"],
        "status": doc["status"],
        "tenant_id": doc["project_id"],
        "user_id": doc["user_id"],
        "metadata": dict(doc.get("metadata", {})),
        "hostId": _host_id(doc),
        "image": image,
        "created": doc["created"],
        "updated": doc["updated"],
        "addresses": neutron.server_addresses(cloud, doc["id"]),
        "accessIPv4": doc.get("accessIPv4", ""),
        "accessIPv6": doc.get("accessIPv6", ""),
        "links": _server_links(doc["id"]),
        "OS-DCF:diskConfig": doc.get("disk_config", "MANUAL"),
        "progress": 100 if doc["status"] == "ACTIVE" else 0,
        "OS-EXT-AZ:availability_zone": doc.get("availability_zone", "nova") if doc.get("launched_at") else "",
        "config_drive": "True" if doc.get("config_drive") else "",
        "key_name": doc.get("key_name"),
        "OS-SRV-USG:launched_at": doc.get("launched_at"),
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": doc.get("task_state"),
        "OS-EXT-STS:vm_state": doc["vm_state"],
        "OS-EXT-STS:power_state": doc["power_state"],
    }
    if doc["status"] not in ("BUILD", "ACTIVE"):
        out.pop("progress")
    sgs = doc.get("security_groups") or []
    if sgs:
        out["security_groups"] = [{"name": n} for n in sgs]
    if at_least("2.47"):
        out["flavor"] = {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "ephemeral": flavor.get("ephemeral", 0),
            "swap": flavor.get("swap", 0),
            "original_name": flavor["name"],
            "extra_specs": dict(flavor.get("extra_specs", {})),
        }
    else:
        out["flavor"] = {
            "id": flavor["id"],
            "links": [{"rel": "bookmark", "href": cloud.url(f"/compute/flavors/{flavor['id']}")}],
        }
    vols = []
    for bdm in doc.get("bdms", []):
        item: dict[str, Any] = {"id": bdm["volume_id"]}
        if at_least("2.3"):
            item["delete_on_termination"] = bdm.get("delete_on_termination", False)
        vols.append(item)
    out["os-extended-volumes:volumes_attached"] = vols
    if auth.is_admin:
        out["OS-EXT-SRV-ATTR:host"] = "localcloud" if doc.get("launched_at") else None
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = "localcloud.local" if doc.get("launched_at") else None
        out["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{doc['seq']:08x}"
        if at_least("2.3"):
            out.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": doc["reservation_id"],
                    "OS-EXT-SRV-ATTR:launch_index": doc.get("launch_index", 0),
                    "OS-EXT-SRV-ATTR:hostname": doc["hostname"],
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": doc.get("user_data"),
                }
            )
    elif at_least("2.90"):
        out["OS-EXT-SRV-ATTR:hostname"] = doc["hostname"]
    if at_least("2.9"):
        out["locked"] = bool(doc.get("locked"))
    if at_least("2.16") and auth.is_admin:
        out["host_status"] = "UP" if doc.get("launched_at") else ""
    if at_least("2.19"):
        out["description"] = doc.get("description")
    if at_least("2.26"):
        out["tags"] = list(doc.get("tags", []))
    if at_least("2.63"):
        out["trusted_image_certificates"] = None
    if at_least("2.71"):
        out["server_groups"] = [
            g["id"] for g in cloud.store.find(SERVER_GROUP, lambda g: doc["id"] in g.get("members", []))
        ]
    if at_least("2.73"):
        out["locked_reason"] = doc.get("locked_reason")
    if at_least("2.96"):
        out["pinned_availability_zone"] = doc.get("requested_az")
    if at_least("2.100"):
        out["scheduler_hints"] = dict(doc.get("scheduler_hints", {}))
    if doc["status"] == "ERROR" and doc.get("fault"):
        out["fault"] = doc["fault"]
    if doc.get("admin_pass_shown") is False:
        pass
    return out


# -- servers: lookup and listing --------------------------------------------------------


def _server(server_id: str, auth: AuthContext) -> Doc:
    doc = current_cloud().get(SERVER, server_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance {server_id} could not be found.", "itemNotFound")
    return doc


def _list_servers(detail: bool) -> Response:
    auth = require_token()
    cloud = current_cloud()
    args = request.args
    all_projects = args.get("all_tenants", args.get("all_projects", "")).lower() in (
        "1",
        "true",
        "t",
        "yes",
        "",
    )
    if "all_tenants" not in args and "all_projects" not in args:
        all_projects = False
    if all_projects and not auth.is_admin:
        raise ApiError(
            403,
            "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.",
            "forbidden",
        )
    project = args.get("project_id") or args.get("tenant_id")
    docs = cloud.list(SERVER)
    if all_projects:
        if project:
            docs = [d for d in docs if d["project_id"] == project]
    else:
        docs = [d for d in docs if d["project_id"] == auth.project_id]
    if "name" in args:
        try:
            pattern = re.compile(args["name"])
        except re.error:
            pattern = re.compile(re.escape(args["name"]))
        docs = [d for d in docs if pattern.search(d["name"])]
    if "status" in args:
        docs = [d for d in docs if d["status"] == args["status"].upper()]
    for key, field in (
        ("image", "image_id"),
        ("key_name", "key_name"),
        ("user_id", "user_id"),
        ("vm_state", "vm_state"),
        ("task_state", "task_state"),
    ):
        if key in args:
            docs = [d for d in docs if str(d.get(field)) == args[key]]
    if "flavor" in args:
        docs = [d for d in docs if d["flavor"]["id"] == args["flavor"]]
    if "locked" in args and at_least("2.73"):
        want = args["locked"].lower() in ("1", "true")
        docs = [d for d in docs if bool(d.get("locked")) == want]
    if "ip" in args:
        pat = re.compile(args["ip"])
        docs = [
            d
            for d in docs
            if any(
                pat.search(a["addr"])
                for addrs in neutron.server_addresses(cloud, d["id"]).values()
                for a in addrs
            )
        ]
    if "changes-since" in args:
        docs = [d for d in docs if d["updated"] >= args["changes-since"]]
    if at_least("2.26"):
        for key, match in (("tags", all), ("tags-any", any)):
            if key in args:
                wanted = args[key].split(",")
                docs = [d for d in docs if match(t in d.get("tags", []) for t in wanted)]
        for key, match in (("not-tags", all), ("not-tags-any", any)):
            if key in args:
                wanted = args[key].split(",")
                docs = [d for d in docs if not match(t in d.get("tags", []) for t in wanted)]
    docs.sort(key=lambda d: (d["created"], d["seq"]), reverse=True)
    docs = _paginate_docs(docs)
    if detail:
        items = [server_view(d, auth) for d in docs]
    else:
        items = [{"id": d["id"], "name": d["name"], "links": _server_links(d["id"])} for d in docs]
    body: dict[str, Any] = {"servers": items}
    limit = args.get("limit")
    if limit and docs and len(docs) == int(limit):
        body["servers_links"] = [
            {
                "rel": "next",
                "href": cloud.url(
                    f"/compute/v2.1/servers{'/detail' if detail else ''}?limit={limit}"
                    f"&marker={docs[-1]['id']}"
                ),
            }
        ]
    return json_response(body)


@bp.get("/servers", defaults={"detail": False})
@bp.get("/servers/detail", defaults={"detail": True})
def list_servers(detail: bool) -> Response:
    return _list_servers(detail)


@bp.get("/servers/<server_id>")
def get_server(server_id: str) -> Response:
    auth = require_token()
    return json_response({"server": server_view(_server(server_id, auth), auth)})


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


def _resolve_networks(cloud: LocalCloud, auth: AuthContext, networks: Any) -> list[dict[str, Any]]:
    """Return NIC requests ``[{"network_id"|"port_id", "fixed_ip"}]``."""
    if networks == "none":
        return []
    if networks == "auto" or networks is None:
        candidates = [
            n
            for n in cloud.list(neutron.NETWORK)
            if not n.get("router:external") and (n["project_id"] == auth.project_id or n.get("shared"))
        ]
        if len(candidates) > 1:
            raise ApiError(
                409,
                "Multiple possible networks found, use a Network ID to be more specific.",
                "conflictingRequest",
            )
        if not candidates:
            raise ApiError(
                400, f"Unable to automatically allocate a network for project {auth.project_id}", "badRequest"
            )
        return [{"network_id": candidates[0]["id"]}]
    if not isinstance(networks, list):
        raise ApiError(400, "Invalid input for field/attribute networks.", "badRequest")
    nics = []
    for item in networks:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid input for field/attribute networks.", "badRequest")
        if item.get("port"):
            port = cloud.get(neutron.PORT, item["port"])
            if port is None or (port["project_id"] != auth.project_id and not auth.is_admin):
                raise ApiError(404, f"Port id {item['port']} could not be found.", "itemNotFound")
            if port.get("device_id"):
                raise ApiError(409, f"Port {item['port']} is still in use.", "conflictingRequest")
            nics.append({"port_id": port["id"]})
            continue
        net_id = item.get("uuid")
        net = cloud.get(neutron.NETWORK, net_id or "")
        if net is None or not (net["project_id"] == auth.project_id or net.get("shared") or auth.is_admin):
            raise ApiError(400, f"Network {net_id} could not be found.", "badRequest")
        if not cloud.store.find_eq(neutron.SUBNET, network_id=net["id"]):
            raise ApiError(
                400, f"Network {net_id} requires a subnet in order to boot instances on.", "badRequest"
            )
        nics.append({"network_id": net["id"], "fixed_ip": item.get("fixed_ip")})
    return nics


@bp.post("/servers")
def create_server() -> Response:
    auth = require_token()
    cloud = current_cloud()
    body = request_json()
    spec = body.get("server")
    if not isinstance(spec, dict):
        raise ApiError(400, "Invalid input for field/attribute server.", "badRequest")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ApiError(
            400, f"Invalid input for field/attribute name. Value: {name}. {name!r} is not valid", "badRequest"
        )
    if at_least("2.37") and "networks" not in spec:
        raise ApiError(
            400,
            f"Invalid input for field/attribute server. Value: {spec}. 'networks' is a required property",
            "badRequest",
        )
    flavor_ref = str(spec.get("flavorRef", "")).rstrip("/").split("/")[-1]
    flavor = cloud.get(FLAVOR, flavor_ref)
    if flavor is None or not _flavor_visible(flavor, auth):
        raise ApiError(400, f"Flavor {flavor_ref} could not be found.", "badRequest")
    bdms_in = spec.get("block_device_mapping_v2") or []
    image_ref = str(spec.get("imageRef") or "").rstrip("/").split("/")[-1]
    boot_from_volume = any(
        str(b.get("boot_index", "")) == "0" and b.get("destination_type") == "volume" for b in bdms_in
    )
    image = None
    if image_ref:
        image = cloud.get("image.image", image_ref)
        if (
            image is None
            or image["status"] != "active"
            or not (
                auth.is_admin
                or image["visibility"] in ("public", "community")
                or image["owner"] == auth.project_id
            )
        ):
            raise ApiError(400, "Can not find requested image", "badRequest")
    elif not boot_from_volume:
        raise ApiError(400, "Can not find requested image", "badRequest")
    if (
        image is not None
        and not boot_from_volume
        and flavor["disk"]
        and flavor["disk"] < int(image.get("min_disk") or 0)
    ):
        raise ApiError(
            400,
            "Flavor's disk is too small for requested image. Flavor disk "
            f"is {flavor['disk'] * 1073741824} bytes, minimum disk is "
            f"{int(image['min_disk']) * 1073741824} bytes.",
            "badRequest",
        )
    key_name = spec.get("key_name")
    if key_name and cloud.store.get(KEYPAIR, f"{auth.user_id}:{key_name}") is None:
        raise ApiError(400, "Invalid key_name provided.", "badRequest")
    user_data = spec.get("user_data")
    if user_data is not None:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400,
                "Invalid input for field/attribute user_data. Value: "
                f"{user_data}. '{user_data}' is not a 'base64'",
                "badRequest",
            ) from exc
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict) or any(not isinstance(v, str) for v in metadata.values()):
        raise ApiError(400, "Invalid input for field/attribute metadata.", "badRequest")
    if cloud.over_quota(auth.project_id, "metadata_items", 0, len(metadata)):
        raise ApiError(
            403,
            "Quota exceeded for metadata_items: Requested "
            f"{len(metadata)}, but already used 0 of "
            f"{cloud.quota(auth.project_id, 'metadata_items')} metadata_items",
            "forbidden",
        )
    sg_names = [str(g.get("name")) for g in spec.get("security_groups") or [] if isinstance(g, dict)]
    sg_ids = []
    for sg_name in sg_names or ["default"]:
        if sg_name == "default":
            sg_ids.append(neutron.default_security_group(cloud, auth.project_id)["id"])
            continue
        found = [
            g
            for g in cloud.list(neutron.SG)
            if g["project_id"] == auth.project_id and sg_name in (g["name"], g["id"])
        ]
        if not found:
            raise ApiError(400, f"Unable to find security_group with name or id '{sg_name}'", "badRequest")
        sg_ids.append(found[0]["id"])
    min_count = int(spec.get("min_count", 1))
    max_count = int(spec.get("max_count", min_count))
    if min_count < 1 or max_count < min_count:
        raise ApiError(400, "min_count must be <= max_count", "badRequest")
    _check_compute_quota(
        cloud,
        auth.project_id,
        {"instances": min_count, "cores": flavor["vcpus"] * min_count, "ram": flavor["ram"] * min_count},
    )
    nics = _resolve_networks(cloud, auth, spec.get("networks"))
    if spec.get("availability_zone") not in (None, "", "nova"):
        raise ApiError(400, "The requested availability zone is not available", "badRequest")
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    group_id = hints.get("group") if isinstance(hints, dict) else None
    group = None
    if group_id:
        group = cloud.get(SERVER_GROUP, group_id)
        if group is None:
            raise ApiError(400, f"Invalid server group {group_id}", "badRequest")
    reservation = "r-" + new_secret(6).lower().replace("_", "x").replace("-", "y")[:8]
    admin_pass = spec.get("adminPass") or new_secret(9)
    created: list[Doc] = []
    for index in range(max_count):
        server_name = name if max_count == 1 else f"{name}-{index + 1}"
        seq = (
            cloud.store.count(SERVER)
            + len(created)
            + 1
            + sum(1 for _ in cloud.store.all("compute.deleted_seq"))
        )
        now = now_iso()
        server: Doc = {
            "id": new_id(),
            "name": server_name,
            "project_id": auth.project_id,
            "user_id": auth.user_id,
            "seq": seq,
            "metadata": dict(metadata),
            "image_id": image["id"] if image is not None and not boot_from_volume else None,
            "flavor": {
                k: flavor.get(k)
                for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
            },
            "created": now,
            "updated": now,
            "key_name": key_name,
            "config_drive": bool(spec.get("config_drive")),
            "user_data": user_data,
            "accessIPv4": spec.get("accessIPv4", ""),
            "accessIPv6": spec.get("accessIPv6", ""),
            "disk_config": spec.get("OS-DCF:diskConfig", "MANUAL"),
            "security_groups": sg_names or ["default"],
            "description": spec.get("description") if at_least("2.19") else None,
            "tags": list(spec.get("tags", [])) if at_least("2.52") else [],
            "hostname": spec.get("hostname") or re.sub(r"[^a-z0-9-]", "-", server_name.lower())[:63],
            "reservation_id": reservation,
            "launch_index": index,
            "locked": False,
            "locked_reason": None,
            "requested_az": spec.get("availability_zone"),
            "availability_zone": "nova",
            "scheduler_hints": hints if isinstance(hints, dict) else {},
            "bdms": [],
            "launched_at": None,
            **state("BUILD", "spawning"),
        }
        for nic in nics:
            if "port_id" in nic:
                port = cloud.get(neutron.PORT, nic["port_id"]) or {}
                port.update(
                    {
                        "device_id": server["id"],
                        "device_owner": "compute:nova",
                        "status": "ACTIVE",
                        "_nova_created": False,
                    }
                )
                cloud.put(neutron.PORT, port)
            else:
                fixed = [{"ip_address": nic["fixed_ip"]}] if nic.get("fixed_ip") else None
                neutron.create_port(
                    cloud,
                    auth.project_id,
                    nic["network_id"],
                    device_id=server["id"],
                    device_owner="compute:nova",
                    fixed_ips=fixed,
                    security_groups=sg_ids,
                )
        _attach_boot_volumes(cloud, auth, server, bdms_in, image)
        if group is not None:
            group.setdefault("members", []).append(server["id"])
            cloud.put(SERVER_GROUP, group)
        cloud.transition(
            SERVER,
            server,
            {**state("ACTIVE"), "_hook": "compute.booted"},
            create=True,
            error={**state("ERROR"), "_hook": "compute.failed"},
        )
        cloud.put(SERVER, server)
        created.append(server)
    first = created[0]
    out: dict[str, Any] = {
        "id": first["id"],
        "links": _server_links(first["id"]),
        "OS-DCF:diskConfig": first["disk_config"],
        "security_groups": [{"name": n} for n in first["security_groups"]],
        "adminPass": admin_pass,
    }
    if spec.get("return_reservation_id"):
        return json_response({"reservation_id": reservation}, 202)
    return json_response(
        {"server": out}, 202, {"Location": cloud.url(f"/compute/v2.1/servers/{first['id']}")}
    )


def _attach_boot_volumes(
    cloud: LocalCloud, auth: AuthContext, server: Doc, bdms_in: list[dict[str, Any]], image: Doc | None
) -> None:
    from gateway_kit.localcloud.services import volume as cinder

    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for bdm in bdms_in:
        if bdm.get("destination_type") != "volume":
            continue
        letter = next(letters)
        device = bdm.get("device_name") or f"/dev/vd{letter}"
        source = bdm.get("source_type")
        if source == "volume":
            vol = cinder.reserve(cloud, auth, str(bdm.get("uuid")))
        elif source in ("image", "blank", "snapshot"):
            size = int(bdm.get("volume_size") or server["flavor"]["disk"] or 1)
            vol = cinder.create_for_server(
                cloud,
                auth,
                size,
                str(bdm.get("uuid")) if source == "image" else None,
                f"{server['name']}-vol",
            )
        else:
            raise ApiError(400, f"Invalid source_type {source}", "badRequest")
        attachment_id = cinder.attach(cloud, vol["id"], server["id"], device)
        server["bdms"].append(
            {
                "volume_id": vol["id"],
                "device": device,
                "delete_on_termination": bool(bdm.get("delete_on_termination", False)),
                "attachment_id": attachment_id,
                "bdm_uuid": new_id(),
                "tag": bdm.get("tag"),
                "boot_index": bdm.get("boot_index"),
            }
        )


def _booted(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["launched_at"] = now_iso(micro=True)
    doc["updated"] = now_iso()
    for fn in cloud.extensions.get("compute.boot_hooks", []):
        fn(cloud, doc)
    return doc


def _failed(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["fault"] = {
        "code": 500,
        "created": now_iso(),
        "message": "No valid host was found. There are not enough hosts available.",
        "details": "",
    }
    doc["updated"] = now_iso()
    return doc


def _deleted(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    from gateway_kit.localcloud.services import volume as cinder

    for fn in cloud.extensions.get("compute.destroy_hooks", []):
        fn(cloud, doc)
    neutron.delete_device_ports(cloud, doc["id"])
    for bdm in doc.get("bdms", []):
        cinder.detach(cloud, bdm["volume_id"], doc["id"], immediate=True)
        if bdm.get("delete_on_termination"):
            cinder.delete_internal(cloud, bdm["volume_id"])
    for group in cloud.store.find(SERVER_GROUP, lambda g: doc["id"] in g.get("members", [])):
        group["members"].remove(doc["id"])
        cloud.put(SERVER_GROUP, group)
    cloud.put("compute.deleted_seq", {"id": doc["id"]})
    cloud.delete(SERVER, doc["id"])
    return None


def _settled(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["updated"] = now_iso()
    return doc


@bp.put("/servers/<server_id>")
def update_server(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    spec = request_json().get("server")
    if not isinstance(spec, dict):
        raise ApiError(400, "Invalid input for field/attribute server.", "badRequest")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if at_least("2.19"):
        allowed.add("description")
    if at_least("2.90"):
        allowed.add("hostname")
    extra = set(spec) - allowed
    if extra:
        raise ApiError(
            400,
            "Invalid input for field/attribute server. Additional properties "
            f"are not allowed ({', '.join(sorted(extra))} were unexpected)",
            "badRequest",
        )
    for key in spec:
        doc["disk_config" if key == "OS-DCF:diskConfig" else key] = spec[key]
    doc["updated"] = now_iso()
    current_cloud().put(SERVER, doc)
    return json_response({"server": _trimmed_view(doc, auth)})


_UPDATE_HIDDEN = (
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-STS:power_state",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "config_drive",
    "key_name",
    "os-extended-volumes:volumes_attached",
    "security_groups",
    "host_status",
    "server_groups",
)


def _trimmed_view(doc: Doc, auth: AuthContext) -> dict[str, Any]:
    """The server as Nova's update and rebuild answer it: trimmed before 2.75."""
    out = server_view(doc, auth)
    if at_least("2.75"):
        return out
    for key in list(out):
        if key in _UPDATE_HIDDEN or key.startswith("OS-EXT-SRV-ATTR:"):
            out.pop(key)
    out["addresses"] = {
        net: [{"addr": a["addr"], "version": a["version"]} for a in addrs]
        for net, addrs in out["addresses"].items()
    }
    return out


@bp.delete("/servers/<server_id>")
def delete_server(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    if doc.get("task_state") == "deleting":
        return json_response(None, 204)
    doc["_lc"] = {"queue": [], "held": False}
    doc.update({"task_state": "deleting", "updated": now_iso()})
    cloud.transition(SERVER, doc, {"_hook": "compute.deleted"})
    cloud.put(SERVER, doc)
    return json_response(None, 204)


# -- servers: actions -------------------------------------------------------------------

ActionFn = Callable[[LocalCloud, AuthContext, Doc, Any], Response | None]
ACTIONS: dict[str, ActionFn] = {}


def action(name: str) -> Callable[[ActionFn], ActionFn]:
    def deco(fn: ActionFn) -> ActionFn:
        ACTIONS[name] = fn
        return fn

    return deco


def _require(doc: Doc, action_name: str, statuses: tuple[str, ...]) -> None:
    if doc.get("task_state") or doc["status"] not in statuses:
        raise _conflict(doc, action_name)


def _go(cloud: LocalCloud, doc: Doc, now: dict[str, Any], *steps: dict[str, Any]) -> None:
    doc.update(now)
    doc["updated"] = now_iso()
    cloud.transition(SERVER, doc, *steps)


#: Actions that only move the server from some states to one other, Nova's way:
#: action -> (name in the 409 message, allowed statuses, task_state meanwhile, resulting status)
_PLAIN_ACTIONS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "os-stop": ("stop", ("ACTIVE", "ERROR", "RESCUE"), "powering-off", "SHUTOFF"),
    "os-start": ("start", ("SHUTOFF",), "powering-on", "ACTIVE"),
    "suspend": ("suspend", ("ACTIVE",), "suspending", "SUSPENDED"),
    "resume": ("resume", ("SUSPENDED",), "resuming", "ACTIVE"),
    "pause": ("pause", ("ACTIVE",), "pausing", "PAUSED"),
    "unpause": ("unpause", ("PAUSED",), "unpausing", "ACTIVE"),
    "shelveOffload": ("shelveOffload", ("SHELVED",), "shelving_offloading", "SHELVED_OFFLOADED"),
}


def _plain_action(label: str, allowed: tuple[str, ...], task: str, target: str) -> ActionFn:
    def run(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
        _require(doc, label, allowed)
        _go(cloud, doc, {"task_state": task}, {**state(target), "_hook": "compute.settled"})

    return run


for _name, _plain in _PLAIN_ACTIONS.items():
    ACTIONS[_name] = _plain_action(*_plain)


@action("reboot")
def _reboot(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    kind = str((arg or {}).get("type", "")).upper()
    if kind not in ("SOFT", "HARD"):
        raise ApiError(400, "Invalid input for field/attribute type.", "badRequest")
    allowed = ("ACTIVE",) if kind == "SOFT" else ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR")
    _require(doc, "reboot", allowed)
    task = "rebooting" if kind == "SOFT" else "rebooting_hard"
    _go(
        cloud,
        doc,
        state(
            doc["status"] if doc["status"] != "ERROR" else "ACTIVE",
            task,
            "REBOOT" if kind == "SOFT" else "HARD_REBOOT",
        ),
        {**state("ACTIVE"), "_hook": "compute.settled"},
    )


@action("shelve")
def _shelve(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "shelve", ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"))
    _go(
        cloud,
        doc,
        {"task_state": "shelving"},
        state("SHELVED", "shelving_offloading"),
        {**state("SHELVED_OFFLOADED"), "_hook": "compute.settled"},
    )


@action("unshelve")
def _unshelve(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "unshelve", ("SHELVED", "SHELVED_OFFLOADED"))
    if isinstance(arg, dict) and arg and not at_least("2.77"):
        raise ApiError(
            400,
            f"Invalid input for field/attribute unshelve. Value: {arg}. {arg} is not of type 'null'",
            "badRequest",
        )
    _go(cloud, doc, {"task_state": "unshelving"}, {**state("ACTIVE"), "_hook": "compute.settled"})


@action("resize")
def _resize(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    if not isinstance(arg, dict) or "flavorRef" not in arg:
        raise ApiError(
            400, "Invalid input for field/attribute resize. 'flavorRef' is a required property", "badRequest"
        )
    _require(doc, "resize", ("ACTIVE", "SHUTOFF"))
    ref = str(arg["flavorRef"]).rstrip("/").split("/")[-1]
    flavor = cloud.get(FLAVOR, ref)
    if flavor is None or not _flavor_visible(flavor, auth):
        raise ApiError(400, f"Unable to find flavor for flavorRef {ref}", "badRequest")
    if flavor["id"] == doc["flavor"]["id"]:
        raise ApiError(400, "When resizing, instances must change flavor!", "badRequest")
    if flavor["disk"] and flavor["disk"] < doc["flavor"]["disk"]:
        raise ApiError(400, "Resize error: Unable to resize disk down.", "badRequest")
    _check_compute_quota(
        cloud,
        doc["project_id"],
        {"cores": flavor["vcpus"] - doc["flavor"]["vcpus"], "ram": flavor["ram"] - doc["flavor"]["ram"]},
    )
    doc["old_flavor"] = doc["flavor"]
    doc["flavor"] = {
        k: flavor.get(k) for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
    }
    resumed = "ACTIVE" if doc["status"] == "ACTIVE" else "SHUTOFF"
    verify = state("VERIFY_RESIZE")
    if resumed == "SHUTOFF":
        verify["power_state"] = 4
    _go(
        cloud,
        doc,
        state(resumed, "resize_prep", "RESIZE"),
        {**state(resumed, "resize_migrating", "RESIZE")},
        {**verify, "_resize_from": resumed, "_hook": "compute.settled"},
    )
    doc["resize_from"] = resumed


@action("confirmResize")
def _confirm(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    if doc["status"] != "VERIFY_RESIZE":
        raise ApiError(409, "Instance has not been resized.", "conflictingRequest")
    doc.update(state(doc.pop("resize_from", "ACTIVE")))
    doc.pop("old_flavor", None)
    doc["updated"] = now_iso()
    return json_response(None, 204)


@action("revertResize")
def _revert(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    if doc["status"] != "VERIFY_RESIZE":
        raise ApiError(409, "Instance has not been resized.", "conflictingRequest")
    doc["flavor"] = doc.pop("old_flavor", doc["flavor"])
    back = doc.pop("resize_from", "ACTIVE")
    _go(
        cloud,
        doc,
        state("VERIFY_RESIZE", "resize_reverting", "REVERT_RESIZE"),
        {**state(back), "_hook": "compute.settled"},
    )


@action("rebuild")
def _rebuild(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    _require(doc, "rebuild", ("ACTIVE", "SHUTOFF", "ERROR"))
    if not isinstance(arg, dict) or not arg.get("imageRef"):
        raise ApiError(
            400, "Invalid input for field/attribute rebuild. 'imageRef' is a required property", "badRequest"
        )
    ref = str(arg["imageRef"]).rstrip("/").split("/")[-1]
    image = cloud.get("image.image", ref)
    if image is None:
        raise ApiError(400, "Can not find requested image", "badRequest")
    doc["image_id"] = image["id"]
    for key in ("name", "metadata", "accessIPv4", "accessIPv6"):
        if key in arg:
            doc[key] = arg[key]
    if at_least("2.19") and "description" in arg:
        doc["description"] = arg["description"]
    back = "ACTIVE" if doc["status"] != "SHUTOFF" else "SHUTOFF"
    _go(
        cloud,
        doc,
        state(back if doc["status"] != "ERROR" else "ACTIVE", "rebuilding", "REBUILD"),
        {**state(back), "_hook": "compute.settled"},
    )
    cloud.put(SERVER, doc)
    out = _trimmed_view(doc, auth)
    out["adminPass"] = arg.get("adminPass") or new_secret(9)
    return json_response({"server": out}, 202)


@action("lock")
def _lock(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    reason = None
    if isinstance(arg, dict) and arg:
        if not at_least("2.73"):
            raise ApiError(400, "Invalid input for field/attribute lock.", "badRequest")
        reason = arg.get("locked_reason")
    doc.update({"locked": True, "locked_reason": reason, "locked_by": "admin" if auth.is_admin else "owner"})


@action("unlock")
def _unlock(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    if doc.get("locked_by") == "admin" and not auth.is_admin:
        raise ApiError(
            403,
            "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.",
            "forbidden",
        )
    doc.update({"locked": False, "locked_reason": None, "locked_by": None})


@action("createImage")
def _create_image(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    from gateway_kit.localcloud.services import image as glance

    if not isinstance(arg, dict) or not arg.get("name"):
        raise ApiError(
            400, "Invalid input for field/attribute createImage. 'name' is a required property", "badRequest"
        )
    _require(doc, "createImage", ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED"))
    img = glance.create_snapshot_image(
        cloud, doc["project_id"], str(arg["name"]), doc, dict(arg.get("metadata") or {})
    )
    location = cloud.url(f"/image/v2/images/{img['id']}")
    if at_least("2.45"):
        return json_response({"image_id": img["id"]}, 202)
    return json_response(None, 202, {"Location": location})


@action("os-getConsoleOutput")
def _console(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    if doc["status"] == "BUILD":
        raise ApiError(409, f"Instance {doc['id']} is not ready", "conflictingRequest")
    lines = console_log(cloud, doc)
    length = (arg or {}).get("length")
    if length is not None:
        n = int(length)
        if n < -1:
            raise ApiError(400, "Invalid input for field/attribute length.", "badRequest")
        if n >= 0:
            lines = lines[-n:] if n else []
    return json_response({"output": "\n".join(lines) + ("\n" if lines else "")}, 200)


def console_log(cloud: LocalCloud, doc: Doc) -> list[str]:
    """The server's console log (a data plane may replace ``compute.console_log``)."""
    custom = cloud.extensions.get("compute.console_log")
    if custom is not None:
        lines: list[str] = custom(cloud, doc)
        return lines
    addrs = [
        a["addr"]
        for nets in neutron.server_addresses(cloud, doc["id"]).values()
        for a in nets
        if a["OS-EXT-IPS:type"] == "fixed"
    ]
    return [
        "[    0.000000] Linux version 6.8.0-localcloud (gateway-kit local cloud)",
        f"[    0.000000] Command line: root=/dev/vda1 console=ttyS0 hostname={doc['hostname']}",
        f"[    2.100000] cloud-init[512]: Cloud-init v. 24.1 running 'init' for {doc['id']}",
        f"[    2.300000] cloud-init[512]: ci-info: eth0 addresses: {', '.join(addrs) or '-'}",
        f"{doc['hostname']} login:",
    ]


@action("addSecurityGroup")
def _add_sg(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    name = str((arg or {}).get("name", ""))
    found = [
        g
        for g in cloud.list(neutron.SG)
        if g["project_id"] == doc["project_id"] and name in (g["name"], g["id"])
    ]
    if not found:
        raise ApiError(
            404, f"Security group {name} not found for project {doc['project_id']}.", "itemNotFound"
        )
    for port in cloud.store.find(neutron.PORT, lambda p: p["device_id"] == doc["id"]):
        if found[0]["id"] not in port["security_groups"]:
            port["security_groups"].append(found[0]["id"])
            cloud.put(neutron.PORT, port)
    if found[0]["name"] not in doc["security_groups"]:
        doc["security_groups"].append(found[0]["name"])


@action("removeSecurityGroup")
def _remove_sg(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    name = str((arg or {}).get("name", ""))
    if name not in doc.get("security_groups", []):
        raise ApiError(404, f"Security group {name} not associated with the instance", "itemNotFound")
    found = [g for g in cloud.list(neutron.SG) if g["project_id"] == doc["project_id"] and g["name"] == name]
    for port in cloud.store.find(neutron.PORT, lambda p: p["device_id"] == doc["id"]):
        if found and found[0]["id"] in port["security_groups"]:
            port["security_groups"].remove(found[0]["id"])
            cloud.put(neutron.PORT, port)
    doc["security_groups"].remove(name)


@action("changePassword")
def _change_password(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "changePassword", ("ACTIVE",))


@action("os-resetState")
def _reset_state(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _admin(auth, "os_compute_api:os-admin-actions:reset_state")
    target = str((arg or {}).get("state", ""))
    if target not in ("active", "error"):
        raise ApiError(400, "Invalid input for field/attribute state.", "badRequest")
    doc["_lc"] = {"queue": [], "held": False}
    doc.update(state(target.upper()))


_NO_LOCK_CHECK = {"lock", "unlock", "os-getConsoleOutput", "os-resetState", "createImage"}


@bp.post("/servers/<server_id>/action")
def server_action(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    body = request_json()
    if len(body) != 1:
        raise ApiError(
            400, "There is either no action or more than one action in the request body.", "badRequest"
        )
    name, arg = next(iter(body.items()))
    fn = ACTIONS.get(name)
    if fn is None:
        raise ApiError(400, f"There is no such action: {name}", "badRequest")
    if name not in _NO_LOCK_CHECK:
        _locked(doc, auth)
    resp = fn(cloud, auth, doc, arg)
    if cloud.store.get(SERVER, doc["id"]) is not None:
        cloud.put(SERVER, doc)
    return resp if resp is not None else json_response(None, 202)


@bp.post("/servers/<server_id>/remote-consoles")
def remote_console(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    spec = request_json().get("remote_console") or {}
    protocol, kind = spec.get("protocol"), spec.get("type")
    if (protocol, kind) not in (
        ("vnc", "novnc"),
        ("vnc", "xvpvnc"),
        ("spice", "spice-html5"),
        ("serial", "serial"),
        ("rdp", "rdp-html5"),
        ("mks", "webmks"),
    ):
        raise ApiError(400, "Invalid input for field/attribute remote_console.", "badRequest")
    if doc["status"] != "ACTIVE":
        raise ApiError(409, f"Instance {doc['id']} is not ready", "conflictingRequest")
    token = new_secret(16)
    url = current_cloud().url(f"/compute/v2.1/_console/{kind}?token={token}")
    return json_response({"remote_console": {"protocol": protocol, "type": kind, "url": url}})


@bp.get("/servers/<server_id>/ips")
def server_ips(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    addrs = neutron.server_addresses(current_cloud(), doc["id"])
    return json_response(
        {
            "addresses": {
                n: [{"version": a["version"], "addr": a["addr"]} for a in lst] for n, lst in addrs.items()
            }
        }
    )


@bp.get("/servers/<server_id>/ips/<network>")
def server_ips_network(server_id: str, network: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    addrs = neutron.server_addresses(current_cloud(), doc["id"])
    if network not in addrs:
        raise ApiError(404, "Instance is not a member of specified network", "itemNotFound")
    return json_response({network: [{"version": a["version"], "addr": a["addr"]} for a in addrs[network]]})


# -- server metadata and tags -----------------------------------------------------------


def _meta_validate(cloud: LocalCloud, doc: Doc, meta: Any) -> dict[str, str]:
    if not isinstance(meta, dict):
        raise ApiError(400, "Malformed request body", "badRequest")
    for key, value in meta.items():
        if not isinstance(value, str) or not key or len(key) > 255 or len(value) > 255:
            raise ApiError(400, f"Invalid input for field/attribute metadata. Value: {meta}.", "badRequest")
    return meta


def _meta_quota(cloud: LocalCloud, doc: Doc, new_meta: dict[str, str]) -> None:
    if cloud.over_quota(doc["project_id"], "metadata_items", 0, len(new_meta)):
        limit = cloud.quota(doc["project_id"], "metadata_items")
        raise ApiError(
            403,
            f"Quota exceeded for metadata_items: Requested {len(new_meta)}, "
            f"but already used 0 of {limit} metadata_items",
            "forbidden",
        )


def _meta_target(server_id: str) -> tuple[LocalCloud, AuthContext, Doc]:
    auth = require_token()
    doc = _server(server_id, auth)
    if request.method != "GET":
        _locked(doc, auth)
        if doc["status"] in ("BUILD",) and doc.get("task_state") == "deleting":
            raise _conflict(doc, "update_metadata")
    return current_cloud(), auth, doc


@bp.get("/servers/<server_id>/metadata")
def get_metadata(server_id: str) -> Response:
    _, _, doc = _meta_target(server_id)
    return json_response({"metadata": doc.get("metadata", {})})


@bp.post("/servers/<server_id>/metadata")
def merge_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    merged = {**doc.get("metadata", {}), **meta}
    _meta_quota(cloud, doc, merged)
    doc["metadata"] = merged
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": merged})


@bp.put("/servers/<server_id>/metadata")
def replace_metadata(server_id: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = _meta_validate(cloud, doc, request_json().get("metadata"))
    _meta_quota(cloud, doc, meta)
    doc["metadata"] = meta
    doc["updated"] = now_iso()
    cloud.put(SERVER, doc)
    return json_response({"metadata": meta})


@bp.get("/servers/<server_id>/metadata/<key>")
def get_meta_item(server_id: str, key: str) -> Response:
    _, _, doc = _meta_target(server_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    return json_response({"meta": {key: doc["metadata"][key]}})


@bp.put("/servers/<server_id>/metadata/<key>")
def set_meta_item(server_id: str, key: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    meta = request_json().get("meta")
    if not isinstance(meta, dict) or len(meta) != 1:
        raise ApiError(400, "Request body contains too many items", "badRequest")
    if key not in meta:
        raise ApiError(400, "Request body and URI mismatch", "badRequest")
    _meta_validate(cloud, doc, meta)
    merged = {**doc.get("metadata", {}), **meta}
    _meta_quota(cloud, doc, merged)
    doc["metadata"] = merged
    cloud.put(SERVER, doc)
    return json_response({"meta": meta})


@bp.delete("/servers/<server_id>/metadata/<key>")
def delete_meta_item(server_id: str, key: str) -> Response:
    cloud, _, doc = _meta_target(server_id)
    if key not in doc.get("metadata", {}):
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    del doc["metadata"][key]
    cloud.put(SERVER, doc)
    return json_response(None, 204)


def _tags_target(server_id: str) -> tuple[LocalCloud, Doc]:
    if not at_least("2.26"):
        raise ApiError(404, "The resource could not be found.", "itemNotFound")
    auth = require_token()
    doc = _server(server_id, auth)
    if request.method != "GET" and doc["status"] not in (
        "ACTIVE",
        "PAUSED",
        "SHUTOFF",
        "SUSPENDED",
        "BUILD",
        "SHELVED",
        "SHELVED_OFFLOADED",
        "ERROR",
        "VERIFY_RESIZE",
    ):
        raise _conflict(doc, "update tags")
    return current_cloud(), doc


_TAG_RE = re.compile(r"^[^,/]{1,60}$")


@bp.get("/servers/<server_id>/tags")
def list_tags(server_id: str) -> Response:
    _, doc = _tags_target(server_id)
    return json_response({"tags": doc.get("tags", [])})


@bp.put("/servers/<server_id>/tags")
def replace_tags(server_id: str) -> Response:
    cloud, doc = _tags_target(server_id)
    tags = request_json().get("tags")
    if (
        not isinstance(tags, list)
        or len(tags) > 50
        or not all(isinstance(t, str) and _TAG_RE.match(t) for t in tags)
    ):
        raise ApiError(400, "Invalid input for field/attribute tags.", "badRequest")
    doc["tags"] = list(dict.fromkeys(tags))
    cloud.put(SERVER, doc)
    return json_response({"tags": doc["tags"]})


@bp.delete("/servers/<server_id>/tags")
def clear_tags(server_id: str) -> Response:
    cloud, doc = _tags_target(server_id)
    doc["tags"] = []
    cloud.put(SERVER, doc)
    return json_response(None, 204)


@bp.route("/servers/<server_id>/tags/<tag>", methods=["GET", "PUT", "DELETE"])
def one_tag(server_id: str, tag: str) -> Response:
    cloud, doc = _tags_target(server_id)
    tags = doc.setdefault("tags", [])
    if request.method == "PUT":
        if not _TAG_RE.match(tag):
            raise ApiError(400, "Invalid tag", "badRequest")
        if tag in tags:
            return json_response(None, 204)
        if len(tags) >= 50:
            raise ApiError(400, "The number of tags exceeded the per-server limit 50", "badRequest")
        tags.append(tag)
        cloud.put(SERVER, doc)
        return json_response(
            None, 201, {"Location": cloud.url(f"/compute/v2.1/servers/{server_id}/tags/{tag}")}
        )
    if tag not in tags:
        raise ApiError(404, f"Tag '{tag}' could not be found for instance {server_id}.", "itemNotFound")
    if request.method == "DELETE":
        tags.remove(tag)
        cloud.put(SERVER, doc)
    return json_response(None, 204)


# -- volume attachments -----------------------------------------------------------------


def _attachment_view(doc: Doc, bdm: dict[str, Any], listing: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"device": bdm["device"], "serverId": doc["id"], "volumeId": bdm["volume_id"]}
    if not at_least("2.89"):
        out["id"] = bdm["volume_id"]
    if at_least("2.70"):
        out["tag"] = bdm.get("tag")
    if at_least("2.79"):
        out["delete_on_termination"] = bdm.get("delete_on_termination", False)
    if at_least("2.89") and listing:
        out["attachment_id"] = bdm["attachment_id"]
        out["bdm_uuid"] = bdm["bdm_uuid"]
    return out


@bp.get("/servers/<server_id>/os-volume_attachments")
def list_attachments(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    return json_response({"volumeAttachments": [_attachment_view(doc, b, True) for b in doc.get("bdms", [])]})


@bp.get("/servers/<server_id>/os-volume_attachments/<volume_id>")
def get_attachment(server_id: str, volume_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    for bdm in doc.get("bdms", []):
        if bdm["volume_id"] == volume_id:
            return json_response({"volumeAttachment": _attachment_view(doc, bdm, True)})
    raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")


_ATTACHABLE = ("ACTIVE", "PAUSED", "SHUTOFF", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED", "VERIFY_RESIZE")


@bp.post("/servers/<server_id>/os-volume_attachments")
def attach_volume(server_id: str) -> Response:
    from gateway_kit.localcloud.services import volume as cinder

    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    spec = request_json().get("volumeAttachment")
    if not isinstance(spec, dict) or not spec.get("volumeId"):
        raise ApiError(
            400,
            "Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property",
            "badRequest",
        )
    _locked(doc, auth)
    _require(doc, "attach_volume", _ATTACHABLE)
    volume_id = str(spec["volumeId"])
    if any(b["volume_id"] == volume_id for b in doc.get("bdms", [])):
        raise ApiError(400, f"Invalid volume: volume {volume_id} already attached", "badRequest")
    vol = cinder.reserve(cloud, auth, volume_id)
    used = {b["device"] for b in doc.get("bdms", [])}
    device = spec.get("device")
    if not device:
        for letter in "bcdefghijklmnopqrstuvwxyz":
            if f"/dev/vd{letter}" not in used and letter != "a":
                device = f"/dev/vd{letter}"
                break
    attachment_id = cinder.attach(cloud, vol["id"], doc["id"], str(device))
    bdm = {
        "volume_id": vol["id"],
        "device": device,
        "attachment_id": attachment_id,
        "bdm_uuid": new_id(),
        "tag": spec.get("tag") if at_least("2.49") else None,
        "delete_on_termination": bool(spec.get("delete_on_termination", False))
        if at_least("2.79")
        else False,
    }
    doc.setdefault("bdms", []).append(bdm)
    cloud.put(SERVER, doc)
    return json_response({"volumeAttachment": _attachment_view(doc, bdm, False)})


@bp.delete("/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach_volume(server_id: str, volume_id: str) -> Response:
    from gateway_kit.localcloud.services import volume as cinder

    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    bdms = [b for b in doc.get("bdms", []) if b["volume_id"] == volume_id]
    if not bdms:
        raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")
    if bdms[0].get("boot_index") in (0, "0"):
        raise ApiError(403, "Cannot detach a root device volume", "forbidden")
    _require(doc, "detach_volume", _ATTACHABLE)
    doc["bdms"] = [b for b in doc["bdms"] if b["volume_id"] != volume_id]
    cinder.detach(cloud, volume_id, doc["id"])
    cloud.put(SERVER, doc)
    return json_response(None, 202)


@bp.put("/servers/<server_id>/os-volume_attachments/<volume_id>")
def update_attachment(server_id: str, volume_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    spec = request_json().get("volumeAttachment")
    if not isinstance(spec, dict) or not spec.get("volumeId"):
        raise ApiError(
            400,
            "Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property",
            "badRequest",
        )
    bdms = [b for b in doc.get("bdms", []) if b["volume_id"] == volume_id]
    if not bdms:
        raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")
    _locked(doc, auth)
    bdm = bdms[0]
    if spec["volumeId"] == volume_id:
        extra = set(spec) - {"volumeId", "delete_on_termination", "device", "id", "serverId", "tag"}
        if not at_least("2.85") or extra:
            raise ApiError(
                400, "The volume was not swapped and no other attribute was updated.", "badRequest"
            )
        if "delete_on_termination" in spec:
            bdm["delete_on_termination"] = bool(spec["delete_on_termination"])
    else:
        from gateway_kit.localcloud.services import volume as cinder

        _admin(auth, "os_compute_api:os-volumes-attachments:swap")
        new_vol = cinder.reserve(cloud, auth, str(spec["volumeId"]))
        cinder.detach(cloud, volume_id, doc["id"], immediate=True)
        bdm["volume_id"] = new_vol["id"]
        bdm["attachment_id"] = cinder.attach(cloud, new_vol["id"], doc["id"], bdm["device"])
    cloud.put(SERVER, doc)
    return json_response(None, 202)


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


@bp.get("/os-aggregates")
def list_aggregates() -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:index")
    return json_response({"aggregates": [_aggregate_view(d) for d in current_cloud().list(AGGREGATE)]})


@bp.post("/os-aggregates")
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


@bp.get("/os-aggregates/<agg_id>")
def get_aggregate(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:show")
    return json_response({"aggregate": _aggregate_view(_aggregate(agg_id))})


@bp.put("/os-aggregates/<agg_id>")
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


@bp.delete("/os-aggregates/<agg_id>")
def delete_aggregate(agg_id: str) -> Response:
    _admin(require_token(), "os_compute_api:os-aggregates:delete")
    doc = _aggregate(agg_id)
    if doc["hosts"]:
        raise ApiError(400, f"Aggregate {agg_id} still has hosts.", "badRequest")
    current_cloud().delete(AGGREGATE, agg_id)
    return json_response(None, 200)


@bp.post("/os-aggregates/<agg_id>/action")
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


@bp.get("/os-simple-tenant-usage/<project>")
def tenant_usage(project: str) -> Response:
    auth = require_token()
    if project != auth.project_id:
        _admin(auth, "os_compute_api:os-simple-tenant-usage:show")
    start = request.args.get("start") or now_iso()
    end = request.args.get("end") or now_iso(micro=True)
    return json_response({"tenant_usage": _usage_for(project, start, end)})


@bp.get("/os-simple-tenant-usage")
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


@bp.get("/os-server-groups")
def list_groups() -> Response:
    auth = require_token()
    everyone = auth.is_admin and bool(request.args.get("all_projects"))
    docs = current_cloud().list(SERVER_GROUP, lambda g: everyone or g["project_id"] == auth.project_id)
    return json_response({"server_groups": [_group_view(d) for d in _paginate_docs(docs)]})


@bp.post("/os-server-groups")
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


@bp.get("/os-server-groups/<group_id>")
def get_group(group_id: str) -> Response:
    auth = require_token()
    doc = current_cloud().get(SERVER_GROUP, group_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance group {group_id} could not be found.", "itemNotFound")
    return json_response({"server_group": _group_view(doc)})


@bp.delete("/os-server-groups/<group_id>")
def delete_group(group_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = cloud.get(SERVER_GROUP, group_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance group {group_id} could not be found.", "itemNotFound")
    cloud.delete(SERVER_GROUP, group_id)
    return json_response(None, 204)


# -- limits and quotas ------------------------------------------------------------------


@bp.get("/limits")
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
    if project != auth.project_id and not auth.is_admin:
        raise ApiError(
            403, "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.", "forbidden"
        )


@bp.get("/os-quota-sets/<project>")
def get_quota_set(project: str) -> Response:
    auth = require_token()
    _quota_access(project, auth)
    cloud = current_cloud()
    return json_response(
        {"quota_set": _quota_body(project, {k: cloud.quota(project, k) for k in QUOTA_KEYS})}
    )


@bp.get("/os-quota-sets/<project>/defaults")
def get_quota_defaults(project: str) -> Response:
    auth = require_token()
    _quota_access(project, auth)
    defaults = current_cloud().seed_data.get("quotas", {}).get("compute", {})
    return json_response(
        {"quota_set": _quota_body(project, {k: int(defaults.get(k, -1)) for k in QUOTA_KEYS})}
    )


@bp.get("/os-quota-sets/<project>/detail")
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
                project,
                {
                    k: {"limit": cloud.quota(project, k), "in_use": used.get(k, 0), "reserved": 0}
                    for k in QUOTA_KEYS
                },
            )
        }
    )


@bp.put("/os-quota-sets/<project>")
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


@bp.delete("/os-quota-sets/<project>")
def delete_quota_set(project: str) -> Response:
    auth = require_token()
    _admin(auth, "os_compute_api:os-quota-sets:delete")
    cloud = current_cloud()
    doc = cloud.store.get("core.quota", project)
    if doc is not None:
        for key in QUOTA_KEYS:
            doc["limits"].pop(key, None)
        cloud.store.put("core.quota", doc)
    return json_response(None, 202)


# -- deprecated proxies (microversion < 2.36) -------------------------------------------


def _proxy_api(name: str) -> None:
    if at_least("2.36"):
        raise ApiError(404, "The resource could not be found.", "itemNotFound")


def _nova_image_view(doc: Doc) -> dict[str, Any]:
    cloud = current_cloud()
    status = {
        "active": "ACTIVE",
        "queued": "SAVING",
        "saving": "SAVING",
        "deactivated": "INACTIVE",
        "killed": "ERROR",
    }.get(doc["status"], "UNKNOWN")
    return {
        "id": doc["id"],
        "name": doc.get("name"),
        "status": status,
        "created": doc["created_at"],
        "updated": doc["updated_at"],
        "minDisk": doc.get("min_disk", 0),
        "minRam": doc.get("min_ram", 0),
        "progress": 100 if status == "ACTIVE" else 25,
        "metadata": {k: str(v) for k, v in doc.get("properties", {}).items()},
        "OS-EXT-IMG-SIZE:size": doc.get("size"),
        "links": [
            {"rel": "self", "href": cloud.url(f"/compute/v2.1/images/{doc['id']}")},
            {"rel": "bookmark", "href": cloud.url(f"/compute/images/{doc['id']}")},
            {
                "rel": "alternate",
                "type": "application/vnd.openstack.image",
                "href": cloud.url(f"/image/images/{doc['id']}"),
            },
        ],
    }


def _nova_images(auth: AuthContext) -> list[Doc]:
    return [
        d
        for d in current_cloud().list("image.image")
        if auth.is_admin or d["visibility"] in ("public", "community") or d["owner"] == auth.project_id
    ]


def _nova_image(image_id: str, auth: AuthContext) -> Doc:
    for doc in _nova_images(auth):
        if doc["id"] == image_id:
            return doc
    raise ApiError(404, "Image not found.", "itemNotFound")


@bp.get("/images")
@bp.get("/images/detail")
def nova_list_images() -> Response:
    _proxy_api("images")
    auth = require_token()
    docs = _nova_images(auth)
    if "name" in request.args:
        docs = [d for d in docs if d.get("name") == request.args["name"]]
    docs = _paginate_docs(docs)
    if request.path.endswith("/detail"):
        return json_response({"images": [_nova_image_view(d) for d in docs]})
    return json_response(
        {
            "images": [
                {k: v for k, v in _nova_image_view(d).items() if k in ("id", "name", "links")} for d in docs
            ]
        }
    )


@bp.get("/images/<image_id>")
def nova_get_image(image_id: str) -> Response:
    _proxy_api("images")
    return json_response({"image": _nova_image_view(_nova_image(image_id, require_token()))})


@bp.delete("/images/<image_id>")
def nova_delete_image(image_id: str) -> Response:
    _proxy_api("images")
    auth = require_token()
    doc = _nova_image(image_id, auth)
    if doc["owner"] != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Not allowed to delete this image.", "forbidden")
    current_cloud().delete("image.image", image_id)
    return json_response(None, 204)


def _image_meta_doc(image_id: str) -> Doc:
    _proxy_api("images")
    auth = require_token()
    doc = _nova_image(image_id, auth)
    if request.method != "GET" and doc["owner"] != auth.project_id and not auth.is_admin:
        raise ApiError(403, "Not allowed to modify this image.", "forbidden")
    return doc


@bp.route("/images/<image_id>/metadata", methods=["GET", "POST", "PUT"])
def nova_image_metadata(image_id: str) -> Response:
    doc = _image_meta_doc(image_id)
    props = doc.setdefault("properties", {})
    if request.method != "GET":
        meta = request_json().get("metadata")
        if not isinstance(meta, dict):
            raise ApiError(400, "Malformed request body", "badRequest")
        if request.method == "PUT":
            props.clear()
        props.update({k: str(v) for k, v in meta.items()})
        current_cloud().put("image.image", doc)
    return json_response({"metadata": {k: str(v) for k, v in props.items()}})


@bp.route("/images/<image_id>/metadata/<key>", methods=["GET", "PUT", "DELETE"])
def nova_image_meta_item(image_id: str, key: str) -> Response:
    doc = _image_meta_doc(image_id)
    props = doc.setdefault("properties", {})
    if request.method == "PUT":
        meta = request_json().get("meta")
        if not isinstance(meta, dict) or key not in meta:
            raise ApiError(400, "Request body and URI mismatch", "badRequest")
        props[key] = str(meta[key])
        current_cloud().put("image.image", doc)
        return json_response({"meta": {key: props[key]}})
    if key not in props:
        raise ApiError(404, "Metadata item was not found", "itemNotFound")
    if request.method == "DELETE":
        del props[key]
        current_cloud().put("image.image", doc)
        return json_response(None, 204)
    return json_response({"meta": {key: str(props[key])}})


@bp.get("/os-floating-ip-pools")
def floating_ip_pools() -> Response:
    _proxy_api("os-floating-ip-pools")
    require_token()
    pools = [{"name": n["name"]} for n in current_cloud().list(neutron.NETWORK) if n.get("router:external")]
    return json_response({"floating_ip_pools": pools})


# -- misc -------------------------------------------------------------------------------


@bp.get("/os-availability-zone")
def availability_zones() -> Response:
    require_token()
    return json_response(
        {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}
    )


@bp.get("/extensions")
def extensions() -> Response:
    require_token()
    names = (
        "AdminActions",
        "Flavors",
        "Keypairs",
        "Servers",
        "ServerMetadata",
        "Limits",
        "Quotas",
        "VolumeAttachments",
        "ServerGroups",
        "AvailabilityZone",
    )
    return json_response(
        {
            "extensions": [
                {
                    "alias": f"os-{n.lower()}",
                    "name": n,
                    "description": n,
                    "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
                    "updated": "2014-12-03T00:00:00Z",
                    "links": [],
                }
                for n in names
            ]
        }
    )


def _version_doc() -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_MICROVERSION,
        "min_version": MIN_MICROVERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": current_cloud().url("/compute/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ],
    }


@bp.get("")
@bp.get("/")
def version() -> Response:
    return json_response({"version": _version_doc()})


# -- seed and registration --------------------------------------------------------------


def seed(cloud: LocalCloud, data: dict[str, Any]) -> None:
    for spec in data.get("flavors", []):
        cloud.put(
            FLAVOR,
            {
                "id": str(spec["id"]),
                "name": spec["name"],
                "vcpus": int(spec["vcpus"]),
                "ram": int(spec["ram"]),
                "disk": int(spec["disk"]),
                "swap": int(spec.get("swap", 0)),
                "ephemeral": int(spec.get("ephemeral", 0)),
                "rxtx_factor": 1.0,
                "is_public": bool(spec.get("is_public", True)),
                "description": spec.get("description"),
                "extra_specs": {k: str(v) for k, v in spec.get("extra_specs", {}).items()},
                "access": [],
            },
        )


def register(cloud: LocalCloud) -> None:
    cloud.add_service(
        Service(
            name="compute",
            prefix="/compute/v2.1",
            blueprint=bp,
            catalog=[CatalogEntry("compute", "nova", "/compute/v2.1")],
            render_error=render_error,
            microversion=MicroversionSpec(
                "compute", MIN_MICROVERSION, MAX_MICROVERSION, legacy_header="X-OpenStack-Nova-API-Version"
            ),
            seed=seed,
        )
    )
    cloud.add_hook("compute.booted", _booted)
    cloud.add_hook("compute.failed", _failed)
    cloud.add_hook("compute.deleted", _deleted)
    cloud.add_hook("compute.settled", _settled)
    cloud.extensions.setdefault("compute.boot_hooks", [])
    cloud.extensions.setdefault("compute.destroy_hooks", [])
