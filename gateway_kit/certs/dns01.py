"""DNS-01 challenges answered through Designate (openstacksdk), checked on the nameservers.

Lifecycle of one order's challenges (:class:`DesignateChallenges`):

1. :meth:`~DesignateChallenges.locate` maps each name to the TXT record to write: the zone of the
   project that holds ``_acme-challenge.<name>`` (found by walking up the name), or -- when that
   name is a CNAME, in Designate or in public DNS -- the zone of the CNAME's target (a
   *delegated* challenge). No zone: :class:`~gateway_kit.certs.errors.ZoneNotOwned`.
2. :meth:`~DesignateChallenges.publish` first records every value in ``certs_pending_challenges``
   (committed), then creates or extends the TXT recordsets;
3. :meth:`~DesignateChallenges.wait_visible` waits until each recordset is ``ACTIVE`` in
   Designate **and** its values are served by the zone's authoritative nameservers (or
   ``CERTS_DNS_NAMESERVERS``), up to ``CERTS_DNS_TIMEOUT``;
4. :meth:`~DesignateChallenges.cleanup` removes our values (deleting a recordset left empty)
   and the bookkeeping rows. It runs in a ``finally`` after every attempt, and
   :func:`cleanup_stale` runs it for rows a killed process left behind.

openstacksdk is imported where its exceptions are caught (as in :mod:`gateway_kit.cloud`): the
web app imports this module at start-up and needs openstacksdk only once it calls a cloud.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.resolver
from flask import Flask
from sqlalchemy import select

from ..db import db
from ..errors import CloudError
from .errors import CertError, DnsTimeout, ZoneNotOwned
from .models import PendingChallenge

log = logging.getLogger("gateway_kit.certs")

PREFIX = "_acme-challenge."
#: Pending rows of orders running in this process (never stale, whatever their owner says).
_ACTIVE: set[int] = set()


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _quote(value: str) -> str:
    return f'"{value}"'


def _unquote(record: str) -> str:
    return record.strip().strip('"')


def _suffixes(name: str) -> list[str]:
    labels = name.rstrip(".").split(".")
    return [".".join(labels[i:]) + "." for i in range(len(labels) - 1)]


@dataclass
class Target:
    """Where the TXT record for one identifier goes."""

    identifier: str  #: the certificate name (``*.`` stripped) being validated
    record_name: str  #: FQDN of the TXT recordset, trailing dot
    zone_id: str
    zone_name: str
    delegated: bool = False


@dataclass
class _Recordset:
    target: Target
    values: list[str] = field(default_factory=list)
    recordset_id: str = ""


class DesignateChallenges:
    """Challenge records of one order (see the module docstring for the lifecycle).

    :param app: the app (settings and database).
    :param conn: an openstacksdk connection.
    :param cloud: the clouds.yaml name of ``conn`` (recorded for cleanup by a later run).
    :param certificate: the certificate's handle, recorded with each pending row.
    """

    def __init__(self, app: Flask, conn: Any, cloud: str, certificate: str = "") -> None:
        self.app = app
        self.conn = conn
        self.cloud = cloud
        self.certificate = certificate
        self.timeout = float(app.config["CERTS_DNS_TIMEOUT"])
        self.interval = float(app.config["CERTS_DNS_POLL_INTERVAL"])
        self._sets: dict[str, _Recordset] = {}
        self._rows: list[int] = []

    # -- 1. where -----------------------------------------------------------------------------

    def _zone_for(self, name: str) -> Any | None:
        from openstack import exceptions as os_exc

        for candidate in _suffixes(name):
            try:
                zones = list(self.conn.dns.zones(name=candidate))
            except os_exc.SDKException as exc:
                raise CloudError(
                    "Designate is not reachable.", log_message=f"listing zones {candidate}: {exc}"
                ) from exc
            if zones:
                return zones[0]
        return None

    def _designate_cname(self, zone: Any, record_name: str) -> str | None:
        for rs in self.conn.dns.recordsets(zone, name=record_name, type="CNAME"):
            if rs.records:
                return _fqdn(str(rs.records[0]))
        return None

    def _dns_cname(self, record_name: str) -> str | None:
        try:
            answer = self._query(record_name, "CNAME")
        except (dns.exception.DNSException, OSError):
            return None
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == dns.name.from_text(record_name):
                return _fqdn(str(next(iter(rrset)).target))
        return None

    def locate(self, identifier: str) -> Target:
        """The TXT record for ``identifier`` (a name without ``*.``), following a delegation."""
        record_name = _fqdn(PREFIX + identifier)
        zone = self._zone_for(record_name)
        delegated_to = None
        if zone is not None:
            delegated_to = self._designate_cname(zone, record_name)
        else:
            delegated_to = self._dns_cname(record_name)
        if delegated_to is not None:
            target_zone = self._zone_for(delegated_to)
            if target_zone is None:
                raise ZoneNotOwned(
                    f"{record_name} is delegated (CNAME) to {delegated_to}, but no DNS zone of "
                    f"this project on cloud {self.cloud!r} holds {delegated_to}."
                )
            log.info("challenge for %s is delegated to %s", identifier, delegated_to)
            return Target(
                identifier, delegated_to, str(target_zone.id), str(target_zone.name), delegated=True
            )
        if zone is None:
            raise ZoneNotOwned(
                f"No DNS zone of this project on cloud {self.cloud!r} holds {identifier}: create "
                f"the zone in Designate, or delegate {record_name} with a CNAME to a name in a "
                "zone the project owns."
            )
        return Target(identifier, record_name, str(zone.id), str(zone.name))

    # -- 2. publish ---------------------------------------------------------------------------

    def publish(self, entries: Sequence[tuple[Target, str]]) -> None:
        """Write each ``(target, validation value)``; values for one record share a recordset."""
        for target, value in entries:
            rs = self._sets.setdefault(target.record_name, _Recordset(target))
            if value not in rs.values:
                rs.values.append(value)
        # Record first, write second: a crash between the two leaves a row whose record is
        # missing (cleanup ignores it), never a record nobody knows about.
        with db.session_scope(self.app) as sess:
            rows = [
                PendingChallenge(
                    cloud=self.cloud,
                    zone_id=rs.target.zone_id,
                    record_name=name,
                    value=value,
                    certificate_name=self.certificate,
                    owner=owner_id(),
                )
                for name, rs in self._sets.items()
                for value in rs.values
            ]
            sess.add_all(rows)
            sess.flush()
            self._rows = [r.id for r in rows]
        _ACTIVE.update(self._rows)
        for name, rs in self._sets.items():
            rs.recordset_id = self._write(rs.target.zone_id, name, rs.values)

    def _existing(self, zone_id: str, record_name: str) -> Any | None:
        for rs in self.conn.dns.recordsets(zone_id, name=record_name, type="TXT"):
            return rs
        return None

    def _write(self, zone_id: str, record_name: str, values: list[str]) -> str:
        from openstack import exceptions as os_exc

        try:
            existing = self._existing(zone_id, record_name)
            if existing is None:
                created = self.conn.dns.create_recordset(
                    zone_id,
                    name=record_name,
                    type="TXT",
                    ttl=60,
                    records=[_quote(v) for v in values],
                    description="ACME DNS-01 challenge (gateway-kit; removed after validation)",
                )
                return str(created.id)
            have = [str(r) for r in existing.records or []]
            add = [_quote(v) for v in values if _quote(v) not in have]
            if add:
                self._wait_active(existing)
                self.conn.dns.update_recordset(existing, records=have + add)
            return str(existing.id)
        except os_exc.ForbiddenException as exc:
            raise ZoneNotOwned(
                f"The project may not write records in the zone of {record_name}.",
                log_message=f"create TXT {record_name}: {exc}",
            ) from exc
        except os_exc.SDKException as exc:
            raise CloudError(
                f"Designate refused the challenge record {record_name}.",
                log_message=f"create TXT {record_name}: {exc}",
            ) from exc

    # -- 3. wait ------------------------------------------------------------------------------

    def _wait_active(self, rs: Any, deadline: float | None = None) -> Any:
        deadline = deadline or time.monotonic() + self.timeout
        while True:
            current = self.conn.dns.get_recordset(rs.id, rs.zone_id)
            if current.status == "ACTIVE":
                return current
            if current.status == "ERROR":
                raise CertError(
                    f"Designate put the challenge record {current.name} in ERROR.", reason="dns_error"
                )
            if time.monotonic() >= deadline:
                raise DnsTimeout(
                    f"The challenge record {current.name} stayed {current.status} in Designate "
                    f"for {self.timeout:.0f}s (CERTS_DNS_TIMEOUT); the DNS service may be "
                    "backed up. Nothing was sent to the certificate authority."
                )
            time.sleep(self.interval)

    def _nameservers(self, zone_id: str) -> list[tuple[str, int]]:
        configured = self.app.config["CERTS_DNS_NAMESERVERS"]
        if configured:
            out = []
            for item in configured:
                host, _, port = str(item).rpartition(":")
                out.append((host.strip("[]"), int(port)))
            return out
        addresses: list[tuple[str, int]] = []
        for rs in self.conn.dns.recordsets(zone_id, type="NS"):
            for host in rs.records or []:
                try:
                    for info in socket.getaddrinfo(str(host).rstrip("."), 53, proto=socket.IPPROTO_UDP):
                        addresses.append((str(info[4][0]), 53))
                except OSError:
                    log.warning("nameserver %s of zone %s does not resolve", host, zone_id)
        return addresses

    def _query(
        self, name: str, rdtype: str, servers: Iterable[tuple[str, int]] | None = None
    ) -> dns.message.Message:
        targets = list(servers) if servers is not None else self._nameservers_any()
        query = dns.message.make_query(name, rdtype)
        last: Exception | None = None
        for host, port in targets:
            try:
                return dns.query.udp(query, host, port=port, timeout=2.0)
            except (dns.exception.DNSException, OSError) as exc:
                last = exc
        if last is not None:
            raise last
        raise OSError("no nameserver to ask")

    def _nameservers_any(self) -> list[tuple[str, int]]:
        configured = self.app.config["CERTS_DNS_NAMESERVERS"]
        if configured:
            return self._nameservers("")
        resolver = dns.resolver.get_default_resolver()
        return [(str(ns), 53) for ns in resolver.nameservers]

    def _visible(self, record_name: str, values: list[str], servers: list[tuple[str, int]]) -> bool:
        """True when every server answers the TXT ``record_name`` with all ``values``."""
        if not servers:
            return False
        for server in servers:
            try:
                answer = self._query(record_name, "TXT", [server])
            except (dns.exception.DNSException, OSError):
                return False
            seen: set[str] = set()
            for rrset in answer.answer:
                if rrset.rdtype == dns.rdatatype.TXT:
                    for rdata in rrset:
                        seen.add(b"".join(rdata.strings).decode())
            if not set(values) <= seen:
                return False
        return True

    def wait_visible(self) -> None:
        """Wait until every recordset is ACTIVE and served; raise :class:`DnsTimeout` if not."""
        deadline = time.monotonic() + self.timeout
        for name, rs in self._sets.items():
            self._wait_active(self.conn.dns.get_recordset(rs.recordset_id, rs.target.zone_id), deadline)
            servers = self._nameservers(rs.target.zone_id)
            while not self._visible(name, rs.values, servers):
                if time.monotonic() >= deadline:
                    where = ", ".join(f"{h}:{p}" for h, p in servers) or "(no nameserver found)"
                    raise DnsTimeout(
                        f"The challenge record {name} is ACTIVE in Designate but was not served "
                        f"by the zone's nameservers ({where}) within {self.timeout:.0f}s "
                        "(CERTS_DNS_TIMEOUT). Nothing was sent to the certificate authority."
                    )
                time.sleep(self.interval)

    # -- 4. cleanup ---------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove this order's values and rows (errors are logged; the rows then stay)."""
        try:
            remove_rows(self.app, self.conn, self._rows)
        finally:
            _ACTIVE.difference_update(self._rows)
            self._rows = []


