"""The provisioning state machine: PENDING_* -> ACTIVE/ERROR on the load balancer and its children, and
deletion.
"""

from __future__ import annotations

from octavia_lib.common import constants as olc

from gateway_kit.localcloud.core import LocalCloud, new_id
from gateway_kit.localcloud.store import Doc

from .common import AMPHORA, CHILD_KINDS, LB, _now

# -- state transitions -------------------------------------------------------------------------


def _hook_lb_settled(cloud: LocalCloud, kind: str, lb: Doc) -> Doc | None:
    """The provider finished: pending children become ACTIVE, pending deletes disappear."""
    for child_kind in CHILD_KINDS:
        for doc in cloud.store.find(child_kind, lambda d: d.get("loadbalancer_id") == lb["id"]):
            status = doc.get("provisioning_status")
            if status == olc.PENDING_DELETE:
                cloud.delete(child_kind, doc["id"])
            elif status in (olc.PENDING_CREATE, olc.PENDING_UPDATE):
                doc["provisioning_status"] = olc.ACTIVE
                cloud.store.put(child_kind, doc)
    if lb.get("operating_status") == olc.OFFLINE and lb.get("admin_state_up", True):
        lb["operating_status"] = olc.ONLINE
    if not cloud.store.find(AMPHORA, lambda a: a["loadbalancer_id"] == lb["id"]):
        cloud.store.put(
            AMPHORA,
            {
                "id": new_id(),
                "loadbalancer_id": lb["id"],
                "compute_id": new_id(),
                "lb_network_ip": "192.168.0.10",
                "vrrp_ip": None,
                "ha_ip": lb.get("vip_address"),
                "vrrp_port_id": None,
                "ha_port_id": lb.get("vip_port_id"),
                "cert_expiration": "2030-01-01T00:00:00",
                "cert_busy": False,
                "role": "STANDALONE",
                "status": "ALLOCATED",
                "vrrp_interface": None,
                "vrrp_id": 1,
                "vrrp_priority": None,
                "cached_zone": lb.get("availability_zone") or "nova",
                "created_at": _now(),
                "updated_at": None,
                "image_id": new_id(),
                "compute_flavor": new_id(),
            },
        )
    return lb


def _hook_lb_deleted(cloud: LocalCloud, kind: str, lb: Doc) -> Doc | None:
    for child_kind in (*CHILD_KINDS, AMPHORA):
        for doc in cloud.store.find(child_kind, lambda d: d.get("loadbalancer_id") == lb["id"]):
            cloud.delete(child_kind, doc["id"])
    port_id = lb.get("vip_port_id")
    if port_id and cloud.store.get("network.port", port_id) is not None:
        for fip in cloud.store.find("network.floatingip", lambda f: f.get("port_id") == port_id):
            fip.update({"port_id": None, "fixed_ip_address": None, "router_id": None, "status": "DOWN"})
            cloud.store.put("network.floatingip", fip)
        cloud.delete("network.port", port_id)
    cloud.delete(LB, lb["id"])
    return None
