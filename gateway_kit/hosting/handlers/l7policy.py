"""``[tls] redirect_http``: an Octavia L7 policy that redirects HTTP to HTTPS."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..plan import Desired
from .base import Context, Props, tags_for
from .loadbalancer import LbChild


class L7PolicyHandler(LbChild):
    """A REDIRECT_PREFIX policy on an HTTP listener, with one rule (PATH STARTS_WITH ``/``:
    Octavia applies no policy without a rule). The rule is made in :meth:`wait`, so a run
    stopped between the two calls completes it when resumed."""

    kind = "l7policy"
    noun = "L7 policy"
    observed = {"action": "action", "redirect_prefix": "redirect_prefix"}

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        return ctx.cloud.conn.load_balancer.l7_policies(name=d.name)  # type: ignore[no-any-return]

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        return ctx.cloud.conn.load_balancer.create_l7_policy(
            name=d.name,
            listener_id=props["listener"],
            action=props["action"],
            redirect_prefix=props["redirect_prefix"],
            tags=tags,
        )

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
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        self.mutate(
            ctx,
            f"update L7 policy {d.name}",
            lambda: ctx.cloud.conn.load_balancer.update_l7_policy(
                cloud_id, redirect_prefix=props["redirect_prefix"]
            ),
        )
        return attrs

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.load_balancer.get_l7_policy(cloud_id)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        ctx.cloud.conn.load_balancer.delete_l7_policy(cloud_id, ignore_missing=True)
