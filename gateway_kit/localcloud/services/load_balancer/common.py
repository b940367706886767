"""Octavia's shared pieces: resource kinds, providers and capabilities, quota names, the fault shape
and request helpers.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, request
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, json_response, require_token
from gateway_kit.localcloud.rest import now
from gateway_kit.localcloud.store import Doc

LB = "octavia.loadbalancer"
LISTENER = "octavia.listener"
POOL = "octavia.pool"
MEMBER = "octavia.member"
HM = "octavia.healthmonitor"
L7POLICY = "octavia.l7policy"
L7RULE = "octavia.l7rule"
AMPHORA = "octavia.amphora"
FLAVOR = "octavia.flavor"
FLAVOR_PROFILE = "octavia.flavorprofile"
AZ = "octavia.availabilityzone"
AZ_PROFILE = "octavia.availabilityzoneprofile"

CHILD_KINDS = (L7RULE, L7POLICY, HM, MEMBER, POOL, LISTENER)
PROVIDERS = {
    "amphora": "The Octavia Amphora driver.",
    "octavia": "Deprecated alias of the Octavia Amphora driver.",
}
FLAVOR_CAPABILITIES = [
    {
        "name": "loadbalancer_topology",
        "description": "The load balancer topology. One of: SINGLE - One amphora per load balancer. "
        "ACTIVE_STANDBY - Two amphora per load balancer.",
    },
    {"name": "compute_flavor", "description": "The compute driver flavor ID."},
    {"name": "amp_image_tag", "description": "The amphora image tag."},
]
AZ_CAPABILITIES = [
    {"name": "compute_zone", "description": "The compute availability zone."},
    {"name": "management_network", "description": "The management network ID for the amphora."},
    {"name": "valid_vip_networks", "description": "List of network IDs that are allowed for VIP use."},
]
QUOTA_RESOURCES = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")
#: Octavia answers each quota also under its deprecated name.
QUOTA_ALIASES = {"load_balancer": "loadbalancer", "health_monitor": "healthmonitor"}
VIP_FALLBACK_NET = ipaddress.ip_network("10.255.0.0/16")


# -- errors ------------------------------------------------------------------------------------


def render_octavia_error(err: ApiError) -> Response:
    """Octavia's (WSME) fault body."""
    return json_response(
        {
            "faultcode": "Client" if err.status < 500 else "Server",
            "faultstring": err.message,
            "debuginfo": None,
        },
        err.status,
    )


def _not_found(resource: str, rid: str) -> ApiError:
    return ApiError(404, f"{resource} {rid} not found.")


def _invalid(attr: str, value: Any, why: str) -> ApiError:
    return ApiError(400, f"Invalid input for field/attribute {attr}. Value: '{value}'. {why}")


def _unknown_attr(root: str, body: Any, key: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid input for field/attribute {root}. Value: '{body}'. "
        f"Unknown attribute for argument {root}: {key}",
    )


def _immutable(lb_id: str) -> ApiError:
    return ApiError(409, f"Load Balancer {lb_id} is immutable and cannot be updated.")


def _forbidden() -> ApiError:
    return ApiError(403, "Policy does not allow this request to be performed.")


# -- helpers -----------------------------------------------------------------------------------


def _now() -> str:
    return now(zulu=False)


def _body(root: str) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, f"Invalid input: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get(root), dict):
        raise ApiError(400, f'Missing argument: "{root}"')
    unknown = [k for k in body if k != root]
    if unknown:
        raise ApiError(400, f'Unknown argument: "{unknown[0]}"')
    inner: dict[str, Any] = body[root]
    return inner


#: What Octavia sets on a resource and a request body may not.
_SERVER_SET = ("id", "provisioning_status", "operating_status", "created_at", "updated_at")


