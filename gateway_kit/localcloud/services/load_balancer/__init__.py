"""Octavia v2 (load balancing) for the local cloud, under ``/load-balancer``.

openstacksdk does no version discovery for Octavia: it appends ``/v2.0`` to the catalog URL, so
the API answers under ``/load-balancer/v2.0/...`` (and ``/v2/...``, as Octavia does).

Resources: load balancers (with ``/stats``, ``/status``, ``/failover``), listeners (HTTP, HTTPS,
TERMINATED_HTTPS, TCP, UDP, SCTP, PROMETHEUS), pools, members, health monitors, L7 policies and
rules, quotas, providers, flavors and flavor profiles, availability zones and their profiles,
and amphorae. The vocabulary (protocols, algorithms, statuses, health monitor types, L7 values)
is octavia-lib's :mod:`octavia_lib.common.constants`.

**Provisioning state machine** (Octavia's, with the no-op amphora driver's operating statuses):

* a new load balancer is ``PENDING_CREATE`` and becomes ``ACTIVE``/``ONLINE`` after the core's
  transition delay; its VIP is a Neutron port on ``vip_subnet_id``/``vip_network_id`` (owner
  ``Octavia``), and one ``STANDALONE`` amphora is allocated to it;
* every create/update/delete of a child object first requires the parent load balancer to be
  ``ACTIVE`` (``ACTIVE`` or ``ERROR`` for deletes), else **409** ``Load Balancer <id> is immutable
  and cannot be updated.``; it then puts the load balancer (and the child) into ``PENDING_*``
  until the transition completes, when children turn ``ACTIVE`` and deleted ones disappear;
* ``PUT``/``DELETE`` on the load balancer itself while pending answer **409** ``Invalid state
  PENDING_UPDATE of loadbalancer resource <id>``; a delete of a load balancer with children needs
  ``?cascade=true``, and takes everything (VIP port included) away when it completes.

**Member health.** With the data plane (``--dataplane``) the health monitors really probe the
members (:data:`~.health.MEMBER_HEALTH`) and the listeners carry traffic; without it, the
monitor's verdict is decided from what the local cloud knows about the member's address
(``monitor_address`` if set):

* a member whose pool has no health monitor, or only a disabled one (``admin_state_up`` false),
  is ``NO_MONITOR``; a disabled member (``admin_state_up`` false) is ``OFFLINE``;
* otherwise the member is ``OFFLINE`` until the monitor's first check, which comes one transition
  step (standing for the monitor's ``delay``) after the member was added, the monitor was
  created or enabled, or the member was enabled -- whichever came last, so members added to a
  pool that already has a monitor are checked like the ones present when it was created;
* once checked, the member is ``ONLINE`` while its address is a fixed IP of a Neutron port (on
  the member's ``subnet_id`` if given) that is up: a server's port whose server is ``ACTIVE``, or
  another port whose status is ``ACTIVE``; else ``ERROR`` (the backend does not answer). The
  verdict follows the backend on every read, as Octavia's health manager does: stop the
  server and the member turns ``ERROR``, start it and it is ``ONLINE`` again.

Listeners are ``ONLINE`` once provisioned and pools roll their enabled members up as Octavia's
health manager does (``ERROR`` when all are down, ``DEGRADED`` when some are, else ``ONLINE``);
a disabled listener or pool is ``OFFLINE``.

``TERMINATED_HTTPS`` needs ``default_tls_container_ref`` naming a Barbican secret (a PKCS#12
bundle) or certificate container the caller's project can read; otherwise **400** ``Could not
retrieve certificate: <ref>``, or ``The PKCS12 bundle is unreadable...`` for a secret that is
not PKCS#12.

Errors are Octavia's ``{"faultcode", "faultstring", "debuginfo"}``. Quotas are the core's flat
resources ``load_balancer``, ``listener``, ``pool``, ``member``, ``health_monitor``,
``l7policy``, ``l7rule`` (Octavia's default: unlimited); over quota is **403** ``Quota has been
met for resources: ...``.
"""

from __future__ import annotations

from .common import HM, LB, LISTENER, MEMBER, POOL, render_octavia_error
from .routes import register

__all__ = ["HM", "LB", "LISTENER", "MEMBER", "POOL", "register", "render_octavia_error"]
