"""Octavia listeners: HTTP, or TERMINATED_HTTPS with the certificate from Barbican."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..plan import Desired
from .base import Context
from .loadbalancer import LbChild


class ListenerHandler(LbChild):
    kind = "listener"
    noun = "listener"
    observed = {"port": "protocol_port", "protocol": "protocol"}

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        return ctx.cloud.conn.load_balancer.listeners(name=d.name)  # type: ignore[no-any-return]

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        return ctx.cloud.conn.load_balancer.create_listener(
            name=d.name,
            loadbalancer_id=props["lb"],
            protocol=props["protocol"],
            protocol_port=props["port"],
            default_pool_id=props["pool"],
            tags=tags,
        )

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.load_balancer.get_listener(cloud_id)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        ctx.cloud.conn.load_balancer.delete_listener(cloud_id, ignore_missing=True)
