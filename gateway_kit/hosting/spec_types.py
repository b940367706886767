"""The deployment spec's types: frozen dataclasses (what :mod:`.spec` validates a TOML file
into), the limits they are checked against, and :func:`spec_from_json` (a stored spec back)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9]{0,19}$")
DNS_LABEL_RE = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS")
RULE_PROTOCOLS = ("tcp", "udp", "icmp")
MONITOR_TYPES = ("HTTP", "HTTPS", "TCP", "PING")
#: Where gateway_kit.certs.delivery puts the certificate: a TERMINATED_HTTPS listener on this port.
TLS_PORT = 443
#: A secret's name as templates use it (``${secret.<name>}``).
SECRET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Keypair:
    name: str
    public_key: str


@dataclass(frozen=True)
class Rule:
    protocol: str
    port_min: int | None
    port_max: int | None
    cidr: str

    @property
    def key(self) -> str:
        ports = "" if self.port_min is None else f"{self.port_min}-{self.port_max}"
        return f"{self.protocol}:{ports}:{self.cidr}"


@dataclass(frozen=True)
class Network:
    name: str
    external: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class VolumeSpec:
    size: int
    volume_type: str | None = None


@dataclass(frozen=True)
class Role:
    name: str
    count: int
    flavor: str
    image: str
    cloud_init: str | None
    floating_ip: bool
    volume: VolumeSpec | None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Volume:
    name: str
    size: int
    volume_type: str | None
    attach_to: str | None


@dataclass(frozen=True)
class Dns:
    zone: str
    ttl: int
    create_zone: bool
    email: str
    vm_records: bool
    lb_record: str | None
    aliases: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Listener:
    protocol: str
    port: int


@dataclass(frozen=True)
class HealthMonitor:
    type: str
    url_path: str
    delay: int
    timeout: int
    max_retries: int
    expected_codes: str


@dataclass(frozen=True)
class LoadBalancer:
    role: str
    algorithm: str
    member_port: int
    floating_ip: bool
    listeners: tuple[Listener, ...]
    health_monitor: HealthMonitor | None


@dataclass(frozen=True)
class Tls:
    """``[tls]``: a certificate for ``names`` (fully qualified, normalised), delivered by the
    certs feature to the load balancer's TERMINATED_HTTPS listener on ``listener_port``."""

    names: tuple[str, ...]
    listener_port: int = TLS_PORT
    staging: bool = False
    #: an L7 policy on each HTTP listener redirecting to ``https://<names[0]>`` (same path)
    redirect_http: bool = False


@dataclass(frozen=True)
class App:
    """``[app]``: what the kit's ``gateway-kit:web``/``worker`` templates install and run."""

    #: a pip requirement: the gateway project (which depends on gateway-kit), or gateway-kit
    requirement: str = "gateway-kit"
    index_url: str | None = None
    find_links: str | None = None
    #: a settings TOML file (relative to the spec), delivered as the VMs' instance gateway.toml
    settings: str | None = None
    #: the project's wheel (relative to the spec): the release, carried to the VMs in their user
    #: data and checked by SHA-256 there (:mod:`gateway_kit.hosting.releases`)
    wheel: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """A validated spec. ``base_dir`` resolves relative template paths."""

    name: str
    cloud: str | None
    network: Network
    roles: tuple[Role, ...]
    volumes: tuple[Volume, ...] = ()
    keypair: Keypair | None = None
    dns: Dns | None = None
    load_balancer: LoadBalancer | None = None
    tls: Tls | None = None
    #: where the operator's secrets come from: (name, "env:VAR" or "file:PATH"); the values
    #: themselves are never part of the spec
    secret_sources: tuple[tuple[str, str], ...] = ()
    app: App = App()
    base_dir: str = "."
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def role(self, name: str) -> Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def spec_from_json(data: dict[str, Any]) -> DeploymentSpec:
    """Rebuild a spec stored with :meth:`DeploymentSpec.to_json` (the deployment's record)."""
    net = data["network"]
    return DeploymentSpec(
        name=data["name"],
        cloud=data.get("cloud"),
        network=Network(net["name"], net["external"], tuple(Rule(**r) for r in net["rules"])),
        roles=tuple(
            Role(
                **{
                    **r,
                    "volume": VolumeSpec(**r["volume"]) if r.get("volume") else None,
                    "metadata": tuple(tuple(m) for m in r.get("metadata", ())),
                }
            )
            for r in data["roles"]
        ),
        volumes=tuple(Volume(**v) for v in data.get("volumes", ())),
        keypair=Keypair(**data["keypair"]) if data.get("keypair") else None,
        dns=Dns(**{**data["dns"], "aliases": tuple(tuple(a) for a in data["dns"]["aliases"])})
        if data.get("dns")
        else None,
        load_balancer=LoadBalancer(
            **{
                **data["load_balancer"],
                "listeners": tuple(Listener(**x) for x in data["load_balancer"]["listeners"]),
                "health_monitor": HealthMonitor(**data["load_balancer"]["health_monitor"])
                if data["load_balancer"].get("health_monitor")
                else None,
            }
        )
        if data.get("load_balancer")
        else None,
        tls=Tls(**{**data["tls"], "names": tuple(data["tls"]["names"])}) if data.get("tls") else None,
        secret_sources=tuple((str(n), str(s)) for n, s in data.get("secret_sources", ())),
        app=App(**data["app"]) if data.get("app") else App(),
        base_dir=data.get("base_dir", "."),
    )
