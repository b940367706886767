"""How a person reaches a deployed name: the local DNS server's answer and ready-made commands.

``gateway-kit localcloud resolve NAME`` asks the local cloud's DNS server (the Designate zones;
``127.0.0.1:15353`` unless ``serve --dns-port`` said otherwise) for ``NAME``'s A records -- with
``--dataplane`` those are loopback addresses (floating IPs in ``127.64.0.0/16``) -- and prints what
a client needs, since the system resolver does not ask that server:

* ``curl --resolve NAME:PORT:ADDRESS`` (or ``--connect-to NAME:PORT:ADDRESS:REAL`` where the data
  plane serves a privileged port on ``10000 + PORT``, read from ``STATE_DIR/dataplane/ports.json``);
* Chromium's ``--host-resolver-rules="MAP NAME ADDRESS"`` (what the browser tests pass; a browser
  cannot remap a port, so a mapped port goes into the URL).
"""

from __future__ import annotations

import json
from pathlib import Path

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
