"""The Octavia route table and registration with the local cloud."""

from __future__ import annotations

import flask

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.rest import Routes

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
    routes = Routes(bp, versions=("/v2.0", "/v2"))
    Routes(bp).add("", _versions, "GET", name="versions")
    Routes(bp).add("/", _versions, "GET", name="versions_slash")

    lbaas = "/lbaas"
    routes.add(f"{lbaas}/loadbalancers", _list, "GET", args=(SPECS["loadbalancers"],))
    routes.add(f"{lbaas}/loadbalancers", _create_lb, "POST")
    routes.add(f"{lbaas}/loadbalancers/<rid>", _show, "GET", args=(SPECS["loadbalancers"],))
    routes.add(f"{lbaas}/loadbalancers/<rid>", _update_lb, "PUT")
    routes.add(f"{lbaas}/loadbalancers/<rid>", _delete_lb, "DELETE")
    routes.add(f"{lbaas}/loadbalancers/<rid>/stats", _lb_stats, "GET")
    routes.add(f"{lbaas}/loadbalancers/<rid>/status", _lb_status, "GET")
    routes.add(f"{lbaas}/loadbalancers/<rid>/failover", _lb_failover, "PUT")
    # Octavia's child resources: collection, create, apply on update, updatable attributes,
    # cascade on delete.
    children = (
        ("listeners", _create_listener, _apply_listener_update, _LISTENER_ATTRS, _cascade_listener),
        ("pools", _create_pool, _apply_pool, _POOL_ATTRS, _cascade_pool),
        ("healthmonitors", _create_hm, _apply_hm, _HM_ATTRS, None),
        ("l7policies", _create_l7policy, _apply_l7policy, _L7P_ATTRS, _cascade_l7policy),
    )
    for collection, create, apply, attrs, cascade in children:
        spec = SPECS[collection]
        routes.add(f"{lbaas}/{collection}", _list, "GET", args=(spec,))
        routes.add(f"{lbaas}/{collection}", create, "POST")
        routes.add(f"{lbaas}/{collection}/<rid>", _show, "GET", args=(spec,))
        routes.add(f"{lbaas}/{collection}/<rid>", _update_child, "PUT", args=(spec, apply, attrs))
        routes.add(f"{lbaas}/{collection}/<rid>", _delete_child, "DELETE", args=(spec, cascade))
    routes.add(f"{lbaas}/listeners/<rid>/stats", _listener_stats, "GET")
    routes.add(f"{lbaas}/pools/<pool_id>/members", _create_member, "POST")
    routes.add(f"{lbaas}/l7policies/<policy_id>/rules", _create_l7rule, "POST")
    for parent, nested in (("pools/<pool_id>/members", NESTED["members"]),
                           ("l7policies/<policy_id>/rules", NESTED["rules"])):  # fmt: skip
        routes.add(f"{lbaas}/{parent}", _nested_list, "GET", args=(nested,))
        routes.add(f"{lbaas}/{parent}/<rid>", _nested_show, "GET", args=(nested,))
        routes.add(f"{lbaas}/{parent}/<rid>", _nested_update, "PUT", args=(nested,))
        routes.add(f"{lbaas}/{parent}/<rid>", _nested_delete, "DELETE", args=(nested,))
    routes.add(f"{lbaas}/quotas", _list_quotas, "GET")
    routes.add(f"{lbaas}/quotas/defaults", _quota_defaults, "GET")
    routes.add(f"{lbaas}/quotas/<project_id>", _show_quota, "GET")
    routes.add(f"{lbaas}/quotas/<project_id>", _update_quota, "PUT")
    routes.add(f"{lbaas}/quotas/<project_id>", _reset_quota, "DELETE")
    routes.add(f"{lbaas}/providers", _providers, "GET")
    routes.add(f"{lbaas}/providers/<provider>/flavor_capabilities", _caps, "GET", args=("flavor",))
    routes.add(
        f"{lbaas}/providers/<provider>/availability_zone_capabilities",
        _caps,
        "GET",
        args=("availability_zone",),
    )
    for path, admin_spec in ADMIN_SPECS.items():
        routes.add(f"{lbaas}/{path}", _admin_list, "GET", args=(admin_spec,))
        routes.add(f"{lbaas}/{path}", _admin_create, "POST", args=(admin_spec,))
        routes.add(f"{lbaas}/{path}/<rid>", _admin_show, "GET", args=(admin_spec,))
        routes.add(f"{lbaas}/{path}/<rid>", _admin_update, "PUT", args=(admin_spec,))
        routes.add(f"{lbaas}/{path}/<rid>", _admin_delete, "DELETE", args=(admin_spec,))
    routes.add("/octavia/amphorae", _amphorae, "GET")
    routes.add("/octavia/amphorae/<amp_id>", _show_amphora, "GET")
    routes.add("/octavia/amphorae/<amp_id>/config", _amphora_action, "PUT")
    routes.add("/octavia/amphorae/<amp_id>/failover", _amphora_action, "PUT")
    routes.add("/octavia/amphorae/<amp_id>/stats", _amphora_stats, "GET")

    cloud.add_hook("octavia.lb_settled", _hook_lb_settled)
    cloud.add_hook("octavia.lb_deleted", _hook_lb_deleted)
    cloud.add_hook(MEMBER_CHECKED, _hook_member_checked)
    cloud.serve(bp, render_octavia_error, ("load-balancer", "octavia"))
