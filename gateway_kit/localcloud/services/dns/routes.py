"""The Designate route table and registration with the local cloud."""

from __future__ import annotations

from collections.abc import Callable

import flask
from flask import Blueprint, Response

from gateway_kit.localcloud.core import (
    CatalogEntry,
    LocalCloud,
    Service,
)

from .admin import (
    SIMPLE,
    _get_own_quotas,
    _get_quotas,
    _limits,
    _list_service_statuses,
    _reset_quotas,
    _route_simple,
    _set_quotas,
    _show_service_status,
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


def _route(bp: Blueprint, rule: str, view: Callable[..., Response], *methods: str) -> None:
    bp.add_url_rule(rule, endpoint=f"{view.__name__}", view_func=view, methods=list(methods))


def register(cloud: LocalCloud) -> None:
    """Register Designate under ``/dns`` (see :mod:`gateway_kit.localcloud.core`)."""
    quotas = cloud.seed_data.setdefault("quotas", {}).setdefault("dns", {})
    for key, value in DEFAULT_QUOTAS.items():
        quotas.setdefault(key, value)

    bp = flask.Blueprint("dns", __name__, url_prefix="/dns")
    _route(bp, "", _versions, "GET")
    _route(bp, "/", _versions, "GET")
    v2 = "/v2"
    _route(bp, f"{v2}/zones", _list_zones, "GET")
    _route(bp, f"{v2}/zones", _create_zone, "POST")
    _route(bp, f"{v2}/zones/<zone_id>", _show_zone, "GET")
    _route(bp, f"{v2}/zones/<zone_id>", _update_zone, "PATCH")
    _route(bp, f"{v2}/zones/<zone_id>", _delete_zone, "DELETE")
    _route(bp, f"{v2}/zones/<zone_id>/nameservers", _nameservers_view, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares", _list_shares, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares", _create_share, "POST")
    _route(bp, f"{v2}/zones/<zone_id>/shares/<share_id>", _show_share, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/shares/<share_id>", _delete_share, "DELETE")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets", _list_recordsets, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets", _create_recordset, "POST")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _show_recordset, "GET")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _update_recordset, "PUT")
    _route(bp, f"{v2}/zones/<zone_id>/recordsets/<rs_id>", _delete_recordset, "DELETE")
    _route(bp, f"{v2}/recordsets", _list_all_recordsets, "GET")
    _route(bp, f"{v2}/quotas", _get_own_quotas, "GET")
    _route(bp, f"{v2}/quotas/<project_id>", _get_quotas, "GET")
    _route(bp, f"{v2}/quotas/<project_id>", _set_quotas, "PATCH")
    _route(bp, f"{v2}/quotas/<project_id>", _reset_quotas, "DELETE")
    _route(bp, f"{v2}/limits", _limits, "GET")
    for spec in SIMPLE:
        _route_simple(bp, v2, spec)
    _route(bp, f"{v2}/service_statuses", _list_service_statuses, "GET")
    _route(bp, f"{v2}/service_statuses/<status_id>", _show_service_status, "GET")

    cloud.add_hook("dns.zone_active", _hook_zone_active)
    cloud.add_hook("dns.zone_deleted", _hook_zone_deleted)
    cloud.add_hook("dns.recordset_active", _hook_recordset_active)
    cloud.add_hook("dns.recordset_deleted", _hook_recordset_deleted)
    cloud.add_service(
        Service(
            name="dns",
            prefix="/dns",
            blueprint=bp,
            catalog=[CatalogEntry("dns", "designate", "/dns")],
            render_error=render_designate_error,
        )
    )
