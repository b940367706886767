"""Day-2 operations on what a deployment runs: VMs, volumes, DNS records, load balancers.

Plain functions over a :class:`~gateway_kit.hosting.cloud.Cloud`; the CLI (``gateway-kit vm``,
``volume``, ``dns``, ``lb``) and the operator console call them. Every wait names its target,
failure states and timeout, like the engine's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import BadRequest
from .cloud import Cloud, CloudNotFound
from .plan import META_DEPLOYMENT

#: VM actions: SDK proxy method, target status after it.
VM_ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reboot": ("reboot_server", ("ACTIVE",)),
    "shelve": ("shelve_server", ("SHELVED", "SHELVED_OFFLOADED")),
    "unshelve": ("unshelve_server", ("ACTIVE",)),
    "suspend": ("suspend_server", ("SUSPENDED",)),
    "resume": ("resume_server", ("ACTIVE",)),
    "lock": ("lock_server", ()),
    "unlock": ("unlock_server", ()),
}


def _server(cloud: Cloud, name_or_id: str) -> Any:
    return cloud.call(
        f"find server {name_or_id}",
        lambda: cloud.conn.compute.find_server(name_or_id, ignore_missing=False),
    )


def _of_deployment(resources: Iterable[Any], deployment: str | None) -> Iterator[tuple[Any, str]]:
    """Each resource with the deployment its metadata names; only ``deployment``'s when given."""
    for resource in resources:
        dep = (resource.metadata or {}).get(META_DEPLOYMENT, "")
        if not deployment or dep == deployment:
            yield resource, dep


def list_vms(cloud: Cloud, deployment: str | None = None) -> list[dict[str, Any]]:
    out = []
    servers = cloud.call("list servers", lambda: list(cloud.conn.compute.servers(details=True)))
    for s, dep in _of_deployment(servers, deployment):
        addrs = [a["addr"] for net in (s.addresses or {}).values() for a in net]
        out.append(
            {
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "flavor": (s.flavor or {}).get("original_name", ""),
                "addresses": addrs,
                "deployment": dep,
                "locked": bool(getattr(s, "is_locked", False)),
            }
        )
    return sorted(out, key=lambda v: v["name"])


def show_vm(cloud: Cloud, name_or_id: str) -> dict[str, Any]:
    s = _server(cloud, name_or_id)
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "flavor": (s.flavor or {}).get("original_name", ""),
        "image": (s.image or {}).get("id", "") if isinstance(s.image, dict) else "",
        "addresses": s.addresses,
        "metadata": s.metadata,
        "key_name": s.key_name,
        "locked": bool(getattr(s, "is_locked", False)),
        "created": s.created_at,
        "fault": getattr(s, "fault", None),
    }


def vm_action(cloud: Cloud, name_or_id: str, action: str, wait: bool = True) -> str:
    """Run ``action`` (reboot, shelve, ...) and wait for its target status; return the status."""
    if action not in VM_ACTIONS:
        raise BadRequest(f"Unknown VM action {action!r}; use one of {', '.join(VM_ACTIONS)}.")
    method, target = VM_ACTIONS[action]
    s = _server(cloud, name_or_id)
    fn = getattr(cloud.conn.compute, method)
    if action == "reboot":
        cloud.call(f"reboot server {s.name}", lambda: fn(s.id, "SOFT"))
    else:
        cloud.call(f"{action} server {s.name}", lambda: fn(s.id))
    if wait and target:
        s = cloud.wait(
            f"server {s.name} ({action})",
            lambda: cloud.conn.compute.get_server(s.id),
            target=target,
            failures=("ERROR",),
            timeout=cloud.timeouts.server,
        )
    else:
        s = cloud.call(f"read server {s.name}", lambda: cloud.conn.compute.get_server(s.id))
    return str(s.status)


def resize_vm(cloud: Cloud, name_or_id: str, flavor: str) -> str:
    from .handlers import Context, ServerHandler

    s = _server(cloud, name_or_id)
    ServerHandler().resize(Context(cloud, ""), s.name, s.id, flavor)
    return flavor


