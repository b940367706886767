"""From a spec to desired resources, and from desired + recorded state to a plan.

Pure functions, no I/O: :func:`desired_resources` lists every cloud resource a spec asks for,
in dependency order, each with a stable *key* (``server:web-1``) and its properties. Properties
may refer to another resource's observed attributes as ``${server:web-1.address}``; the engine
resolves them once that resource exists. :func:`make_plan` compares the desired list with the
recorded resources (and, when refreshed, with what the cloud still holds) and returns the
changes, each one of ``create`` (+), ``update``/``resize``/``extend`` (~), ``replace`` (-/+)
and ``delete`` (-).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .releases import META_RELEASE, release_of, runs_release
from .spec import DeploymentSpec

#: Dependency order: creates go up, deletes go down.
RANK: dict[str, int] = {
    "zone": 0,
    "keypair": 1,
    "secgroup": 2,
    "volume": 3,
    "loadbalancer": 4,
    "pool": 5,
    "monitor": 6,
    "listener": 7,
    "l7policy": 8,
    "server": 9,
    "attachment": 10,
    "fip": 11,
    "member": 12,
    "lbfip": 13,
    "recordset": 14,
}
TAG = "gateway-kit"
META_DEPLOYMENT = "gateway_kit_deployment"
META_KEY = "gateway_kit_key"
META_DIGEST = "gateway_kit_digest"
UNKNOWN = "(known after apply)"
REF_RE = re.compile(r"^\$\{([^}]+)\.([a-z_]+)\}$")


def ref(key: str, attr: str) -> str:
    return f"${{{key}.{attr}}}"


@dataclass
class Desired:
    """One resource the spec asks for."""

    key: str
    kind: str
    name: str
    props: dict[str, Any]
    #: data needed to create but not compared (rendered user data)
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return RANK[self.kind]


@dataclass
class Change:
    action: str  # create, update, resize, extend, replace, delete, noop
    key: str
    kind: str
    detail: str = ""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return {"create": "+", "delete": "-", "replace": "-/+"}.get(self.action, "~")

    def line(self) -> str:
        return f"{self.symbol:>3} {self.key}  {self.action}{(': ' + self.detail) if self.detail else ''}"


@dataclass
class Plan:
    deployment: str
    changes: list[Change]

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "change": 0, "delete": 0}
        for c in self.changes:
            if c.action == "create":
                out["create"] += 1
            elif c.action == "delete":
                out["delete"] += 1
            else:
                out["change"] += 1
        return out

    def render(self) -> str:
        if self.empty:
            return f"Deployment {self.deployment}: no changes; the cloud matches the spec."
        lines = [f"Deployment {self.deployment}:"] + [c.line() for c in self.changes]
        n = self.counts()
        lines.append(f"Plan: {n['create']} to create, {n['change']} to change, {n['delete']} to delete.")
        return "\n".join(lines)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def vm_names(spec: DeploymentSpec) -> list[tuple[str, str, int]]:
    """``(vm, role, index)`` for every VM of the spec, e.g. ``("web-1", "web", 1)``."""
    return [(f"{r.name}-{i}", r.name, i) for r in spec.roles for i in range(1, r.count + 1)]


def desired_resources(
    spec: DeploymentSpec, render_user_data: Callable[[str, str, int], str] | None = None
) -> list[Desired]:
    """Every resource ``spec`` asks for, in creation order.

    :param render_user_data: ``(role, vm, index) -> cloud-init text``; without it servers carry no
        user data (used by tests of the plan alone).
    """
    dep = spec.name
    out: list[Desired] = []
    if spec.dns is not None and spec.dns.create_zone:
        out.append(
            Desired(
                "zone",
                "zone",
                spec.dns.zone,
                {"name": spec.dns.zone, "email": spec.dns.email, "ttl": spec.dns.ttl},
            )
        )
    if spec.keypair is not None:
        out.append(
            Desired(
                "keypair",
                "keypair",
                spec.keypair.name,
                {"name": spec.keypair.name, "public_key": spec.keypair.public_key},
            )
        )
    out.append(
        Desired(
            "secgroup", "secgroup", dep, {"name": dep, "rules": sorted(r.key for r in spec.network.rules)}
        )
    )
    for v in spec.volumes:
        out.append(
            Desired(f"volume:{v.name}", "volume", f"{dep}-{v.name}", {"size": v.size, "type": v.volume_type})
        )
    for vm, role_name, _i in vm_names(spec):
        role = spec.role(role_name)
        if role.volume is not None:
            out.append(
                Desired(
                    f"volume:{vm}",
                    "volume",
                    f"{dep}-{vm}-data",
                    {"size": role.volume.size, "type": role.volume.volume_type},
                )
            )
    lb = spec.load_balancer
    if lb is not None:
        out.append(Desired("lb", "loadbalancer", f"{dep}-lb", {"network": spec.network.name}))
        out.append(
            Desired(
                "pool",
                "pool",
                f"{dep}-pool",
                {
                    "lb": ref("lb", "id"),
                    "algorithm": lb.algorithm,
                    "protocol": _pool_protocol(lb.listeners[0].protocol),
                },
            )
        )
        if spec.tls is not None:
            # the TERMINATED_HTTPS listener's own default pool (Octavia: one pool, one listener)
            out.append(
                Desired(
                    TLS_POOL,
                    "pool",
                    tls_pool_name(spec),
                    {"lb": ref("lb", "id"), "algorithm": lb.algorithm, "protocol": "HTTP"},
                )
            )
        if lb.health_monitor is not None:
            hm = lb.health_monitor
            for pool_key, suffix in _pools(spec):
                out.append(
                    Desired(
                        "monitor" + suffix,
                        "monitor",
                        f"{dep}{'-tls' if suffix else ''}-hm",
                        {
                            "pool": ref(pool_key, "id"),
                            "type": hm.type,
                            "url_path": hm.url_path,
                            "delay": hm.delay,
                            "timeout": hm.timeout,
                            "max_retries": hm.max_retries,
                            "expected_codes": hm.expected_codes,
                        },
                    )
                )
        for li in lb.listeners:
            out.append(
                Desired(
                    f"listener:{li.protocol.lower()}-{li.port}",
                    "listener",
                    f"{dep}-{li.protocol.lower()}-{li.port}",
                    {
                        "lb": ref("lb", "id"),
                        "protocol": li.protocol,
                        "port": li.port,
                        "pool": ref("pool", "id"),
                    },
                )
            )
        if spec.tls is not None and spec.tls.redirect_http:
            for li in lb.listeners:
                if li.protocol == "HTTP":
                    out.append(
                        Desired(
                            f"l7policy:{li.protocol.lower()}-{li.port}",
                            "l7policy",
                            f"{dep}-{li.protocol.lower()}-{li.port}-to-https",
                            {
                                "listener": ref(f"listener:{li.protocol.lower()}-{li.port}", "id"),
                                "action": "REDIRECT_PREFIX",
                                "redirect_prefix": f"https://{spec.tls.names[0]}",
                            },
                        )
                    )
    release = ""
    for vm, role_name, index in vm_names(spec):
        role = spec.role(role_name)
        text = render_user_data(role_name, vm, index) if (render_user_data and role.cloud_init) else ""
        meta = dict(role.metadata)
        if text and runs_release(spec, role_name):
            release = release or release_of(spec)
            meta[META_RELEASE] = release
        out.append(
            Desired(
                f"server:{vm}",
                "server",
                f"{dep}-{vm}",
                {
                    "flavor": role.flavor,
                    "image": role.image,
                    "user_data": digest(text) if text else "",
                    "key_name": spec.keypair.name if spec.keypair else None,
                    "network": spec.network.name,
                    "secgroup": dep,
                    "metadata": meta,
                },
                payload={"user_data": text, "role": role_name, "index": index},
            )
        )
    for v in spec.volumes:
        if v.attach_to:
            target = v.attach_to if v.attach_to not in {r.name for r in spec.roles} else f"{v.attach_to}-1"
            out.append(
                Desired(
                    f"attachment:{v.name}",
                    "attachment",
                    v.name,
                    {"volume": ref(f"volume:{v.name}", "id"), "server": ref(f"server:{target}", "id")},
                )
            )
    for vm, role_name, _i in vm_names(spec):
        if spec.role(role_name).volume is not None:
            out.append(
                Desired(
                    f"attachment:{vm}",
                    "attachment",
                    f"{vm}-data",
                    {"volume": ref(f"volume:{vm}", "id"), "server": ref(f"server:{vm}", "id")},
                )
            )
    for vm, role_name, _i in vm_names(spec):
        if spec.role(role_name).floating_ip:
            out.append(
                Desired(
                    f"fip:{vm}",
                    "fip",
                    f"{dep}-{vm}",
                    {"port": ref(f"server:{vm}", "port_id"), "network": spec.network.external},
                )
            )
    if lb is not None:
        for pool_key, suffix in _pools(spec):
            for vm, role_name, _i in vm_names(spec):
                if role_name == lb.role:
                    out.append(
                        Desired(
                            f"member{suffix}:{vm}",
                            "member",
                            vm,
                            {
                                "pool": ref(pool_key, "id"),
                                "address": ref(f"server:{vm}", "address"),
                                "port": lb.member_port,
                            },
                        )
                    )
        if lb.floating_ip:
            out.append(
                Desired(
                    "fip:lb",
                    "lbfip",
                    f"{dep}-lb",
                    {"port": ref("lb", "vip_port_id"), "network": spec.network.external},
                )
            )
    if spec.dns is not None:
        d = spec.dns
        if d.vm_records:
            for vm, role_name, _i in vm_names(spec):
                addr = (
                    ref(f"fip:{vm}", "address")
                    if spec.role(role_name).floating_ip
                    else ref(f"server:{vm}", "address")
                )
                out.append(_record(spec, vm, "A", [addr]))
        if d.lb_record and lb is not None:
            addr = ref("fip:lb", "address") if lb.floating_ip else ref("lb", "vip_address")
            out.append(_record(spec, d.lb_record, "A", [addr]))
        for alias, target in d.aliases:
            fq = target if target.endswith(".") else f"{target}.{d.zone}"
            out.append(_record(spec, alias, "CNAME", [fq]))
    return out


#: The key of the pool behind the certificate's TERMINATED_HTTPS listener (spec with ``[tls]``).
TLS_POOL = "pool:tls"


def tls_pool_name(spec: DeploymentSpec) -> str:
    """The cloud name of the ``[tls]`` pool (what certs delivery sets as the listener's default)."""
    return f"{spec.name}-tls-pool"


def _pools(spec: DeploymentSpec) -> list[tuple[str, str]]:
    """``(pool key, key suffix)`` of each pool the web VMs are members of."""
    return [("pool", "")] + ([(TLS_POOL, ":tls")] if spec.tls is not None else [])


def _pool_protocol(listener_protocol: str) -> str:
    return {"TERMINATED_HTTPS": "HTTP"}.get(listener_protocol, listener_protocol)


def _record(spec: DeploymentSpec, name: str, rtype: str, records: list[str]) -> Desired:
    assert spec.dns is not None
    fqdn = f"{name}.{spec.dns.zone}"
    return Desired(
        f"record:{name}",
        "recordset",
        fqdn,
        {"zone": spec.dns.zone, "name": fqdn, "type": rtype, "records": records, "ttl": spec.dns.ttl},
    )


def resolve(value: Any, attrs: Mapping[str, Mapping[str, Any]], strict: bool = False) -> Any:
    """Replace ``${key.attr}`` references in ``value`` with recorded attributes."""
    if isinstance(value, str):
        m = REF_RE.match(value)
        if not m:
            return value
        found = attrs.get(m.group(1), {}).get(m.group(2))
        if found is None:
            if strict:
                raise KeyError(value)
            return UNKNOWN
        return found
    if isinstance(value, list):
        return [resolve(v, attrs, strict) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, attrs, strict) for k, v in value.items()}
    return value


def classify(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, str]:
    """The action that turns recorded props ``before`` into ``after`` (``noop`` if equal)."""
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if not changed:
        return "noop", ""
    desc = ", ".join(f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in changed)
    if kind == "server":
        if changed == ["flavor"]:
            return "resize", desc
        if set(changed) <= {"metadata"}:
            return "update", desc
        return "replace", desc
    if kind == "volume":
        if changed == ["size"]:
            if int(after["size"]) < int(before["size"]):
                raise ValidationError(
                    [{"field": "size", "message": "volumes cannot shrink"}],
                    f"Volume size cannot shrink ({desc}); keep the size or replace "
                    "the volume by renaming it in the spec.",
                )
            return "extend", desc
        return "replace", desc
    updatable = {
        "secgroup": {"rules"},
        "pool": {"algorithm"},
        "monitor": {"url_path", "delay", "timeout", "max_retries", "expected_codes"},
        "l7policy": {"redirect_prefix"},
        "recordset": {"records", "ttl"},
        "zone": {"email", "ttl"},
        "fip": {"port"},
        "lbfip": {"port"},
    }
    if set(changed) <= updatable.get(kind, set()):
        return "update", desc
    return "replace", desc


def _short(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."
