"""Load balancers on the data plane: listeners that carry traffic and health monitors that probe.

**Addresses.** When the data plane first sees a load balancer, its VIP gets a loopback address of
its own, ``127.101.<block>.y`` (see :func:`.instances.cloud_block`): the load balancer's
``vip_address``, its VIP port's fixed IP and the
floating IPs on that port follow (as a server's fixed IP becomes ``127.100.x.y`` at boot). Every
enabled listener of an enabled load balancer listens on the VIP address and on each floating IP
associated with the VIP port, at its ``protocol_port`` (ports below 1024 without root: see
:mod:`.traffic`).

**Protocols.** ``TCP`` and ``HTTPS`` (TLS passthrough) carry bytes to one member per connection.
``HTTP`` and ``TERMINATED_HTTPS`` (TLS ends here, with the certificate of
``default_tls_container_ref`` -- a Barbican PKCS#12 secret or certificate container -- and the
``sni_container_refs`` chosen by the client's SNI name) read each request's head, apply the
listener's L7 policies (by ``position``; all rules of a policy must match, and a policy without
rules matches nothing; ``HOST_NAME``, ``PATH``,
``FILE_TYPE``, ``HEADER``, ``COOKIE`` with ``EQUAL_TO``/``STARTS_WITH``/``ENDS_WITH``/``CONTAINS``/
``REGEX`` and ``invert``; actions ``REJECT`` -> 403, ``REDIRECT_TO_URL``, ``REDIRECT_PREFIX`` ->
``redirect_http_code`` (302 by default), ``REDIRECT_TO_POOL``), add ``insert_headers``
(``X-Forwarded-For``, ``X-Forwarded-Port``, ``X-Forwarded-Proto``), and forward the request with
``Connection: close`` so that each request is balanced on its own (the client's connection ends
with the response). No member available: ``503``, as HAProxy answers.

**Balancing.** Among the pool's enabled members with ``weight`` > 0 that are ``ONLINE`` (or every
enabled member when the pool has no enabled monitor), ``backup`` members only when no other is
up: ``ROUND_ROBIN`` (weights other than 0 count as equal), ``LEAST_CONNECTIONS`` (fewest
connections this data plane has open to it), ``SOURCE_IP`` (a hash of the client address). A
member that refuses the connection is skipped for the next one (HAProxy's ``redispatch``), so a
backend that stops answering costs no request that was not already in flight.
``connection_limit`` (-1: none): a connection beyond it waits for a free slot at most
``timeout_member_connect`` (HAProxy queues it), then it is reset; ``timeout_member_connect`` bounds
the connection to a member, ``timeout_client_data``/``timeout_member_data`` end a side idle that
long. A disabled load balancer, listener, pool or member carries nothing. ``/stats`` of a
listener or load balancer counts the real bytes and connections (``request_errors``: requests
answered by the load balancer itself with 4xx/5xx).

**Health monitors** probe each enabled member of their pool from the data plane: ``HTTP``/
``HTTPS`` send ``http_method url_path`` (``HTTP/1.0``, or 1.1 with ``domain_name``) and accept
``expected_codes`` (``200``, ``200,202``, ``200-204``); ``TCP``, ``PING``, ``UDP-CONNECT`` and
``SCTP`` connect over TCP. ``max_retries`` successes in a row bring an ``ERROR`` member back to
``ONLINE``; ``max_retries_down`` failures in a row make it ``ERROR``; a member is ``OFFLINE`` until
its first verdict. ``delay`` and ``timeout`` are scaled by the cloud's clock (``clock.delay /
0.5``: real seconds with the default clock, a tenth in the test fixtures), with at least 0.2 s
between probes and 5 s per probe (a busy machine must not fail a probe; a stopped backend
refuses at once). The verdicts drive the API's ``operating_status`` and the pools'
roll-up. The member's security groups apply to probes and traffic alike (source: the VIP address).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.dataplane.http_rules import (
    NO_SERVER,
    expected,
    parse_head,
    response,
    rule_matches,
)
from gateway_kit.localcloud.dataplane.traffic import Binding, Counters, Handler, port_allows, reset, splice
from gateway_kit.localcloud.services.load_balancer.common import (
    HM,
    L7POLICY,
    L7RULE,
    LB,
    LISTENER,
    MEMBER,
    POOL,
)
from gateway_kit.localcloud.store import Doc

if TYPE_CHECKING:
    from gateway_kit.localcloud.dataplane.instances import DataPlane

log = logging.getLogger(__name__)

PORT = "network.port"
FLOATINGIP = "network.floatingip"
RULE = "network.security_group_rule"
VIP_KIND = "dataplane.vip"
VIP_PREFIX = (127, 101)
HTTPISH = ("HTTP", "TERMINATED_HTTPS")


def where(cloud: LocalCloud, kind: str, key: str, value: Any) -> list[Doc]:
    """The documents of ``kind`` whose ``key`` is ``value``."""
    return cloud.store.find(kind, lambda d: d.get(key) == value)


def vip_address_for(index: int, block: int = 0) -> str:
    third, fourth = divmod(index - 1, 254)
    return f"{VIP_PREFIX[0]}.{VIP_PREFIX[1]}.{(block + third) % 256}.{fourth + 1}"


def _ms(value: Any, default: float) -> float:
    return float(value) / 1000 if isinstance(value, int | float) and value > 0 else default


# -- views of the API state (rebuilt each pass; connections read the latest) -----------------------


@dataclass
class MemberView:
    id: str
    address: str
    port: int
    weight: int
    backup: bool
    sg_ok: bool


@dataclass
class PoolView:
    id: str
    algorithm: str
    monitored: bool
    members: list[MemberView]


@dataclass
class ListenerView:
    id: str
    lb_id: str
    protocol: str
    port: int
    default_pool: str | None
    pools: dict[str, PoolView]
    policies: list[tuple[Doc, list[Doc]]]
    insert_headers: dict[str, Any]
    connection_limit: int
    client_timeout: float
    connect_timeout: float
    member_timeout: float


@dataclass
class MonitorSpec:
    type: str
    address: str
    port: int
    delay: float
    timeout: float
    rise: int
    fall: int
    method: str
    path: str
    codes: str
    host: str
    version: str
    sg_ok: bool


@dataclass
class Health:
    spec: MonitorSpec
    task: asyncio.Task[Any] | None = None
    status: str | None = None
    ok: int = 0
    fail: int = 0


@dataclass
class Balancer:
    """The load balancers of one data plane (registered as a binder of :class:`DataPlane`)."""

    plane: DataPlane
    views: dict[str, ListenerView] = field(default_factory=dict)
    counters: dict[str, Counters] = field(default_factory=dict)
    health: dict[str, Health] = field(default_factory=dict)
    open_to: dict[str, int] = field(default_factory=dict)
    turns: dict[str, int] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    tls_dir: Path | None = None

    # -- called by the data plane's pass, under the cloud's lock ---------------------------------

    def bind(self, cloud: LocalCloud, wanted: dict[Binding, Handler]) -> None:
        lbs = cloud.store.all(LB)
        for lb in lbs:
            self._assign_vip(cloud, lb)
        rules = cloud.store.all(RULE)
        views: dict[str, ListenerView] = {}
        monitors: dict[str, MonitorSpec] = {}
        scale = max(float(getattr(cloud.config.clock, "delay", 0.5)) / 0.5, 0.01)
        for lb in lbs:
            if not lb.get("admin_state_up", True) or lb.get("provisioning_status") in (
                "PENDING_CREATE",
                "PENDING_DELETE",
                "DELETED",
                "ERROR",
            ):
                continue
            addresses = [str(lb["vip_address"])] + [
                str(f["floating_ip_address"])
                for f in where(cloud, FLOATINGIP, "port_id", lb.get("vip_port_id"))
            ]
            for listener in where(cloud, LISTENER, "loadbalancer_id", lb["id"]):
                if not listener.get("admin_state_up", True):
                    continue
                view = self._view(cloud, lb, listener, rules, monitors, scale)
                views[view.id] = view
                self.counters.setdefault(view.id, Counters())
                tls = self._tls_key(cloud, listener)
                key = f"listener {view.id} {view.protocol} {tls}"
                if key not in self.handlers:
                    self.handlers[key] = self._handler(view.id, listener if tls else None)
                for address in addresses:
                    wanted[Binding(address, view.port, key)] = self.handlers[key]
        self.views = views
        live_keys = {b.key for b in wanted}
        for key in [k for k in self.handlers if k not in live_keys]:
            del self.handlers[key]
        self.forget(cloud)
        self.plane.traffic.spawn(self._sync_monitors(monitors))

    def _assign_vip(self, cloud: LocalCloud, lb: Doc) -> None:
        rec = cloud.store.get(VIP_KIND, str(lb["id"]))
        if rec is None:
            used = {int(r["index"]) for r in cloud.store.all(VIP_KIND)}
            index = next(i for i in range(1, len(used) + 2) if i not in used)
            rec = {"id": lb["id"], "index": index, "address": vip_address_for(index, self.plane.block)}
            cloud.store.put(VIP_KIND, rec)
        if lb.get("vip_address") == rec["address"]:
            return
        lb["vip_address"] = rec["address"]
        cloud.store.put(LB, lb)
        port = cloud.store.get(PORT, str(lb.get("vip_port_id")))
        if port is not None and port.get("fixed_ips"):
            port["fixed_ips"][0] = {**port["fixed_ips"][0], "ip_address": rec["address"]}
            cloud.store.put(PORT, port)
            for fip in cloud.store.find(FLOATINGIP, lambda f: f.get("port_id") == port["id"]):
                fip["fixed_ip_address"] = rec["address"]
                cloud.store.put(FLOATINGIP, fip)

    def forget(self, cloud: LocalCloud) -> None:
        """Drop VIP records of load balancers that are gone."""
        live = {str(d["id"]) for d in cloud.store.all(LB)}
        for rec in cloud.store.all(VIP_KIND):
            if rec["id"] not in live:
                cloud.store.delete(VIP_KIND, rec["id"])

    def _view(
        self,
        cloud: LocalCloud,
        lb: Doc,
        listener: Doc,
        rules: list[Doc],
        monitors: dict[str, MonitorSpec],
        scale: float,
    ) -> ListenerView:
        pools: dict[str, PoolView] = {}
        pool_ids = {listener.get("default_pool_id")}
        sources = [str(lb["vip_address"])]
        subnet = cloud.store.get("network.subnet", str(lb.get("vip_subnet_id")))
        if subnet is not None and subnet.get("gateway_ip"):
            sources.append(str(subnet["gateway_ip"]))  # an address of the VIP subnet
        policies = []
        for pol in sorted(
            cloud.store.find(L7POLICY, lambda d: d.get("listener_id") == listener["id"]),
            key=lambda d: int(d.get("position") or 0),
        ):
            if not pol.get("admin_state_up", True):
                continue
            pol_rules = [
                r for r in where(cloud, L7RULE, "l7policy_id", pol["id"]) if r.get("admin_state_up", True)
            ]
            policies.append((pol, pol_rules))
            pool_ids.add(pol.get("redirect_pool_id"))
        for pool_id in filter(None, pool_ids):
            pool = cloud.store.get(POOL, str(pool_id))
            if pool is None or not pool.get("admin_state_up", True):
                continue
            hm = next(
                (h for h in where(cloud, HM, "pool_id", pool_id) if h.get("admin_state_up", True)),
                None,
            )
            members = []
            for m in where(cloud, MEMBER, "pool_id", pool_id):
                if not m.get("admin_state_up", True):
                    continue
                sg_ok = self._member_sg_ok(cloud, m, int(m["protocol_port"]), sources, rules)
                members.append(
                    MemberView(
                        str(m["id"]),
                        str(m["address"]),
                        int(m["protocol_port"]),
                        int(m.get("weight", 1) or 0),
                        bool(m.get("backup")),
                        sg_ok,
                    )
                )
                if hm is not None:
                    port = int(m.get("monitor_port") or m["protocol_port"])
                    address = str(m.get("monitor_address") or m["address"])
                    monitors[str(m["id"])] = MonitorSpec(
                        type=str(hm.get("type", "TCP")),
                        address=address,
                        port=port,
                        delay=max(0.2, float(hm.get("delay", 5)) * scale),
                        timeout=max(5.0, float(hm.get("timeout", 5)) * scale),
                        rise=max(1, int(hm.get("max_retries", 1))),
                        fall=max(1, int(hm.get("max_retries_down", 3))),
                        method=str(hm.get("http_method") or "GET"),
                        path=str(hm.get("url_path") or "/"),
                        codes=str(hm.get("expected_codes") or "200"),
                        host=str(hm.get("domain_name") or address),
                        version=str(hm.get("http_version") or "1.0"),
                        sg_ok=address != str(m["address"])
                        or self._member_sg_ok(cloud, m, port, sources, rules),
                    )
            pools[str(pool_id)] = PoolView(
                str(pool_id), str(pool.get("lb_algorithm", "ROUND_ROBIN")), hm is not None, members
            )
        return ListenerView(
            id=str(listener["id"]),
            lb_id=str(lb["id"]),
            protocol=str(listener["protocol"]),
            port=int(listener["protocol_port"]),
            default_pool=listener.get("default_pool_id"),
            pools=pools,
            policies=policies,
            insert_headers=dict(listener.get("insert_headers") or {}),
            connection_limit=int(
                listener.get("connection_limit", -1) if listener.get("connection_limit") is not None else -1
            ),
            client_timeout=_ms(listener.get("timeout_client_data"), 50.0),
            connect_timeout=_ms(listener.get("timeout_member_connect"), 5.0),
            member_timeout=_ms(listener.get("timeout_member_data"), 50.0),
        )

    @staticmethod
    def _member_sg_ok(
        cloud: LocalCloud, member: Doc, port: int, sources: list[str], rules: list[Doc]
    ) -> bool:
        """The security groups of the member's port (if it is a port of this cloud) admit the load
        balancer: from the VIP's loopback address or from the VIP subnet, where real amphorae are."""
        address = str(member["address"])

        def owns(p: Doc) -> bool:
            return any(ip.get("ip_address") == address for ip in p.get("fixed_ips", []))

        owner = next(iter(cloud.store.find(PORT, owns)), None)
        if owner is None:
            return True
        groups = set(owner.get("security_groups") or [])
        mine = [r for r in rules if r.get("security_group_id") in groups]
        return any(port_allows(owner, mine, port, source) for source in sources)

    # -- what the API reads --------------------------------------------------------------------

    def member_health(self, cloud: LocalCloud, member: Doc) -> str | None:
        state = self.health.get(str(member["id"]))
        if state is None:
            return "OFFLINE"
        return state.status or "OFFLINE"

    def stats(self, cloud: LocalCloud, kind: str, rid: str) -> dict[str, int] | None:
        if kind == LISTENER:
            ids = [rid]
        else:
            ids = [
                str(d["id"]) for d in cloud.store.find(LISTENER, lambda d: d.get("loadbalancer_id") == rid)
            ]
        total = Counters()
        for lid in ids:
            c = self.counters.get(lid)
            if c is not None:
                total.bytes_in += c.bytes_in
                total.bytes_out += c.bytes_out
                total.active += c.active
                total.total += c.total
                total.errors += c.errors
        return {
            "bytes_in": total.bytes_in,
            "bytes_out": total.bytes_out,
            "active_connections": total.active,
            "total_connections": total.total,
            "request_errors": total.errors,
        }

    # -- TLS -------------------------------------------------------------------------------------

    def _tls_key(self, cloud: LocalCloud, listener: Doc) -> str:
        if listener.get("protocol") != "TERMINATED_HTTPS":
            return ""
        refs = [listener.get("default_tls_container_ref"), *(listener.get("sni_container_refs") or [])]
        return hashlib.sha256(json.dumps(refs).encode()).hexdigest()[:12]

    def _load_cert(self, cloud: LocalCloud, project_id: str, ref: str) -> bytes:
        """The PEM certificate chain and key of a Barbican ref (PKCS#12 secret or container)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        from gateway_kit.localcloud.services import key_manager

        found = key_manager.lookup_ref(cloud, ref, project_id)
        if found is None:
            raise ValueError(f"certificate {ref} cannot be read")
        what, doc = found
        pem = b""
        if what == "secret":
            data = key_manager.secret_payload(doc) or b""
            key, cert, chain = pkcs12.load_key_and_certificates(data, None)
            if key is None or cert is None:
                raise ValueError(f"PKCS#12 bundle {ref} lacks a key or certificate")
            pem += cert.public_bytes(serialization.Encoding.PEM)
            for extra in chain or []:
                pem += extra.public_bytes(serialization.Encoding.PEM)
            pem += key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        else:
            parts = {r["name"]: r.get("secret_id") for r in doc.get("secret_refs", [])}
            for part in ("certificate", "intermediates", "private_key"):
                sid = parts.get(part)
                secret = cloud.store.get(key_manager.SECRET, str(sid)) if sid else None
                if secret is not None:
                    pem += (key_manager.secret_payload(secret) or b"").rstrip(b"\n") + b"\n"
        return pem

    def _context(self, pem: bytes) -> ssl.SSLContext:
        """A server context from PEM certificate(s) and key. ``load_cert_chain`` wants a file: the
        key is written to a 0600 file in the data plane's ``tls/`` folder and removed at once."""
        assert self.tls_dir is not None
        self.tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.NamedTemporaryFile(dir=self.tls_dir, suffix=".pem") as f:  # created 0600
            f.write(pem)
            f.flush()
            ctx.load_cert_chain(f.name)
        return ctx

    def _ssl_context(self, cloud: LocalCloud, listener: Doc) -> ssl.SSLContext:
        from cryptography import x509

        project = str(listener.get("project_id", ""))
        default = self._context(self._load_cert(cloud, project, str(listener["default_tls_container_ref"])))
        by_name: dict[str, ssl.SSLContext] = {}
        for ref in listener.get("sni_container_refs") or []:
            pem = self._load_cert(cloud, project, str(ref))
            ctx = self._context(pem)
            cert = x509.load_pem_x509_certificate(pem)
            names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
            with contextlib.suppress(x509.ExtensionNotFound):
                names += cert.extensions.get_extension_for_class(
                    x509.SubjectAlternativeName
                ).value.get_values_for_type(x509.DNSName)
            for host in names:
                by_name.setdefault(str(host).lower(), ctx)

        def pick(sock: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            if not server_name:
                return
            name = server_name.lower()
            chosen = by_name.get(name) or by_name.get("*." + name.split(".", 1)[-1])
            if chosen is not None:
                sock.context = chosen

        default.sni_callback = pick  # type: ignore[assignment]
        return default

    # -- connections -----------------------------------------------------------------------------

    def _handler(self, listener_id: str, tls_listener: Doc | None) -> Handler:
        ctx: ssl.SSLContext | None = None
        if tls_listener is not None:
            try:
                ctx = self._ssl_context(self.plane.cloud, tls_listener)
            except (ValueError, OSError, ssl.SSLError) as exc:
                log.warning("data plane: listener %s has no usable certificate: %s", listener_id, exc)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            view = self.views.get(listener_id)
            counters = self.counters.setdefault(listener_id, Counters())
            if view is None:
                reset(writer)
                return
            # Beyond connection_limit a connection waits for a free slot (HAProxy queues it), at
            # most timeout_member_connect, then it is reset.
            deadline = asyncio.get_running_loop().time() + view.connect_timeout
            while 0 <= view.connection_limit <= counters.active:
                if asyncio.get_running_loop().time() > deadline:
                    reset(writer)
                    return
                await asyncio.sleep(0.01)
            counters.active += 1
            counters.total += 1
            try:
                if view.protocol == "TERMINATED_HTTPS":
                    if ctx is None:
                        reset(writer)
                        return
                    await writer.start_tls(ctx)
                if view.protocol in HTTPISH:
                    await self._http(view, counters, reader, writer)
                else:
                    await self._tcp(view, counters, reader, writer)
            except (ConnectionError, TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
                writer.close()
            finally:
                counters.active -= 1

        return handle

    def _candidates(self, pool: PoolView, client: str) -> list[MemberView]:
        def up(m: MemberView) -> bool:
            if m.weight <= 0:
                return False
            if not pool.monitored:
                return True
            state = self.health.get(m.id)
            return state is not None and state.status == "ONLINE"

        live = [m for m in pool.members if up(m)]
        chosen = [m for m in live if not m.backup] or [m for m in live if m.backup]
        if not chosen:
            return []
        if pool.algorithm == "SOURCE_IP":
            start = zlib.crc32(client.encode()) % len(chosen)
        else:
            start = self.turns.get(pool.id, 0) % len(chosen)
            self.turns[pool.id] = start + 1
        ordered = chosen[start:] + chosen[:start]
        if pool.algorithm == "LEAST_CONNECTIONS":
            ordered.sort(key=lambda m: self.open_to.get(m.id, 0))
        return ordered

    async def _connect(
        self, view: ListenerView, pool: PoolView, client: str
    ) -> tuple[MemberView, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for member in self._candidates(pool, client):
            if not member.sg_ok:
                continue
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(member.address, member.port), view.connect_timeout
                )
            except (OSError, TimeoutError):
                continue  # redispatch to the next member
            return member, r, w
        return None

    async def _tcp(
        self,
        view: ListenerView,
        counters: Counters,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        pool = view.pools.get(str(view.default_pool))
        peer = (writer.get_extra_info("peername") or ("", 0))[0]
        found = await self._connect(view, pool, str(peer)) if pool else None
        if found is None:
            reset(writer)
            return
        member, up_r, up_w = found
        self.open_to[member.id] = self.open_to.get(member.id, 0) + 1
        try:
            await splice(
                reader, writer, up_r, up_w, counters, idle=max(view.client_timeout, view.member_timeout)
            )
        finally:
            self.open_to[member.id] -= 1

    async def _http(
        self,
        view: ListenerView,
        counters: Counters,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        peer = str((writer.get_extra_info("peername") or ("", 0))[0])
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), view.client_timeout)
            method, target, version, headers = parse_head(head[:-4])
        except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            counters.errors += 1
            writer.close()
            return
        counters.bytes_in += len(head)
        pool_id = view.default_pool
        for policy, rules in view.policies:
            if not rules or not all(rule_matches(r, headers, target) for r in rules):
                continue  # as in Octavia, a policy without rules matches nothing
            action = policy.get("action")
            code = int(policy.get("redirect_http_code") or 302)
            if action == "REJECT":
                await self._answer(writer, counters, response(403))
                return
            if action == "REDIRECT_TO_URL":
                await self._answer(
                    writer, counters, response(code, f"location: {policy['redirect_url']}\r\n")
                )
                return
            if action == "REDIRECT_PREFIX":
                location = str(policy["redirect_prefix"]).rstrip("/") + target
                await self._answer(writer, counters, response(code, f"location: {location}\r\n"))
                return
            if action == "REDIRECT_TO_POOL":
                pool_id = policy.get("redirect_pool_id")
                break
        pool = view.pools.get(str(pool_id))
        found = await self._connect(view, pool, peer) if pool else None
        if found is None:
            await self._answer(
                writer,
                counters,
                response(
                    503,
                    body=NO_SERVER,
                ),
            )
            return
        member, up_r, up_w = found
        kept = [
            (k, v) for k, v in headers if k.lower() not in ("connection", "keep-alive", "proxy-connection")
        ]
        proto = "https" if view.protocol == "TERMINATED_HTTPS" else "http"
        inserts = {k.lower(): str(v).lower() == "true" for k, v in view.insert_headers.items()}
        if inserts.get("x-forwarded-for"):
            kept.append(("X-Forwarded-For", peer))
        if inserts.get("x-forwarded-port"):
            kept.append(("X-Forwarded-Port", str(view.port)))
        if inserts.get("x-forwarded-proto"):
            kept.append(("X-Forwarded-Proto", proto))
        kept.append(("Connection", "close"))
        out = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept) + "\r\n"
        self.open_to[member.id] = self.open_to.get(member.id, 0) + 1
        try:
            up_w.write(out.encode("latin-1"))
            await up_w.drain()
            await splice(
                reader, writer, up_r, up_w, counters, idle=max(view.client_timeout, view.member_timeout)
            )
        finally:
            self.open_to[member.id] -= 1

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, counters: Counters, data: bytes) -> None:
        counters.errors += 1
        counters.bytes_out += len(data)
        writer.write(data)
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        writer.close()

    # -- health monitors ---------------------------------------------------------------------------

    async def _sync_monitors(self, wanted: dict[str, MonitorSpec]) -> None:
        for member_id, state in list(self.health.items()):
            if wanted.get(member_id) != state.spec:
                if state.task is not None:
                    state.task.cancel()
                if member_id not in wanted:
                    del self.health[member_id]
                else:
                    keep = state.status
                    self.health[member_id] = Health(wanted[member_id], status=keep)
                    self.health[member_id].task = asyncio.ensure_future(self._monitor(member_id))
        for member_id, spec in wanted.items():
            if member_id not in self.health:
                self.health[member_id] = Health(spec)
                self.health[member_id].task = asyncio.ensure_future(self._monitor(member_id))

    async def _monitor(self, member_id: str) -> None:
        while True:
            state = self.health.get(member_id)
            if state is None:
                return
            spec = state.spec
            ok = spec.sg_ok and await self._probe(spec)
            if self.health.get(member_id) is not state:
                return
            if ok:
                state.ok, state.fail = state.ok + 1, 0
                if state.status is None or (state.status != "ONLINE" and state.ok >= spec.rise):
                    state.status = "ONLINE"
            else:
                state.ok, state.fail = 0, state.fail + 1
                if state.status != "ERROR" and state.fail >= spec.fall:
                    state.status = "ERROR"
            await asyncio.sleep(spec.delay)

    @staticmethod
    async def _probe(spec: MonitorSpec) -> bool:
        try:
            tls = None
            if spec.type == "HTTPS":
                tls = ssl.create_default_context()
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE  # as Octavia's HTTPS monitor: no certificate check
            r, w = await asyncio.wait_for(
                asyncio.open_connection(spec.address, spec.port, ssl=tls), spec.timeout
            )
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        try:
            if spec.type not in ("HTTP", "HTTPS"):
                return True
            host = f"Host: {spec.host}\r\n" if spec.version == "1.1" else ""
            w.write(
                f"{spec.method} {spec.path} HTTP/{spec.version}\r\n{host}Connection: close\r\n\r\n".encode()
            )
            await w.drain()
            line = await asyncio.wait_for(r.readline(), spec.timeout)
            parts = line.decode("latin-1").split()
            return len(parts) >= 2 and parts[1].isdigit() and expected(spec.codes, int(parts[1]))
        except (OSError, TimeoutError, ssl.SSLError, ValueError):
            return False
        finally:
            w.close()


def attach(plane: DataPlane) -> Balancer:
    """Give ``plane`` load balancers that carry traffic (called by :func:`.instances.enable`)."""
    balancer = Balancer(plane, tls_dir=plane.root / "tls")
    plane.binders.append(balancer.bind)
    plane.cloud.extensions["octavia.member_health"] = balancer.member_health
    plane.cloud.extensions["octavia.stats"] = balancer.stats
    return balancer
