"""Cinder volumes, marked by metadata; grown in place (never shrunk); detached before deletion
when a crash left them attached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..plan import META_DEPLOYMENT, META_KEY, Desired
from .base import Context, Handler, Props, find_by_meta, upper

USABLE = ("available", "in-use")
BROKEN = ("error", "error_extending")


class VolumeHandler(Handler):
    kind = "volume"
    noun = "volume"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        return find_by_meta(
            ctx, d, "volume", lambda: ctx.cloud.conn.block_storage.volumes(details=True, name=d.name), exclude
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {
            "name": d.name,
            "size": props["size"],
            "metadata": {META_DEPLOYMENT: ctx.deployment, META_KEY: d.key},
        }
        if props.get("type"):
            kwargs["volume_type"] = props["type"]
        vol = ctx.cloud.call(
            f"create volume {d.name}",
            lambda: ctx.cloud.conn.block_storage.create_volume(**kwargs),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(vol.id)

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.block_storage.get_volume(cloud_id)

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        return self.observe_listed(ctx, items, lambda: ctx.cloud.conn.block_storage.volumes(details=True))

    def wait_state(
        self,
        ctx: Context,
        label: str,
        cloud_id: str,
        target: tuple[str, ...] = USABLE,
        failures: tuple[str, ...] = BROKEN,
    ) -> Any:
        return self.wait_status(ctx, label, cloud_id, target, failures, ctx.cloud.timeouts.volume)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        self.wait_state(ctx, f"volume {d.name}", cloud_id)
        return {"id": cloud_id}

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        return {
            "status": upper(obj.status),
            "size": obj.size,
            "attached_to": [a.get("server_id") for a in (obj.attachments or [])],
        }

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        bs = ctx.cloud.conn.block_storage
        vol = ctx.cloud.call(f"read volume {d.name}", lambda: bs.get_volume(cloud_id))
        if int(vol.size) < int(props["size"]):
            ctx.cloud.call(
                f"extend volume {d.name} to {props['size']} GiB",
                lambda: bs.extend_volume(cloud_id, props["size"]),
            )
        self.wait_state(ctx, f"volume {d.name} (extend)", cloud_id)
        return attrs

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        bs = ctx.cloud.conn.block_storage
        vol = self.fetch(ctx, cloud_id)
        if vol is None:
            return
        for a in vol.attachments or []:  # a crash may have left it attached
            server_id = str(a.get("server_id"))
            detach(ctx, server_id, cloud_id)
        if vol.attachments:
            self.wait_state(ctx, f"volume {cloud_id} (detach)", cloud_id, ("available", "error"), ())
        ctx.cloud.call(f"delete volume {cloud_id}", lambda: bs.delete_volume(cloud_id, ignore_missing=True))
        self.wait_gone(ctx, cloud_id, ctx.cloud.timeouts.volume)


def detach(ctx: Context, server_id: str, volume_id: str) -> None:
    """Ask Nova to detach ``volume_id`` from ``server_id`` (nothing when it is not attached)."""
    compute = ctx.cloud.conn.compute
    ctx.cloud.call(
        f"detach volume {volume_id}",
        lambda: compute.delete_volume_attachment(server_id, volume_id, ignore_missing=True),
    )
