"""Octavia pool members (a web server's fixed address); the id is ``<pool_id>/<member_id>``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ..cloud import CloudNotFound
from ..plan import Desired
from .base import Context
from .loadbalancer import LbChild


class MemberHandler(LbChild):
    """Found by pool, address and port (a member's name is not unique across re-creates)."""

    kind = "member"
    noun = "member"
    observed = {"address": "address", "port": "protocol_port", "operating_status": "operating_status"}

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        return ctx.cloud.conn.load_balancer.members(props["pool"])  # type: ignore[no-any-return]

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        def search() -> str | None:
            for m in self.listing(ctx, d, props):
                if m.address == props["address"] and m.protocol_port == props["port"]:
                    return self.id_of(props, m)
            return None

        return ctx.cloud.call(f"look for member {d.name}", search)

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        subnet = ctx.subnet(ctx.cache["network"])
        return ctx.cloud.conn.load_balancer.create_member(
            props["pool"],
            name=d.name,
            address=props["address"],
            protocol_port=props["port"],
            subnet_id=subnet.id,
            tags=tags,
        )

    def id_of(self, props: dict[str, Any], obj: Any) -> str:
        return obj if isinstance(obj, str) else f"{props['pool']}/{obj.id}"

    def wait_online(self, ctx: Context, name: str, cloud_id: str) -> None:
        """Wait until the member is healthy (ONLINE, or NO_MONITOR when the pool has no monitor).

        ERROR is not a failure here: a new VM's service answers the monitor only once it has
        started, so its member is ERROR (the monitor's probes failed) until then; the wait ends
        at ONLINE or at the member timeout.
        """
        ctx.cloud.wait(
            f"member {name} (health)",
            lambda: self.get(ctx, cloud_id),
            target=ctx.cloud.timeouts.member_healthy,
            failures=(),
            timeout=ctx.cloud.timeouts.member,
            attr="operating_status",
        )

    def drain(self, ctx: Context, cloud_id: str, seconds: float) -> None:
        """Take the member out of rotation (admin down: no new connection reaches it) and give
        the requests it is serving ``seconds`` to end before it is deleted."""
        if "lb_id" not in ctx.cache:
            return
        pool, _, member = cloud_id.partition("/")
        try:
            self.mutate(
                ctx,
                f"drain member {cloud_id}",
                lambda: ctx.cloud.conn.load_balancer.update_member(member, pool, admin_state_up=False),
            )
        except CloudNotFound:
            return  # already gone (a resumed replace)
        time.sleep(seconds)

    def get(self, ctx: Context, cloud_id: str) -> Any:
        pool, _, member = cloud_id.partition("/")
        return ctx.cloud.conn.load_balancer.get_member(member, pool)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        pool, _, member = cloud_id.partition("/")
        ctx.cloud.conn.load_balancer.delete_member(member, pool, ignore_missing=True)
