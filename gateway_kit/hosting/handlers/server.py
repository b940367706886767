"""Nova servers: created with the kit's metadata marks (and a digest of their properties, so a
resumed replace can tell the old server from the new), resized in place, shut down cleanly
before a replace deletes them, deleted and waited gone."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from ...errors import GatewayError
from ..plan import META_DEPLOYMENT, META_DIGEST, META_KEY, Desired, digest
from .base import Context, Handler, Props, find_by_meta, upper

log = logging.getLogger(__name__)


class ServerHandler(Handler):
    kind = "server"
    noun = "server"

    def _meta(self, ctx: Context, d: Desired, props: dict[str, Any]) -> dict[str, str]:
        meta = {str(k): str(v) for k, v in (props.get("metadata") or {}).items()}
        meta.update(
            {
                META_DEPLOYMENT: ctx.deployment,
                META_KEY: d.key,
                META_DIGEST: digest(repr(sorted((k, str(v)) for k, v in props.items()))),
            }
        )
        return meta

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        want = self._meta(ctx, d, props)[META_DIGEST]
        return find_by_meta(
            ctx,
            d,
            "server",
            lambda: ctx.cloud.conn.compute.servers(details=True, name=f"^{d.name}$"),
            exclude,
            **{META_DIGEST: want},
        )

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        flavor = ctx.flavor(props["flavor"])
        image = ctx.image(props["image"])
        net = ctx.network(props["network"])
        kwargs: dict[str, Any] = {
            "name": d.name,
            "flavor_id": flavor.id,
            "image_id": image.id,
            "networks": [{"uuid": net.id}],
            "security_groups": [{"name": props["secgroup"]}],
            "metadata": self._meta(ctx, d, props),
        }
        if props.get("key_name"):
            kwargs["key_name"] = props["key_name"]
        text = d.payload.get("user_data") or ""
        if text:
            kwargs["user_data"] = base64.b64encode(text.encode()).decode()
        server = ctx.cloud.call(
            f"create server {d.name}",
            lambda: ctx.cloud.conn.compute.create_server(**kwargs),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(server if isinstance(server, str) else server.id)

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.compute.get_server(cloud_id)

    def observe_many(
        self, ctx: Context, items: Mapping[str, dict[str, Any]], detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        return self.observe_listed(ctx, items, lambda: ctx.cloud.conn.compute.servers(details=True))

    def _active(self, ctx: Context, label: str, cloud_id: str, target: str = "ACTIVE") -> Any:
        return self.wait_status(ctx, label, cloud_id, (target,), ("ERROR",), ctx.cloud.timeouts.server)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        server = self._active(ctx, f"server {d.name}", cloud_id)
        return self._attrs(ctx, server, props.get("network"))

    def _attrs(self, ctx: Context, server: Any, network: str | None) -> dict[str, Any]:
        address = ""
        for _net, addrs in (server.addresses or {}).items():
            for a in addrs:
                if a.get("OS-EXT-IPS:type", "fixed") == "fixed" and a.get("version", 4) == 4:
                    address = address or a["addr"]
        ports = list(
            ctx.cloud.call(
                f"list ports of server {server.name}",
                lambda: list(ctx.cloud.conn.network.ports(device_id=server.id)),
            )
        )
        port_id = str(ports[0].id) if ports else ""
        if not address and ports:
            address = ports[0].fixed_ips[0]["ip_address"]
        return {"id": str(server.id), "address": address, "port_id": port_id}

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        flavor = (obj.flavor or {}).get("original_name") or (obj.flavor or {}).get("name")
        meta = {k: v for k, v in (obj.metadata or {}).items() if not k.startswith("gateway_kit_")}
        image_id = (obj.image or {}).get("id") if isinstance(obj.image, dict) else None
        return {
            "status": upper(obj.status),
            "flavor": flavor,
            "metadata": meta,
            "image_id": image_id,
            "locked": bool(getattr(obj, "is_locked", False)),
        }

    def update(
        self, ctx: Context, d: Desired, cloud_id: str, before: Props, props: Props, attrs: Props
    ) -> Props:
        compute = ctx.cloud.conn.compute
        if before.get("flavor") != props["flavor"]:
            self.resize(ctx, d.name, cloud_id, props["flavor"])
        if before.get("metadata") != props.get("metadata"):
            meta = self._meta(ctx, d, props)
            ctx.cloud.call(
                f"set metadata of server {d.name}", lambda: compute.set_server_metadata(cloud_id, **meta)
            )
            gone = set(before.get("metadata") or {}) - set(props.get("metadata") or {})
            if gone:
                ctx.cloud.call(
                    f"delete metadata of server {d.name}",
                    lambda: compute.delete_server_metadata(cloud_id, sorted(gone)),
                )
        else:
            # the digest mark follows the props so a resumed replace can tell old from new
            meta = {META_DIGEST: self._meta(ctx, d, props)[META_DIGEST]}
            ctx.cloud.call(
                f"set metadata of server {d.name}", lambda: compute.set_server_metadata(cloud_id, **meta)
            )
        return attrs

    def resize(self, ctx: Context, name: str, cloud_id: str, flavor_name: str) -> None:
        """Resize, wait for VERIFY_RESIZE, confirm, wait for ACTIVE; resumes a half-done resize."""
        compute = ctx.cloud.conn.compute
        server = ctx.cloud.call(f"read server {name}", lambda: compute.get_server(cloud_id))
        current = (server.flavor or {}).get("original_name")
        status = upper(server.status)
        if status == "ACTIVE" and current == flavor_name:
            return
        if status != "VERIFY_RESIZE":
            flavor = ctx.flavor(flavor_name)
            ctx.cloud.call(
                f"resize server {name} to {flavor_name}", lambda: compute.resize_server(cloud_id, flavor.id)
            )
            self._active(ctx, f"server {name} (resize)", cloud_id, "VERIFY_RESIZE")
        ctx.cloud.call(f"confirm resize of server {name}", lambda: compute.confirm_server_resize(cloud_id))
        self._active(ctx, f"server {name} (confirm resize)", cloud_id)

    def shut_down(self, ctx: Context, cloud_id: str) -> None:
        """Stop the server cleanly before it is deleted: Nova's stop shuts the guest down, so its
        systemd units get SIGTERM (a worker hands back the jobs it holds), where a delete alone
        powers a VM off on most clouds. A server that is not ACTIVE (already SHUTOFF, in ERROR,
        gone) is left as it is; a stop refused or not done in time is logged and the delete goes
        ahead, so that it never holds up a release."""
        compute = ctx.cloud.conn.compute
        try:
            server = ctx.cloud.call(
                f"read server {cloud_id}", lambda: compute.find_server(cloud_id, ignore_missing=True)
            )
            if server is None or upper(server.status) != "ACTIVE":
                return
            ctx.cloud.call(f"stop server {cloud_id}", lambda: compute.stop_server(cloud_id))
            self._active(ctx, f"server {cloud_id} (stop)", cloud_id, "SHUTOFF")
        except GatewayError as exc:
            log.warning("server %s: no clean stop before its deletion (%s)", cloud_id, exc.log_message)

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        compute = ctx.cloud.conn.compute
        ctx.cloud.call(
            f"delete server {cloud_id}", lambda: compute.delete_server(cloud_id, ignore_missing=True)
        )
        self.wait_gone(ctx, cloud_id, ctx.cloud.timeouts.server)