def snapshot_vm(cloud: Cloud, name_or_id: str, name: str) -> str:
    s = _server(cloud, name_or_id)
    image = cloud.call(
        f"snapshot server {s.name}", lambda: cloud.conn.compute.create_server_image(s.id, name)
    )
    cloud.wait(
        f"image {name}",
        lambda: cloud.conn.image.get_image(image.id),
        target=("active",),
        failures=("killed", "deleted"),
        timeout=cloud.timeouts.server,
    )
    return str(image.id)


def console_log(cloud: Cloud, name_or_id: str, lines: int | None = None) -> str:
    s = _server(cloud, name_or_id)
    out = cloud.call(
        f"read console log of {s.name}",
        lambda: cloud.conn.compute.get_server_console_output(s.id, length=lines),
    )
    return str((out or {}).get("output", ""))


# -- volumes ---------------------------------------------------------------------------------


def list_volumes(cloud: Cloud, deployment: str | None = None) -> list[dict[str, Any]]:
    out = []
    volumes = cloud.call("list volumes", lambda: list(cloud.conn.block_storage.volumes(details=True)))
    for v, dep in _of_deployment(volumes, deployment):
        out.append(
            {
                "id": v.id,
                "name": v.name,
                "size": v.size,
                "status": v.status,
                "attached_to": [a.get("server_id") for a in v.attachments or []],
                "deployment": dep,
            }
        )
    return sorted(out, key=lambda v: v["name"] or "")


def _volume(cloud: Cloud, name_or_id: str) -> Any:
    return cloud.call(
        f"find volume {name_or_id}",
        lambda: cloud.conn.block_storage.find_volume(name_or_id, ignore_missing=False),
    )


def extend_volume(cloud: Cloud, name_or_id: str, size: int) -> int:
    v = _volume(cloud, name_or_id)
    if size <= int(v.size):
        raise BadRequest(f"Volume {v.name} is {v.size} GiB already; volumes can only grow.")
    bs = cloud.conn.block_storage
    cloud.call(f"extend volume {v.name} to {size} GiB", lambda: bs.extend_volume(v.id, size))
    v = cloud.wait(
        f"volume {v.name} (extend)",
        lambda: bs.get_volume(v.id),
        target=("available", "in-use"),
        failures=("error", "error_extending"),
        timeout=cloud.timeouts.volume,
    )
    return int(v.size)


def snapshot_volume(cloud: Cloud, name_or_id: str, name: str) -> str:
    v = _volume(cloud, name_or_id)
    bs = cloud.conn.block_storage
    snap = cloud.call(
        f"snapshot volume {v.name}",
        lambda: bs.create_snapshot(volume_id=v.id, name=name, force=True),
    )
    cloud.wait(
        f"snapshot {name}",
        lambda: bs.get_snapshot(snap.id),
        target=("available",),
        failures=("error",),
        timeout=cloud.timeouts.volume,
    )
    return str(snap.id)


def list_snapshots(
    cloud: Cloud, volume: str | None = None, deployment: str | None = None
) -> list[dict[str, Any]]:
    """Volume snapshots, optionally only those of ``volume`` or of ``deployment``'s volumes."""
    volumes = {v["id"]: v for v in list_volumes(cloud)}
    wanted: set[str] | None = None
    if volume is not None:
        wanted = {str(_volume(cloud, volume).id)}
    if deployment is not None:
        mine = {vid for vid, v in volumes.items() if v["deployment"] == deployment}
        wanted = mine if wanted is None else wanted & mine
    bs = cloud.conn.block_storage
    out = []
    for snap in cloud.call("list volume snapshots", lambda: list(bs.snapshots(details=True))):
        if wanted is not None and snap.volume_id not in wanted:
            continue
        vol = volumes.get(snap.volume_id, {})
        out.append(
            {
                "id": snap.id,
                "name": snap.name or "",
                "size": snap.size,
                "status": snap.status,
                "created_at": str(snap.created_at or ""),
                "volume_id": snap.volume_id,
                "volume": vol.get("name") or snap.volume_id,
                "deployment": vol.get("deployment", ""),
            }
        )
    return sorted(out, key=lambda s: (s["volume"], s["name"], s["id"]))


