"""Instance actions (``os-instance-actions``; ``openstack server event list``).

Each action a caller starts on a server (create, the ``/action`` verbs, attaching or detaching
an interface or a volume) is recorded on the server under the request id that started it, with
one event that succeeded when the action was accepted: the local cloud has no compute host
whose steps could fail later. Owners see their servers' actions; events appear from 2.51 (admins
always), ``updated_at`` from 2.58, ``host``/``hostId`` from 2.62; tracebacks are never shown
because there are none.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    json_response,
    now_iso,
    request_id,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .common import at_least, routes
from .views import _host_id, _server

#: ``/action`` verbs that Nova does not record as instance actions.
UNRECORDED = frozenset({"os-getConsoleOutput", "addSecurityGroup", "removeSecurityGroup", "os-resetState"})


def record_action(doc: Doc, action: str, auth: AuthContext, message: str | None = None) -> None:
    """Record ``action`` on the server document (the caller stores the document)."""
    now = now_iso(micro=True)
    verb = action.removeprefix("os-")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", verb).lower()
    doc.setdefault("_actions", []).append(
        {
            "action": verb,
            "request_id": request_id(),
            "user_id": auth.user_id,
            "project_id": doc["project_id"],
            "start_time": now,
            "updated_at": now,
            "message": message,
            "events": [
                {
                    "event": f"compute_{snake}_instance",
                    "start_time": now,
                    "finish_time": now,
                    "result": "Success",
                }
            ],
        }
    )


def _action_view(doc: Doc, action: dict[str, Any], auth: AuthContext, detail: bool) -> dict[str, Any]:
    out = {
        "action": action["action"],
        "instance_uuid": doc["id"],
        "message": action.get("message"),
        "project_id": action["project_id"],
        "request_id": action["request_id"],
        "start_time": action["start_time"],
        "user_id": action["user_id"],
    }
    if at_least("2.58"):
        out["updated_at"] = action["updated_at"]
    if detail and (auth.is_admin or at_least("2.51")):
        events = []
        for event in action["events"]:
            shown = dict(event)
            if auth.is_admin:
                shown["traceback"] = None
            if at_least("2.62"):
                shown["hostId"] = _host_id(doc)
                if auth.is_admin:
                    shown["host"] = "localcloud"
            events.append(shown)
        out["events"] = events
    return out


@routes.get("/servers/<server_id>/os-instance-actions")
def list_instance_actions(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    actions = list(reversed(doc.get("_actions", [])))  # newest first, as Nova lists them
    if at_least("2.58"):
        since = request.args.get("changes-since")
        if since:
            actions = [a for a in actions if a["updated_at"] >= since.replace("Z", "")]
        marker = request.args.get("marker")
        if marker:
            ids = [a["request_id"] for a in actions]
            if marker not in ids:
                raise ApiError(400, f"Marker {marker} could not be found.", "badRequest")
            actions = actions[ids.index(marker) + 1 :]
        limit = request.args.get("limit")
        if limit:
            if not limit.isdigit():
                raise ApiError(400, f"Invalid limit {limit!r}: use a non-negative integer.", "badRequest")
            actions = actions[: int(limit)]
    return json_response({"instanceActions": [_action_view(doc, a, auth, detail=False) for a in actions]})


@routes.get("/servers/<server_id>/os-instance-actions/<req_id>")
def get_instance_action(server_id: str, req_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    for action in doc.get("_actions", []):
        if action["request_id"] == req_id:
            return json_response({"instanceAction": _action_view(doc, action, auth, detail=True)})
    raise ApiError(404, f"Action {req_id} not found", "itemNotFound")
