"""Neutron (network v2.0) for the local cloud (``/networking``).

Networks, subnets (with IP allocation from allocation pools), ports, routers (external gateway,
interfaces), floating IPs (allocated from external networks, associated through routers),
security groups and rules (a default group per project with Neutron's four default rules;
409 ``SecurityGroupRuleExists`` on duplicates), tags, quotas (409 ``OverQuota``) and the
extensions list. The SDK does not discover this service: it appends ``/v2.0`` to the catalog
URL.

Compute uses :func:`create_port`, :func:`delete_device_ports` and :func:`server_addresses` so
that Nova's ``addresses`` always reflect Neutron's ports and floating IPs.
"""

from __future__ import annotations

from . import (
    crud,  # noqa: F401  (registers its routes)
    handlers,  # noqa: F401  (registers its routes)
    quotas,  # noqa: F401  (registers its routes)
    tags,  # noqa: F401  (registers its routes)
)
from .common import FIP, NETWORK, PORT, ROUTER, RULE, SG, SUBNET, render_error
from .effects import create_port, default_security_group, delete_device_ports, release_port, server_addresses
from .registration import register

__all__ = [
    "FIP",
    "NETWORK",
    "PORT",
    "ROUTER",
    "RULE",
    "SG",
    "SUBNET",
    "create_port",
    "default_security_group",
    "delete_device_ports",
    "register",
    "release_port",
    "render_error",
    "server_addresses",
]
