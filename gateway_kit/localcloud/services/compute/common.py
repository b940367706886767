"""Nova's shared pieces: the blueprint, resource kinds, the server state table, microversion checks,
error rendering, admin checks and pagination.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from gateway_kit.localcloud.core import ApiError, AuthContext, current_cloud, json_response, microversion
from gateway_kit.localcloud.core import at_least as at_least  # the services' views import it from here
from gateway_kit.localcloud.rest import Routes, after_marker, fault_renderer, limited, require_policy
from gateway_kit.localcloud.store import Doc

bp = Blueprint("compute", __name__, url_prefix="/compute/v2.1")
routes = Routes(bp)

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


render_error = fault_renderer(_NOVA_CODES, "computeFault")


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


def _paginate_docs(docs: list[Doc]) -> list[Doc]:
    return _paginate_docs_by(docs, "id")


def _admin(auth: AuthContext, rule: str) -> None:
    require_policy(auth.is_admin, rule)


def _paginate_docs_by(docs: list[Doc], key: str) -> list[Doc]:
    docs = after_marker(docs, request.args.get("marker"), key=key, not_found=_marker_not_found)
    return limited(docs, request.args.get("limit"))


def _listing(collection: str, items: list[Any], docs: list[Doc], detail: bool) -> Response:
    """Nova's answer to a list: ``{collection: items}``, and a ``next`` link when the page
    (``docs``, as :func:`_paginate_docs` cut it) is as long as ``?limit``."""
    body: dict[str, Any] = {collection: items}
    limit = request.args.get("limit")
    if limit and docs and len(docs) == int(limit):
        path = (
            f"/compute/v2.1/{collection}{'/detail' if detail else ''}?limit={limit}&marker={docs[-1]['id']}"
        )
        body[f"{collection}_links"] = [{"rel": "next", "href": current_cloud().url(path)}]
    return json_response(body)


def _marker_not_found(marker: str) -> ApiError:
    return ApiError(400, f"marker [{marker}] not found", "badRequest")