def remove_rows(app: Flask, conn: Any, row_ids: Sequence[int]) -> int:
    """Remove the TXT values of the given pending rows, then the rows; returns values removed."""
    from openstack import exceptions as os_exc

    if not row_ids:
        return 0
    with db.session_scope(app) as sess:
        rows = list(sess.scalars(select(PendingChallenge).where(PendingChallenge.id.in_(row_ids))))
        by_record: dict[tuple[str, str], list[PendingChallenge]] = {}
        for row in rows:
            by_record.setdefault((row.zone_id, row.record_name), []).append(row)
        removed = 0
        for (zone_id, record_name), group in by_record.items():
            try:
                _remove_values(
                    conn,
                    zone_id,
                    record_name,
                    {r.value for r in group},
                    float(app.config["CERTS_DNS_TIMEOUT"]),
                    float(app.config["CERTS_DNS_POLL_INTERVAL"]),
                )
            except (os_exc.SDKException, CertError) as exc:
                log.warning(
                    "could not remove challenge record %s (kept for the next run): %s", record_name, exc
                )
                continue
            removed += len(group)
            for row in group:
                sess.delete(row)
        return removed


def _remove_values(
    conn: Any, zone_id: str, record_name: str, values: set[str], timeout: float, interval: float
) -> None:
    from openstack import exceptions as os_exc

    try:
        sets = list(conn.dns.recordsets(zone_id, name=record_name, type="TXT"))
    except os_exc.NotFoundException:
        return  # the zone itself is gone
    deadline = time.monotonic() + timeout
    for rs in sets:
        keep = [str(r) for r in rs.records or [] if _unquote(str(r)) not in values]
        if len(keep) == len(rs.records or []):
            continue
        # Designate refuses (409) a change to a recordset with one in flight: wait it out.
        while rs.status == "PENDING" and time.monotonic() < deadline:
            time.sleep(interval)
            rs = conn.dns.get_recordset(rs.id, zone_id)
        if keep:
            conn.dns.update_recordset(rs, records=keep)
        else:
            conn.dns.delete_recordset(rs, zone=zone_id, ignore_missing=True)
        log.info("removed challenge record %s", record_name)