def _writable(rendered: tuple[str, ...], *extra: str, read_only: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The attributes a request body may hold: those ``rendered`` less what Octavia sets (and
    ``read_only``), plus ``extra`` (accepted but not rendered, such as a parent's id)."""
    return (*(k for k in rendered if k not in _SERVER_SET and k not in read_only), *extra)


def _check_attrs(body: dict[str, Any], allowed: tuple[str, ...], root: str) -> None:
    for key in body:
        if key not in allowed:
            raise _unknown_attr(root, body, key)


def _enum(
    body: dict[str, Any], key: str, choices: tuple[str, ...] | list[str], required: bool = False
) -> Any:
    if key not in body or body[key] is None:
        if required:
            raise _invalid(key, None, "Mandatory field missing.")
        return None
    if body[key] not in choices:
        raise _invalid(key, body[key], f"Value should be one of: {', '.join(choices)}")
    return body[key]


def _int(body: dict[str, Any], key: str, lo: int, hi: int, required: bool = False) -> Any:
    if key not in body or body[key] is None:
        if required:
            raise _invalid(key, None, "Mandatory field missing.")
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(key, value, "Wrong type. Expected '<class 'int'>'")
    if not lo <= value <= hi:
        raise _invalid(key, value, f"Value should be greater or equal to {lo} and lower or equal to {hi}")
    return value


def _uuid(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        uuid.UUID(str(value))
    except ValueError as exc:
        raise _invalid(key, value, "Value should be UUID format") from exc
    return str(value)


def _str(body: dict[str, Any], key: str, max_len: int = 255) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(key, value, "Wrong type. Expected '<class 'str'>'")
    if len(value) > max_len:
        raise _invalid(key, value, f"Value should have a maximum character requirement of {max_len}")
    return value


def _apply_common(doc: Doc, body: dict[str, Any]) -> None:
    """What every Octavia resource updates alike: ``name`` and ``description`` (strings;
    ``null`` becomes ``""``) and ``admin_state_up``."""
    for key in ("name", "description"):
        if key in body:
            doc[key] = _str(body, key) or ""
    if "admin_state_up" in body:
        doc["admin_state_up"] = bool(body["admin_state_up"])


def _auth() -> AuthContext:
    return require_token()


def _visible(auth: AuthContext, doc: Doc) -> bool:
    return auth.is_admin or doc.get("project_id") == auth.project_id


def _referenced(cloud: LocalCloud, auth: AuthContext, kind: str, label: str, doc_id: Any) -> Doc:
    """The resource a request body names (``loadbalancer_id``, ``pool_id``...): one the caller
    sees, else 400 "<label> <id> not found."."""
    doc = cloud.get(kind, str(doc_id)) if doc_id else None
    if doc is None or not _visible(auth, doc):
        raise ApiError(400, f"{label} {doc_id} not found.")
    return doc


def _live(cloud: LocalCloud, auth: AuthContext, kind: str, label: str, doc_id: str) -> Doc:
    """``doc_id`` of ``kind`` if the caller sees it and it is not being deleted (else 404, as
    Octavia answers for a parent in PENDING_DELETE)."""
    doc = cloud.get(kind, doc_id)
    if doc is None or not _visible(auth, doc) or doc["provisioning_status"] == olc.PENDING_DELETE:
        raise _not_found(label, doc_id)
    return doc


def _get(cloud: LocalCloud, auth: AuthContext, kind: str, rid: str, resource: str) -> Doc:
    doc = cloud.get(kind, rid)
    if doc is None or not _visible(auth, doc):
        raise _not_found(resource, rid)
    return doc


def _settle_lb(cloud: LocalCloud, lb_id: str) -> Doc | None:
    """Read the parent load balancer so that its due transitions (and their hooks) fire."""
    return cloud.get(LB, lb_id)


def _filter(items: list[Doc], keys: tuple[str, ...]) -> list[Doc]:
    out = items
    for key in keys:
        wanted = request.args.get(key)
        if wanted is None:
            continue
        out = [
            d
            for d in out
            if str(d.get(key)).lower() == wanted.lower()
            or (isinstance(d.get(key), bool) and str(d[key]).lower() == wanted.lower())
        ]
    return out


def _project_quota(cloud: LocalCloud, project_id: str, resource: str, kind: str, label: str) -> None:
    used = len(cloud.store.find(kind, lambda d: d.get("project_id") == project_id))
    if cloud.over_quota(project_id, resource, used, 1):
        raise ApiError(403, f"Quota has been met for resources: {label}")


def _lock_lb(cloud: LocalCloud, lb: Doc, deleting: bool = False) -> None:
    allowed = (olc.ACTIVE, olc.ERROR) if deleting else (olc.ACTIVE,)
    if lb["provisioning_status"] not in allowed:
        raise _immutable(lb["id"])
    lb["provisioning_status"] = olc.PENDING_UPDATE
    lb["updated_at"] = _now()
    cloud.transition(LB, lb, {"provisioning_status": olc.ACTIVE, "_hook": "octavia.lb_settled"})
    cloud.put(LB, lb)


def _ids(docs: list[Doc]) -> list[dict[str, str]]:
    return [{"id": d["id"]} for d in docs]


#: The attributes Octavia lists first for a load balancer, listener, pool and L7 policy.
_NAMED_KEYS = ("id", "name", "description", "provisioning_status", "operating_status", "admin_state_up")


def _base(doc: Doc, keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: doc.get(k) for k in keys}
    if "project_id" in keys:
        out["tenant_id"] = doc.get("project_id")
    return out


def _in_pool(pool_id: str) -> Callable[[Doc], bool]:
    return lambda d: d["pool_id"] == pool_id
