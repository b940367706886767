"""One handler per kind of cloud resource: find (adopt), create, wait, update, observe, delete.

Handlers speak openstacksdk through :class:`~gateway_kit.hosting.cloud.Cloud` and never touch
the database; :mod:`gateway_kit.hosting.engine` decides what to call and journals it. The
contract and the shared shape are in :mod:`.base`; each module owns one kind.
"""

from __future__ import annotations

from ...errors import CloudError
from .attachment import AttachmentHandler
from .base import Context, Handler, owner_from_tags
from .floatingip import FloatingIpHandler, LbFloatingIpHandler
from .keypair import KeypairHandler
from .l7policy import L7PolicyHandler
from .listener import ListenerHandler
from .loadbalancer import LoadBalancerHandler
from .member import MemberHandler
from .monitor import MonitorHandler
from .pool import PoolHandler
from .recordset import RecordsetHandler
from .secgroup import SecgroupHandler
from .server import ServerHandler
from .volume import VolumeHandler
from .zone import ZoneHandler

HANDLERS: dict[str, Handler] = {
    h.kind: h
    for h in (
        ZoneHandler(),
        KeypairHandler(),
        SecgroupHandler(),
        VolumeHandler(),
        LoadBalancerHandler(),
        PoolHandler(),
        MonitorHandler(),
        ListenerHandler(),
        L7PolicyHandler(),
        ServerHandler(),
        AttachmentHandler(),
        FloatingIpHandler(),
        MemberHandler(),
        LbFloatingIpHandler(),
        RecordsetHandler(),
    )
}

__all__ = ["HANDLERS", "CloudError", "Context", "Handler", "ServerHandler", "owner_from_tags"]
