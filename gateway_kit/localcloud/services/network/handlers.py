"""The per-collection handler tables filled from the resource modules."""

from __future__ import annotations

from .crud import CREATORS, DELETERS, UPDATERS
from .networks import (
    _create_network,
    _create_port,
    _create_subnet,
    _delete_network,
    _delete_port,
    _delete_subnet,
    _no_checks,
    _simple_update,
    _update_port,
    _update_subnet,
)
from .routers import _create_fip, _create_router, _delete_router, _update_fip, _update_router
from .security_groups import _create_rule, _create_sg, _delete_rule, _delete_sg, _update_sg

CREATORS.update(
    {
        "networks": _create_network,
        "subnets": _create_subnet,
        "ports": _create_port,
        "routers": _create_router,
        "floatingips": _create_fip,
        "security-groups": _create_sg,
        "security-group-rules": _create_rule,
    }
)
UPDATERS.update(
    {
        "networks": _simple_update(
            (
                "name",
                "description",
                "admin_state_up",
                "mtu",
                "shared",
                "port_security_enabled",
                "router:external",
                "dns_domain",
            )
        ),
        "subnets": _update_subnet,
        "ports": _update_port,
        "routers": _update_router,
        "floatingips": _update_fip,
        "security-groups": _update_sg,
    }
)
DELETERS.update(
    {
        "networks": _delete_network,
        "subnets": _delete_subnet,
        "ports": _delete_port,
        "routers": _delete_router,
        "floatingips": _no_checks,
        "security-groups": _delete_sg,
        "security-group-rules": _delete_rule,
    }
)
