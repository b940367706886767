"""Neutron floating IPs (tagged) associated with a port: a server's, or the load balancer's VIP
port (``lbfip``, the same handler under its own kind so the plan orders it after the LB)."""

from __future__ import annotations

from typing import Any

from ..plan import TAG, Desired
from .base import Context, Handler, Props, adopt_untagged, description_for, find_tagged, tags_for, upper


class FloatingIpHandler(Handler):
    """A floating IP associated with a port (a server's, or the load balancer's VIP port)."""

    kind = "fip"
    noun = "floating IP"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        net = ctx.cloud.conn.network
        described = description_for(ctx.deployment, d.key)
        return find_tagged(
            ctx, d, "floating IP", lambda: net.ips(tags=f"{TAG}:key={d.key}"), exclude
        ) or adopt_untagged(ctx, d, "floating IP", lambda: net.ips(description=described), described, exclude)

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
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        return self.wait(ctx, d, cloud_id, props)

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.network.get_ip(cloud_id)

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        return {
            "status": upper(obj.status or "ACTIVE"),
            "port": obj.port_id,
            "address": obj.floating_ip_address,
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        ctx.cloud.call(
            f"release floating IP {cloud_id}",
            lambda: ctx.cloud.conn.network.delete_ip(cloud_id, ignore_missing=True),
        )


class LbFloatingIpHandler(FloatingIpHandler):
    kind = "lbfip"
