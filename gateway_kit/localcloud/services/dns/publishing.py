"""What the local name server publishes: active zones and recordsets, and starting the server."""

from __future__ import annotations

from collections.abc import Sequence

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.dnsserver import LocalDnsServer, PublishedRecordset, PublishedZone

from .common import RECORDSET, ZONE

# -- what the name server publishes --------------------------------------------------------


def published_zones(cloud: LocalCloud) -> list[PublishedZone]:
    """The zones and records a Designate backend would serve now (see the module docstring).

    Transitions that are due are applied first without counting as API reads, so in ``time``
    mode a TXT record appears in DNS as soon as its delay has passed, polled or not.
    """
    with cloud.lock:
        for kind in (ZONE, RECORDSET):
            for doc in cloud.store.all(kind):
                cloud.settle_now(kind, doc)
        zones = [z for z in cloud.store.all(ZONE) if z.get("_served")]
        recordsets = cloud.store.all(RECORDSET)
    by_zone: dict[str, list[PublishedRecordset]] = {}
    for rs in recordsets:
        published = rs.get("_published")
        if not published:
            continue
        by_zone.setdefault(rs["zone_id"], []).append(
            PublishedRecordset(
                name=str(rs["name"]),
                type=str(rs["type"]),
                ttl=int(published.get("ttl") or 0),
                records=tuple(published["records"]),
            )
        )
    out = []
    for zone in zones:
        ttl = int(zone.get("ttl") or 3600)
        rrsets = tuple(
            PublishedRecordset(r.name, r.type, r.ttl or ttl, r.records) for r in by_zone.get(zone["id"], [])
        )
        out.append(PublishedZone(name=str(zone["name"]), recordsets=rrsets))
    return out


class _CloudZoneSource:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def published_zones(self) -> Sequence[PublishedZone]:
        return published_zones(self.cloud)


def start_dns_server(cloud: LocalCloud, host: str = "127.0.0.1", port: int = 0) -> LocalDnsServer:
    """Start the DNS server for ``cloud``'s Designate zones on ``host:port`` (UDP and TCP).

    The caller (``gateway-kit localcloud serve --dns-port``, the test fixture) owns the
    returned server and calls :meth:`LocalDnsServer.stop` at shutdown. It is also recorded in
    ``cloud.extensions["dns_server"]`` so the control API can report its port.
    """
    server = LocalDnsServer(_CloudZoneSource(cloud), host=host, port=port)
    server.start()
    cloud.extensions["dns_server"] = server
    return server
