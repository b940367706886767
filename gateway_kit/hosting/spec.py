"""The deployment spec: a TOML file validated into frozen dataclasses.

A spec names everything a gateway's hosting needs (see ``deploy/examples/standard.toml``)::

    name = "standard"                 # the deployment; every resource is tagged with it
    cloud = "local"                   # clouds.yaml entry (default: the CLOUD_NAME setting)

    [keypair]                          # optional
    name = "standard-admin"
    public_key = "ssh-ed25519 AAAA..." # or public_key_file = "~/.ssh/id_ed25519.pub"

    [network]
    name = "private"                   # an existing project network
    external = "public"                # where floating IPs come from
    [[network.rules]]                  # ingress rules of the deployment's security group
    protocol = "tcp"
    port = 22                          # or port_range = [8000, 8100]
    cidr = "0.0.0.0/0"

    [roles.web]                        # a service role: `count` VMs
    count = 2
    flavor = "m3.small"
    image = "Featured-Ubuntu24"
    cloud_init = "gateway-kit:web"    # the kit's template, or a path relative to the spec file
    floating_ip = false
    [roles.web.volume]                 # one volume per VM of the role (optional)
    size = 20

    [volumes.datasets]                 # a standalone volume
    size = 100
    attach_to = "database"             # a role (its first VM) or a VM such as "database-1"

    [dns]
    zone = "gateway.example.org."      # must exist unless create_zone = true
    ttl = 300
    vm_records = true                  # an A record <role>-<n>.<zone> per VM
    lb_record = "www"                  # an A record for the load balancer's address
    [dns.aliases]                      # CNAMEs: alias -> target name in the zone
    portal = "www"

    [load_balancer]
    role = "web"                       # members: the role's VMs
    algorithm = "ROUND_ROBIN"
    member_port = 80
    floating_ip = true
    [[load_balancer.listeners]]
    protocol = "HTTP"
    port = 80
    [load_balancer.health_monitor]
    url_path = "/healthz"

    [tls]                              # optional: an ACME certificate on the load balancer, in a
                                       # TERMINATED_HTTPS listener whose pool <name>-tls-pool has
                                       # the same members and health monitor as <name>-pool
    names = ["www", "portal"]          # relative to [dns].zone (lb_record or aliases), or ending in '.'
    listener_port = 443                # the TERMINATED_HTTPS listener the certificate is delivered to
    staging = false                    # true: CERTS_STAGING_DIRECTORY_URL (ACME settings: CERTS_*)
    redirect_http = false              # true: the HTTP listeners redirect to https://<first name>

    [secrets]                          # optional: secrets the operator supplies; templates use
                                       # ${secret.<name>}; secret_key, encryption_key and db_password
                                       # are generated when not listed here
    oidc_client_secret = "env:OIDC_CLIENT_SECRET"
    smtp_password = "file:secrets/smtp"   # relative to the spec file

:func:`load_spec` reads and validates a file; every problem is reported at once as a
:class:`~gateway_kit.errors.ValidationError` whose entries name the field (``roles.web.flavour:
unknown key; did you mean 'flavor'?``).
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..certs.errors import BadName
from ..certs.names import normalise
from ..errors import ValidationError
from . import cloudinit

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9]{0,19}$")
DNS_LABEL_RE = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS")
RULE_PROTOCOLS = ("tcp", "udp", "icmp")
MONITOR_TYPES = ("HTTP", "HTTPS", "TCP", "PING")
#: Where gateway_kit.certs.delivery puts the certificate: a TERMINATED_HTTPS listener on this port.
TLS_PORT = 443


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


# -- validation ------------------------------------------------------------------------------


class _Checker:
    """Collects every problem (field path + message) instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def table(
        self, data: Any, path: str, allowed: Mapping[str, str], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Check ``data`` is a table with only ``allowed`` keys (name -> expected description)."""
        if not isinstance(data, dict):
            self.error(path or "(top level)", "expected a table")
            return {}
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else (f"; valid keys: {', '.join(sorted(allowed))}")
                )
                self.error(_join(path, key), f"unknown key{hint}")
        for key in required:
            if key not in data:
                self.error(_join(path, key), f"required ({allowed[key]})")
        return data

    def string(
        self,
        data: dict[str, Any],
        path: str,
        key: str,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
        choices: tuple[str, ...] = (),
    ) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.error(_join(path, key), f"expected {what}, got {value!r}")
            return default
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.error(_join(path, key), f"{value!r} is not one of {', '.join(choices)}{hint}")
            return default
        if pattern is not None and not pattern.match(value):
            self.error(_join(path, key), f"{value!r} is not {what}")
            return default
        return value

    def integer(
        self,
        data: dict[str, Any],
        path: str,
        key: str,
        default: int | None,
        minimum: int = 0,
        maximum: int | None = None,
    ) -> int | None:
        value = data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(_join(path, key), f"expected an integer, got {value!r}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            rng = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            self.error(_join(path, key), f"{value} is out of range ({rng})")
            return default
        return value

    def boolean(self, data: dict[str, Any], path: str, key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.error(_join(path, key), f"expected true or false, got {value!r}")
            return default
        return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_TOP = {
    "name": "deployment name",
    "cloud": "clouds.yaml entry",
    "keypair": "table",
    "network": "table",
    "roles": "table of roles",
    "volumes": "table of volumes",
    "dns": "table",
    "load_balancer": "table",
    "tls": "table",
    "secrets": "table of secret sources",
    "app": "table: requirement, index_url, find_links, settings",
}
#: A secret's name as templates use it (``${secret.<name>}``).
SECRET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def parse_spec(data: dict[str, Any], base_dir: Path | str = ".") -> DeploymentSpec:
    """Validate a parsed TOML document; raise :class:`ValidationError` listing every problem."""
    c = _Checker()
    top = c.table(data, "", _TOP, required=("name", "network", "roles"))
    name = (
        c.string(
            top,
            "",
            "name",
            pattern=NAME_RE,
            what="a deployment name (lower-case letters, digits and '-', starting with a "
            "letter, at most 31 characters)",
        )
        or "invalid"
    )
    cloud = c.string(top, "", "cloud")
    keypair = _keypair(c, top.get("keypair"), Path(base_dir)) if "keypair" in top else None
    network = _network(c, top.get("network", {}))
    roles = _roles(c, top.get("roles", {}))
    role_names = {r.name for r in roles}
    vm_names = {f"{r.name}-{i}" for r in roles for i in range(1, r.count + 1)}
    volumes = _volumes(c, top.get("volumes", {}), role_names, vm_names)
    dns = _dns(c, top["dns"]) if "dns" in top else None
    lb = _load_balancer(c, top["load_balancer"], role_names) if "load_balancer" in top else None
    tls = _tls(c, top["tls"], dns, lb) if "tls" in top else None
    secret_sources = _secrets(c, top["secrets"]) if "secrets" in top else ()
    app = _app(c, top["app"], Path(base_dir)) if "app" in top else App()
    if lb is not None and tls is None and any(li.protocol == "TERMINATED_HTTPS" for li in lb.listeners):
        c.error(
            "load_balancer.listeners",
            "a TERMINATED_HTTPS listener needs a certificate: remove it and add a [tls] table "
            "(the certificate's delivery creates the listener on port 443)",
        )
    if dns is not None and dns.lb_record and lb is None:
        c.error("dns.lb_record", "needs a [load_balancer] table")
    if dns is not None:
        names = {f"{r.name}-{i}" for r in roles for i in range(1, r.count + 1)} if dns.vm_records else set()
        if dns.lb_record:
            names.add(dns.lb_record)
        for alias, target in dns.aliases:
            if alias in names:
                c.error(f"dns.aliases.{alias}", "clashes with an A record of the deployment")
            if target not in names and not target.endswith("."):
                c.error(
                    f"dns.aliases.{alias}",
                    f"target {target!r} is not a record of the deployment "
                    f"({', '.join(sorted(names)) or 'none'}); end it with '.' for an outside name",
                )
    if c.errors:
        raise ValidationError(
            c.errors,
            "The deployment spec is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in c.errors),
        )
    return DeploymentSpec(
        name=name,
        cloud=cloud,
        network=network,
        roles=roles,
        volumes=volumes,
        keypair=keypair,
        dns=dns,
        load_balancer=lb,
        tls=tls,
        secret_sources=secret_sources,
        app=app,
        base_dir=str(base_dir),
    )


_APP_KEYS = {
    "requirement": "a pip requirement (your gateway project, or gateway-kit)",
    "index_url": "a package index URL",
    "find_links": "a folder or URL of wheels",
    "settings": "a settings TOML file, relative to the spec",
}


def _app(c: _Checker, data: Any, base_dir: Path) -> App:
    t = c.table(data, "app", _APP_KEYS)
    requirement = c.string(t, "app", "requirement") or "gateway-kit"
    if requirement.startswith("-") or any(ch in requirement for ch in "\n\r'\\"):
        c.error("app.requirement", "expected one pip requirement such as 'my-portal==1.2' (no options)")
    settings = c.string(t, "app", "settings")
    if settings is not None:
        path = base_dir / settings
        try:
            tomllib.loads(path.read_text())
        except OSError as exc:
            c.error("app.settings", f"cannot read {path} ({exc.strerror})")
        except tomllib.TOMLDecodeError as exc:
            c.error("app.settings", f"{path} is not valid TOML: {exc}")
    return App(
        requirement=requirement,
        index_url=c.string(t, "app", "index_url"),
        find_links=c.string(t, "app", "find_links"),
        settings=settings,
    )


def _secrets(c: _Checker, data: Any) -> tuple[tuple[str, str], ...]:
    """``[secrets]``: ``oidc_client_secret = "env:OIDC_SECRET"`` or ``"file:secrets/smtp"``."""
    if not isinstance(data, dict):
        c.error("secrets", 'expected a table of name = "env:VARIABLE" or "file:PATH"')
        return ()
    out: list[tuple[str, str]] = []
    for name, source in sorted(data.items()):
        p = f"secrets.{name}"
        if not SECRET_NAME_RE.match(name):
            c.error(p, "secret names are lower-case letters, digits and '_', starting with a letter")
        elif not isinstance(source, str) or not source.startswith(("env:", "file:")) or len(source) < 5:
            c.error(
                p,
                'expected "env:VARIABLE" (the operator\'s environment) or "file:PATH" (relative to the spec)',
            )
        else:
            out.append((name, source))
    return tuple(out)


def _keypair(c: _Checker, data: Any, base_dir: Path) -> Keypair | None:
    t = c.table(
        data,
        "keypair",
        {"name": "a keypair name", "public_key": "an OpenSSH public key", "public_key_file": "a path"},
        required=("name",),
    )
    name = c.string(t, "keypair", "name")
    key = c.string(t, "keypair", "public_key")
    path = c.string(t, "keypair", "public_key_file")
    if key and path:
        c.error("keypair.public_key_file", "give public_key or public_key_file, not both")
    if path and not key:
        file = base_dir / Path(path).expanduser()
        try:
            key = file.read_text().strip()
        except OSError as exc:
            c.error("keypair.public_key_file", f"cannot read {file}: {exc.strerror}")
    if not key and not path:
        c.error("keypair.public_key", "required (or public_key_file)")
    if key and not re.match(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-\S+|sk-\S+) [A-Za-z0-9+/=]+", key):
        c.error("keypair.public_key", "is not an OpenSSH public key ('ssh-ed25519 AAAA...')")
    if name is None or key is None:
        return None
    return Keypair(name=name, public_key=key)


def _network(c: _Checker, data: Any) -> Network:
    t = c.table(
        data,
        "network",
        {
            "name": "an existing network's name or id",
            "external": "the external network for floating IPs",
            "rules": "an array of tables",
        },
        required=("name",),
    )
    name = c.string(t, "network", "name") or "private"
    external = c.string(t, "network", "external", default="public") or "public"
    rules: list[Rule] = []
    raw = t.get("rules", [])
    if not isinstance(raw, list):
        c.error("network.rules", "expected an array of tables ([[network.rules]])")
        raw = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        p = _join("network.rules", i)
        r = c.table(
            item,
            p,
            {"protocol": "tcp, udp or icmp", "port": "a port", "port_range": "[min, max]", "cidr": "a CIDR"},
        )
        proto = c.string(r, p, "protocol", default="tcp", choices=RULE_PROTOCOLS) or "tcp"
        cidr = c.string(r, p, "cidr", default="0.0.0.0/0") or "0.0.0.0/0"
        try:
            cidr = str(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            c.error(_join(p, "cidr"), f"{cidr!r} is not a CIDR such as 0.0.0.0/0")
        pmin: int | None = None
        pmax: int | None = None
        if "port" in r and "port_range" in r:
            c.error(_join(p, "port_range"), "give port or port_range, not both")
        elif "port" in r:
            pmin = pmax = c.integer(r, p, "port", None, 1, 65535)
        elif "port_range" in r:
            pr = r["port_range"]
            if (
                not isinstance(pr, list)
                or len(pr) != 2
                or not all(isinstance(x, int) and 1 <= x <= 65535 for x in pr)
                or pr[0] > pr[1]
            ):
                c.error(
                    _join(p, "port_range"), f"expected [min, max] with 1 <= min <= max <= 65535, got {pr!r}"
                )
            else:
                pmin, pmax = pr
        elif proto != "icmp":
            c.error(_join(p, "port"), f"required for {proto} (or port_range)")
        rule = Rule(proto, pmin, pmax, cidr)
        if rule.key in seen:
            c.error(p, "duplicates an earlier rule")
        seen.add(rule.key)
        rules.append(rule)
    return Network(name=name, external=external, rules=tuple(rules))


_ROLE_KEYS = {
    "count": "number of VMs",
    "flavor": "a flavor name",
    "image": "an image name or id",
    "cloud_init": "a Jinja2 cloud-init template (a path, or gateway-kit:<name> for the kit's own)",
    "floating_ip": "true or false",
    "volume": "a table with size",
    "metadata": "a table of strings",
}


def _roles(c: _Checker, data: Any) -> tuple[Role, ...]:
    if not isinstance(data, dict) or not data:
        c.error("roles", "expected at least one [roles.<name>] table")
        return ()
    roles: list[Role] = []
    for rname, raw in data.items():
        p = f"roles.{rname}"
        if not ROLE_RE.match(rname):
            c.error(p, "role names are lower-case letters and digits, at most 20, starting with a letter")
        t = c.table(raw, p, _ROLE_KEYS, required=("flavor", "image"))
        count = c.integer(t, p, "count", 1, 0, 100)
        flavor = c.string(t, p, "flavor") or ""
        image = c.string(t, p, "image") or ""
        ci = c.string(t, p, "cloud_init")
        builtin = (ci or "").removeprefix(cloudinit.PREFIX)
        if ci and ci.startswith(cloudinit.PREFIX) and builtin not in cloudinit.names():
            known = ", ".join(cloudinit.PREFIX + n for n in cloudinit.names())
            c.error(f"{p}.cloud_init", f"the kit has no template {ci!r}; it has {known}")
        fip = c.boolean(t, p, "floating_ip", False)
        vol: VolumeSpec | None = None
        if "volume" in t:
            vt = c.table(
                t["volume"], f"{p}.volume", {"size": "GiB", "type": "a volume type"}, required=("size",)
            )
            size = c.integer(vt, f"{p}.volume", "size", 1, 1, 65536) or 1
            vol = VolumeSpec(size=size, volume_type=c.string(vt, f"{p}.volume", "type"))
        meta: list[tuple[str, str]] = []
        if "metadata" in t:
            if not isinstance(t["metadata"], dict) or not all(
                isinstance(v, str) for v in t["metadata"].values()
            ):
                c.error(f"{p}.metadata", "expected a table of strings")
            else:
                meta = sorted(t["metadata"].items())
        roles.append(
            Role(
                name=rname,
                count=count or 0,
                flavor=flavor,
                image=image,
                cloud_init=ci,
                floating_ip=fip,
                volume=vol,
                metadata=tuple(meta),
            )
        )
    return tuple(roles)


def _volumes(c: _Checker, data: Any, roles: set[str], vms: set[str]) -> tuple[Volume, ...]:
    if not isinstance(data, dict):
        c.error("volumes", "expected [volumes.<name>] tables")
        return ()
    out: list[Volume] = []
    for vname, raw in data.items():
        p = f"volumes.{vname}"
        if not ROLE_RE.match(vname):
            c.error(p, "volume names are lower-case letters and digits, starting with a letter")
        t = c.table(
            raw,
            p,
            {"size": "GiB", "type": "a volume type", "attach_to": "a role or a VM such as web-1"},
            required=("size",),
        )
        size = c.integer(t, p, "size", 1, 1, 65536) or 1
        attach = c.string(t, p, "attach_to")
        if attach is not None and attach not in roles and attach not in vms:
            choices = sorted(roles | vms)
            close = difflib.get_close_matches(attach, choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            c.error(
                _join(p, "attach_to"),
                f"{attach!r} is neither a role nor a VM of this deployment ({', '.join(choices)}){hint}",
            )
        out.append(Volume(name=vname, size=size, volume_type=c.string(t, p, "type"), attach_to=attach))
    return tuple(out)


def _dns(c: _Checker, data: Any) -> Dns:
    p = "dns"
    t = c.table(
        data,
        p,
        {
            "zone": "a zone name ending in '.'",
            "ttl": "seconds",
            "create_zone": "true or false",
            "email": "zone e-mail",
            "vm_records": "true or false",
            "lb_record": "a name in the zone",
            "aliases": "a table alias = target",
        },
        required=("zone",),
    )
    zone = c.string(t, p, "zone") or "invalid."
    if not zone.endswith("."):
        c.error("dns.zone", f"{zone!r} must end with '.' (a fully qualified zone such as 'example.org.')")
    ttl = c.integer(t, p, "ttl", 300, 1, 2147483647) or 300
    lb_record = c.string(t, p, "lb_record")
    if lb_record is not None and not DNS_LABEL_RE.match(lb_record):
        c.error("dns.lb_record", f"{lb_record!r} is not a DNS name relative to the zone")
    aliases: list[tuple[str, str]] = []
    raw = t.get("aliases", {})
    if not isinstance(raw, dict):
        c.error("dns.aliases", "expected a table of alias = target")
        raw = {}
    for alias, target in raw.items():
        if not DNS_LABEL_RE.match(alias):
            c.error(f"dns.aliases.{alias}", "is not a DNS name relative to the zone")
        if not isinstance(target, str) or not target:
            c.error(f"dns.aliases.{alias}", f"expected a target name, got {target!r}")
            continue
        aliases.append((alias, target))
    return Dns(
        zone=zone,
        ttl=ttl,
        create_zone=c.boolean(t, p, "create_zone", False),
        email=c.string(t, p, "email", default=f"hostmaster@{zone.rstrip('.')}") or "",
        vm_records=c.boolean(t, p, "vm_records", True),
        lb_record=lb_record,
        aliases=tuple(sorted(aliases)),
    )


def _load_balancer(c: _Checker, data: Any, roles: set[str]) -> LoadBalancer:
    p = "load_balancer"
    t = c.table(
        data,
        p,
        {
            "role": "the role whose VMs are members",
            "algorithm": "pool algorithm",
            "member_port": "port on the members",
            "floating_ip": "true or false",
            "listeners": "an array of tables",
            "health_monitor": "a table",
        },
        required=("role",),
    )
    role = c.string(t, p, "role") or ""
    if role and role not in roles:
        close = difflib.get_close_matches(role, sorted(roles), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        c.error(
            "load_balancer.role",
            f"{role!r} is not a role of this deployment ({', '.join(sorted(roles))}){hint}",
        )
    algorithm = c.string(t, p, "algorithm", default="ROUND_ROBIN", choices=ALGORITHMS) or "ROUND_ROBIN"
    member_port = c.integer(t, p, "member_port", 80, 1, 65535) or 80
    listeners: list[Listener] = []
    raw = t.get("listeners", [{"protocol": "HTTP", "port": 80}])
    if not isinstance(raw, list) or not raw:
        c.error("load_balancer.listeners", "expected at least one [[load_balancer.listeners]] table")
        raw = []
    ports: set[int] = set()
    for i, item in enumerate(raw):
        lp = _join("load_balancer.listeners", i)
        lt = c.table(item, lp, {"protocol": "HTTP, HTTPS, TCP, UDP", "port": "a port"}, required=("port",))
        proto = c.string(lt, lp, "protocol", default="HTTP", choices=LISTENER_PROTOCOLS) or "HTTP"
        port = c.integer(lt, lp, "port", None, 1, 65535)
        if port is not None:
            if port in ports:
                c.error(_join(lp, "port"), f"port {port} is used by another listener")
            ports.add(port)
            listeners.append(Listener(proto, port))
    hm: HealthMonitor | None = None
    if t.get("health_monitor", {}) is not False:
        hp = "load_balancer.health_monitor"
        ht = c.table(
            t.get("health_monitor", {}),
            hp,
            {
                "type": "HTTP, HTTPS, TCP, PING",
                "url_path": "a path",
                "delay": "seconds",
                "timeout": "seconds",
                "max_retries": "1..10",
                "expected_codes": "e.g. 200",
            },
        )
        url_path = c.string(ht, hp, "url_path", default="/healthz") or "/healthz"
        if not url_path.startswith("/"):
            c.error(_join(hp, "url_path"), f"{url_path!r} must start with '/'")
        delay = c.integer(ht, hp, "delay", 5, 1) or 5
        timeout = c.integer(ht, hp, "timeout", 3, 1) or 3
        if timeout > delay:
            c.error(_join(hp, "timeout"), f"must not exceed delay ({delay})")
        hm = HealthMonitor(
            type=c.string(ht, hp, "type", default="HTTP", choices=MONITOR_TYPES) or "HTTP",
            url_path=url_path,
            delay=delay,
            timeout=timeout,
            max_retries=c.integer(ht, hp, "max_retries", 3, 1, 10) or 3,
            expected_codes=c.string(ht, hp, "expected_codes", default="200") or "200",
        )
    return LoadBalancer(
        role=role,
        algorithm=algorithm,
        member_port=member_port,
        floating_ip=c.boolean(t, p, "floating_ip", False),
        listeners=tuple(listeners),
        health_monitor=hm,
    )


def _tls(c: _Checker, data: Any, dns: Dns | None, lb: LoadBalancer | None) -> Tls | None:
    p = "tls"
    t = c.table(
        data,
        p,
        {
            "names": "an array of names: relative to [dns].zone, or ending with '.'",
            "listener_port": f"the TERMINATED_HTTPS listener's port ({TLS_PORT})",
            "staging": "true or false",
            "redirect_http": "true or false",
        },
        required=("names",),
    )
    if not t:
        return None
    ours: set[str] = set()
    if dns is not None:
        ours = ({dns.lb_record} if dns.lb_record else set()) | {alias for alias, _ in dns.aliases}
    raw = t.get("names", [])
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) and n for n in raw):
        c.error("tls.names", f'expected a non-empty array of names such as ["www"], got {raw!r}')
        raw = []
    names: list[str] = []
    for i, name in enumerate(raw):
        np = _join("tls.names", i)
        if name.endswith("."):
            full = name
        elif dns is None:
            c.error(
                np, f"{name!r} is relative but the spec has no [dns] zone; give the full name ending with '.'"
            )
            continue
        else:
            if name not in ours:
                c.error(
                    np,
                    f"{name!r} is not a name of the deployment's load balancer (dns.lb_record and "
                    f"dns.aliases: {', '.join(sorted(ours)) or 'none'}); end it with '.' for a name "
                    "managed outside this spec",
                )
            full = f"{name}.{dns.zone}"
        try:
            fq = normalise(full)
        except BadName as exc:
            c.error(np, exc.user_message)
            continue
        if fq in names:
            c.error(np, f"{name!r} is listed twice")
            continue
        names.append(fq)
    port = c.integer(t, p, "listener_port", TLS_PORT, 1, 65535)
    if port is not None and port != TLS_PORT:
        c.error(
            "tls.listener_port",
            f"{port}: the certificate is delivered to the load balancer's TERMINATED_HTTPS listener "
            f"on port {TLS_PORT} (gateway_kit.certs.delivery); other ports are not supported",
        )
    staging = c.boolean(t, p, "staging", False)
    redirect = c.boolean(t, p, "redirect_http", False)
    if redirect and lb is not None and not any(li.protocol == "HTTP" for li in lb.listeners):
        c.error(
            "tls.redirect_http",
            "the load balancer has no HTTP listener to redirect; add one or remove redirect_http",
        )
    if lb is None:
        c.error(
            "tls",
            "needs a [load_balancer] table: the certificate is delivered to its TERMINATED_HTTPS listener",
        )
    else:
        for li in lb.listeners:
            if li.port == TLS_PORT:
                c.error(
                    "load_balancer.listeners",
                    f"port {TLS_PORT} belongs to [tls]: its TERMINATED_HTTPS listener is created by the "
                    "certificate's delivery; remove this listener",
                )
    return Tls(names=tuple(names), listener_port=TLS_PORT, staging=staging, redirect_http=redirect)


def load_spec(path: Path | str) -> DeploymentSpec:
    """Read and validate a spec file; errors name the file, the line (syntax) or the field."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ValidationError(
            [{"field": "(file)", "message": f"cannot read {file}: {exc.strerror}"}],
            f"Cannot read the deployment spec {file}: {exc.strerror}.",
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            [{"field": "(syntax)", "message": str(exc)}], f"{file} is not valid TOML: {exc}."
        ) from exc
    return parse_spec(data, file.resolve().parent)


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
