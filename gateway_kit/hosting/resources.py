"""One handler per kind of cloud resource: find (adopt), create, wait, update, observe, delete.

Handlers speak openstacksdk through :class:`~gateway_kit.hosting.cloud.Cloud` and never touch
the database; :mod:`gateway_kit.hosting.engine` decides what to call and journals it.

Ownership marks (so ``deploy orphans`` can find what a crash or a lost database left behind):

=============  =====================================================================
servers        metadata ``gateway_kit_deployment``, ``gateway_kit_key``, ``gateway_kit_digest``
volumes        the same metadata
Neutron        tags ``gateway-kit``, ``gateway-kit:<deployment>``, ``gateway-kit:key=<key>``
Octavia        the same tags (load balancer, pools, listeners, L7 policies, monitors, members)
Designate      record set description ``gateway-kit <deployment> <key>``
keypair/zone   their name (neither carries tags)
=============  =====================================================================
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CloudError
from .cloud import Cloud, CloudNotFound
from .plan import META_DEPLOYMENT, META_DIGEST, META_KEY, TAG, Desired, digest

LB_PENDING_FAILURES = ("ERROR",)


def tags_for(deployment: str, key: str) -> list[str]:
    return [TAG, f"{TAG}:{deployment}", f"{TAG}:key={key}"]


def description_for(deployment: str, key: str) -> str:
    return f"{TAG} {deployment} {key}"


def owner_from_tags(tags: list[str] | None) -> tuple[str, str] | None:
    tags = list(tags or [])
    if TAG not in tags:
        return None
    dep = next((t.split(":", 1)[1] for t in tags if t.startswith(f"{TAG}:") and "key=" not in t), "")
    key = next((t.split("key=", 1)[1] for t in tags if t.startswith(f"{TAG}:key=")), "")
    return dep, key


@dataclass
class Context:
    """What handlers share during one engine run: the cloud, the deployment, lookup caches."""

    cloud: Cloud
    deployment: str
    cache: dict[str, Any] = field(default_factory=dict)

    def _cached(self, key: str, what: str, fn: Any) -> Any:
        if key not in self.cache:
            self.cache[key] = self.cloud.call(what, fn)
        return self.cache[key]

    def flavor(self, name: str) -> Any:
        return self._cached(
            f"flavor:{name}",
            f"find flavor {name!r}",
            lambda: self.cloud.conn.compute.find_flavor(name, ignore_missing=False),
        )

    def image(self, name: str) -> Any:
        return self._cached(
            f"image:{name}",
            f"find image {name!r}",
            lambda: self.cloud.conn.image.find_image(name, ignore_missing=False),
        )

    def network(self, name: str) -> Any:
        return self._cached(
            f"network:{name}",
            f"find network {name!r}",
            lambda: self.cloud.conn.network.find_network(name, ignore_missing=False),
        )

    def subnet(self, network: str) -> Any:
        net = self.network(network)

        def first() -> Any:
            subnets = [s for s in self.cloud.conn.network.subnets(network_id=net.id) if s.ip_version == 4]
            if not subnets:
                raise CloudNotFound(
                    f"Network {network!r} has no IPv4 subnet; add one or name "
                    "another network in the spec's [network] table."
                )
            return subnets[0]

        return self._cached(f"subnet:{network}", f"list subnets of {network!r}", first)

    def zone(self, name: str) -> Any:
        def find() -> Any:
            zone = self.cloud.conn.dns.find_zone(name, ignore_missing=True)
            if zone is None:
                raise CloudNotFound(
                    f"DNS zone {name!r} does not exist in this project. Create it "
                    f"(`openstack zone create {name} --email hostmaster@{name.rstrip('.')}`), ask "
                    "the cloud's support for it, or set dns.create_zone = true in the spec."
                )
            return zone

        return self._cached(f"zone:{name}", f"find DNS zone {name!r}", find)


class Handler:
    """The contract of a resource kind.

    ``find`` is only called when a create may already have happened (a resumed run, a retried
    create): it looks the resource up by the marks the kit puts on it and returns its id.
    ``create`` sends the create and returns the new id at once (the engine records it before
    waiting); ``wait`` waits for the resource to be usable and returns its attributes
    (``id``, addresses...); ``observe`` returns the live properties comparable with the desired
    ones plus ``status`` (``None`` when the resource is gone); ``delete`` ignores what is
    already gone and waits until it is.
    """

    kind = ""

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"id": cloud_id}

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        raise NotImplementedError

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        return {"status": "ACTIVE"}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        raise NotImplementedError


def _get_or_none(ctx: Context, what: str, fn: Any) -> Any:
    try:
        return ctx.cloud.call(what, fn)
    except CloudNotFound:
        return None


def _bind(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A call with its arguments fixed now (not late-bound like a lambda in a loop)."""
    return lambda: fn(*args, **kwargs)


def _detach(ctx: Context, server_id: str, volume_id: str) -> None:
    compute = ctx.cloud.conn.compute
    ctx.cloud.call(
        f"detach volume {volume_id}",
        lambda: compute.delete_volume_attachment(server_id, volume_id, ignore_missing=True),
    )


