"""The server state machine's hooks: boot volumes, booted/failed/deleted/settled transitions and the
data plane's boot/destroy hooks.
"""

from __future__ import annotations

from typing import Any

from gateway_kit.localcloud.core import ApiError, AuthContext, LocalCloud, new_id, now_iso
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import SERVER, SERVER_GROUP


def _attach_boot_volumes(
    cloud: LocalCloud, auth: AuthContext, server: Doc, bdms_in: list[dict[str, Any]], image: Doc | None
) -> None:
    from gateway_kit.localcloud.services import volume as cinder

    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for bdm in bdms_in:
        if bdm.get("destination_type") != "volume":
            continue
        letter = next(letters)
        device = bdm.get("device_name") or f"/dev/vd{letter}"
        source = bdm.get("source_type")
        if source == "volume":
            vol = cinder.reserve(cloud, auth, str(bdm.get("uuid")))
        elif source in ("image", "blank", "snapshot"):
            size = int(bdm.get("volume_size") or server["flavor"]["disk"] or 1)
            vol = cinder.create_for_server(
                cloud,
                auth,
                size,
                str(bdm.get("uuid")) if source == "image" else None,
                f"{server['name']}-vol",
            )
        else:
            raise ApiError(400, f"Invalid source_type {source}", "badRequest")
        attachment_id = cinder.attach(cloud, vol["id"], server["id"], device)
        server["bdms"].append(
            {
                "volume_id": vol["id"],
                "device": device,
                "delete_on_termination": bool(bdm.get("delete_on_termination", False)),
                "attachment_id": attachment_id,
                "bdm_uuid": new_id(),
                "tag": bdm.get("tag"),
                "boot_index": bdm.get("boot_index"),
            }
        )


def _booted(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["launched_at"] = now_iso(micro=True)
    doc["updated"] = now_iso()
    for fn in cloud.extensions.get("compute.boot_hooks", []):
        fn(cloud, doc)
    return doc


def _failed(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["fault"] = {
        "code": 500,
        "created": now_iso(),
        "message": "No valid host was found. There are not enough hosts available.",
        "details": "",
    }
    doc["updated"] = now_iso()
    return doc


def _deleted(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    from gateway_kit.localcloud.services import volume as cinder

    for fn in cloud.extensions.get("compute.destroy_hooks", []):
        fn(cloud, doc)
    neutron.delete_device_ports(cloud, doc["id"])
    for bdm in doc.get("bdms", []):
        cinder.detach(cloud, bdm["volume_id"], doc["id"], immediate=True)
        if bdm.get("delete_on_termination"):
            cinder.delete_internal(cloud, bdm["volume_id"])
    for group in cloud.store.find(SERVER_GROUP, lambda g: doc["id"] in g.get("members", [])):
        group["members"].remove(doc["id"])
        cloud.put(SERVER_GROUP, group)
    cloud.put("compute.deleted_seq", {"id": doc["id"]})
    cloud.delete(SERVER, doc["id"])
    return None


def _settled(cloud: LocalCloud, kind: str, doc: Doc) -> Doc | None:
    doc["updated"] = now_iso()
    return doc
