"""Designate v2 (DNS as a service) for the local cloud, under ``/dns``.

What is implemented, with Designate's own rules and error bodies:

* ``GET /dns`` version discovery (v2, v2.0, v2.1; v2.1 brings shared zones);
* zones: create / show / list (filters ``name``, ``type``, ``email``, ``status``,
  ``description``, ``ttl``, ``*`` wildcards; ``limit``/``marker`` paging with ``links.next``),
  ``PATCH`` update, delete; ``/zones/{id}/nameservers``; shares (``/zones/{id}/shares``);
* recordsets: create / show / list / ``PUT`` update / delete under a zone, plus the flat
  ``/v2/recordsets`` listing; A, AAAA, CNAME, TXT, MX, SRV, NS, PTR, CAA, SPF, SSHFP;
  an SOA and an apex NS recordset are created with every zone and are managed (read-only);
* quotas (``/v2/quotas/{project}``), limits, TLDs, blacklists and service statuses.

**State machine.** Every write answers ``202`` with ``status: PENDING`` and ``action`` one of
``CREATE``/``UPDATE``/``DELETE``; after the core's transition delay the resource turns
``ACTIVE`` with ``action: NONE`` (a deleted one disappears). A recordset write also puts its zone
into ``PENDING``/``UPDATE`` and bumps the zone's serial, as Designate does.

**What the name server sees** (:func:`published_zones`, read by
:mod:`gateway_kit.localcloud.dnsserver`): a zone once it has been ``ACTIVE``; a recordset's data
as of its last transition to ``ACTIVE`` (an update in flight still serves the old data; a deleted
recordset is served until the delete completes).

**Errors** are Designate's: ``{"code", "type", "message", "request_id"}`` plus ``errors`` for
schema failures -- no other key, because python-designateclient builds its exceptions with
``**body``.

**Scoping.** A project sees its own zones and zones shared with it. ``X-Auth-All-Projects:
true`` (admin only) lists every project's; ``X-Auth-Sudo-Project-ID`` (admin only) acts as
another project. Other projects' zones answer 404 ``zone_not_found``.
"""

from __future__ import annotations

from .common import RECORDSET, ZONE, render_designate_error
from .publishing import published_zones, start_dns_server
from .routes import register

__all__ = ["RECORDSET", "ZONE", "published_zones", "register", "render_designate_error", "start_dns_server"]