def owner_id() -> str:
    """``host:pid`` of this process (the owner recorded with pending rows)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str) -> bool:
    """Whether the process that wrote a row may still be running its order."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: only age tells (see cleanup_stale)
    if int(pid) == os.getpid():
        return False  # our own leftovers (an earlier order of this process that failed to clean)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(app: Flask, connect: Callable[[str], Any]) -> int:
    """Remove TXT values left by runs that did not finish (killed, crashed).

    A row is stale when the process that wrote it is gone (same host), or when it is older than
    the longest an order can take (``CERTS_DNS_TIMEOUT`` + ``CERTS_ACME_TIMEOUT``, doubled) --
    the case of a worker on another host that died.

    :param connect: callable ``cloud name -> openstacksdk connection``.
    :returns: the number of values removed.
    """
    from datetime import timedelta

    from .models import aware, utcnow

    longest = 2 * (float(app.config["CERTS_DNS_TIMEOUT"]) + float(app.config["CERTS_ACME_TIMEOUT"]))
    cutoff = utcnow() - timedelta(seconds=longest)
    with db.session_scope(app) as sess:
        rows = [(r.id, r.cloud, r.owner, aware(r.created_at)) for r in sess.scalars(select(PendingChallenge))]
    by_cloud: dict[str, list[int]] = {}
    for row_id, cloud, owner, created in rows:
        if row_id in _ACTIVE:
            continue
        if not _alive(owner) or (created is not None and created <= cutoff):
            by_cloud.setdefault(cloud, []).append(row_id)
    removed = 0
    for cloud, ids in by_cloud.items():
        removed += remove_rows(app, connect(cloud), ids)
    if removed:
        log.info("cleaned up %d challenge value(s) left by an earlier run", removed)
    return removed
