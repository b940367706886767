"""Octavia load balancers (tagged; deleted with cascade) and the shared shape of their children:
every child mutation puts the load balancer in PENDING_UPDATE, so each one waits for ACTIVE
before (Octavia answers 409 otherwise) and after."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..plan import Desired
from .base import Context, Handler, description_for, find_tagged, get_or_none, tags_for, upper

LB_PENDING_FAILURES = ("ERROR",)


class LoadBalancerHandler(Handler):
    kind = "loadbalancer"
    noun = "load balancer"
    status_attr = "provisioning_status"
    observed = {"operating_status": "operating_status"}

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return find_tagged(
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

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.load_balancer.get_load_balancer(cloud_id)

    def wait_active(self, ctx: Context, label: str, cloud_id: str) -> Any:
        timeout = ctx.cloud.timeouts.load_balancer
        return self.wait_status(
            ctx, label, cloud_id, ("ACTIVE",), LB_PENDING_FAILURES, timeout, "provisioning_status"
        )

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        lb = self.wait_active(ctx, f"load balancer {d.name}", cloud_id)
        ctx.cache["lb_id"] = cloud_id
        return {"id": cloud_id, "vip_address": lb.vip_address, "vip_port_id": lb.vip_port_id}

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        ctx.cache["lb_id"] = cloud_id
        return super().project(ctx, cloud_id, obj)

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """For a plan, the load balancer's status tree: its own and its children's statuses in one
        call (kept in ``ctx.cache["lb_tree"]`` for :meth:`LbChild.observe_many`)."""
        if detail or len(items) != 1:
            return super().observe_many(ctx, items, detail)
        (cloud_id,) = items
        tree = get_or_none(
            ctx,
            f"read the status tree of load balancer {cloud_id}",
            lambda: _status_tree(ctx, cloud_id),
        )
        if tree is None:
            return {cloud_id: None}
        top = tree["statuses"]["loadbalancer"]
        ctx.cache["lb_tree"] = dict(status_tree(top))
        ctx.cache["lb_id"] = cloud_id
        return {
            cloud_id: {
                "status": upper(top["provisioning_status"]),
                "operating_status": top["operating_status"],
            }
        }

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        lb = self.fetch(ctx, cloud_id)
        if lb is None:
            return
        timeout = ctx.cloud.timeouts.load_balancer
        if upper(lb.provisioning_status).startswith("PENDING"):
            label = f"load balancer {cloud_id} (before delete)"
            self.wait_status(ctx, label, cloud_id, ("ACTIVE", "ERROR"), (), timeout, "provisioning_status")
        # cascade: listeners, pools, members and monitors go with it (no dangling children)
        ctx.cloud.call(
            f"delete load balancer {cloud_id}",
            lambda: ctx.cloud.conn.load_balancer.delete_load_balancer(
                cloud_id, ignore_missing=True, cascade=True
            ),
        )
        self.wait_gone(ctx, cloud_id, timeout, "provisioning_status")


class LbChild(Handler):
    """A child of the deployment's load balancer (pool, listener, monitor, L7 policy, member).

    A kind says how to list candidates by name (:meth:`listing`), what to send to create one
    (:meth:`create_call`, given the kit's tags), how to remove one (:meth:`remove`) and, through
    ``observed``, what to compare; finding by tags, creating, deleting and observing are shared.
    """

    status_attr = "provisioning_status"
    lbs = LoadBalancerHandler()

    def lb_id(self, ctx: Context) -> str:
        return str(ctx.cache["lb_id"])

    def wait_lb(self, ctx: Context, what: str) -> Any:
        return self.lbs.wait_active(ctx, f"load balancer ({what})", self.lb_id(ctx))

    def mutate(self, ctx: Context, what: str, fn: Any, before_retry: Any = None) -> Any:
        """Run one child mutation: wait for ACTIVE first (409 otherwise), then after."""
        self.wait_lb(ctx, what)
        result = ctx.cloud.call(what, fn, before_retry=before_retry)
        self.wait_lb(ctx, what)
        return result

    def listing(self, ctx: Context, d: Desired, props: dict[str, Any]) -> Iterable[Any]:
        raise NotImplementedError

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return find_tagged(ctx, d, self.noun, lambda: self.listing(ctx, d, props))

    def create_call(self, ctx: Context, d: Desired, props: dict[str, Any], tags: list[str]) -> Any:
        raise NotImplementedError

    def id_of(self, props: dict[str, Any], obj: Any) -> str:
        return str(obj if isinstance(obj, str) else obj.id)

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        tags = tags_for(ctx.deployment, d.key)
        obj = self.mutate(
            ctx,
            f"create {self.noun} {d.name}",
            lambda: self.create_call(ctx, d, props, tags),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return self.id_of(props, obj)

    def remove(self, ctx: Context, cloud_id: str) -> None:
        raise NotImplementedError

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """For a plan, from the load balancer's status tree (a child it does not show is read
        on its own: L7 policies, a pool no listener uses)."""
        tree: dict[str, dict[str, Any]] | None = ctx.cache.get("lb_tree")
        if detail or tree is None:
            return super().observe_many(ctx, items, detail)
        out: dict[str, dict[str, Any] | None] = {}
        for cloud_id, attrs in items.items():
            node = tree.get(cloud_id.rpartition("/")[2])  # a member's id is <pool>/<member>
            if node is None:
                out[cloud_id] = self.observe(ctx, cloud_id, attrs)
                continue
            seen = {"status": upper(node["provisioning_status"])}
            if "operating_status" in self.observed:
                seen["operating_status"] = node["operating_status"]
            out[cloud_id] = seen
        return out

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if "lb_id" not in ctx.cache:
            return  # the load balancer is gone (cascade)
        self.mutate(ctx, f"delete {self.noun} {cloud_id}", lambda: self.remove(ctx, cloud_id))


def status_tree(node: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, node) for every child in an Octavia status tree below ``node``: listeners, their
    pools, the pools' members and health monitor."""
    for field in ("listeners", "pools", "members"):
        for child in node.get(field) or []:
            yield str(child["id"]), child
            yield from status_tree(child)
    monitor = node.get("health_monitor") or node.get("healthmonitor")
    if monitor:
        yield str(monitor["id"]), monitor


def _status_tree(ctx: Context, cloud_id: str) -> Any:
    """Octavia's status tree of the load balancer; an error answer (404, 429, 5xx) raised as the
    SDK's exception, so that ``Cloud.call`` retries or translates it (a raw ``get`` does not raise)."""
    from openstack import exceptions

    resp = ctx.cloud.conn.load_balancer.get(f"/lbaas/loadbalancers/{cloud_id}/status")
    exceptions.raise_from_response(resp)
    return resp.json()
