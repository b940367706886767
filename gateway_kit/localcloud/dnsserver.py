"""A real, authoritative DNS server on loopback that answers from the Designate zones.

The local cloud's Designate API (:mod:`gateway_kit.localcloud.services.dns`) keeps zones and
recordsets in the store; this module serves what is *published* of them over the DNS wire
protocol, on UDP and TCP, so that ``dig @127.0.0.1 -p PORT name A`` -- or an ACME server
validating a DNS-01 challenge -- sees exactly what the API holds.

What is served, and when (the behaviour of a Designate backend such as BIND or PowerDNS):

* A zone is served once its creation has completed (status ``ACTIVE`` at least once) and until
  its deletion completes.
* A recordset's records are served from the moment the recordset turns ``ACTIVE``. While an
  update is ``PENDING`` the previous records stay in place; a deleted recordset disappears when
  its deletion completes. The Designate module computes that view; this module only reads it
  through a :class:`ZoneSource`.

Answers follow RFC 1034 section 4.3.2 for an authoritative server:

* a name outside every served zone: ``REFUSED`` (we are not a recursive resolver);
* a name with records of the asked type: ``NOERROR``, the records, ``AA`` set;
* a name that exists with other types only, or an empty non-terminal: ``NOERROR`` with an empty
  answer and the zone's SOA in the authority section (RFC 2308 "NODATA");
* a name that does not exist: ``NXDOMAIN`` and the zone's SOA in the authority section, its TTL
  the smaller of the SOA's TTL and its ``minimum`` field (RFC 2308 section 3);
* a ``CNAME`` at the name is returned and followed when its target lies in a served zone;
* wildcards (``*.example.org.``) synthesise answers for names that do not exist;
* ``NS`` recordsets below the apex are delegations: the answer is a referral (no ``AA``).

Lifecycle: :class:`LocalDnsServer` is created unbound, :meth:`LocalDnsServer.start` binds the UDP
and TCP sockets on the same port (port ``0`` picks a free one, readable afterwards as
:attr:`LocalDnsServer.port`) and serves from daemon threads; :meth:`LocalDnsServer.stop` closes
both sockets. Importing the module opens nothing.
"""

from __future__ import annotations

import logging
import socketserver
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dnslib import OPCODE, QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

__all__ = [
    "LocalDnsServer",
    "PublishedRecordset",
    "PublishedZone",
    "ZoneSource",
    "answer_query",
]

LOG = logging.getLogger(__name__)

#: How many CNAME links an answer follows before giving up (loops, long chains).
MAX_CNAME_CHAIN = 8
_CLASS_IN = 1
_CLASS_ANY = 255


@dataclass(frozen=True)
class PublishedRecordset:
    """One recordset as the name server has it.

    :param name: absolute name with its trailing dot, e.g. ``www.example.org.``
    :param type: record type in upper case (``A``, ``TXT``...)
    :param ttl: the effective TTL (the zone's TTL when the recordset has none)
    :param records: presentation-format data, as the Designate API stores it
    """

    name: str
    type: str
    ttl: int
    records: tuple[str, ...]


@dataclass(frozen=True)
class PublishedZone:
    """A served zone: its name and every published recordset, SOA and NS included."""

    name: str
    recordsets: tuple[PublishedRecordset, ...]


class ZoneSource(Protocol):
    """Where the DNS server reads zones from; called once per query, so keep it cheap."""

    def published_zones(self) -> Sequence[PublishedZone]:
        """Return every zone to serve, with its published recordsets."""
        ...


