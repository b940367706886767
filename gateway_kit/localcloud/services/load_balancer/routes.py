"""The Octavia route table and registration with the local cloud."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
from flask import Response

from gateway_kit.localcloud.core import (
    CatalogEntry,
    LocalCloud,
    Service,
)

from .admin import (
    ADMIN_SPECS,
    _admin_create,
    _admin_delete,
    _admin_list,
    _admin_show,
    _admin_update,
    _amphora_action,
    _amphora_stats,
    _amphorae,
    _caps,
    _list_quotas,
    _listener_stats,
    _providers,
    _quota_defaults,
    _reset_quota,
    _show_amphora,
    _show_quota,
    _update_quota,
    _versions,
)
from .children import _cascade_l7policy, _cascade_listener, _cascade_pool, _delete_child, _update_child
from .common import render_octavia_error
from .health import MEMBER_CHECKED, _hook_member_checked
from .listeners import _LISTENER_ATTRS, _apply_listener_update, _create_listener
from .listing import SPECS, _list, _show
from .loadbalancers import _create_lb, _delete_lb, _lb_failover, _lb_stats, _lb_status, _update_lb
from .monitors import (
    _HM_ATTRS,
    _L7P_ATTRS,
    _apply_hm,
    _apply_l7policy,
    _create_hm,
    _create_l7policy,
    _create_l7rule,
)
from .nested import NESTED, _nested_delete, _nested_list, _nested_show, _nested_update
from .pools import _POOL_ATTRS, _apply_pool, _create_member, _create_pool
from .state import _hook_lb_deleted, _hook_lb_settled

# -- registration ----------------------------------------------------------------------------------


def register(cloud: LocalCloud) -> None:
    """Register Octavia under ``/load-balancer`` (see :mod:`gateway_kit.localcloud.core`)."""
    bp = flask.Blueprint("load_balancer", __name__, url_prefix="/load-balancer")
    n = 0

    def route(rule: str, view: Callable[..., Response], *methods: str) -> None:
        nonlocal n
        for version in ("/v2.0", "/v2"):
            n += 1
            bp.add_url_rule(version + rule, f"r{n}", view, methods=list(methods))

    bp.add_url_rule("", "versions", _versions, methods=["GET"])
    bp.add_url_rule("/", "versions_slash", _versions, methods=["GET"])

    def bind(fn: Callable[..., Response], *args: Any) -> Callable[..., Response]:
        def view(**kw: Any) -> Response:
            return fn(*args, *kw.values())

        return view

    lbaas = "/lbaas"
    route(f"{lbaas}/loadbalancers", bind(_list, SPECS["loadbalancers"]), "GET")
    route(f"{lbaas}/loadbalancers", _create_lb, "POST")
    route(f"{lbaas}/loadbalancers/<rid>", bind(_show, SPECS["loadbalancers"]), "GET")
    route(f"{lbaas}/loadbalancers/<rid>", _update_lb, "PUT")
    route(f"{lbaas}/loadbalancers/<rid>", _delete_lb, "DELETE")
    route(f"{lbaas}/loadbalancers/<rid>/stats", _lb_stats, "GET")
    route(f"{lbaas}/loadbalancers/<rid>/status", _lb_status, "GET")
    route(f"{lbaas}/loadbalancers/<rid>/failover", _lb_failover, "PUT")
    route(f"{lbaas}/listeners", bind(_list, SPECS["listeners"]), "GET")
    route(f"{lbaas}/listeners", _create_listener, "POST")
    route(f"{lbaas}/listeners/<rid>", bind(_show, SPECS["listeners"]), "GET")
    route(
        f"{lbaas}/listeners/<rid>",
        bind(_update_child, SPECS["listeners"], _apply_listener_update, _LISTENER_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/listeners/<rid>", bind(_delete_child, SPECS["listeners"], _cascade_listener), "DELETE")
    route(f"{lbaas}/listeners/<rid>/stats", _listener_stats, "GET")
    route(f"{lbaas}/pools", bind(_list, SPECS["pools"]), "GET")
    route(f"{lbaas}/pools", _create_pool, "POST")
    route(f"{lbaas}/pools/<rid>", bind(_show, SPECS["pools"]), "GET")
    route(f"{lbaas}/pools/<rid>", bind(_update_child, SPECS["pools"], _apply_pool, _POOL_ATTRS), "PUT")
    route(f"{lbaas}/pools/<rid>", bind(_delete_child, SPECS["pools"], _cascade_pool), "DELETE")
    route(f"{lbaas}/pools/<pool_id>/members", _create_member, "POST")
    route(f"{lbaas}/healthmonitors", bind(_list, SPECS["healthmonitors"]), "GET")
    route(f"{lbaas}/healthmonitors", _create_hm, "POST")
    route(f"{lbaas}/healthmonitors/<rid>", bind(_show, SPECS["healthmonitors"]), "GET")
    route(
        f"{lbaas}/healthmonitors/<rid>",
        bind(_update_child, SPECS["healthmonitors"], _apply_hm, _HM_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/healthmonitors/<rid>", bind(_delete_child, SPECS["healthmonitors"], None), "DELETE")
    route(f"{lbaas}/l7policies", bind(_list, SPECS["l7policies"]), "GET")
    route(f"{lbaas}/l7policies", _create_l7policy, "POST")
    route(f"{lbaas}/l7policies/<rid>", bind(_show, SPECS["l7policies"]), "GET")
    route(
        f"{lbaas}/l7policies/<rid>",
        bind(_update_child, SPECS["l7policies"], _apply_l7policy, _L7P_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/l7policies/<rid>", bind(_delete_child, SPECS["l7policies"], _cascade_l7policy), "DELETE")
    route(f"{lbaas}/l7policies/<policy_id>/rules", _create_l7rule, "POST")
    for parent, nested in (("pools/<pool_id>/members", NESTED["members"]),
                           ("l7policies/<policy_id>/rules", NESTED["rules"])):  # fmt: skip
        route(f"{lbaas}/{parent}", bind(_nested_list, nested), "GET")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_show, nested), "GET")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_update, nested), "PUT")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_delete, nested), "DELETE")
    route(f"{lbaas}/quotas", _list_quotas, "GET")
    route(f"{lbaas}/quotas/defaults", _quota_defaults, "GET")
    route(f"{lbaas}/quotas/<project_id>", _show_quota, "GET")
    route(f"{lbaas}/quotas/<project_id>", _update_quota, "PUT")
    route(f"{lbaas}/quotas/<project_id>", _reset_quota, "DELETE")
    route(f"{lbaas}/providers", _providers, "GET")
    route(f"{lbaas}/providers/<provider>/flavor_capabilities", bind(_caps, "flavor"), "GET")
    route(
        f"{lbaas}/providers/<provider>/availability_zone_capabilities",
        bind(_caps, "availability_zone"),
        "GET",
    )
    for path, spec in ADMIN_SPECS.items():
        route(f"{lbaas}/{path}", bind(_admin_list, spec), "GET")
        route(f"{lbaas}/{path}", bind(_admin_create, spec), "POST")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_show, spec), "GET")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_update, spec), "PUT")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_delete, spec), "DELETE")
    route("/octavia/amphorae", _amphorae, "GET")
    route("/octavia/amphorae/<amp_id>", _show_amphora, "GET")
    route("/octavia/amphorae/<amp_id>/config", _amphora_action, "PUT")
    route("/octavia/amphorae/<amp_id>/failover", _amphora_action, "PUT")
    route("/octavia/amphorae/<amp_id>/stats", _amphora_stats, "GET")

    cloud.add_hook("octavia.lb_settled", _hook_lb_settled)
    cloud.add_hook("octavia.lb_deleted", _hook_lb_deleted)
    cloud.add_hook(MEMBER_CHECKED, _hook_member_checked)
    cloud.add_service(
        Service(
            name="load_balancer",
            prefix="/load-balancer",
            blueprint=bp,
            catalog=[CatalogEntry("load-balancer", "octavia", "/load-balancer")],
            render_error=render_octavia_error,
        )
    )
