"""Designate record sets, marked by their description; the id is ``<zone_id>/<recordset_id>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cloud import CloudNotFound
from ..plan import Desired
from .base import Context, Handler, Props, bind, description_for


class RecordsetHandler(Handler):
    kind = "recordset"
    noun = "record"

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

    def get(self, ctx: Context, cloud_id: str) -> Any:
        zone_id, _, rs_id = cloud_id.partition("/")
        return ctx.cloud.conn.dns.get_recordset(rs_id, zone_id)

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """One list call per zone."""
        by_zone: dict[str, dict[str, dict[str, Any]]] = {}
        for cloud_id, attrs in items.items():
            by_zone.setdefault(cloud_id.partition("/")[0], {})[cloud_id] = attrs
        out: dict[str, dict[str, Any] | None] = {}
        for zone_id, mine in by_zone.items():
            prefix = f"{zone_id}/"
            listing = bind(ctx.cloud.conn.dns.recordsets, zone_id)
            out.update(self.observe_listed(ctx, mine, listing, key=lambda rs: f"{prefix}{rs.id}"))
        return out

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        self.wait_status(ctx, f"record {d.name}", cloud_id, ("ACTIVE",), ("ERROR",), ctx.cloud.timeouts.dns)
        return {"id": cloud_id}

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        dns = ctx.cloud.conn.dns
        rs = ctx.cloud.call(f"read record {d.name}", lambda: self.get(ctx, cloud_id))
        ctx.cloud.call(
            f"update record {d.name}",
            lambda: dns.update_recordset(rs, records=props["records"], ttl=props["ttl"]),
        )
        return self.wait(ctx, d, cloud_id, props)

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        return {"status": str(obj.status).upper(), "records": sorted(obj.records or []), "ttl": obj.ttl}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        dns = ctx.cloud.conn.dns
        try:
            ctx.cloud.call(
                f"delete record {cloud_id}",
                lambda: dns.delete_recordset(self.get(ctx, cloud_id), ignore_missing=True),
            )
        except CloudNotFound:
            return
        self.wait_gone(ctx, cloud_id, ctx.cloud.timeouts.dns)
