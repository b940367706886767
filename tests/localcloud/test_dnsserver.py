"""The local cloud's DNS server answers what the Designate API holds (dnspython over UDP/TCP)."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from gateway_kit.localcloud.dnsserver import PublishedRecordset, PublishedZone, answer_query
from gateway_kit.localcloud.testing import RunningLocalCloud


def _ask(lc: RunningLocalCloud, name: str, rtype: str, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=lc.dns_port, timeout=2)


def _until(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def zone(lc: RunningLocalCloud):  # type: ignore[no-untyped-def]
    conn = lc.connect()
    zone = conn.dns.create_zone(name="dig.example.org.", email="joe@example.org", ttl=600)
    zone = conn.dns.wait_for_status(zone, "ACTIVE", interval=0.05, wait=10)
    rs = conn.dns.create_recordset(
        zone, name="www.dig.example.org.", type="A", records=["192.0.2.7"], ttl=120
    )
    conn.dns.wait_for_status(rs, "ACTIVE", interval=0.05, wait=10)
    return zone


@pytest.mark.parametrize("tcp", [False, True])
def test_a_record_over_udp_and_tcp(lc: RunningLocalCloud, zone, tcp: bool) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(lc, "www.dig.example.org.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    [rrset] = reply.answer
    assert [r.to_text() for r in rrset] == ["192.0.2.7"] and rrset.ttl == 120


def test_nxdomain_carries_soa(lc: RunningLocalCloud, zone) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(lc, "nothing.dig.example.org.", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority[0].rdtype == dns.rdatatype.SOA
    assert str(reply.authority[0].name) == "dig.example.org."


def test_other_type_is_nodata(lc: RunningLocalCloud, zone) -> None:  # type: ignore[no-untyped-def]
    reply = _ask(lc, "www.dig.example.org.", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == [] and reply.authority[0].rdtype == dns.rdatatype.SOA


def test_outside_our_zones_is_refused(lc: RunningLocalCloud, zone) -> None:  # type: ignore[no-untyped-def]
    assert _ask(lc, "example.com.", "A").rcode() == dns.rcode.REFUSED


def test_txt_appears_when_active_and_goes_on_delete(lc: RunningLocalCloud, zone) -> None:  # type: ignore[no-untyped-def]
    conn = lc.connect()
    rs = conn.dns.create_recordset(
        zone, name="_acme-challenge.dig.example.org.", type="TXT", records=['"token-123"'], ttl=60
    )
    reply = _until(lambda: _ask(lc, "_acme-challenge.dig.example.org.", "TXT").answer)
    assert reply[0][0].strings == (b"token-123",)
    assert conn.dns.get_recordset(rs, zone).status == "ACTIVE"
    conn.dns.delete_recordset(rs, zone)
    _until(lambda: _ask(lc, "_acme-challenge.dig.example.org.", "TXT").rcode() == dns.rcode.NXDOMAIN)


def test_pending_zone_is_not_served(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = conn.dns.create_zone(name="late.example.org.", email="joe@example.org")
    lc.extra["server"].cloud.hold("dns.zone", zone.id)  # keep it PENDING, deterministically
    assert _ask(lc, "late.example.org.", "SOA").rcode() == dns.rcode.REFUSED
    lc.extra["server"].cloud.release("dns.zone", zone.id)
    _until(lambda: _ask(lc, "late.example.org.", "SOA").answer)


def test_answer_query_cname_wildcard_delegation() -> None:
    zone = PublishedZone(
        "ex.org.",
        (
            PublishedRecordset("ex.org.", "SOA", 300, ("ns1.ex.org. h.ex.org. 1 3600 600 86400 60",)),
            PublishedRecordset("ex.org.", "NS", 300, ("ns1.ex.org.",)),
            PublishedRecordset("www.ex.org.", "A", 300, ("192.0.2.1",)),
            PublishedRecordset("alias.ex.org.", "CNAME", 300, ("www.ex.org.",)),
            PublishedRecordset("*.wild.ex.org.", "A", 300, ("192.0.2.9",)),
            PublishedRecordset("sub.ex.org.", "NS", 300, ("ns.elsewhere.net.",)),
        ),
    )
    from dnslib import DNSRecord

    reply = answer_query(DNSRecord.question("alias.ex.org", "A"), [zone])
    assert [str(r.rdata) for r in reply.rr] == ["www.ex.org.", "192.0.2.1"]
    reply = answer_query(DNSRecord.question("x.wild.ex.org", "A"), [zone])
    assert str(reply.rr[0].rname) == "x.wild.ex.org." and str(reply.rr[0].rdata) == "192.0.2.9"
    reply = answer_query(DNSRecord.question("a.sub.ex.org", "A"), [zone])
    assert reply.header.aa == 0 and str(reply.auth[0].rdata) == "ns.elsewhere.net."
    reply = answer_query(DNSRecord.question("none.ex.org", "A"), [zone])
    assert reply.header.rcode == 3 and reply.auth[0].ttl == 60  # min(SOA ttl, minimum)