def delete_snapshot(cloud: Cloud, name_or_id: str) -> str:
    """Delete snapshot ``name_or_id`` and wait until it is gone; its name."""
    bs = cloud.conn.block_storage
    snap = cloud.call(
        f"find snapshot {name_or_id}",
        lambda: bs.find_snapshot(name_or_id, ignore_missing=False),
    )
    cloud.call(
        f"delete snapshot {snap.name or snap.id}", lambda: bs.delete_snapshot(snap, ignore_missing=True)
    )
    cloud.wait(
        f"snapshot {snap.name or snap.id} (delete)",
        lambda: bs.get_snapshot(snap.id),
        target=("deleted",),
        failures=("error_deleting",),
        timeout=cloud.timeouts.volume,
        gone_ok=True,
    )
    return str(snap.name or snap.id)


def snapshots_blocking(cloud: Cloud, deployment: str) -> str:
    """Why destroying ``deployment`` would stop at a volume (its snapshots), or ``""``.

    Cinder refuses to delete a volume that has snapshots; saying so before anything is deleted
    spares a half-destroyed deployment.
    """
    snaps = list_snapshots(cloud, deployment=deployment)
    if not snaps:
        return ""
    by_volume: dict[str, list[str]] = {}
    for snap in snaps:
        by_volume.setdefault(snap["volume"], []).append(snap["name"] or snap["id"])
    held = "; ".join(
        f"volume {vol} has {len(names)} snapshot(s): {', '.join(names)}" for vol, names in by_volume.items()
    )
    return (
        f"Deployment {deployment} cannot be destroyed as it is: {held}. A volume with snapshots cannot be "
        "deleted. Delete them first (`gateway-kit volume snapshots delete NAME`), or destroy with "
        "--with-snapshots to delete them as part of the destroy."
    )


# -- DNS -------------------------------------------------------------------------------------


def list_zones(cloud: Cloud) -> list[dict[str, Any]]:
    zones = cloud.call("list DNS zones", lambda: list(cloud.conn.dns.zones()))
    return [{"id": z.id, "name": z.name, "status": z.status, "ttl": z.ttl} for z in zones]


def _zone(cloud: Cloud, zone: str) -> Any:
    name = zone if zone.endswith(".") else zone + "."
    z = cloud.call(f"find DNS zone {name}", lambda: cloud.conn.dns.find_zone(name, ignore_missing=True))
    if z is None:
        raise CloudNotFound(f"DNS zone {name} does not exist in this project (see `gateway-kit dns zones`).")
    return z


def list_records(cloud: Cloud, zone: str) -> list[dict[str, Any]]:
    z = _zone(cloud, zone)
    rsets = cloud.call(f"list records of {z.name}", lambda: list(cloud.conn.dns.recordsets(z)))
    return [
        {"id": r.id, "name": r.name, "type": r.type, "records": r.records, "ttl": r.ttl, "status": r.status}
        for r in rsets
    ]


def _fqdn(name: str, zone_name: str) -> str:
    if name.endswith("."):
        return name
    return zone_name if name in ("", "@") else f"{name}.{zone_name}"


def add_record(
    cloud: Cloud, zone: str, name: str, rtype: str, records: list[str], ttl: int | None = None
) -> str:
    """Create or replace the record set ``name``/``rtype`` (A, AAAA, CNAME, TXT, CAA, MX, SRV...)."""
    z = _zone(cloud, zone)
    fqdn = _fqdn(name, z.name)
    dns = cloud.conn.dns
    existing = cloud.call(
        f"look for {rtype} {fqdn}", lambda: list(dns.recordsets(z, name=fqdn, type=rtype.upper()))
    )
    if existing:
        rs = existing[0]
        attrs: dict[str, Any] = {"records": records}
        if ttl is not None:
            attrs["ttl"] = ttl
        cloud.call(f"update {rtype} {fqdn}", lambda: dns.update_recordset(rs, **attrs))
        rs_id = rs.id
    else:
        body: dict[str, Any] = {"name": fqdn, "type": rtype.upper(), "records": records}
        if ttl is not None:
            body["ttl"] = ttl
        rs_id = cloud.call(f"create {rtype} {fqdn}", lambda: dns.create_recordset(z, **body)).id
    cloud.wait(
        f"record {fqdn}",
        lambda: dns.get_recordset(rs_id, z.id),
        target=("ACTIVE",),
        failures=("ERROR",),
        timeout=cloud.timeouts.dns,
    )
    return str(rs_id)


