"""How a person reaches a deployed name: the local DNS server's answer and ready-made commands.

``gateway-kit localcloud resolve NAME`` asks the local cloud's DNS server (the Designate zones;
``127.0.0.1:15353`` unless ``serve --dns-port`` said otherwise) for ``NAME``'s A records -- with
``--dataplane`` those are loopback addresses (floating IPs in ``127.64.0.0/16``) -- and prints what
a client needs, since the system resolver does not ask that server:

* ``curl --resolve NAME:PORT:ADDRESS`` (or ``--connect-to NAME:PORT:ADDRESS:REAL`` where the data
  plane serves a privileged port on ``10000 + PORT``, read from ``STATE_DIR/dataplane/ports.json``);
* Chromium's ``--host-resolver-rules="MAP NAME ADDRESS"`` (what the browser tests pass; a browser
  cannot remap a port, so a mapped port goes into the URL).

The data plane's instances have the same problem: they are host processes using the host's
resolver. ``gateway-kit localcloud hostaddr ENV_FILE VARIABLE`` (:func:`pin_hostaddr`), run by an
instance's user data, asks the server named by ``INSTANCE_NAMESERVER`` for the host of a
PostgreSQL URL and adds libpq's ``hostaddr=`` to it: libpq connects to that address while the
name stays the URL's host. The kit's gateway template runs it for the database VM's name, on the
data plane only (a real cloud's VMs resolve the zone themselves).
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dns.exception
import dns.resolver

PORTS_FILE = "ports.json"


def resolve(name: str, server: str = "127.0.0.1", port: int = 15353, timeout: float = 5.0) -> list[str]:
    """The A records of ``name`` from the DNS server at ``server:port`` ([] when there are none).

    :raises OSError: the server does not answer.
    """
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(name, "A", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.exception.Timeout as exc:
        raise OSError(f"the DNS server at {server}:{port} does not answer") from exc
    return sorted(str(r.address) for r in answer)  # type: ignore[attr-defined]


def read_ports(dataplane_root: Path) -> dict[tuple[str, int], int]:
    """``(address, port)`` -> real port, as the data plane last wrote them."""
    try:
        items = json.loads((dataplane_root / PORTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {(str(i["address"]), int(i["port"])): int(i["actual"]) for i in items}


def write_ports(dataplane_root: Path, mapped: dict[tuple[str, int], int]) -> None:
    items = [{"address": a, "port": p, "actual": r} for (a, p), r in sorted(mapped.items())]
    tmp = dataplane_root / (PORTS_FILE + ".tmp")
    tmp.write_text(json.dumps(items, indent=1), encoding="utf-8")
    tmp.replace(dataplane_root / PORTS_FILE)


def hints(
    name: str, address: str, mapped: dict[tuple[str, int], int], ports: tuple[int, ...] = (80, 443)
) -> list[str]:
    """The lines to print for one name and address (pure)."""
    lines = [f"{name} A {address}"]
    for port in ports:
        scheme = "https" if port == 443 else "http"
        real = mapped.get((address, port))
        if real is not None:
            lines.append(f"  port {port} is served on {real} (the cloud could not bind {port})")
            lines.append(f"  curl --connect-to {name}:{port}:{address}:{real} {scheme}://{name}/")
        else:
            lines.append(f"  curl --resolve {name}:{port}:{address} {scheme}://{name}/")
    lines.append(f'  chromium --host-resolver-rules="MAP {name} {address}"')
    return lines


def with_hostaddr(url: str, address: str) -> str:
    """``url`` with its query's ``hostaddr`` set to ``address`` (pure)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "hostaddr"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("hostaddr", address)])))


def pin_hostaddr(
    env_file: Path,
    variable: str,
    nameserver: str,
    wait: float = 300.0,
    say: Callable[[str], None] = print,
) -> str | None:
    """Give ``variable``'s URL in ``env_file`` (``KEY=VALUE`` lines) a ``hostaddr=``: its host's
    address from the DNS server at ``nameserver`` (``HOST:PORT``), asked until it answers or
    ``wait`` seconds pass. The file is rewritten only when that changes it, keeping its mode;
    the URL (it holds a password) is never printed. Returns the address, or ``None`` when
    there is nothing to pin (no such variable, or its host is an address already).

    :raises OSError: the name has no address after ``wait`` seconds (the message says which).
    """
    text = env_file.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    index = next((i for i, line in enumerate(lines) if line.startswith(f"{variable}=")), None)
    if index is None:
        return None
    url = lines[index].split("=", 1)[1].strip()
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    server, _, port = nameserver.rpartition(":")
    deadline = time.monotonic() + wait
    addresses: list[str] = []
    while True:
        try:
            addresses = resolve(host, server, int(port), timeout=2.0)
        except (OSError, dns.exception.DNSException):  # not served yet (no zone: REFUSED)
            addresses = []
        if addresses or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if not addresses:
        raise OSError(f"{host} has no A record at {nameserver} after {wait:.0f} s")
    pinned = with_hostaddr(url, addresses[0])
    if pinned != url:
        lines[index] = f"{variable}={pinned}\n"
        tmp = env_file.with_name(env_file.name + ".hostaddr")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, env_file.stat().st_mode & 0o7777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(lines))
        tmp.replace(env_file)
    say(f"{host} is {addresses[0]} (the local cloud's DNS): {variable} connects there (hostaddr)")
    return addresses[0]