# -- compute -------------------------------------------------------------------------------


class KeypairHandler(Handler):
    kind = "keypair"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        kp = ctx.cloud.call(
            f"find keypair {d.name}", lambda: ctx.cloud.conn.compute.find_keypair(d.name, ignore_missing=True)
        )
        return str(kp.name) if kp is not None else None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        existing = self.find(ctx, d, props, set())
        if existing is not None:
            # a keypair of that name exists already: use it, but never delete what we did not make
            ctx.cache[f"adopted:{d.key}"] = True
            return existing
        kp = ctx.cloud.call(
            f"create keypair {d.name}",
            lambda: ctx.cloud.conn.compute.create_keypair(name=d.name, public_key=props["public_key"]),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(kp if isinstance(kp, str) else kp.name)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"id": cloud_id, "adopted": bool(ctx.cache.pop(f"adopted:{d.key}", False))}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        kp = _get_or_none(
            ctx, f"read keypair {cloud_id}", lambda: ctx.cloud.conn.compute.get_keypair(cloud_id)
        )
        if kp is None:
            return None
        return {"status": "ACTIVE", "name": kp.name, "public_key": (kp.public_key or "").strip()}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if attrs.get("adopted"):
            return
        ctx.cloud.call(
            f"delete keypair {cloud_id}",
            lambda: ctx.cloud.conn.compute.delete_keypair(cloud_id, ignore_missing=True),
        )


