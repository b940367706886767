"""Nova (compute v2.1) for the local cloud (``/compute/v2.1``).

Microversions 2.1 to :data:`MAX_MICROVERSION` (2.100) are honoured: the response fields follow
the version asked for (2.3 extended attributes, 2.9 ``locked``, 2.19 ``description``, 2.26
``tags``, 2.47 embedded flavor, 2.61 flavor ``extra_specs``, 2.73 ``locked_reason``, 2.89
volume attachment ids, 2.96 ``pinned_availability_zone``, 2.100 ``scheduler_hints``; limits
and quota sets shrink at 2.36/2.39/2.57) and both ``OpenStack-API-Version`` and
``X-OpenStack-Nova-API-Version`` are echoed. Versions outside the range get 406.

Servers follow Nova's state machine (BUILD -> ACTIVE | ERROR; SHUTOFF, SUSPENDED, PAUSED,
SHELVED -> SHELVED_OFFLOADED, RESIZE -> VERIFY_RESIZE, REBOOT, HARD_REBOOT, REBUILD) with
transitions on the cloud's clock; wrong-state actions and actions on locked servers answer 409.
Their NICs are Neutron ports, their ``addresses`` come from Neutron (floating IPs included), and
their volume attachments drive Cinder's ``in-use``/``available`` states.

**Boot hook.** When a server becomes ACTIVE the compute service calls every function in
``cloud.extensions["compute.boot_hooks"]`` as ``fn(cloud, server_doc)``, and on delete every
function in ``cloud.extensions["compute.destroy_hooks"]``; the data plane
(:mod:`gateway_kit.localcloud.dataplane`, ``serve --dataplane``) registers there and runs the
server's cloud-config as local processes. Without a data plane a server runs nothing.

**Layout.** ``common`` (blueprint, kinds, state table, errors), one module per resource
(``flavors``, ``keypairs``, ``servers`` with ``views`` for rendering and listing,
``subresources`` (consoles, addresses, metadata, tags, security groups, diagnostics,
password), ``interfaces``, ``instance_actions``, ``attachments``, ``admin``, ``quotas``,
``proxies``, ``discovery``), the
state machine (``actions`` queues transitions, ``lifecycle`` holds the hooks that fire them
and the cross-service effects), and ``registration``.
"""

from __future__ import annotations

from . import (
    actions,  # noqa: F401  (registers its routes)
    admin,  # noqa: F401  (registers its routes)
    attachments,  # noqa: F401  (registers its routes)
    discovery,  # noqa: F401  (registers its routes)
    flavors,  # noqa: F401  (registers its routes)
    instance_actions,  # noqa: F401  (registers its routes)
    interfaces,  # noqa: F401  (registers its routes)
    keypairs,  # noqa: F401  (registers its routes)
    proxies,  # noqa: F401  (registers its routes)
    quotas,  # noqa: F401  (registers its routes)
    servers,  # noqa: F401  (registers its routes)
    subresources,  # noqa: F401  (registers its routes)
)
from .actions import console_log
from .common import FLAVOR, KEYPAIR, SERVER, SERVER_GROUP, render_error
from .registration import register

__all__ = ["FLAVOR", "KEYPAIR", "SERVER", "SERVER_GROUP", "console_log", "register", "render_error"]
