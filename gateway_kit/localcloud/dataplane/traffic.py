"""Sockets of the data plane: what listens on floating IPs (and load balancer VIPs), on one asyncio loop.

**Floating IPs.** The packaged seed's external network ``public`` has the subnet ``127.64.0.0/16``,
so a floating IP is a loopback address. While a floating IP is associated with a server's port,
the data plane listens on ``FLOATING_IP:P`` for every TCP port ``P`` that something listens on at
the port's fixed address (the instance's ``127.100.x.y``, found in ``/proc/net/tcp``) and
forwards each connection there, byte for byte.

**Security groups: what is enforced.** Only on connections to a floating IP (a client on this
machine reaching an instance "from outside"): the connection is accepted only when one of the
port's security groups has an *ingress*, *IPv4* rule whose protocol is ``tcp`` or any, whose port
range holds ``P`` (or is open) and whose ``remote_ip_prefix`` holds the client's address (the
loopback address it connects from, normally ``127.0.0.1``) or is unset. Rules with a
``remote_group_id`` match only traffic from ports in that group, never a client outside the cloud.
A port with ``port_security_enabled: false`` accepts everything. A refused connection is reset at
once (a real cloud drops the packets, so the client would wait for its timeout instead).
Ports for which no rule could match any client are not listened on at all (connection refused).
**Not enforced:** egress rules, UDP/ICMP, traffic between instances and connections made
straight to an instance's fixed ``127.100.x.y`` address (loopback cannot be filtered without root),
and a server bound to ``0.0.0.0`` (it is not reached through a floating IP: bind the instance
address, ``{{ v1.local_ipv4 }}``).

**Privileged ports.** Ports below 1024 are bound directly when the cloud may (root, or a lowered
``net.ipv4.ip_unprivileged_port_start``); otherwise port ``P`` is served on ``10000 + P`` at the same
address (the first free port above it if that one is taken), logged at start-up of the listener
and listed by :meth:`Traffic.mapped_ports` (``gateway-kit localcloud resolve`` prints it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway_kit.localcloud.store import Doc

log = logging.getLogger(__name__)

PRIVILEGED_OFFSET = 10000
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- security groups (pure) ---------------------------------------------------------------------


def rule_allows(rule: Doc, port: int, client: str | None) -> bool:
    """Whether one Neutron security group rule admits TCP to ``port`` from ``client``.

    ``client=None`` asks whether the rule could admit *some* client outside the cloud.
    """
    if rule.get("direction") != "ingress" or rule.get("ethertype", "IPv4") != "IPv4":
        return False
    if rule.get("protocol") not in (None, "", "tcp", "6", "any"):
        return False
    if rule.get("remote_group_id"):
        return False
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if low is not None and not int(low) <= port <= int(high if high is not None else low):
        return False
    prefix = rule.get("remote_ip_prefix")
    if not prefix or client is None:
        return True
    try:
        return ipaddress.ip_address(client) in ipaddress.ip_network(str(prefix), strict=False)
    except ValueError:
        return False


def port_allows(port_doc: Doc, rules: list[Doc], port: int, client: str | None) -> bool:
    """Whether a Neutron port's security groups admit TCP to ``port`` from ``client``."""
    if not port_doc.get("port_security_enabled", True):
        return True
    groups = set(port_doc.get("security_groups") or [])
    return any(rule_allows(r, port, client) for r in rules if r.get("security_group_id") in groups)


# -- /proc/net/tcp (pure parser) ---------------------------------------------------------------


def listening(text: str) -> dict[str, set[int]]:
    """IPv4 address -> TCP ports in LISTEN state, from the text of ``/proc/net/tcp``."""
    out: dict[str, set[int]] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":
            continue
        addr_hex, port_hex = fields[1].split(":")
        addr = socket.inet_ntoa(struct.pack("<I", int(addr_hex, 16)))
        out.setdefault(addr, set()).add(int(port_hex, 16))
    return out


def listening_now() -> dict[str, set[int]]:
    try:
        with open("/proc/net/tcp", encoding="ascii") as f:
            return listening(f.read())
    except OSError:
        return {}


# -- the loop --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """One thing to listen on: ``(address, port)`` served by ``key``'s handler."""

    address: str
    port: int
    key: str  # what serves it: changes of key rebind


@dataclass
class Counters:
    bytes_in: int = 0
    bytes_out: int = 0
    active: int = 0
    total: int = 0
    errors: int = 0


