"""Finding resources that carry the kit's ownership marks but belong to no recorded deployment.

They appear when a database is lost or restored from an old backup, or when something was made
by hand with the kit's tags. A security group or floating IP whose apply was killed between the
create call and the tag call carries no tags, only the description it was created with: it is
listed too (``untagged``; the next ``deploy apply`` of its deployment adopts it).
``gateway-kit deploy orphans`` lists them; ``--delete`` removes them.
"""

from __future__ import annotations

from typing import Any

from .cloud import Cloud, CloudNotFound
from .handlers import HANDLERS, Context, owner_from_tags
from .handlers.base import owner_from_description
from .handlers.secgroup import group_owner
from .plan import META_DEPLOYMENT, META_KEY


def find_orphans(cloud: Cloud, owned: set[str]) -> list[dict[str, Any]]:
    """Every marked resource whose id is not in ``owned``."""
    conn = cloud.conn
    found: list[dict[str, Any]] = []

    def add(kind: str, cloud_id: str, name: str, dep: str, key: str, **extra: Any) -> None:
        if cloud_id not in owned:
            found.append({"kind": kind, "id": cloud_id, "name": name, "deployment": dep, "key": key, **extra})

    for s in cloud.call("list servers", lambda: list(conn.compute.servers(details=True))):
        meta = s.metadata or {}
        if META_DEPLOYMENT in meta:
            add("server", str(s.id), s.name, meta[META_DEPLOYMENT], meta.get(META_KEY, ""))
    for v in cloud.call("list volumes", lambda: list(conn.block_storage.volumes(details=True))):
        meta = v.metadata or {}
        if META_DEPLOYMENT in meta:
            add("volume", str(v.id), v.name, meta[META_DEPLOYMENT], meta.get(META_KEY, ""))
    # Every group and address, not only the tagged ones: an untagged one is known by its description.
    for sg in cloud.call("list security groups", lambda: list(conn.network.security_groups())):
        tagged = owner_from_tags(sg.tags)
        owner = tagged or group_owner(sg.description)
        if owner:
            add("secgroup", str(sg.id), sg.name, *owner, untagged=tagged is None)
    for ip in cloud.call("list floating IPs", lambda: list(conn.network.ips())):
        tagged = owner_from_tags(ip.tags)
        owner = tagged or owner_from_description(ip.description)
        if owner:
            add("fip", str(ip.id), ip.floating_ip_address, *owner, untagged=tagged is None)
    try:
        lbs = cloud.call("list load balancers", lambda: list(conn.load_balancer.load_balancers()))
    except CloudNotFound:
        lbs = []
    for lb in lbs:
        owner = owner_from_tags(lb.tags)
        if owner:
            add("loadbalancer", str(lb.id), lb.name, *owner)
    rsets: list[Any] = []
    try:
        for zone in cloud.call("list DNS zones", lambda: list(conn.dns.zones())):
            rsets += cloud.call(f"list records of {zone.name}", _bind_list(conn, zone))
    except CloudNotFound:
        rsets = []
    for rs in rsets:
        owner = owner_from_description(rs.description)
        if owner:
            add("recordset", str(rs.id), rs.name, *owner, zone_id=rs.zone_id)
    return found


def delete_orphan(cloud: Cloud, orphan: dict[str, Any]) -> None:
    ctx = Context(cloud, orphan.get("deployment", ""))
    kind = orphan["kind"]
    cloud_id = orphan["id"]
    if kind == "recordset":
        cloud_id = f"{orphan['zone_id']}/{cloud_id}"
    HANDLERS[kind].delete(ctx, cloud_id, {})


def _bind_list(conn: Any, zone: Any) -> Any:
    return lambda: list(conn.dns.recordsets(zone))
