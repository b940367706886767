"""Cross-service effects Nova calls: reserving, attaching and detaching volumes, boot volumes made for
a server, deleting them with it.
"""

from __future__ import annotations

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, new_id, now_iso
from gateway_kit.localcloud.store import Doc

from .common import SNAPSHOT, VOLUME, volume_doc

# -- hooks used by compute --------------------------------------------------------------


def reserve(cloud: LocalCloud, auth: AuthContext, volume_id: str) -> Doc:
    """Check that a volume may be attached (Nova's ``reserve_volume``)."""
    doc = cloud.get(VOLUME, volume_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Volume {volume_id} could not be found.", "itemNotFound")
    if doc["status"] != "available":
        raise ApiError(
            400,
            f"Invalid volume: Volume status must be available to reserve, but the status is {doc['status']}.",
            "badRequest",
        )
    return doc


def attach(cloud: LocalCloud, volume_id: str, server_id: str, device: str) -> str:
    """Attach: ``attaching`` now, ``in-use`` after one clock step; return the attachment id."""
    doc = cloud.store.get(VOLUME, volume_id)
    if doc is None:
        raise ApiError(404, f"Volume {volume_id} could not be found.", "itemNotFound")
    attachment_id = new_id()
    doc["status"] = "attaching"
    doc["updated_at"] = now_iso(micro=True)
    doc.setdefault("attachments", []).append(
        {
            "server_id": server_id,
            "attachment_id": attachment_id,
            "volume_id": volume_id,
            "id": volume_id,
            "device": device,
            "host_name": "localcloud",
            "attached_at": now_iso(micro=True),
        }
    )
    cloud.transition(VOLUME, doc, {"status": "in-use", "attach_status": "attached"})
    cloud.put(VOLUME, doc)
    return attachment_id


def detach(cloud: LocalCloud, volume_id: str, server_id: str, immediate: bool = False) -> None:
    """Detach: ``detaching`` now, ``available`` after one clock step (or at once)."""
    doc = cloud.store.get(VOLUME, volume_id)
    if doc is None:
        return
    doc["attachments"] = [a for a in doc.get("attachments", []) if a["server_id"] != server_id]
    doc["updated_at"] = now_iso(micro=True)
    if doc["attachments"]:
        cloud.put(VOLUME, doc)
        return
    doc.setdefault("_lc", {})["queue"] = []
    if immediate:
        doc["status"] = "available"
    else:
        doc["status"] = "detaching"
        cloud.transition(VOLUME, doc, {"status": "available", "attach_status": "detached"})
    cloud.put(VOLUME, doc)


def create_for_server(
    cloud: LocalCloud, auth: AuthContext, size: int, image_id: str | None, name: str
) -> Doc:
    """A boot volume Nova creates for ``block_device_mapping_v2`` (available at once)."""
    doc = volume_doc(cloud, auth, size, "available", bootable=bool(image_id), name=name, description="")
    doc["updated_at"] = doc["created_at"]
    if image_id:
        img = cloud.store.get("image.image", image_id)
        if img is None:
            raise ApiError(400, "Can not find requested image", "badRequest")
        doc["image_metadata"] = {
            "image_id": image_id,
            "image_name": img.get("name"),
            "disk_format": img.get("disk_format"),
            "container_format": img.get("container_format"),
        }
    cloud.put(VOLUME, doc)
    return doc


def delete_internal(cloud: LocalCloud, volume_id: str) -> None:
    for snap in cloud.store.find(SNAPSHOT, lambda s: s["volume_id"] == volume_id):
        cloud.delete(SNAPSHOT, snap["id"])
    cloud.delete(VOLUME, volume_id)


def _gone(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    if kind == VOLUME:
        delete_internal(cloud, doc["id"])
    else:
        cloud.delete(kind, doc["id"])
    return None
