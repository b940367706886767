"""Neutron security groups (tagged) and their ingress rules, synchronised to the spec's list of
``protocol:ports:cidr`` keys."""

from __future__ import annotations

from typing import Any

from ..plan import TAG, Desired
from .base import Context, Handler, Props, adopt_untagged, bind, find_tagged, tags_for


def rule_key(rule: dict[str, Any]) -> str:
    """A rule as the spec writes it: ``protocol:min-max:cidr`` (ports empty for all ports)."""
    ports = "" if rule.get("port_range_min") is None else f"{rule['port_range_min']}-{rule['port_range_max']}"
    return f"{rule.get('protocol')}:{ports}:{rule.get('remote_ip_prefix') or '0.0.0.0/0'}"


def ingress(sg: Any) -> dict[str, str]:
    """The group's ingress rules by key, each with its id."""
    return {rule_key(r): r["id"] for r in sg.security_group_rules or [] if r.get("direction") == "ingress"}


def group_description(deployment: str) -> str:
    """The description a group is created with (its tags come in a second call)."""
    return f"{TAG} deployment {deployment}"


def group_owner(description: str | None) -> tuple[str, str] | None:
    """The (deployment, key) a :func:`group_description` text names, or None."""
    parts = (description or "").split()
    if len(parts) == 3 and parts[:2] == [TAG, "deployment"]:
        return parts[2], "secgroup"
    return None


class SecgroupHandler(Handler):
    kind = "secgroup"
    noun = "security group"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        net = ctx.cloud.conn.network
        described = group_description(ctx.deployment)
        return find_tagged(
            ctx, d, "security group", lambda: net.security_groups(name=d.name, tags=f"{TAG}:key={d.key}")
        ) or adopt_untagged(ctx, d, "security group", lambda: net.security_groups(name=d.name), described)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        net = ctx.cloud.conn.network
        sg = ctx.cloud.call(
            f"create security group {d.name}",
            lambda: net.create_security_group(name=d.name, description=group_description(ctx.deployment)),
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
        have = ingress(ctx.cloud.call(f"read security group {name}", lambda: self.get(ctx, cloud_id)))
        for key in sorted(set(have) - set(wanted)):
            rule_id = have[key]
            ctx.cloud.call(
                f"delete rule {key} of {name}",
                bind(net.delete_security_group_rule, rule_id, ignore_missing=True),
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
            rule = ctx.cloud.call(f"add rule {key} to {name}", bind(net.create_security_group_rule, **body))
            have[key] = str(rule.id)
        return have

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        return {**attrs, "rules": self._sync_rules(ctx, d.name, cloud_id, props["rules"])}

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.network.get_security_group(cloud_id)

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        return {"status": "ACTIVE", "rules": sorted(ingress(obj))}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        ctx.cloud.call(
            f"delete security group {cloud_id}",
            lambda: ctx.cloud.conn.network.delete_security_group(cloud_id, ignore_missing=True),
        )
