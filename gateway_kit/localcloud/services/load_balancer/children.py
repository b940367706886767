"""What every child resource shares: creating under a load balancer, update, delete and cascades."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response
from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    new_id,
)
from gateway_kit.localcloud.store import Doc

from .common import (
    HM,
    L7POLICY,
    L7RULE,
    LB,
    LISTENER,
    MEMBER,
    _auth,
    _body,
    _check_attrs,
    _get,
    _immutable,
    _lock_lb,
    _now,
    _project_quota,
    _settle_lb,
    _str,
)
from .specs import Spec

# -- children ------------------------------------------------------------------------------------


def _active_lb(cloud: LocalCloud, child: Doc) -> Doc:
    """The load balancer ``child`` (a listener, pool or policy) belongs to; Octavia refuses a
    change (409) while it is not ACTIVE."""
    lb = cloud.get(LB, child["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    return lb


def _create_body(root: str, allowed: tuple[str, ...]) -> tuple[LocalCloud, AuthContext, dict[str, Any]]:
    """The cloud, the caller and the ``root`` object of a create request (unknown keys refused)."""
    cloud = current_cloud()
    auth = _auth()
    body = _body(root)
    _check_attrs(body, allowed, root)
    return cloud, auth, body


def _new_child(
    cloud: LocalCloud, auth: AuthContext, lb: Doc, body: dict[str, Any], quota: tuple[str, str, str]
) -> Doc:
    """A new child of ``lb`` (not stored yet), once the project's ``quota`` (resource, kind,
    label) has room for it."""
    resource, kind, label = quota
    _project_quota(cloud, lb["project_id"], resource, kind, label)
    return {
        "id": new_id(),
        "name": _str(body, "name") or "",
        "provisioning_status": olc.PENDING_CREATE,
        "operating_status": olc.OFFLINE,
        "admin_state_up": bool(body.get("admin_state_up", True)),
        "project_id": lb["project_id"],
        "loadbalancer_id": lb["id"],
        "created_at": _now(),
        "updated_at": None,
        "tags": list(body.get("tags") or []),
    }


def _update_child(
    spec: Spec,
    apply: Callable[[LocalCloud, AuthContext, Doc, dict[str, Any]], None],
    allowed: tuple[str, ...],
    rid: str,
) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    _settle_lb(cloud, doc["loadbalancer_id"])
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    body = _body(spec.root)
    _check_attrs(body, allowed, spec.root)
    lb = _active_lb(cloud, doc)
    apply(cloud, auth, doc, body)
    doc["provisioning_status"] = olc.PENDING_UPDATE
    doc["updated_at"] = _now()
    _lock_lb(cloud, lb)
    cloud.put(spec.kind, doc)
    return json_response({spec.root: spec.render(cloud, doc)}, 202)


def _delete_child(spec: Spec, cascade: Callable[[LocalCloud, Doc], None] | None, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    _settle_lb(cloud, doc["loadbalancer_id"])
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    lb = cloud.get(LB, doc["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise _immutable(lb["id"])
    if doc["provisioning_status"] == olc.PENDING_DELETE:
        raise _immutable(lb["id"])
    if cascade is not None:
        cascade(cloud, doc)
    doc["provisioning_status"] = olc.PENDING_DELETE
    _lock_lb(cloud, lb, deleting=True)
    cloud.put(spec.kind, doc)
    return Response(status=204)


def _mark_deleted(cloud: LocalCloud, kind: str, predicate: Callable[[Doc], bool]) -> list[Doc]:
    docs = cloud.store.find(kind, predicate)
    for d in docs:
        d["provisioning_status"] = olc.PENDING_DELETE
        cloud.store.put(kind, d)
    return docs


def _cascade_listener(cloud: LocalCloud, doc: Doc) -> None:
    policies = _mark_deleted(cloud, L7POLICY, lambda d: d["listener_id"] == doc["id"])
    ids = {p["id"] for p in policies}
    _mark_deleted(cloud, L7RULE, lambda d: d["l7policy_id"] in ids)


def _cascade_pool(cloud: LocalCloud, doc: Doc) -> None:
    using = cloud.store.find(
        L7POLICY,
        lambda d: d.get("redirect_pool_id") == doc["id"] and d["provisioning_status"] != olc.PENDING_DELETE,
    )
    if using:
        raise ApiError(409, f"Pool {doc['id']} is in use by L7 policy {using[0]['id']}")
    _mark_deleted(cloud, MEMBER, lambda d: d["pool_id"] == doc["id"])
    _mark_deleted(cloud, HM, lambda d: d["pool_id"] == doc["id"])
    for lis in cloud.store.find(LISTENER, lambda d: d.get("default_pool_id") == doc["id"]):
        lis["default_pool_id"] = None
        cloud.store.put(LISTENER, lis)


def _cascade_l7policy(cloud: LocalCloud, doc: Doc) -> None:
    _mark_deleted(cloud, L7RULE, lambda d: d["l7policy_id"] == doc["id"])
