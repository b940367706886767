"""Nova keypairs, marked by their name (they carry no tags); an adopted one is never deleted."""

from __future__ import annotations

from typing import Any

from ..plan import Desired
from .base import Context, Handler


class KeypairHandler(Handler):
    kind = "keypair"
    noun = "keypair"

    def find(self, ctx: Context, d: Desired, props: dict[str, Any], exclude: set[str]) -> str | None:
        kp = ctx.cloud.call(
            f"find keypair {d.name}", lambda: ctx.cloud.conn.compute.find_keypair(d.name, ignore_missing=True)
        )
        return str(kp.name) if kp is not None else None

    def create(self, ctx: Context, d: Desired, props: dict[str, Any]) -> str:
        existing = self.find(ctx, d, props, set())
        if existing is not None:
            # a keypair of that name exists already: use it, but never delete what we did not make
            ctx.cache[f"adopted:{d.key}"] = True
            return existing
        kp = ctx.cloud.call(
            f"create keypair {d.name}",
            lambda: ctx.cloud.conn.compute.create_keypair(name=d.name, public_key=props["public_key"]),
            before_retry=lambda: self.find(ctx, d, props, set()),
        )
        return str(kp if isinstance(kp, str) else kp.name)

    def wait(self, ctx: Context, d: Desired, cloud_id: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"id": cloud_id, "adopted": bool(ctx.cache.pop(f"adopted:{d.key}", False))}

    def get(self, ctx: Context, cloud_id: str) -> Any:
        return ctx.cloud.conn.compute.get_keypair(cloud_id)

    def project(self, ctx: Context, cloud_id: str, obj: Any) -> dict[str, Any]:
        return {"status": "ACTIVE", "name": obj.name, "public_key": (obj.public_key or "").strip()}

    def delete(self, ctx: Context, cloud_id: str, attrs: dict[str, Any]) -> None:
        if attrs.get("adopted"):
            return
        ctx.cloud.call(
            f"delete keypair {cloud_id}",
            lambda: ctx.cloud.conn.compute.delete_keypair(cloud_id, ignore_missing=True),
        )