class ServerHandler(Handler):
    kind = "server"

    def _meta(self, ctx: Context, d: Desired, props: dict[str, Any]) -> dict[str, str]:
        meta = {str(k): str(v) for k, v in (props.get("metadata") or {}).items()}
        meta.update(
            {
                META_DEPLOYMENT: ctx.deployment,
                META_KEY: d.key,
                META_DIGEST: digest(repr(sorted((k, str(v)) for k, v in props.items()))),
            }
        )
        return meta

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        want = self._meta(ctx, d, props)[META_DIGEST]

        def search() -> str | None:
            for s in ctx.cloud.conn.compute.servers(details=True, name=f"^{d.name}$"):
                meta = s.metadata or {}
                if (
                    s.id not in exclude
                    and meta.get(META_DEPLOYMENT) == ctx.deployment
                    and meta.get(META_KEY) == d.key
                    and meta.get(META_DIGEST) == want
                    and str(s.status).upper() not in ("DELETED", "SOFT_DELETED")
                ):
                    return str(s.id)
            return None

        return ctx.cloud.call(f"look for server {d.name}", search)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        flavor = ctx.flavor(props["flavor"])
        image = ctx.image(props["image"])
        net = ctx.network(props["network"])
        kwargs: dict[str, Any] = {
            "name": d.name,
            "flavor_id": flavor.id,
            "image_id": image.id,
            "networks": [{"uuid": net.id}],
            "security_groups": [{"name": props["secgroup"]}],
            "metadata": self._meta(ctx, d, props),
        }
        if props.get("key_name"):
            kwargs["key_name"] = props["key_name"]
        text = d.payload.get("user_data") or ""
        if text:
            kwargs["user_data"] = base64.b64encode(text.encode()).decode()
        server = ctx.cloud.call(
            f"create server {d.name}",
            lambda: ctx.cloud.conn.compute.create_server(**kwargs),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(server if isinstance(server, str) else server.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        server = ctx.cloud.wait(
            f"server {d.name}",
            lambda: ctx.cloud.conn.compute.get_server(cloud_id),
            target=("ACTIVE",),
            failures=("ERROR",),
            timeout=ctx.cloud.timeouts.server,
        )
        return self._attrs(ctx, server, props.get("network"))

    def _attrs(self, ctx: Context, server: Any, network: str | None) -> dict[str, Any]:
        address = ""
        for _net, addrs in (server.addresses or {}).items():
            for a in addrs:
                if a.get("OS-EXT-IPS:type", "fixed") == "fixed" and a.get("version", 4) == 4:
                    address = address or a["addr"]
        ports = list(
            ctx.cloud.call(
                f"list ports of server {server.name}",
                lambda: list(ctx.cloud.conn.network.ports(device_id=server.id)),
            )
        )
        port_id = str(ports[0].id) if ports else ""
        if not address and ports:
            address = ports[0].fixed_ips[0]["ip_address"]
        return {"id": str(server.id), "address": address, "port_id": port_id}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        s = _get_or_none(ctx, f"read server {cloud_id}", lambda: ctx.cloud.conn.compute.get_server(cloud_id))
        if s is None:
            return None
        flavor = (s.flavor or {}).get("original_name") or (s.flavor or {}).get("name")
        meta = {k: v for k, v in (s.metadata or {}).items() if not k.startswith("gateway_kit_")}
        image_id = (s.image or {}).get("id") if isinstance(s.image, dict) else None
        out = {
            "status": str(s.status).upper(),
            "flavor": flavor,
            "metadata": meta,
            "image_id": image_id,
            "locked": bool(getattr(s, "is_locked", False)),
        }
        return out

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        compute = ctx.cloud.conn.compute
        if before.get("flavor") != props["flavor"]:
            self.resize(ctx, d.name, cloud_id, props["flavor"])
        if before.get("metadata") != props.get("metadata"):
            meta = self._meta(ctx, d, props)
            ctx.cloud.call(
                f"set metadata of server {d.name}", lambda: compute.set_server_metadata(cloud_id, **meta)
            )
            gone = set(before.get("metadata") or {}) - set(props.get("metadata") or {})
            if gone:
                ctx.cloud.call(
                    f"delete metadata of server {d.name}",
                    lambda: compute.delete_server_metadata(cloud_id, sorted(gone)),
                )
        else:
            # the digest mark follows the props so a resumed replace can tell old from new
            meta = {META_DIGEST: self._meta(ctx, d, props)[META_DIGEST]}
            ctx.cloud.call(
                f"set metadata of server {d.name}", lambda: compute.set_server_metadata(cloud_id, **meta)
            )
        return attrs

    def resize(self, ctx: Context, name: str, cloud_id: str, flavor_name: str) -> None:
        """Resize, wait for VERIFY_RESIZE, confirm, wait for ACTIVE; resumes a half-done resize."""
        compute = ctx.cloud.conn.compute
        server = ctx.cloud.call(f"read server {name}", lambda: compute.get_server(cloud_id))
        current = (server.flavor or {}).get("original_name")
        status = str(server.status).upper()
        if status == "ACTIVE" and current == flavor_name:
            return
        if status != "VERIFY_RESIZE":
            flavor = ctx.flavor(flavor_name)
            ctx.cloud.call(
                f"resize server {name} to {flavor_name}", lambda: compute.resize_server(cloud_id, flavor.id)
            )
            ctx.cloud.wait(
                f"server {name} (resize)",
                lambda: compute.get_server(cloud_id),
                target=("VERIFY_RESIZE",),
                failures=("ERROR",),
                timeout=ctx.cloud.timeouts.server,
            )
        ctx.cloud.call(f"confirm resize of server {name}", lambda: compute.confirm_server_resize(cloud_id))
        ctx.cloud.wait(
            f"server {name} (confirm resize)",
            lambda: compute.get_server(cloud_id),
            target=("ACTIVE",),
            failures=("ERROR",),
            timeout=ctx.cloud.timeouts.server,
        )

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        compute = ctx.cloud.conn.compute
        ctx.cloud.call(
            f"delete server {cloud_id}", lambda: compute.delete_server(cloud_id, ignore_missing=True)
        )
        ctx.cloud.wait(
            f"server {cloud_id} (delete)",
            lambda: compute.get_server(cloud_id),
            target=(),
            failures=(),
            timeout=ctx.cloud.timeouts.server,
            gone_ok=True,
        )


# -- block storage -------------------------------------------------------------------------


class VolumeHandler(Handler):
    kind = "volume"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        def search() -> str | None:
            for v in ctx.cloud.conn.block_storage.volumes(details=True, name=d.name):
                meta = v.metadata or {}
                if (
                    v.id not in exclude
                    and meta.get(META_DEPLOYMENT) == ctx.deployment
                    and meta.get(META_KEY) == d.key
                ):
                    return str(v.id)
            return None

        return ctx.cloud.call(f"look for volume {d.name}", search)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {
            "name": d.name,
            "size": props["size"],
            "metadata": {META_DEPLOYMENT: ctx.deployment, META_KEY: d.key},
        }
        if props.get("type"):
            kwargs["volume_type"] = props["type"]
        vol = ctx.cloud.call(
            f"create volume {d.name}",
            lambda: ctx.cloud.conn.block_storage.create_volume(**kwargs),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(vol.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        bs = ctx.cloud.conn.block_storage
        ctx.cloud.wait(
            f"volume {d.name}",
            lambda: bs.get_volume(cloud_id),
            target=("available", "in-use"),
            failures=("error", "error_extending"),
            timeout=ctx.cloud.timeouts.volume,
        )
        return {"id": cloud_id}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        v = _get_or_none(
            ctx, f"read volume {cloud_id}", lambda: ctx.cloud.conn.block_storage.get_volume(cloud_id)
        )
        if v is None:
            return None
        return {
            "status": str(v.status).upper(),
            "size": v.size,
            "attached_to": [a.get("server_id") for a in (v.attachments or [])],
        }

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        bs = ctx.cloud.conn.block_storage
        vol = ctx.cloud.call(f"read volume {d.name}", lambda: bs.get_volume(cloud_id))
        if int(vol.size) < int(props["size"]):
            ctx.cloud.call(
                f"extend volume {d.name} to {props['size']} GiB",
                lambda: bs.extend_volume(cloud_id, props["size"]),
            )
        ctx.cloud.wait(
            f"volume {d.name} (extend)",
            lambda: bs.get_volume(cloud_id),
            target=("available", "in-use"),
            failures=("error", "error_extending"),
            timeout=ctx.cloud.timeouts.volume,
        )
        return attrs

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        bs = ctx.cloud.conn.block_storage
        vol = _get_or_none(ctx, f"read volume {cloud_id}", lambda: bs.get_volume(cloud_id))
        if vol is None:
            return
        for a in vol.attachments or []:  # a crash may have left it attached
            server_id = str(a.get("server_id"))
            _detach(ctx, server_id, cloud_id)
        if vol.attachments:
            ctx.cloud.wait(
                f"volume {cloud_id} (detach)",
                lambda: bs.get_volume(cloud_id),
                target=("available", "error"),
                failures=(),
                timeout=ctx.cloud.timeouts.volume,
            )
        ctx.cloud.call(f"delete volume {cloud_id}", lambda: bs.delete_volume(cloud_id, ignore_missing=True))
        ctx.cloud.wait(
            f"volume {cloud_id} (delete)",
            lambda: bs.get_volume(cloud_id),
            target=(),
            failures=(),
            timeout=ctx.cloud.timeouts.volume,
            gone_ok=True,
        )


class AttachmentHandler(Handler):
    """A volume attached to a server; the id is ``<server_id>/<volume_id>``."""

    kind = "attachment"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        vol = _get_or_none(
            ctx, "read volume", lambda: ctx.cloud.conn.block_storage.get_volume(props["volume"])
        )
        if vol is not None and any(a.get("server_id") == props["server"] for a in vol.attachments or []):
            return f"{props['server']}/{props['volume']}"
        return None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        server, volume = props["server"], props["volume"]
        ctx.cloud.call(
            f"attach volume {d.name}",
            lambda: ctx.cloud.conn.compute.create_volume_attachment(server, volume_id=volume),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return f"{server}/{volume}"

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        bs = ctx.cloud.conn.block_storage
        ctx.cloud.wait(
            f"volume {d.name} (attach)",
            lambda: bs.get_volume(props["volume"]),
            target=("in-use",),
            failures=("error", "error_attaching"),
            timeout=ctx.cloud.timeouts.volume,
        )
        return {"id": cloud_id}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        server, _, volume = cloud_id.partition("/")
        vol = _get_or_none(
            ctx, f"read volume {volume}", lambda: ctx.cloud.conn.block_storage.get_volume(volume)
        )
        if vol is None or not any(a.get("server_id") == server for a in vol.attachments or []):
            return None
        return {"status": "ACTIVE"}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        server, _, volume = cloud_id.partition("/")
        try:
            ctx.cloud.call(
                f"detach volume {volume}",
                lambda: ctx.cloud.conn.compute.delete_volume_attachment(server, volume, ignore_missing=True),
            )
        except CloudNotFound:
            return
        bs = ctx.cloud.conn.block_storage
        vol = _get_or_none(ctx, f"read volume {volume}", lambda: bs.get_volume(volume))
        if vol is not None and any(a.get("server_id") == server for a in vol.attachments or []):
            ctx.cloud.wait(
                f"volume {volume} (detach)",
                lambda: bs.get_volume(volume),
                target=("available",),
                failures=("error", "error_detaching"),
                timeout=ctx.cloud.timeouts.volume,
            )


# -- network -------------------------------------------------------------------------------


class SecgroupHandler(Handler):
    kind = "secgroup"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "security group",
            lambda: ctx.cloud.conn.network.security_groups(name=d.name, tags=f"{TAG}:key={d.key}"),
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        net = ctx.cloud.conn.network
        sg = ctx.cloud.call(
            f"create security group {d.name}",
            lambda: net.create_security_group(
                name=d.name, description=f"gateway-kit deployment {ctx.deployment}"
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        ctx.cloud.call(
            f"tag security group {d.name}", lambda: net.set_tags(sg, tags_for(ctx.deployment, d.key))
        )
        return str(sg.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        rules = self._sync_rules(ctx, d.name, cloud_id, props["rules"])
        return {"id": cloud_id, "rules": rules}

    def _sync_rules(self, ctx: Context, name: str, cloud_id: str, wanted: list[str]) -> dict[str, str]:
        net = ctx.cloud.conn.network
        sg = ctx.cloud.call(f"read security group {name}", lambda: net.get_security_group(cloud_id))
        have: dict[str, str] = {}
        for r in sg.security_group_rules or []:
            if r.get("direction") != "ingress":
                continue
            ports = "" if r.get("port_range_min") is None else f"{r['port_range_min']}-{r['port_range_max']}"
            key = f"{r.get('protocol')}:{ports}:{r.get('remote_ip_prefix') or '0.0.0.0/0'}"
            have[key] = r["id"]
        for key in sorted(set(have) - set(wanted)):
            rule_id = have[key]
            ctx.cloud.call(
                f"delete rule {key} of {name}",
                _bind(net.delete_security_group_rule, rule_id, ignore_missing=True),
            )
            del have[key]
        for key in sorted(set(wanted) - set(have)):
            proto, ports, cidr = key.split(":", 2)
            pmin, _, pmax = ports.partition("-")
            body: dict[str, Any] = {
                "security_group_id": cloud_id,
                "direction": "ingress",
                "protocol": proto,
                "remote_ip_prefix": cidr,
                "ethertype": "IPv6" if ":" in cidr else "IPv4",
            }
            if pmin:
                body.update(port_range_min=int(pmin), port_range_max=int(pmax))
            rule = ctx.cloud.call(f"add rule {key} to {name}", _bind(net.create_security_group_rule, **body))
            have[key] = str(rule.id)
        return have

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        return {**attrs, "rules": self._sync_rules(ctx, d.name, cloud_id, props["rules"])}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        sg = _get_or_none(
            ctx,
            f"read security group {cloud_id}",
            lambda: ctx.cloud.conn.network.get_security_group(cloud_id),
        )
        if sg is None:
            return None
        rules = []
        for r in sg.security_group_rules or []:
            if r.get("direction") == "ingress":
                ports = (
                    "" if r.get("port_range_min") is None else f"{r['port_range_min']}-{r['port_range_max']}"
                )
                rules.append(f"{r.get('protocol')}:{ports}:{r.get('remote_ip_prefix') or '0.0.0.0/0'}")
        return {"status": "ACTIVE", "rules": sorted(rules)}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        ctx.cloud.call(
            f"delete security group {cloud_id}",
            lambda: ctx.cloud.conn.network.delete_security_group(cloud_id, ignore_missing=True),
        )


class FloatingIpHandler(Handler):
    """A floating IP associated with a port (a server's, or the load balancer's VIP port)."""

    kind = "fip"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "floating IP",
            lambda: ctx.cloud.conn.network.ips(tags=f"{TAG}:key={d.key}"),
            exclude,
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        net = ctx.cloud.conn.network
        ext = ctx.network(props["network"])
        ip = ctx.cloud.call(
            f"allocate floating IP for {d.name}",
            lambda: net.create_ip(
                floating_network_id=ext.id, description=description_for(ctx.deployment, d.key)
            ),
            before_retry=lambda: self._by_description(ctx, d),
        )
        ctx.cloud.call(
            f"tag floating IP {ip.floating_ip_address}",
            lambda: net.set_tags(ip, tags_for(ctx.deployment, d.key)),
        )
        return str(ip.id)

    def _by_description(self, ctx: Context, d: Desired) -> Any:
        for ip in ctx.cloud.conn.network.ips(description=description_for(ctx.deployment, d.key)):
            return ip
        return None

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        net = ctx.cloud.conn.network
        ip = ctx.cloud.call(f"read floating IP {d.name}", lambda: net.get_ip(cloud_id))
        if ip.port_id != props["port"]:
            ctx.cloud.call(
                f"associate floating IP {ip.floating_ip_address} with {d.name}",
                lambda: net.update_ip(cloud_id, port_id=props["port"]),
            )
        return {"id": cloud_id, "address": ip.floating_ip_address}

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        return self.wait(ctx, d, cloud_id, props)

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ip = _get_or_none(
            ctx, f"read floating IP {cloud_id}", lambda: ctx.cloud.conn.network.get_ip(cloud_id)
        )
        if ip is None:
            return None
        return {
            "status": str(ip.status or "ACTIVE").upper(),
            "port": ip.port_id,
            "address": ip.floating_ip_address,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        ctx.cloud.call(
            f"release floating IP {cloud_id}",
            lambda: ctx.cloud.conn.network.delete_ip(cloud_id, ignore_missing=True),
        )


class LbFloatingIpHandler(FloatingIpHandler):
    kind = "lbfip"


# -- load balancer -------------------------------------------------------------------------


class _LbChild(Handler):
    """Children of a load balancer: each mutation puts the LB in PENDING_UPDATE; wait it out."""

    def lb_id(self, ctx: Context) -> str:
        return str(ctx.cache["lb_id"])

    def wait_lb(self, ctx: Context, what: str) -> Any:
        lb_id = self.lb_id(ctx)
        return ctx.cloud.wait(
            f"load balancer ({what})",
            lambda: ctx.cloud.conn.load_balancer.get_load_balancer(lb_id),
            target=("ACTIVE",),
            failures=LB_PENDING_FAILURES,
            timeout=ctx.cloud.timeouts.load_balancer,
            attr="provisioning_status",
        )

    def mutate(self, ctx: Context, what: str, fn: Any, before_retry: Any = None) -> Any:
        """Run one child mutation: wait for ACTIVE first (409 otherwise), then after."""
        self.wait_lb(ctx, what)
        result = ctx.cloud.call(what, fn, before_retry=before_retry)
        self.wait_lb(ctx, what)
        return result


class LoadBalancerHandler(Handler):
    kind = "loadbalancer"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "load balancer",
            lambda: ctx.cloud.conn.load_balancer.load_balancers(name=d.name),
            exclude,
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        subnet = ctx.subnet(props["network"])
        lb = ctx.cloud.call(
            f"create load balancer {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_load_balancer(
                name=d.name,
                vip_subnet_id=subnet.id,
                tags=tags_for(ctx.deployment, d.key),
                description=description_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(lb.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        lb = ctx.cloud.wait(
            f"load balancer {d.name}",
            lambda: ctx.cloud.conn.load_balancer.get_load_balancer(cloud_id),
            target=("ACTIVE",),
            failures=LB_PENDING_FAILURES,
            timeout=ctx.cloud.timeouts.load_balancer,
            attr="provisioning_status",
        )
        ctx.cache["lb_id"] = cloud_id
        return {"id": cloud_id, "vip_address": lb.vip_address, "vip_port_id": lb.vip_port_id}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        lb = _get_or_none(
            ctx,
            f"read load balancer {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.get_load_balancer(cloud_id),
        )
        if lb is None:
            return None
        ctx.cache["lb_id"] = cloud_id
        return {"status": str(lb.provisioning_status).upper(), "operating_status": lb.operating_status}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        lbs = ctx.cloud.conn.load_balancer
        lb = _get_or_none(ctx, f"read load balancer {cloud_id}", lambda: lbs.get_load_balancer(cloud_id))
        if lb is None:
            return
        if str(lb.provisioning_status).upper().startswith("PENDING"):
            ctx.cloud.wait(
                f"load balancer {cloud_id} (before delete)",
                lambda: lbs.get_load_balancer(cloud_id),
                target=("ACTIVE", "ERROR"),
                failures=(),
                attr="provisioning_status",
                timeout=ctx.cloud.timeouts.load_balancer,
            )
        # cascade: listeners, pools, members and monitors go with it (no dangling children)
        ctx.cloud.call(
            f"delete load balancer {cloud_id}",
            lambda: lbs.delete_load_balancer(cloud_id, ignore_missing=True, cascade=True),
        )
        ctx.cloud.wait(
            f"load balancer {cloud_id} (delete)",
            lambda: lbs.get_load_balancer(cloud_id),
            target=(),
            failures=(),
            timeout=ctx.cloud.timeouts.load_balancer,
            gone_ok=True,
            attr="provisioning_status",
        )


class PoolHandler(_LbChild):
    kind = "pool"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "pool",
            lambda: ctx.cloud.conn.load_balancer.pools(name=d.name),
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        pool = self.mutate(
            ctx,
            f"create pool {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_pool(
                name=d.name,
                loadbalancer_id=props["lb"],
                protocol=props["protocol"],
                lb_algorithm=props["algorithm"],
                tags=tags_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(pool if isinstance(pool, str) else pool.id)

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        self.mutate(
            ctx,
            f"update pool {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_pool(cloud_id, lb_algorithm=props["algorithm"]),
        )
        return attrs

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        p = _get_or_none(
            ctx, f"read pool {cloud_id}", lambda: ctx.cloud.conn.load_balancer.get_pool(cloud_id)
        )
        if p is None:
            return None
        return {
            "status": str(p.provisioning_status).upper(),
            "algorithm": p.lb_algorithm,
            "operating_status": p.operating_status,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return  # the load balancer is gone (cascade)
        self.mutate(
            ctx,
            f"delete pool {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.delete_pool(cloud_id, ignore_missing=True),
        )


class MonitorHandler(_LbChild):
    kind = "monitor"
    FIELDS = ("url_path", "delay", "timeout", "max_retries", "expected_codes")

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "health monitor",
            lambda: ctx.cloud.conn.load_balancer.health_monitors(name=d.name),
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        kwargs = {k: props[k] for k in self.FIELDS}
        if props["type"] not in ("HTTP", "HTTPS"):
            kwargs.pop("url_path")
            kwargs.pop("expected_codes")
        hm = self.mutate(
            ctx,
            f"create health monitor {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_health_monitor(
                name=d.name,
                pool_id=props["pool"],
                type=props["type"],
                tags=tags_for(ctx.deployment, d.key),
                **kwargs,
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(hm.id)

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        changed = {k: props[k] for k in self.FIELDS if before.get(k) != props[k]}
        self.mutate(
            ctx,
            f"update health monitor {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_health_monitor(cloud_id, **changed),
        )
        return attrs

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        m = _get_or_none(
            ctx,
            f"read health monitor {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.get_health_monitor(cloud_id),
        )
        if m is None:
            return None
        return {
            "status": str(m.provisioning_status).upper(),
            "url_path": m.url_path,
            "delay": m.delay,
            "timeout": m.timeout,
            "max_retries": m.max_retries,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return
        self.mutate(
            ctx,
            f"delete health monitor {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.delete_health_monitor(cloud_id, ignore_missing=True),
        )


class ListenerHandler(_LbChild):
    kind = "listener"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "listener",
            lambda: ctx.cloud.conn.load_balancer.listeners(name=d.name),
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        li = self.mutate(
            ctx,
            f"create listener {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_listener(
                name=d.name,
                loadbalancer_id=props["lb"],
                protocol=props["protocol"],
                protocol_port=props["port"],
                default_pool_id=props["pool"],
                tags=tags_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(li.id)

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        li = _get_or_none(
            ctx, f"read listener {cloud_id}", lambda: ctx.cloud.conn.load_balancer.get_listener(cloud_id)
        )
        if li is None:
            return None
        return {
            "status": str(li.provisioning_status).upper(),
            "port": li.protocol_port,
            "protocol": li.protocol,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return
        self.mutate(
            ctx,
            f"delete listener {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.delete_listener(cloud_id, ignore_missing=True),
        )


class L7PolicyHandler(_LbChild):
    """``[tls] redirect_http``: a REDIRECT_PREFIX policy on an HTTP listener, with one rule
    (PATH STARTS_WITH ``/``: Octavia applies no policy without a rule). The rule is made in
    :meth:`wait`, so a run stopped between the two calls completes it when resumed."""

    kind = "l7policy"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return _find_tagged(
            ctx,
            d,
            "L7 policy",
            lambda: ctx.cloud.conn.load_balancer.l7_policies(name=d.name),
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        policy = self.mutate(
            ctx,
            f"create L7 policy {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_l7_policy(
                name=d.name,
                listener_id=props["listener"],
                action=props["action"],
                redirect_prefix=props["redirect_prefix"],
                tags=tags_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(policy.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        octavia = ctx.cloud.conn.load_balancer
        rules = ctx.cloud.call(f"list rules of L7 policy {d.name}", lambda: list(octavia.l7_rules(cloud_id)))
        if not rules:
            self.mutate(
                ctx,
                f"create L7 rule of {d.name}",
                lambda: octavia.create_l7_rule(
                    cloud_id,
                    type="PATH",
                    compare_type="STARTS_WITH",
                    rule_value="/",
                    tags=tags_for(ctx.deployment, d.key),
                ),
            )
        else:
            self.wait_lb(ctx, f"L7 policy {d.name}")
        return {"id": cloud_id}

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        self.mutate(
            ctx,
            f"update L7 policy {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_l7_policy(
                cloud_id, redirect_prefix=props["redirect_prefix"]
            ),
        )
        return attrs

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        p = _get_or_none(
            ctx, f"read L7 policy {cloud_id}", lambda: ctx.cloud.conn.load_balancer.get_l7_policy(cloud_id)
        )
        if p is None:
            return None
        return {
            "status": str(p.provisioning_status).upper(),
            "action": p.action,
            "redirect_prefix": p.redirect_prefix,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return
        self.mutate(
            ctx,
            f"delete L7 policy {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.delete_l7_policy(cloud_id, ignore_missing=True),
        )


class MemberHandler(_LbChild):
    """A pool member; the id is ``<pool_id>/<member_id>``."""

    kind = "member"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        def search() -> str | None:
            for m in ctx.cloud.conn.load_balancer.members(props["pool"]):
                if m.address == props["address"] and m.protocol_port == props["port"]:
                    return f"{props['pool']}/{m.id}"
            return None

        return ctx.cloud.call(f"look for member {d.name}", search)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        subnet = ctx.subnet(ctx.cache["network"])
        m = self.mutate(
            ctx,
            f"add member {d.name}",
            lambda: ctx.cloud.conn.load_balancer.create_member(
                props["pool"],
                name=d.name,
                address=props["address"],
                protocol_port=props["port"],
                subnet_id=subnet.id,
                tags=tags_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return m if isinstance(m, str) else f"{props['pool']}/{m.id}"

    def wait_online(self, ctx: Context, name: str, cloud_id: str) -> None:
        """Wait until the member is healthy (ONLINE, or NO_MONITOR when the pool has no monitor)."""
        pool, _, member = cloud_id.partition("/")
        ctx.cloud.wait(
            f"member {name} (health)",
            lambda: ctx.cloud.conn.load_balancer.get_member(member, pool),
            target=ctx.cloud.timeouts.member_healthy,
            failures=("ERROR",),
            timeout=ctx.cloud.timeouts.member,
            attr="operating_status",
        )

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        pool, _, member = cloud_id.partition("/")
        m = _get_or_none(
            ctx, f"read member {member}", lambda: ctx.cloud.conn.load_balancer.get_member(member, pool)
        )
        if m is None:
            return None
        return {
            "status": str(m.provisioning_status).upper(),
            "address": m.address,
            "port": m.protocol_port,
            "operating_status": m.operating_status,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return
        pool, _, member = cloud_id.partition("/")
        self.mutate(
            ctx,
            f"remove member {member}",
            lambda: ctx.cloud.conn.load_balancer.delete_member(member, pool, ignore_missing=True),
        )


# -- DNS -----------------------------------------------------------------------------------


class ZoneHandler(Handler):
    kind = "zone"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        z = ctx.cloud.call(
            f"find zone {d.name}", lambda: ctx.cloud.conn.dns.find_zone(d.name, ignore_missing=True)
        )
        return str(z.id) if z is not None else None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        z = ctx.cloud.call(
            f"create zone {d.name}",
            lambda: ctx.cloud.conn.dns.create_zone(
                name=d.name,
                email=props["email"],
                ttl=props["ttl"],
                description=description_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(z.id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        ctx.cloud.wait(
            f"zone {d.name}",
            lambda: ctx.cloud.conn.dns.get_zone(cloud_id),
            target=("ACTIVE",),
            failures=("ERROR",),
            timeout=ctx.cloud.timeouts.dns,
        )
        ctx.cache.pop(f"zone:{d.name}", None)
        return {"id": cloud_id}

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        ctx.cloud.call(
            f"update zone {d.name}",
            lambda: ctx.cloud.conn.dns.update_zone(cloud_id, email=props["email"], ttl=props["ttl"]),
        )
        return self.wait(ctx, d, cloud_id, props)

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        z = _get_or_none(ctx, f"read zone {cloud_id}", lambda: ctx.cloud.conn.dns.get_zone(cloud_id))
        if z is None:
            return None
        return {"status": str(z.status).upper(), "email": z.email, "ttl": z.ttl}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        dns = ctx.cloud.conn.dns
        ctx.cloud.call(f"delete zone {cloud_id}", lambda: dns.delete_zone(cloud_id, ignore_missing=True))
        ctx.cloud.wait(
            f"zone {cloud_id} (delete)",
            lambda: dns.get_zone(cloud_id),
            target=(),
            failures=(),
            timeout=ctx.cloud.timeouts.dns,
            gone_ok=True,
        )


class RecordsetHandler(Handler):
    """A record set; the id is ``<zone_id>/<recordset_id>``."""

    kind = "recordset"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        zone = ctx.zone(props["zone"])

        def search() -> str | None:
            for rs in ctx.cloud.conn.dns.recordsets(zone, name=props["name"], type=props["type"]):
                return f"{zone.id}/{rs.id}"
            return None

        return ctx.cloud.call(f"look for record {d.name}", search)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        zone = ctx.zone(props["zone"])
        rs = ctx.cloud.call(
            f"create {props['type']} record {d.name}",
            lambda: ctx.cloud.conn.dns.create_recordset(
                zone,
                name=props["name"],
                type=props["type"],
                records=props["records"],
                ttl=props["ttl"],
                description=description_for(ctx.deployment, d.key),
            ),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return f"{zone.id}/{rs.id}"

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        zone_id, _, rs_id = cloud_id.partition("/")
        ctx.cloud.wait(
            f"record {d.name}",
            lambda: ctx.cloud.conn.dns.get_recordset(rs_id, zone_id),
            target=("ACTIVE",),
            failures=("ERROR",),
            timeout=ctx.cloud.timeouts.dns,
        )
        return {"id": cloud_id}

    def update(
        self,
        ctx: Context,
        d: Desired,
        cloud_id: str,
        before: dict[str, Any],
        props: dict[str, Any],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        zone_id, _, rs_id = cloud_id.partition("/")
        dns = ctx.cloud.conn.dns
        rs = ctx.cloud.call(f"read record {d.name}", lambda: dns.get_recordset(rs_id, zone_id))
        ctx.cloud.call(
            f"update record {d.name}",
            lambda: dns.update_recordset(rs, records=props["records"], ttl=props["ttl"]),
        )
        return self.wait(ctx, d, cloud_id, props)

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        zone_id, _, rs_id = cloud_id.partition("/")
        rs = _get_or_none(
            ctx, f"read record {rs_id}", lambda: ctx.cloud.conn.dns.get_recordset(rs_id, zone_id)
        )
        if rs is None:
            return None
        return {"status": str(rs.status).upper(), "records": sorted(rs.records or []), "ttl": rs.ttl}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        zone_id, _, rs_id = cloud_id.partition("/")
        dns = ctx.cloud.conn.dns
        try:
            ctx.cloud.call(
                f"delete record {rs_id}",
                lambda: dns.delete_recordset(dns.get_recordset(rs_id, zone_id), ignore_missing=True),
            )
        except CloudNotFound:
            return
        ctx.cloud.wait(
            f"record {rs_id} (delete)",
            lambda: dns.get_recordset(rs_id, zone_id),
            target=(),
            failures=(),
            timeout=ctx.cloud.timeouts.dns,
            gone_ok=True,
        )


HANDLERS: dict[str, Handler] = {
    h.kind: h
    for h in (
        ZoneHandler(),
        KeypairHandler(),
        SecgroupHandler(),
        VolumeHandler(),
        LoadBalancerHandler(),
        PoolHandler(),
        MonitorHandler(),
        ListenerHandler(),
        L7PolicyHandler(),
        ServerHandler(),
        AttachmentHandler(),
        FloatingIpHandler(),
        MemberHandler(),
        LbFloatingIpHandler(),
        RecordsetHandler(),
    )
}

__all__ = ["HANDLERS", "CloudError", "Context", "Handler"]


def _find_tagged(
    ctx: Context, d: Desired, what: str, items: Callable[[], Iterable[Any]], exclude: Collection[str] = ()
) -> str | None:
    """The id of the resource among ``items()`` whose tags name this deployment and key (and
    that is not in ``exclude``), or None."""

    def search() -> str | None:
        for item in items():
            if owner_from_tags(item.tags) == (ctx.deployment, d.key) and item.id not in exclude:
                return str(item.id)
        return None

    return ctx.cloud.call(f"look for {what} {d.name}", search)
