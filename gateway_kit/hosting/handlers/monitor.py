"""Octavia health monitors on the web pool (HTTP ones probe ``/healthz``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..plan import Desired
from .base import Context, Props
from .loadbalancer import LbChild


class MonitorHandler(LbChild):
    kind = "monitor"
    noun = "health monitor"
    FIELDS = ("url_path", "delay", "timeout", "max_retries", "expected_codes")
    observed = {f: f for f in FIELDS if f != "expected_codes"}

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        return ctx.cloud.conn.load_balancer.health_monitors(name=d.name)  # type: ignore[no-any-return]

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        kwargs = {k: props[k] for k in self.FIELDS}
        if props["type"] not in ("HTTP", "HTTPS"):
            kwargs.pop("url_path")
            kwargs.pop("expected_codes")
        return ctx.cloud.conn.load_balancer.create_health_monitor(
            name=d.name, pool_id=props["pool"], type=props["type"], tags=tags, **kwargs
        )

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        changed = {k: props[k] for k in self.FIELDS if before.get(k) != props[k]}
        self.mutate(
            ctx,
            f"update health monitor {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_health_monitor(cloud_id, **changed),
        )
        return attrs

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.load_balancer.get_health_monitor(cloud_id)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        ctx.cloud.conn.load_balancer.delete_health_monitor(cloud_id, ignore_missing=True)