def _canon(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _parent(name: str) -> str:
    _, _, rest = name.partition(".")
    return rest or "."


class _ZoneView:
    """Indexes one published zone for lookups."""

    def __init__(self, zone: PublishedZone) -> None:
        self.name = _canon(zone.name)
        self.rrsets: dict[str, dict[str, PublishedRecordset]] = {}
        for rrset in zone.recordsets:
            self.rrsets.setdefault(_canon(rrset.name), {})[rrset.type.upper()] = rrset

    def soa(self) -> PublishedRecordset | None:
        return self.rrsets.get(self.name, {}).get("SOA")

    def has_descendants(self, name: str) -> bool:
        suffix = "." + name
        return any(owner.endswith(suffix) for owner in self.rrsets)


def _to_rrs(owner: str, rrset: PublishedRecordset) -> list[RR]:
    """Turn a recordset's presentation strings into wire records, skipping unparsable ones."""
    rrs: list[RR] = []
    for record in rrset.records:
        try:
            rrs.extend(RR.fromZone(f"{owner} {rrset.ttl} IN {rrset.type} {record}"))
        except Exception as exc:  # dnslib raises bare Exception subclasses of many kinds
            LOG.warning("DNS: cannot serve %s %s %r: %s", owner, rrset.type, record, exc)
    for rr in rrs:
        # The zone parser resolves relative names against its own origin; force our owner
        # name (wildcard synthesis answers with the query name, not "*.zone.").
        rr.rname = DNSLabel(owner)
    return rrs


def _negative_soa(view: _ZoneView) -> list[RR]:
    soa = view.soa()
    if soa is None:
        return []
    rrs = _to_rrs(view.name, soa)
    for rr in rrs:
        minimum = int(str(rr.rdata).split()[-1])
        rr.ttl = min(rr.ttl, minimum)
    return rrs


def _find_zone(views: Sequence[_ZoneView], name: str) -> _ZoneView | None:
    best: _ZoneView | None = None
    for view in views:
        if _in_zone(name, view.name) and (best is None or len(view.name) > len(best.name)):
            best = view
    return best


def _delegation(view: _ZoneView, name: str) -> tuple[str, PublishedRecordset] | None:
    """The closest NS recordset strictly between the apex and ``name`` (inclusive), if any."""
    probe = name
    cut: tuple[str, PublishedRecordset] | None = None
    while probe != view.name and _in_zone(probe, view.name):
        ns = view.rrsets.get(probe, {}).get("NS")
        if ns is not None:
            cut = (probe, ns)
        probe = _parent(probe)
    return cut


def _wildcard(view: _ZoneView, name: str) -> dict[str, PublishedRecordset] | None:
    """Wildcard recordsets matching a non-existent ``name`` (RFC 4592, closest encloser)."""
    probe = _parent(name)
    while _in_zone(probe, view.name):
        if probe in view.rrsets or view.has_descendants(probe):
            return view.rrsets.get("*." + probe)
        if probe == view.name:
            break
        probe = _parent(probe)
    return None


def answer_query(request: DNSRecord, zones: Sequence[PublishedZone]) -> DNSRecord:
    """Build the authoritative reply to ``request`` from ``zones``; pure, no I/O.

    :param request: the parsed query
    :param zones: what the name server publishes
    :returns: the reply, ready to pack
    """
    reply = request.reply()  # copies id, rd; sets qr, aa, ra
    reply.header.ra = 0  # not a recursive resolver
    if request.header.opcode != OPCODE.QUERY or len(request.questions) != 1:
        reply.header.aa = 0
        reply.header.rcode = RCODE.NOTIMP
        return reply
    question = request.q
    qtype = QTYPE.get(question.qtype, str(question.qtype))
    if question.qclass not in (_CLASS_IN, _CLASS_ANY) or qtype in ("AXFR", "IXFR"):
        reply.header.aa = 0
        reply.header.rcode = RCODE.REFUSED
        return reply

    views = [_ZoneView(zone) for zone in zones]
    name = _canon(str(question.qname))
    seen: set[str] = set()
    for _ in range(MAX_CNAME_CHAIN):
        view = _find_zone(views, name)
        if view is None:
            if not seen:  # only the first name decides REFUSED; a chain may leave our zones
                reply.header.aa = 0
                reply.header.rcode = RCODE.REFUSED
            return reply
        seen.add(name)

        cut = _delegation(view, name)
        if cut is not None:
            owner, ns = cut
            reply.header.aa = 0
            for rr in _to_rrs(owner, ns):
                reply.add_auth(rr)
            return reply

        rrsets = view.rrsets.get(name)
        if rrsets is None and not view.has_descendants(name):
            rrsets = _wildcard(view, name)
            if rrsets is None:
                reply.header.rcode = RCODE.NXDOMAIN
                for rr in _negative_soa(view):
                    reply.add_auth(rr)
                return reply
        rrsets = rrsets or {}

        if qtype == "ANY":
            for rrset in rrsets.values():
                for rr in _to_rrs(name, rrset):
                    reply.add_answer(rr)
            if not rrsets:
                for rr in _negative_soa(view):
                    reply.add_auth(rr)
            return reply
        if qtype in rrsets:
            for rr in _to_rrs(name, rrsets[qtype]):
                reply.add_answer(rr)
            return reply
        cname = rrsets.get("CNAME")
        if cname is not None and cname.records:
            for rr in _to_rrs(name, cname):
                reply.add_answer(rr)
            name = _canon(cname.records[0])
            if name in seen:
                return reply
            continue
        for rr in _negative_soa(view):
            reply.add_auth(rr)
        return reply
    return reply


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, source: ZoneSource) -> None:
        self._source = source

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        try:
            return answer_query(request, self._source.published_zones())
        except Exception:
            # A broken store must not kill the server thread; answer SERVFAIL like any
            # name server whose backend failed, and keep the traceback in the log.
            LOG.exception("DNS: failed to answer %s", request.q)
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    """Send dnslib's per-packet chatter to :mod:`logging` at DEBUG instead of stdout."""

    def __init__(self) -> None:
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-data", prefix=False)

    def log_error(self, handler: Any, e: Exception) -> None:
        LOG.debug("DNS: invalid request from %s: %s", handler.client_address, e)


