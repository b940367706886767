"""Servers as Nova renders them, and looking them up and listing them with Nova's filters."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Response, request

from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    LocalCloud,
    current_cloud,
    json_response,
    require_token,
)
from gateway_kit.localcloud.rest import require_policy
from gateway_kit.localcloud.services import network as neutron
from gateway_kit.localcloud.store import Doc

from .common import SERVER, SERVER_GROUP, _listing, _paginate_docs, at_least, routes

# -- servers: rendering -----------------------------------------------------------------


def server_security_groups(cloud: LocalCloud, doc: Doc) -> list[Doc] | None:
    """The Neutron security groups on the server's ports (Nova reads them there), or ``None``
    for a server without ports."""
    ports = cloud.store.find(neutron.PORT, lambda p: p.get("device_id") == doc["id"])
    if not ports:
        return None
    ids = list(dict.fromkeys(sg for p in ports for sg in p.get("security_groups") or []))
    return [g for g in (cloud.store.get(neutron.SG, i) for i in ids) if g is not None]


def security_group_names(cloud: LocalCloud, doc: Doc) -> list[str]:
    """The names ``server show`` lists: those of the ports' groups, else those asked for at create."""
    groups = server_security_groups(cloud, doc)
    if groups is None:
        return list(doc.get("security_groups") or [])
    return list(dict.fromkeys(str(g["name"]) for g in groups))


def _server_links(server_id: str) -> list[dict[str, str]]:
    cloud = current_cloud()
    return [
        {"rel": "self", "href": cloud.url(f"/compute/v2.1/servers/{server_id}")},
        {"rel": "bookmark", "href": cloud.url(f"/compute/servers/{server_id}")},
    ]


def _host_id(doc: Doc) -> str:
    if doc["status"] in ("BUILD", "SHELVED_OFFLOADED", "ERROR") and not doc.get("launched_at"):
        return ""
    return hashlib.sha224((doc["project_id"] + "localcloud-host").encode()).hexdigest()


def server_view(doc: Doc, auth: AuthContext) -> dict[str, Any]:
    cloud = current_cloud()
    flavor = doc["flavor"]
    image: Any = ""
    if doc.get("image_id"):
        image = {
            "id": doc["image_id"],
            "links": [{"rel": "bookmark", "href": cloud.url(f"/compute/images/{doc['image_id']}")}],
        }
        if at_least("2.98"):
            img = cloud.store.get("image.image", doc["image_id"]) or {}
            image["properties"] = {
                k: str(v) for k, v in img.get("properties", {}).items() if not k.startswith("_")
            }
    out: dict[str, Any] = {
        "id": doc["id"],
        "name": doc["name"],
        "status": doc["status"],
        "tenant_id": doc["project_id"],
        "user_id": doc["user_id"],
        "metadata": dict(doc.get("metadata", {})),
        "hostId": _host_id(doc),
        "image": image,
        "created": doc["created"],
        "updated": doc["updated"],
        "addresses": neutron.server_addresses(cloud, doc["id"]),
        "accessIPv4": doc.get("accessIPv4", ""),
        "accessIPv6": doc.get("accessIPv6", ""),
        "links": _server_links(doc["id"]),
        "OS-DCF:diskConfig": doc.get("disk_config", "MANUAL"),
        "progress": 100 if doc["status"] == "ACTIVE" else 0,
        "OS-EXT-AZ:availability_zone": doc.get("availability_zone", "nova") if doc.get("launched_at") else "",
        "config_drive": "True" if doc.get("config_drive") else "",
        "key_name": doc.get("key_name"),
        "OS-SRV-USG:launched_at": doc.get("launched_at"),
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": doc.get("task_state"),
        "OS-EXT-STS:vm_state": doc["vm_state"],
        "OS-EXT-STS:power_state": doc["power_state"],
    }
    if doc["status"] not in ("BUILD", "ACTIVE"):
        out.pop("progress")
    sgs = security_group_names(current_cloud(), doc)
    if sgs:
        out["security_groups"] = [{"name": n} for n in sgs]
    if at_least("2.47"):
        out["flavor"] = {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "ephemeral": flavor.get("ephemeral", 0),
            "swap": flavor.get("swap", 0),
            "original_name": flavor["name"],
            "extra_specs": dict(flavor.get("extra_specs", {})),
        }
    else:
        out["flavor"] = {
            "id": flavor["id"],
            "links": [{"rel": "bookmark", "href": cloud.url(f"/compute/flavors/{flavor['id']}")}],
        }
    vols = []
    for bdm in doc.get("bdms", []):
        item: dict[str, Any] = {"id": bdm["volume_id"]}
        if at_least("2.3"):
            item["delete_on_termination"] = bdm.get("delete_on_termination", False)
        vols.append(item)
    out["os-extended-volumes:volumes_attached"] = vols
    if auth.is_admin:
        out["OS-EXT-SRV-ATTR:host"] = "localcloud" if doc.get("launched_at") else None
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = "localcloud.local" if doc.get("launched_at") else None
        out["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{doc['seq']:08x}"
        if at_least("2.3"):
            out.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": doc["reservation_id"],
                    "OS-EXT-SRV-ATTR:launch_index": doc.get("launch_index", 0),
                    "OS-EXT-SRV-ATTR:hostname": doc["hostname"],
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": doc.get("user_data"),
                }
            )
    elif at_least("2.90"):
        out["OS-EXT-SRV-ATTR:hostname"] = doc["hostname"]
    if at_least("2.9"):
        out["locked"] = bool(doc.get("locked"))
    if at_least("2.16") and auth.is_admin:
        out["host_status"] = "UP" if doc.get("launched_at") else ""
    if at_least("2.19"):
        out["description"] = doc.get("description")
    if at_least("2.26"):
        out["tags"] = list(doc.get("tags", []))
    if at_least("2.63"):
        out["trusted_image_certificates"] = None
    if at_least("2.71"):
        out["server_groups"] = [
            g["id"] for g in cloud.store.find(SERVER_GROUP, lambda g: doc["id"] in g.get("members", []))
        ]
    if at_least("2.73"):
        out["locked_reason"] = doc.get("locked_reason")
    if at_least("2.96"):
        out["pinned_availability_zone"] = doc.get("requested_az")
    if at_least("2.100"):
        out["scheduler_hints"] = dict(doc.get("scheduler_hints", {}))
    if doc["status"] == "ERROR" and doc.get("fault"):
        out["fault"] = doc["fault"]
    if doc.get("admin_pass_shown") is False:
        pass
    return out


