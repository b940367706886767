"""The Designate route table and registration with the local cloud."""

from __future__ import annotations

import flask

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.rest import Routes

from .admin import (
    SIMPLE,
    _get_own_quotas,
    _get_quotas,
    _limits,
    _list_service_statuses,
    _reset_quotas,
    _set_quotas,
    _show_service_status,
    _simple_create,
    _simple_delete,
    _simple_list,
    _simple_show,
    _simple_update,
)
from .common import DEFAULT_QUOTAS, render_designate_error
from .recordsets import (
    _create_recordset,
    _delete_recordset,
    _list_all_recordsets,
    _list_recordsets,
    _show_recordset,
    _update_recordset,
)
from .state import _hook_recordset_active, _hook_recordset_deleted, _hook_zone_active, _hook_zone_deleted
from .zones import (
    _create_share,
    _create_zone,
    _delete_share,
    _delete_zone,
    _list_shares,
    _list_zones,
    _nameservers_view,
    _show_share,
    _show_zone,
    _update_zone,
    _versions,
)

# -- registration --------------------------------------------------------------------------


def register(cloud: LocalCloud) -> None:
    """Register Designate under ``/dns`` (see :mod:`gateway_kit.localcloud.core`)."""
    quotas = cloud.seed_data.setdefault("quotas", {}).setdefault("dns", {})
    for key, value in DEFAULT_QUOTAS.items():
        quotas.setdefault(key, value)

    bp = flask.Blueprint("dns", __name__, url_prefix="/dns")
    routes = Routes(bp)
    routes.add("", _versions, "GET")
    routes.add("/", _versions, "GET")
    v2 = "/v2"
    routes.add(f"{v2}/zones", _list_zones, "GET")
    routes.add(f"{v2}/zones", _create_zone, "POST")
    routes.add(f"{v2}/zones/<zone_id>", _show_zone, "GET")
    routes.add(f"{v2}/zones/<zone_id>", _update_zone, "PATCH")
    routes.add(f"{v2}/zones/<zone_id>", _delete_zone, "DELETE")
    routes.add(f"{v2}/zones/<zone_id>/nameservers", _nameservers_view, "GET")
    routes.add(f"{v2}/zones/<zone_id>/shares", _list_shares, "GET")
    routes.add(f"{v2}/zones/<zone_id>/shares", _create_share, "POST")
    routes.add(f"{v2}/zones/<zone_id>/shares/<share_id>", _show_share, "GET")
    routes.add(f"{v2}/zones/<zone_id>/shares/<share_id>", _delete_share, "DELETE")
    routes.add(f"{v2}/zones/<zone_id>/recordsets", _list_recordsets, "GET")
    routes.add(f"{v2}/zones/<zone_id>/recordsets", _create_recordset, "POST")
    routes.add(f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _show_recordset, "GET")
    routes.add(f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _update_recordset, "PUT")
    routes.add(f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _delete_recordset, "DELETE")
    routes.add(f"{v2}/recordsets", _list_all_recordsets, "GET")
    routes.add(f"{v2}/quotas", _get_own_quotas, "GET")
    routes.add(f"{v2}/quotas/<project_id>", _get_quotas, "GET")
    routes.add(f"{v2}/quotas/<project_id>", _set_quotas, "PATCH")
    routes.add(f"{v2}/quotas/<project_id>", _reset_quotas, "DELETE")
    routes.add(f"{v2}/limits", _limits, "GET")
    for spec in SIMPLE:
        routes.add(f"{v2}/{spec.path}", _simple_list, "GET", args=(spec,))
        routes.add(f"{v2}/{spec.path}", _simple_create, "POST", args=(spec,))
        routes.add(f"{v2}/{spec.path}/<doc_id>", _simple_show, "GET", args=(spec,))
        routes.add(f"{v2}/{spec.path}/<doc_id>", _simple_update, "PATCH", args=(spec,))
        routes.add(f"{v2}/{spec.path}/<doc_id>", _simple_delete, "DELETE", args=(spec,))
    routes.add(f"{v2}/service_statuses", _list_service_statuses, "GET")
    routes.add(f"{v2}/service_statuses/<status_id>", _show_service_status, "GET")

    cloud.add_hook("dns.zone_active", _hook_zone_active)
    cloud.add_hook("dns.zone_deleted", _hook_zone_deleted)
    cloud.add_hook("dns.recordset_active", _hook_recordset_active)
    cloud.add_hook("dns.recordset_deleted", _hook_recordset_deleted)
    cloud.serve(bp, render_designate_error, ("dns", "designate"))
