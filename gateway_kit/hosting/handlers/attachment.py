"""A volume attached to a server; the id is ``<server_id>/<volume_id>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cloud import CloudNotFound
from ..plan import Desired
from .base import Context, Handler
from .volume import VolumeHandler, detach


class AttachmentHandler(Handler):
    """Observed through the volume's attachments (Cinder's view, which Nova drives)."""

    kind = "attachment"
    noun = "volume"
    volumes = VolumeHandler()

    def _attached(
        self, ctx: Context, server: str, volume: str, listed: Mapping[str, Any] | None = None
    ) -> bool:
        vol = listed[volume] if listed and volume in listed else self.volumes.fetch(ctx, volume)
        return vol is not None and any(a.get("server_id") == server for a in vol.attachments or [])

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        if self._attached(ctx, props["server"], props["volume"]):
            return f"{props['server']}/{props['volume']}"
        return None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        server, volume = props["server"], props["volume"]
        ctx.cloud.call(
            f"attach volume {d.name}",
            lambda: ctx.cloud.conn.compute.create_volume_attachment(server, volume_id=volume),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return f"{server}/{volume}"

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        self.volumes.wait_state(
            ctx, f"volume {d.name} (attach)", props["volume"], ("in-use",), ("error", "error_attaching")
        )
        return {"id": cloud_id}

    def observe(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        server, _, volume = cloud_id.partition("/")
        return {"status": "ACTIVE"} if self._attached(ctx, server, volume) else None

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """From the volumes the volume kind listed in this refresh (those it did not, read)."""
        listed = ctx.cache.get(f"listed:{self.volumes.kind}")
        out: dict[str, dict[str, Any] | None] = {}
        for cloud_id in items:
            server, _, volume = cloud_id.partition("/")
            out[cloud_id] = {"status": "ACTIVE"} if self._attached(ctx, server, volume, listed) else None
        return out

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        server, _, volume = cloud_id.partition("/")
        try:
            detach(ctx, server, volume)
        except CloudNotFound:
            return
        if self._attached(ctx, server, volume):
            self.volumes.wait_state(
                ctx, f"volume {volume} (detach)", volume, ("available",), ("error", "error_detaching")
            )