# -- servers: lookup and listing --------------------------------------------------------


def _server(server_id: str, auth: AuthContext) -> Doc:
    doc = current_cloud().get(SERVER, server_id)
    if doc is None or (doc["project_id"] != auth.project_id and not auth.is_admin):
        raise ApiError(404, f"Instance {server_id} could not be found.", "itemNotFound")
    return doc


def _list_servers(detail: bool) -> Response:
    auth = require_token()
    cloud = current_cloud()
    args = request.args
    all_projects = args.get("all_tenants", args.get("all_projects", "")).lower() in (
        "1",
        "true",
        "t",
        "yes",
        "",
    )
    if "all_tenants" not in args and "all_projects" not in args:
        all_projects = False
    require_policy(auth.is_admin or not all_projects, "os_compute_api:servers:index:get_all_tenants")
    project = args.get("project_id") or args.get("tenant_id")
    docs = cloud.list(SERVER)
    if all_projects:
        if project:
            docs = [d for d in docs if d["project_id"] == project]
    else:
        docs = [d for d in docs if d["project_id"] == auth.project_id]
    if "name" in args:
        try:
            pattern = re.compile(args["name"])
        except re.error:
            pattern = re.compile(re.escape(args["name"]))
        docs = [d for d in docs if pattern.search(d["name"])]
    if "status" in args:
        docs = [d for d in docs if d["status"] == args["status"].upper()]
    for key, field in (
        ("image", "image_id"),
        ("key_name", "key_name"),
        ("user_id", "user_id"),
        ("vm_state", "vm_state"),
        ("task_state", "task_state"),
    ):
        if key in args:
            docs = [d for d in docs if str(d.get(field)) == args[key]]
    if "flavor" in args:
        docs = [d for d in docs if d["flavor"]["id"] == args["flavor"]]
    if "locked" in args and at_least("2.73"):
        want = args["locked"].lower() in ("1", "true")
        docs = [d for d in docs if bool(d.get("locked")) == want]
    if "ip" in args:
        pat = re.compile(args["ip"])
        docs = [
            d
            for d in docs
            if any(
                pat.search(a["addr"])
                for addrs in neutron.server_addresses(cloud, d["id"]).values()
                for a in addrs
            )
        ]
    if "changes-since" in args:
        docs = [d for d in docs if d["updated"] >= args["changes-since"]]
    if at_least("2.26"):
        for key, match in (("tags", all), ("tags-any", any)):
            if key in args:
                wanted = args[key].split(",")
                docs = [d for d in docs if match(t in d.get("tags", []) for t in wanted)]
        for key, match in (("not-tags", all), ("not-tags-any", any)):
            if key in args:
                wanted = args[key].split(",")
                docs = [d for d in docs if not match(t in d.get("tags", []) for t in wanted)]
    docs.sort(key=lambda d: (d["created"], d["seq"]), reverse=True)
    docs = _paginate_docs(docs)
    if detail:
        items = [server_view(d, auth) for d in docs]
    else:
        items = [{"id": d["id"], "name": d["name"], "links": _server_links(d["id"])} for d in docs]
    return _listing("servers", items, docs, detail)


@routes.get("/servers", defaults={"detail": False})
@routes.get("/servers/detail", defaults={"detail": True})
def list_servers(detail: bool) -> Response:
    return _list_servers(detail)


@routes.get("/servers/<server_id>")
def get_server(server_id: str) -> Response:
    auth = require_token()
    return json_response({"server": server_view(_server(server_id, auth), auth)})
