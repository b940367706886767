"""``POST /servers/{id}/action``: each action's allowed states and the transitions it queues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    new_secret,
    now_iso,
    request_json,
    require_token,
)
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import FLAVOR, SERVER, _admin, _conflict, _locked, at_least, routes, state
from .flavors import _flavor_visible
from .instance_actions import UNRECORDED, record_action
from .quotas import _check_compute_quota
from .servers import _trimmed_view
from .views import _server, security_group_names

# -- servers: actions -------------------------------------------------------------------

ActionFn = Callable[[LocalCloud, AuthContext, Doc, Any], Response | None]
ACTIONS: dict[str, ActionFn] = {}


def action(name: str) -> Callable[[ActionFn], ActionFn]:
    def deco(fn: ActionFn) -> ActionFn:
        ACTIONS[name] = fn
        return fn

    return deco


def _require(doc: Doc, action_name: str, statuses: tuple[str, ...]) -> None:
    if doc.get("task_state") or doc["status"] not in statuses:
        raise _conflict(doc, action_name)


def _go(cloud: LocalCloud, doc: Doc, now: dict[str, Any], *steps: dict[str, Any]) -> None:
    doc.update(now)
    doc["updated"] = now_iso()
    cloud.transition(SERVER, doc, *steps)


#: Actions that only move the server from some states to one other, Nova's way:
#: action -> (name in the 409 message, allowed statuses, task_state meanwhile, resulting status)
_PLAIN_ACTIONS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "os-stop": ("stop", ("ACTIVE", "ERROR", "RESCUE"), "powering-off", "SHUTOFF"),
    "os-start": ("start", ("SHUTOFF",), "powering-on", "ACTIVE"),
    "suspend": ("suspend", ("ACTIVE",), "suspending", "SUSPENDED"),
    "resume": ("resume", ("SUSPENDED",), "resuming", "ACTIVE"),
    "pause": ("pause", ("ACTIVE",), "pausing", "PAUSED"),
    "unpause": ("unpause", ("PAUSED",), "unpausing", "ACTIVE"),
    "shelveOffload": ("shelveOffload", ("SHELVED",), "shelving_offloading", "SHELVED_OFFLOADED"),
}


def _plain_action(label: str, allowed: tuple[str, ...], task: str, target: str) -> ActionFn:
    def run(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
        _require(doc, label, allowed)
        _go(cloud, doc, {"task_state": task}, {**state(target), "_hook": "compute.settled"})

    return run


for _name, _plain in _PLAIN_ACTIONS.items():
    ACTIONS[_name] = _plain_action(*_plain)


@action("reboot")
def _reboot(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    kind = str((arg or {}).get("type", "")).upper()
    if kind not in ("SOFT", "HARD"):
        raise ApiError(400, "Invalid input for field/attribute type.", "badRequest")
    allowed = ("ACTIVE",) if kind == "SOFT" else ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR")
    _require(doc, "reboot", allowed)
    task = "rebooting" if kind == "SOFT" else "rebooting_hard"
    _go(
        cloud,
        doc,
        state(
            doc["status"] if doc["status"] != "ERROR" else "ACTIVE",
            task,
            "REBOOT" if kind == "SOFT" else "HARD_REBOOT",
        ),
        {**state("ACTIVE"), "_hook": "compute.settled"},
    )


@action("shelve")
def _shelve(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "shelve", ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"))
    _go(
        cloud,
        doc,
        {"task_state": "shelving"},
        state("SHELVED", "shelving_offloading"),
        {**state("SHELVED_OFFLOADED"), "_hook": "compute.settled"},
    )


@action("unshelve")
def _unshelve(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "unshelve", ("SHELVED", "SHELVED_OFFLOADED"))
    if isinstance(arg, dict) and arg and not at_least("2.77"):
        raise ApiError(
            400,
            f"Invalid input for field/attribute unshelve. Value: {arg}. {arg} is not of type 'null'",
            "badRequest",
        )
    _go(cloud, doc, {"task_state": "unshelving"}, {**state("ACTIVE"), "_hook": "compute.settled"})


@action("resize")
def _resize(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    if not isinstance(arg, dict) or "flavorRef" not in arg:
        raise ApiError(
            400, "Invalid input for field/attribute resize. 'flavorRef' is a required property", "badRequest"
        )
    _require(doc, "resize", ("ACTIVE", "SHUTOFF"))
    ref = str(arg["flavorRef"]).rstrip("/").split("/")[-1]
    flavor = cloud.get(FLAVOR, ref)
    if flavor is None or not _flavor_visible(flavor, auth):
        raise ApiError(400, f"Unable to find flavor for flavorRef {ref}", "badRequest")
    if flavor["id"] == doc["flavor"]["id"]:
        raise ApiError(400, "When resizing, instances must change flavor!", "badRequest")
    if flavor["disk"] and flavor["disk"] < doc["flavor"]["disk"]:
        raise ApiError(400, "Resize error: Unable to resize disk down.", "badRequest")
    _check_compute_quota(
        cloud,
        doc["project_id"],
        {"cores": flavor["vcpus"] - doc["flavor"]["vcpus"], "ram": flavor["ram"] - doc["flavor"]["ram"]},
    )
    doc["old_flavor"] = doc["flavor"]
    doc["flavor"] = {
        k: flavor.get(k) for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
    }
    resumed = "ACTIVE" if doc["status"] == "ACTIVE" else "SHUTOFF"
    verify = state("VERIFY_RESIZE")
    if resumed == "SHUTOFF":
        verify["power_state"] = 4
    _go(
        cloud,
        doc,
        state(resumed, "resize_prep", "RESIZE"),
        {**state(resumed, "resize_migrating", "RESIZE")},
        {**verify, "_resize_from": resumed, "_hook": "compute.settled"},
    )
    doc["resize_from"] = resumed


@action("confirmResize")
def _confirm(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    if doc["status"] != "VERIFY_RESIZE":
        raise ApiError(409, "Instance has not been resized.", "conflictingRequest")
    doc.update(state(doc.pop("resize_from", "ACTIVE")))
    doc.pop("old_flavor", None)
    doc["updated"] = now_iso()
    return json_response(None, 204)


@action("revertResize")
def _revert(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    if doc["status"] != "VERIFY_RESIZE":
        raise ApiError(409, "Instance has not been resized.", "conflictingRequest")
    doc["flavor"] = doc.pop("old_flavor", doc["flavor"])
    back = doc.pop("resize_from", "ACTIVE")
    _go(
        cloud,
        doc,
        state("VERIFY_RESIZE", "resize_reverting", "REVERT_RESIZE"),
        {**state(back), "_hook": "compute.settled"},
    )


@action("rebuild")
def _rebuild(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    _require(doc, "rebuild", ("ACTIVE", "SHUTOFF", "ERROR"))
    if not isinstance(arg, dict) or not arg.get("imageRef"):
        raise ApiError(
            400, "Invalid input for field/attribute rebuild. 'imageRef' is a required property", "badRequest"
        )
    ref = str(arg["imageRef"]).rstrip("/").split("/")[-1]
    image = cloud.get("image.image", ref)
    if image is None:
        raise ApiError(400, "Can not find requested image", "badRequest")
    doc["image_id"] = image["id"]
    for key in ("name", "metadata", "accessIPv4", "accessIPv6"):
        if key in arg:
            doc[key] = arg[key]
    if at_least("2.19") and "description" in arg:
        doc["description"] = arg["description"]
    back = "ACTIVE" if doc["status"] != "SHUTOFF" else "SHUTOFF"
    _go(
        cloud,
        doc,
        state(back if doc["status"] != "ERROR" else "ACTIVE", "rebuilding", "REBUILD"),
        {**state(back), "_hook": "compute.settled"},
    )
    cloud.put(SERVER, doc)
    out = _trimmed_view(doc, auth)
    out["adminPass"] = arg.get("adminPass") or new_secret(9)
    return json_response({"server": out}, 202)


@action("lock")
def _lock(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    reason = None
    if isinstance(arg, dict) and arg:
        if not at_least("2.73"):
            raise ApiError(400, "Invalid input for field/attribute lock.", "badRequest")
        reason = arg.get("locked_reason")
    doc.update({"locked": True, "locked_reason": reason, "locked_by": "admin" if auth.is_admin else "owner"})


@action("unlock")
def _unlock(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    require_policy(
        auth.is_admin or doc.get("locked_by") != "admin",
        "os_compute_api:os-lock-server:unlock:unlock_override",
    )
    doc.update({"locked": False, "locked_reason": None, "locked_by": None})


@action("createImage")
def _create_image(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    from gateway_kit.localcloud.services import image as glance

    if not isinstance(arg, dict) or not arg.get("name"):
        raise ApiError(
            400, "Invalid input for field/attribute createImage. 'name' is a required property", "badRequest"
        )
    _require(doc, "createImage", ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED"))
    img = glance.create_snapshot_image(
        cloud, doc["project_id"], str(arg["name"]), doc, dict(arg.get("metadata") or {})
    )
    location = cloud.url(f"/image/v2/images/{img['id']}")
    if at_least("2.45"):
        return json_response({"image_id": img["id"]}, 202)
    return json_response(None, 202, {"Location": location})


@action("os-getConsoleOutput")
def _console(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> Response:
    if doc["status"] == "BUILD":
        raise ApiError(409, f"Instance {doc['id']} is not ready", "conflictingRequest")
    lines = console_log(cloud, doc)
    length = (arg or {}).get("length")
    if length is not None:
        n = int(length)
        if n < -1:
            raise ApiError(400, "Invalid input for field/attribute length.", "badRequest")
        if n >= 0:
            lines = lines[-n:] if n else []
    return json_response({"output": "\n".join(lines) + ("\n" if lines else "")}, 200)


def console_log(cloud: LocalCloud, doc: Doc) -> list[str]:
    """The server's console log (a data plane may replace ``compute.console_log``)."""
    custom = cloud.extensions.get("compute.console_log")
    if custom is not None:
        lines: list[str] = custom(cloud, doc)
        return lines
    addrs = [
        a["addr"]
        for nets in neutron.server_addresses(cloud, doc["id"]).values()
        for a in nets
        if a["OS-EXT-IPS:type"] == "fixed"
    ]
    return [
        "[    0.000000] Linux version 6.8.0-localcloud (gateway-kit local cloud)",
        f"[    0.000000] Command line: root=/dev/vda1 console=ttyS0 hostname={doc['hostname']}",
        f"[    2.100000] cloud-init[512]: Cloud-init v. 24.1 running 'init' for {doc['id']}",
        f"[    2.300000] cloud-init[512]: ci-info: eth0 addresses: {', '.join(addrs) or '-'}",
        f"{doc['hostname']} login:",
    ]