@dataclass
class _Bound:
    binding: Binding
    server: asyncio.Server
    actual_port: int


@dataclass
class Traffic:
    """An asyncio loop in a thread holding the data plane's listening sockets."""

    root: bool = False
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _bound: dict[tuple[str, int], _Bound] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def start(self) -> Traffic:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="localcloud-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            self.call(self._close_all(), timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()
        self._loop = None

    def call(self, coro: Awaitable[Any], timeout: float = 30) -> Any:
        """Run a coroutine on the loop from another thread and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a coroutine on the loop without waiting (its task is kept until it ends)."""

        async def keep() -> None:
            task = asyncio.ensure_future(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(keep(), self._loop)

    def apply(self, wanted: dict[Binding, Handler]) -> None:
        """Listen on exactly ``wanted`` (closing what is no longer wanted or changed key)."""
        self.call(self._apply(wanted))

    def mapped_ports(self) -> dict[tuple[str, int], int]:
        """``(address, port)`` -> the port actually listened on, where they differ."""
        return {k: b.actual_port for k, b in list(self._bound.items()) if b.actual_port != k[1]}

    def actual_port(self, address: str, port: int) -> int | None:
        bound = self._bound.get((address, port))
        return bound.actual_port if bound else None

    async def _apply(self, wanted: dict[Binding, Handler]) -> None:
        by_place = {(b.address, b.port): (b, h) for b, h in wanted.items()}
        for place, bound in list(self._bound.items()):
            if place not in by_place or by_place[place][0] != bound.binding:
                bound.server.close()
                del self._bound[place]
        for place, (binding, handler) in by_place.items():
            if place in self._bound:
                continue
            try:
                server, actual = await self._listen(binding, handler)
            except OSError as exc:
                log.warning("data plane: cannot listen on %s:%s (%s)", binding.address, binding.port, exc)
                continue
            self._bound[place] = _Bound(binding, server, actual)

    async def _listen(self, binding: Binding, handler: Handler) -> tuple[asyncio.Server, int]:
        try:
            server = await asyncio.start_server(handler, binding.address, binding.port, reuse_address=True)
            return server, binding.port
        except PermissionError:
            if binding.port >= 1024:
                raise
        for port in range(PRIVILEGED_OFFSET + binding.port, 65536):
            try:
                server = await asyncio.start_server(handler, binding.address, port, reuse_address=True)
            except OSError:
                continue
            log.warning(
                "data plane: cannot bind privileged port %s:%s without root; serving it on %s:%s",
                binding.address,
                binding.port,
                binding.address,
                port,
            )
            return server, port
        raise OSError(f"no free port for {binding.address}:{binding.port}")

    async def _close_all(self) -> None:
        for bound in self._bound.values():
            bound.server.close()
        self._bound.clear()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()


# -- byte pumps ------------------------------------------------------------------------------


async def pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    count: Callable[[int], None],
    idle: float | None = None,
) -> None:
    """Copy ``reader`` to ``writer`` until EOF (or ``idle`` seconds without data); half-close."""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), idle) if idle else await reader.read(65536)
            if not data:
                break
            count(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    server_r: asyncio.StreamReader,
    server_w: asyncio.StreamWriter,
    counters: Counters | None = None,
    idle: float | None = None,
) -> None:
    """Carry bytes both ways until both directions end; close both sides."""
    stats = counters or Counters()

    def count_in(n: int) -> None:
        stats.bytes_in += n

    def count_out(n: int) -> None:
        stats.bytes_out += n

    try:
        await asyncio.gather(
            pump(client_r, server_w, count_in, idle), pump(server_r, client_w, count_out, idle)
        )
    finally:
        for w in (client_w, server_w):
            w.close()
            with contextlib.suppress(OSError, ConnectionError):
                await w.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP reset (SO_LINGER 0): the client sees the refusal at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


def forwarder(
    target: str, port: int, allow: Callable[[str], bool], counters: Counters | None = None
) -> Handler:
    """A handler carrying each allowed connection to ``target:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        if not allow(str(peer[0])):
            log.info("data plane: security groups refuse %s to %s:%s", peer[0], target, port)
            reset(writer)
            return
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(target, port), 10)
        except (OSError, TimeoutError):
            reset(writer)
            return
        await splice(reader, writer, up_r, up_w, counters)

    return handle
