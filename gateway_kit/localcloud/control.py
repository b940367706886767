"""The local cloud's control API (``/_control``): fault injection, holds, quotas, clock, reset.

Not part of OpenStack and unauthenticated: the local cloud listens on loopback only and this API
exists for tests. Use :class:`gateway_kit.localcloud.testing.LocalCloudController` rather than
calling it by hand.

=======  =================================  ==================================================
Method   Path                               Body / effect
=======  =================================  ==================================================
GET      /_control                          faults, clock and services now in force
POST     /_control/faults                   a :class:`~gateway_kit.localcloud.faults.FaultRule`
                                            as JSON -> the rule with its ``id``
DELETE   /_control/faults[/<id>]            remove one rule, or all faults
POST     /_control/fail-next-create         ``{"kind": "compute.server", "times": 1}``
POST     /_control/hold                     ``{"kind": ..., "id": "<uuid>" | "next"}``
POST     /_control/release                  ``{"kind": ..., "id": "<uuid>"}``
PUT      /_control/quotas                   ``{"project": name-or-id, "resource": "instances",
                                            "limit": 2}``
PUT      /_control/clock                    ``{"mode": "time"|"poll", "delay": s, "polls": n}``
POST     /_control/reset                    clear faults; ``{"resources": true}`` also wipes
                                            every resource and re-seeds
=======  =================================  ==================================================
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gateway_kit.localcloud.core import ApiError, current_cloud, json_response, request_json
from gateway_kit.localcloud.faults import FaultRule

blueprint = Blueprint("localcloud_control", __name__, url_prefix="/_control")

_RULE_FIELDS = {
    "service",
    "method",
    "path",
    "rate",
    "status",
    "retry_after",
    "delay",
    "count",
    "message",
}


def _state() -> dict[str, Any]:
    cloud = current_cloud()
    return {
        "faults": cloud.faults.to_dict(),
        "clock": {
            "mode": cloud.config.clock.mode,
            "delay": cloud.config.clock.delay,
            "polls": cloud.config.clock.polls,
        },
        "services": [{"name": s.name, "prefix": s.prefix} for s in cloud.services],
    }


@blueprint.get("")
def show() -> Response:
    return json_response(_state())


@blueprint.post("/faults")
def add_fault() -> Response:
    body = request_json()
    unknown = set(body) - _RULE_FIELDS
    if unknown:
        raise ApiError(400, f"unknown fault fields: {sorted(unknown)}")
    try:
        rule = current_cloud().faults.add(FaultRule(**body))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"invalid fault rule: {exc}") from exc
    return json_response(rule.to_dict(), 201)


@blueprint.delete("/faults")
def clear_faults() -> Response:
    current_cloud().faults.reset()
    return json_response(None, 204)


@blueprint.delete("/faults/<int:rule_id>")
def delete_fault(rule_id: int) -> Response:
    if not current_cloud().faults.remove(rule_id):
        raise ApiError(404, f"no fault rule {rule_id}")
    return json_response(None, 204)


@blueprint.post("/fail-next-create")
def fail_next_create() -> Response:
    body = request_json()
    current_cloud().faults.fail_next_create(str(body["kind"]), int(body.get("times", 1)))
    return json_response(_state()["faults"], 200)


@blueprint.post("/hold")
def hold() -> Response:
    body = request_json()
    cloud = current_cloud()
    kind, target = str(body["kind"]), str(body.get("id", "next"))
    if target == "next":
        cloud.faults.hold_next_create(kind, int(body.get("times", 1)))
    elif not cloud.hold(kind, target):
        raise ApiError(404, f"no {kind} {target}")
    return json_response(_state()["faults"], 200)


@blueprint.post("/release")
def release() -> Response:
    body = request_json()
    if not current_cloud().release(str(body["kind"]), str(body["id"])):
        raise ApiError(404, f"no {body['kind']} {body['id']}")
    return json_response(None, 204)


@blueprint.put("/quotas")
def set_quota() -> Response:
    body = request_json()
    cloud = current_cloud()
    try:
        project_id = cloud.project_id_for(str(body["project"]))
    except KeyError as exc:
        raise ApiError(404, f"no project {body['project']}") from exc
    cloud.set_quota(project_id, str(body["resource"]), int(body["limit"]))
    return json_response(
        {"project_id": project_id, "resource": body["resource"], "limit": int(body["limit"])}
    )


@blueprint.put("/clock")
def set_clock() -> Response:
    body = request_json()
    cfg = current_cloud().config.clock
    old = (cfg.mode, cfg.delay, cfg.polls)
    cfg.mode = str(body.get("mode", cfg.mode))
    cfg.delay = float(body.get("delay", cfg.delay))
    cfg.polls = int(body.get("polls", cfg.polls))
    try:
        cfg.validate()
    except ValueError as exc:
        cfg.mode, cfg.delay, cfg.polls = old
        raise ApiError(400, str(exc)) from exc
    return json_response(_state()["clock"])


@blueprint.post("/reset")
def reset() -> Response:
    body = request_json(required=False)
    cloud = current_cloud()
    if body.get("resources"):
        cloud.reset()
    else:
        cloud.faults.reset()
    return json_response(None, 204)
