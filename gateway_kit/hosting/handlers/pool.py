"""Octavia pools: the deployment's web servers behind the load balancer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..plan import Desired
from .base import Context, Props
from .loadbalancer import LbChild


class PoolHandler(LbChild):
    kind = "pool"
    noun = "pool"
    observed = {"algorithm": "lb_algorithm", "operating_status": "operating_status"}

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        return ctx.cloud.conn.load_balancer.pools(name=d.name)  # type: ignore[no-any-return]

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        return ctx.cloud.conn.load_balancer.create_pool(
            name=d.name,
            loadbalancer_id=props["lb"],
            protocol=props["protocol"],
            lb_algorithm=props["algorithm"],
            tags=tags,
        )

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        self.mutate(
            ctx,
            f"update pool {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_pool(cloud_id, lb_algorithm=props["algorithm"]),
        )
        return attrs

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.load_balancer.get_pool(cloud_id)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        ctx.cloud.conn.load_balancer.delete_pool(cloud_id, ignore_missing=True)
