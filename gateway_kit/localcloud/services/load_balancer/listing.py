"""The resource spec table and generic list/show with Octavia's filters and pagination."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response

from gateway_kit.localcloud.core import current_cloud, json_response
from gateway_kit.localcloud.store import Doc

from .common import (
    HM,
    L7POLICY,
    L7RULE,
    LB,
    LISTENER,
    MEMBER,
    POOL,
    _auth,
    _filter,
    _get,
    _not_found,
    _settle_lb,
    _visible,
)
from .health import _OPERATING, _refresh_operating
from .specs import (
    Spec,
    _render_hm,
    _render_l7policy,
    _render_l7rule,
    _render_lb,
    _render_listener,
    _render_member,
    _render_pool,
)

# -- generic list/show ---------------------------------------------------------------------------


SPECS: dict[str, Spec] = {
    "loadbalancers": Spec(
        LB,
        "loadbalancer",
        "loadbalancers",
        "Load Balancer",
        _render_lb,
        extra_filters=(
            "vip_address",
            "vip_port_id",
            "vip_subnet_id",
            "vip_network_id",
            "provider",
            "flavor_id",
            "availability_zone",
        ),
    ),
    "listeners": Spec(
        LISTENER,
        "listener",
        "listeners",
        "Listener",
        _render_listener,
        extra_filters=("protocol", "protocol_port", "loadbalancer_id", "default_pool_id"),
    ),
    "pools": Spec(
        POOL,
        "pool",
        "pools",
        "Pool",
        _render_pool,
        extra_filters=("protocol", "lb_algorithm", "loadbalancer_id"),
    ),
    "members": Spec(
        MEMBER,
        "member",
        "members",
        "Member",
        _render_member,
        extra_filters=("address", "protocol_port", "subnet_id", "weight"),
    ),
    "healthmonitors": Spec(
        HM, "healthmonitor", "healthmonitors", "Health Monitor", _render_hm, extra_filters=("type", "pool_id")
    ),
    "l7policies": Spec(
        L7POLICY,
        "l7policy",
        "l7policies",
        "L7 Policy",
        _render_l7policy,
        extra_filters=("action", "listener_id", "position"),
    ),
    "rules": Spec(
        L7RULE,
        "rule",
        "rules",
        "L7 Rule",
        _render_l7rule,
        filters=("id", "provisioning_status", "operating_status", "project_id"),
        extra_filters=("type", "compare_type", "value", "key"),
    ),
}


def _list(spec: Spec, predicate: Callable[[Doc], bool] | None = None) -> Response:
    cloud = current_cloud()
    auth = _auth()
    for _lb in cloud.list(LB, lambda d: _visible(auth, d)):
        pass  # reading the load balancers fires their due transitions (children settle)
    docs = cloud.list(spec.kind, lambda d: _visible(auth, d) and (predicate is None or predicate(d)))
    if spec.kind in _OPERATING:
        for doc in docs:
            _refresh_operating(cloud, spec.kind, doc)
    docs = _filter(docs, spec.filters + spec.extra_filters)
    return json_response(
        {spec.collection: [spec.render(cloud, d) for d in docs], f"{spec.collection}_links": []}
    )


def _show(spec: Spec, rid: str, predicate: Callable[[Doc], bool] | None = None) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    if doc.get("loadbalancer_id") and spec.kind != LB:
        _settle_lb(cloud, doc["loadbalancer_id"])
        doc = _get(cloud, auth, spec.kind, rid, spec.label)
    if predicate is not None and not predicate(doc):
        raise _not_found(spec.label, rid)
    return json_response({spec.root: spec.render(cloud, doc)})
