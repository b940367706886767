"""Designate zones (``dns.create_zone = true``), marked by their name and description."""

from __future__ import annotations

from typing import Any

from ..plan import Desired
from .base import Context, Handler, Props, description_for


class ZoneHandler(Handler):
    kind = "zone"
    noun = "zone"
    observed = {"email": "email", "ttl": "ttl"}

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

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.dns.get_zone(cloud_id)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        self.wait_status(ctx, f"zone {d.name}", cloud_id, ("ACTIVE",), ("ERROR",), ctx.cloud.timeouts.dns)
        ctx.cache.pop(f"zone:{d.name}", None)
        return {"id": cloud_id}

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        ctx.cloud.call(
            f"update zone {d.name}",
            lambda: ctx.cloud.conn.dns.update_zone(cloud_id, email=props["email"], ttl=props["ttl"]),
        )
        return self.wait(ctx, d, cloud_id, props)

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        dns = ctx.cloud.conn.dns
        ctx.cloud.call(f"delete zone {cloud_id}", lambda: dns.delete_zone(cloud_id, ignore_missing=True))
        self.wait_gone(ctx, cloud_id, ctx.cloud.timeouts.dns)