def remove_record(cloud: Cloud, zone: str, name: str, rtype: str) -> int:
    z = _zone(cloud, zone)
    fqdn = _fqdn(name, z.name)
    dns = cloud.conn.dns
    found = cloud.call(
        f"look for {rtype} {fqdn}", lambda: list(dns.recordsets(z, name=fqdn, type=rtype.upper()))
    )
    for rs in found:
        cloud.call(f"delete {rtype} {fqdn}", lambda r=rs: dns.delete_recordset(r, ignore_missing=True))  # type: ignore[misc]
    return len(found)


# -- load balancers --------------------------------------------------------------------------


def lb_status(cloud: Cloud, name_or_id: str | None = None) -> list[dict[str, Any]]:
    """Each load balancer with its listeners, pools and members and their operating status."""
    lbs_api = cloud.conn.load_balancer
    lbs = cloud.call("list load balancers", lambda: list(lbs_api.load_balancers()))
    if name_or_id:
        lbs = [lb for lb in lbs if name_or_id in (lb.id, lb.name)]
        if not lbs:
            raise CloudNotFound(f"There is no load balancer {name_or_id!r} in this project.")
    out = []
    for lb in lbs:
        listeners = cloud.call(
            f"list listeners of {lb.name}",
            lambda lb=lb: list(lbs_api.listeners(loadbalancer_id=lb.id)),  # type: ignore[misc]
        )
        pools = cloud.call(
            f"list pools of {lb.name}",
            lambda lb=lb: list(lbs_api.pools(loadbalancer_id=lb.id)),  # type: ignore[misc]
        )
        pool_out = []
        for p in pools:
            members = cloud.call(f"list members of {p.name}", lambda p=p: list(lbs_api.members(p.id)))  # type: ignore[misc]
            pool_out.append(
                {
                    "name": p.name,
                    "algorithm": p.lb_algorithm,
                    "provisioning_status": p.provisioning_status,
                    "operating_status": p.operating_status,
                    "members": [
                        {
                            "name": m.name,
                            "address": m.address,
                            "port": m.protocol_port,
                            "operating_status": m.operating_status,
                        }
                        for m in members
                    ],
                }
            )
        out.append(
            {
                "name": lb.name,
                "id": lb.id,
                "vip_address": lb.vip_address,
                "provisioning_status": lb.provisioning_status,
                "operating_status": lb.operating_status,
                "listeners": [
                    {
                        "name": li.name,
                        "protocol": li.protocol,
                        "port": li.protocol_port,
                        "operating_status": li.operating_status,
                    }
                    for li in listeners
                ],
                "pools": pool_out,
            }
        )
    return out


# -- quotas ----------------------------------------------------------------------------------


def quota_usage(cloud: Cloud) -> list[dict[str, Any]]:
    """Used and total per resource, like Exosphere's bars, from the cloud's limits."""
    compute = cloud.call("read compute limits", lambda: cloud.conn.compute.get_limits()).absolute
    rows = [
        ("Instances", compute.instances_used, compute.instances),
        ("Cores", compute.total_cores_used, compute.total_cores),
        ("RAM (MiB)", compute.total_ram_used, compute.total_ram),
    ]
    vol = cloud.call("read volume limits", lambda: cloud.conn.block_storage.get_limits()).absolute
    rows += [
        ("Volumes", vol.total_volumes_used, vol.max_total_volumes),
        ("Gigabytes", vol.total_gigabytes_used, vol.max_total_volume_gigabytes),
    ]
    ips = cloud.call("list floating IPs", lambda: list(cloud.conn.network.ips()))
    fip_total = None
    try:
        q = cloud.call("read network quota", lambda: cloud.conn.network.get_quota(cloud.project_id))
        fip_total = q.floating_ips
    except CloudNotFound:
        fip_total = None
    rows.append(("Floating IPs", len(ips), fip_total))
    out = []
    for label, used, total in rows:
        used_i = int(used or 0)
        total_i = int(total) if total is not None else -1
        pct = 0 if total_i <= 0 else min(100, round(100 * used_i / total_i))
        out.append({"label": label, "used": used_i, "total": total_i, "percent": pct})
    return out