@action("addSecurityGroup")
def _add_sg(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    name = str((arg or {}).get("name", ""))
    found = [
        g
        for g in cloud.list(neutron.SG)
        if g["project_id"] == doc["project_id"] and name in (g["name"], g["id"])
    ]
    if not found:
        raise ApiError(
            404, f"Security group {name} not found for project {doc['project_id']}.", "itemNotFound"
        )
    for port in cloud.store.find(neutron.PORT, lambda p: p["device_id"] == doc["id"]):
        if found[0]["id"] not in port["security_groups"]:
            port["security_groups"].append(found[0]["id"])
            cloud.put(neutron.PORT, port)
    if found[0]["name"] not in doc["security_groups"]:
        doc["security_groups"].append(found[0]["name"])


@action("removeSecurityGroup")
def _remove_sg(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    name = str((arg or {}).get("name", ""))
    # Clients send a name or an id (openstackclient resolves names to ids first).
    found = [
        g
        for g in cloud.list(neutron.SG)
        if g["project_id"] == doc["project_id"] and name in (g["name"], g["id"])
    ]
    if found:
        name = found[0]["name"]
    if name not in security_group_names(cloud, doc):
        raise ApiError(404, f"Security group {name} not associated with the instance", "itemNotFound")
    for port in cloud.store.find(neutron.PORT, lambda p: p["device_id"] == doc["id"]):
        if found and found[0]["id"] in port["security_groups"]:
            port["security_groups"].remove(found[0]["id"])
            cloud.put(neutron.PORT, port)
    if name in doc.get("security_groups", []):
        doc["security_groups"].remove(name)


@action("changePassword")
def _change_password(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _require(doc, "changePassword", ("ACTIVE",))


@action("os-resetState")
def _reset_state(cloud: LocalCloud, auth: AuthContext, doc: Doc, arg: Any) -> None:
    _admin(auth, "os_compute_api:os-admin-actions:reset_state")
    target = str((arg or {}).get("state", ""))
    if target not in ("active", "error"):
        raise ApiError(400, "Invalid input for field/attribute state.", "badRequest")
    doc["_lc"] = {"queue": [], "held": False}
    doc.update(state(target.upper()))


_NO_LOCK_CHECK = {"lock", "unlock", "os-getConsoleOutput", "os-resetState", "createImage"}


@routes.post("/servers/<server_id>/action")
def server_action(server_id: str) -> Response:
    auth = require_token()
    cloud = current_cloud()
    doc = _server(server_id, auth)
    body = request_json()
    if len(body) != 1:
        raise ApiError(
            400, "There is either no action or more than one action in the request body.", "badRequest"
        )
    name, arg = next(iter(body.items()))
    fn = ACTIONS.get(name)
    if fn is None:
        raise ApiError(400, f"There is no such action: {name}", "badRequest")
    if name not in _NO_LOCK_CHECK:
        _locked(doc, auth)
    resp = fn(cloud, auth, doc, arg)
    if cloud.store.get(SERVER, doc["id"]) is not None:
        if name not in UNRECORDED:
            record_action(doc, name, auth)
        cloud.put(SERVER, doc)
    return resp if resp is not None else json_response(None, 202)
