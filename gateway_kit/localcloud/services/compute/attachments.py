"""Volume attachments (``os-volume_attachments``): the Cinder side effects of attach/detach/swap."""

from __future__ import annotations

from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    current_cloud,
    json_response,
    new_id,
    request_json,
    require_token,
)
from gateway_kit.localcloud.store import Doc

from .actions import _require
from .common import SERVER, _admin, _locked, at_least, routes
from .instance_actions import record_action
from .views import _server

# -- volume attachments -----------------------------------------------------------------


def _attachment_view(doc: Doc, bdm: dict[str, Any], listing: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"device": bdm["device"], "serverId": doc["id"], "volumeId": bdm["volume_id"]}
    if not at_least("2.89"):
        out["id"] = bdm["volume_id"]
    if at_least("2.70"):
        out["tag"] = bdm.get("tag")
    if at_least("2.79"):
        out["delete_on_termination"] = bdm.get("delete_on_termination", False)
    if at_least("2.89") and listing:
        out["attachment_id"] = bdm["attachment_id"]
        out["bdm_uuid"] = bdm["bdm_uuid"]
    return out


@routes.get("/servers/<server_id>/os-volume_attachments")
def list_attachments(server_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    return json_response({"volumeAttachments": [_attachment_view(doc, b, True) for b in doc.get("bdms", [])]})


@routes.get("/servers/<server_id>/os-volume_attachments/<volume_id>")
def get_attachment(server_id: str, volume_id: str) -> Response:
    auth = require_token()
    doc = _server(server_id, auth)
    for bdm in doc.get("bdms", []):
        if bdm["volume_id"] == volume_id:
            return json_response({"volumeAttachment": _attachment_view(doc, bdm, True)})
    raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")


_ATTACHABLE = ("ACTIVE", "PAUSED", "SHUTOFF", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED", "VERIFY_RESIZE")


def _attachment_body() -> dict[str, Any]:
    """The request's ``volumeAttachment`` object, which must name a ``volumeId``."""
    spec = request_json().get("volumeAttachment")
    if not isinstance(spec, dict) or not spec.get("volumeId"):
        raise ApiError(
            400,
            "Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property",
            "badRequest",
        )
    return spec


@routes.post("/servers/<server_id>/os-volume_attachments")
def attach_volume(server_id: str) -> Response:
    from gateway_kit.localcloud.services import volume as cinder

    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    spec = _attachment_body()
    _locked(doc, auth)
    _require(doc, "attach_volume", _ATTACHABLE)
    volume_id = str(spec["volumeId"])
    if any(b["volume_id"] == volume_id for b in doc.get("bdms", [])):
        raise ApiError(400, f"Invalid volume: volume {volume_id} already attached", "badRequest")
    vol = cinder.reserve(cloud, auth, volume_id)
    used = {b["device"] for b in doc.get("bdms", [])}
    device = spec.get("device")
    if not device:
        for letter in "bcdefghijklmnopqrstuvwxyz":
            if f"/dev/vd{letter}" not in used and letter != "a":
                device = f"/dev/vd{letter}"
                break
    attachment_id = cinder.attach(cloud, vol["id"], doc["id"], str(device))
    bdm = {
        "volume_id": vol["id"],
        "device": device,
        "attachment_id": attachment_id,
        "bdm_uuid": new_id(),
        "tag": spec.get("tag") if at_least("2.49") else None,
        "delete_on_termination": bool(spec.get("delete_on_termination", False))
        if at_least("2.79")
        else False,
    }
    doc.setdefault("bdms", []).append(bdm)
    record_action(doc, "attach_volume", auth)
    cloud.put(SERVER, doc)
    return json_response({"volumeAttachment": _attachment_view(doc, bdm, False)})


@routes.delete("/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach_volume(server_id: str, volume_id: str) -> Response:
    from gateway_kit.localcloud.services import volume as cinder

    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    _locked(doc, auth)
    bdms = [b for b in doc.get("bdms", []) if b["volume_id"] == volume_id]
    if not bdms:
        raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")
    if bdms[0].get("boot_index") in (0, "0"):
        raise ApiError(403, "Cannot detach a root device volume", "forbidden")
    _require(doc, "detach_volume", _ATTACHABLE)
    doc["bdms"] = [b for b in doc["bdms"] if b["volume_id"] != volume_id]
    cinder.detach(cloud, volume_id, doc["id"])
    record_action(doc, "detach_volume", auth)
    cloud.put(SERVER, doc)
    return json_response(None, 202)


@routes.put("/servers/<server_id>/os-volume_attachments/<volume_id>")
def update_attachment(server_id: str, volume_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    spec = _attachment_body()
    bdms = [b for b in doc.get("bdms", []) if b["volume_id"] == volume_id]
    if not bdms:
        raise ApiError(404, f"Volume {volume_id} is not attached to instance {server_id}", "itemNotFound")
    _locked(doc, auth)
    bdm = bdms[0]
    if spec["volumeId"] == volume_id:
        extra = set(spec) - {"volumeId", "delete_on_termination", "device", "id", "serverId", "tag"}
        if not at_least("2.85") or extra:
            raise ApiError(
                400, "The volume was not swapped and no other attribute was updated.", "badRequest"
            )
        if "delete_on_termination" in spec:
            bdm["delete_on_termination"] = bool(spec["delete_on_termination"])
    else:
        from gateway_kit.localcloud.services import volume as cinder

        _admin(auth, "os_compute_api:os-volumes-attachments:swap")
        new_vol = cinder.reserve(cloud, auth, str(spec["volumeId"]))
        cinder.detach(cloud, volume_id, doc["id"], immediate=True)
        bdm["volume_id"] = new_vol["id"]
        bdm["attachment_id"] = cinder.attach(cloud, new_vol["id"], doc["id"], bdm["device"])
    record_action(doc, "swap_volume", auth)
    cloud.put(SERVER, doc)
    return json_response(None, 202)
