"""Checking the sections of a deployment spec (``[network]``, ``[roles.*]``, ``[dns]``, ...):
each ``check_*`` reads one table into its :mod:`.spec_types` dataclass, and records every
problem on a :class:`Checker` instead of stopping at the first. :func:`.spec.parse_spec` calls
them and checks what spans sections."""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..certs.errors import BadName
from ..certs.names import normalise
from . import cloudinit
from .spec_types import (
    ALGORITHMS,
    DNS_LABEL_RE,
    LISTENER_PROTOCOLS,
    MONITOR_TYPES,
    ROLE_RE,
    RULE_PROTOCOLS,
    SECRET_NAME_RE,
    TLS_PORT,
    App,
    Dns,
    HealthMonitor,
    Keypair,
    Listener,
    LoadBalancer,
    Network,
    Role,
    Rule,
    Tls,
    Volume,
    VolumeSpec,
)


class Checker:
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
                self.error(join(path, key), f"unknown key{hint}")
        for key in required:
            if key not in data:
                self.error(join(path, key), f"required ({allowed[key]})")
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
            self.error(join(path, key), f"expected {what}, got {value!r}")
            return default
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.error(join(path, key), f"{value!r} is not one of {', '.join(choices)}{hint}")
            return default
        if pattern is not None and not pattern.match(value):
            self.error(join(path, key), f"{value!r} is not {what}")
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
            self.error(join(path, key), f"expected an integer, got {value!r}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            rng = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            self.error(join(path, key), f"{value} is out of range ({rng})")
            return default
        return value

    def boolean(self, data: dict[str, Any], path: str, key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.error(join(path, key), f"expected true or false, got {value!r}")
            return default
        return value


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_APP_KEYS = {
    "requirement": "a pip requirement (your gateway project, or gateway-kit)",
    "index_url": "a package index URL",
    "find_links": "a folder or URL of wheels",
    "settings": "a settings TOML file, relative to the spec",
    "wheel": "the project's wheel file, relative to the spec (the release the VMs run)",
}


def check_app(c: Checker, data: Any, base_dir: Path) -> App:
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
    wheel = c.string(t, "app", "wheel")
    if wheel is not None and not (base_dir / wheel).is_file():
        c.error("app.wheel", f"{base_dir / wheel} is not a file (build it: `pip wheel --no-deps -w dist .`)")
    return App(
        requirement=requirement,
        index_url=c.string(t, "app", "index_url"),
        find_links=c.string(t, "app", "find_links"),
        settings=settings,
        wheel=wheel,
    )


def check_secrets(c: Checker, data: Any) -> tuple[tuple[str, str], ...]:
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


def check_keypair(c: Checker, data: Any, base_dir: Path) -> Keypair | None:
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


def check_network(c: Checker, data: Any) -> Network:
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
        p = join("network.rules", i)
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
            c.error(join(p, "cidr"), f"{cidr!r} is not a CIDR such as 0.0.0.0/0")
        pmin: int | None = None
        pmax: int | None = None
        if "port" in r and "port_range" in r:
            c.error(join(p, "port_range"), "give port or port_range, not both")
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
                    join(p, "port_range"), f"expected [min, max] with 1 <= min <= max <= 65535, got {pr!r}"
                )
            else:
                pmin, pmax = pr
        elif proto != "icmp":
            c.error(join(p, "port"), f"required for {proto} (or port_range)")
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


def check_roles(c: Checker, data: Any) -> tuple[Role, ...]:
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


def check_volumes(c: Checker, data: Any, roles: set[str], vms: set[str]) -> tuple[Volume, ...]:
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
                join(p, "attach_to"),
                f"{attach!r} is neither a role nor a VM of this deployment ({', '.join(choices)}){hint}",
            )
        out.append(Volume(name=vname, size=size, volume_type=c.string(t, p, "type"), attach_to=attach))
    return tuple(out)


def check_dns(c: Checker, data: Any) -> Dns:
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


def check_load_balancer(c: Checker, data: Any, roles: set[str]) -> LoadBalancer:
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
        lp = join("load_balancer.listeners", i)
        lt = c.table(item, lp, {"protocol": "HTTP, HTTPS, TCP, UDP", "port": "a port"}, required=("port",))
        proto = c.string(lt, lp, "protocol", default="HTTP", choices=LISTENER_PROTOCOLS) or "HTTP"
        port = c.integer(lt, lp, "port", None, 1, 65535)
        if port is not None:
            if port in ports:
                c.error(join(lp, "port"), f"port {port} is used by another listener")
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
            c.error(join(hp, "url_path"), f"{url_path!r} must start with '/'")
        delay = c.integer(ht, hp, "delay", 5, 1) or 5
        timeout = c.integer(ht, hp, "timeout", 3, 1) or 3
        if timeout > delay:
            c.error(join(hp, "timeout"), f"must not exceed delay ({delay})")
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


def check_tls(c: Checker, data: Any, dns: Dns | None, lb: LoadBalancer | None) -> Tls | None:
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
        np = join("tls.names", i)
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
