"""Cinder volumes on the data plane: persistent directories that appear inside instances.

**Convention.** A volume is the directory ``ROOT/volumes/<volume id>/``, made when it is first
attached (or created from a snapshot or another volume). While it is attached to a running
instance at device ``/dev/vdX`` (Nova's ``device``), it appears in that instance's rootfs as

* ``/mnt/vdX`` -- where the local cloud "mounts" it, whatever the cloud-config says;
* ``/dev/disk/by-id/virtio-<first 20 characters of the volume id>`` -- the name a real image gives
  the disk, so a template can find its volume by id;
* each ``mounts:`` entry of the instance's cloud-config whose device is ``/dev/vdX``, ``vdX`` or that
  by-id name (``[/dev/vdb, /srv/data, ext4, defaults]`` -> ``/srv/data``), unless something other than
  an empty directory is already there.

All three are symbolic links to the volume directory: whatever is written there lands in the
volume, survives detach, re-attach to another server and server replacement, and is gone when
the volume is deleted (its directory is removed). ``fs_setup``/``disk_setup``/``mkfs`` have nothing
to do: the directory is the file system.

**Snapshots** copy the directory (``ROOT/snapshots/<snapshot id>/``) when the data plane first sees
them; a volume created from a snapshot (``snapshot_id``) or from another volume (``source_volid``)
starts as a copy of it.

**Size (best effort).** Every few seconds the data plane adds up the bytes in each volume. Over its
``size`` (GiB), the volume's directories lose their write permission, so creating files fails
(``EACCES``, where a real disk says ``ENOSPC``; files already open can still grow) and the console
log of the instance says so; below it again, the permission comes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.dataplane.cloudconfig import rootfs_path
from gateway_kit.localcloud.store import Doc

log = logging.getLogger(__name__)

VOLUME = "volume.volume"
SNAPSHOT = "volume.snapshot"
GIB = 1 << 30
QUOTA_INTERVAL = 2.0


def by_id(volume_id: str) -> str:
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def mount_points(config: dict[str, Any]) -> dict[str, str]:
    """device -> mount point from a cloud-config's ``mounts`` (pure; devices as written)."""
    out: dict[str, str] = {}
    for entry in config.get("mounts") or []:
        if isinstance(entry, list) and len(entry) >= 2 and entry[0] and entry[1]:
            device, point = str(entry[0]), str(entry[1])
            if point.startswith("/") and point not in ("none", "swap"):
                out[device if device.startswith("/") else f"/dev/{device}"] = point
    return out


def tree_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def set_writable(path: Path, writable: bool) -> None:
    """Give or take the owner's write permission on every directory of ``path``."""
    for folder, _dirs, _files in os.walk(path):
        with contextlib.suppress(OSError):
            mode = os.stat(folder).st_mode
            os.chmod(folder, (mode | stat.S_IWUSR) if writable else (mode & ~0o222))


def remove_tree(path: Path) -> None:
    if path.exists():
        set_writable(path, True)
        shutil.rmtree(path, ignore_errors=True)


def _link(target: Path, link: Path) -> bool:
    """Make ``link`` a symbolic link to ``target`` if the place is free (or an empty directory)."""
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return True
        link.unlink()
    elif link.is_dir():
        if any(link.iterdir()):
            return False
        link.rmdir()
    elif link.exists():
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    return True


class Volumes:
    """Keeps the volume directories and the links inside instances in step with Cinder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.volumes = root / "volumes"
        self.snapshots = root / "snapshots"
        self._checked = 0.0
        self._full: set[str] = set()

    def sync(self, cloud: LocalCloud, instances: dict[str, Doc]) -> None:
        """One pass (under the cloud's lock): ``instances`` maps a server id to its record."""
        volumes = {str(v["id"]): v for v in cloud.store.all(VOLUME)}
        snapshots = {str(s["id"]): s for s in cloud.store.all(SNAPSHOT)}
        for sid, snap in snapshots.items():
            target = self.snapshots / sid
            source = self.volumes / str(snap.get("volume_id"))
            if not target.exists() and snap.get("status") not in ("error", "deleting") and source.is_dir():
                shutil.copytree(source, target, symlinks=True)
                set_writable(target, True)
        for vid, vol in volumes.items():
            target = self.volumes / vid
            if target.exists() or vol.get("status") in ("error", "creating", "deleting"):
                continue
            if vol.get("snapshot_id") and (self.snapshots / str(vol["snapshot_id"])).is_dir():
                shutil.copytree(self.snapshots / str(vol["snapshot_id"]), target, symlinks=True)
            elif vol.get("source_volid") and (self.volumes / str(vol["source_volid"])).is_dir():
                shutil.copytree(self.volumes / str(vol["source_volid"]), target, symlinks=True)
                set_writable(target, True)
        # Links inside instances: exactly the volumes attached to each.
        for server_id, rec in instances.items():
            rootfs = Path(rec["dir"]) / "rootfs"
            wanted: dict[Path, Path] = {}
            mounts = dict(rec.get("mounts") or {})
            for vid, vol in volumes.items():
                for att in vol.get("attachments") or []:
                    if att.get("server_id") != server_id or vol.get("status") in ("error", "deleting"):
                        continue
                    target = self.volumes / vid
                    target.mkdir(parents=True, exist_ok=True)
                    device = str(att.get("device") or "")
                    name = device.rsplit("/", 1)[-1]
                    if name:
                        wanted[rootfs_path(rootfs, f"/mnt/{name}")] = target
                    wanted[rootfs_path(rootfs, by_id(vid))] = target
                    for dev, point in mounts.items():
                        if dev in (device, by_id(vid)):
                            wanted[rootfs_path(rootfs, point)] = target
            for link, target in wanted.items():
                if not _link(target, link):
                    log.warning(
                        "data plane: %s is in the way of volume %s in %s", link, target.name, server_id
                    )
            known = set(rec.get("volume_links") or [])
            for stale in known - {str(p) for p in wanted}:
                path = Path(stale)
                if path.is_symlink():
                    path.unlink()
            rec["volume_links"] = sorted(str(p) for p in wanted)
        # Deleted volumes and snapshots take their directories with them.
        for folder, live in ((self.volumes, volumes), (self.snapshots, snapshots)):
            if folder.is_dir():
                for entry in folder.iterdir():
                    if entry.name not in live:
                        remove_tree(entry)
        now = time.monotonic()
        if now - self._checked >= QUOTA_INTERVAL:
            self._checked = now
            self._quota(volumes, instances)

    def _quota(self, volumes: dict[str, Doc], instances: dict[str, Doc]) -> None:
        for vid, vol in volumes.items():
            folder = self.volumes / vid
            if not folder.is_dir():
                continue
            full = tree_size(folder) > int(vol.get("size") or 1) * GIB
            if full == (vid in self._full):
                continue
            set_writable(folder, not full)
            (self._full.add if full else self._full.discard)(vid)
            message = (
                f"localcloud data plane: volume {vid} is over its size of {vol.get('size')} GiB: read-only"
                if full
                else f"localcloud data plane: volume {vid} is within its size again; writable"
            )
            log.warning("%s", message)
            for att in vol.get("attachments") or []:
                rec = instances.get(str(att.get("server_id")))
                if rec is not None:
                    with (
                        contextlib.suppress(OSError),
                        open(Path(rec["dir"]) / "console.log", "a", encoding="utf-8") as f,
                    ):
                        f.write(message + "\n")