class LocalDnsServer:
    """UDP + TCP DNS server for the local cloud's Designate zones.

    :param source: where zones are read from at every query
    :param host: address to bind; loopback by default
    :param port: port for both UDP and TCP; ``0`` picks one that is free for both
    """

    def __init__(self, source: ZoneSource, host: str = "127.0.0.1", port: int = 0) -> None:
        self.source = source
        self.host = host
        self._requested_port = port
        self._servers: list[DNSServer] = []

    @property
    def port(self) -> int:
        """The port both sockets are bound to (after :meth:`start`)."""
        if not self._servers:
            raise RuntimeError("the DNS server is not started")
        return int(self._servers[0].server.server_address[1])

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def start(self) -> None:
        """Bind UDP and TCP on one port and serve from daemon threads."""
        if self._servers:
            return
        resolver = _Resolver(self.source)
        attempts = 1 if self._requested_port else 20
        last_error: OSError | None = None
        for _ in range(attempts):
            udp: DNSServer | None = None
            try:
                udp = DNSServer(
                    resolver,
                    address=self.host,
                    port=self._requested_port,
                    logger=_QuietLogger(),
                    server=_UDPServer,
                )
                port = int(udp.server.server_address[1])
                tcp = DNSServer(
                    resolver,
                    address=self.host,
                    port=port,
                    tcp=True,
                    logger=_QuietLogger(),
                    server=_TCPServer,
                )
            except OSError as exc:
                last_error = exc
                if udp is not None:
                    udp.server.server_close()
                continue
            self._servers = [udp, tcp]
            for server in self._servers:
                server.start_thread()
            LOG.info("DNS server listening on %s:%d (UDP and TCP)", self.host, port)
            return
        raise OSError(f"cannot bind the DNS server on {self.host}:{self._requested_port}: {last_error}")

    def stop(self) -> None:
        """Stop serving and close both sockets; harmless when not started."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.server.shutdown()
            server.server.server_close()


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    # No SO_REUSEADDR: on Linux it lets a second UDP socket bind the same port silently,
    # and two local clouds would then steal each other's queries.
    allow_reuse_address = False
    daemon_threads = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True  # TCP TIME_WAIT after a restart must not block the port
    daemon_threads = True
