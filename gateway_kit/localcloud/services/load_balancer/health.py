"""Member health as the control plane decides it (see the package docstring) and the operating-status
roll-up.
"""

from __future__ import annotations

from collections.abc import Callable

from octavia_lib.common import constants as olc

from gateway_kit.localcloud import clock
from gateway_kit.localcloud.core import LocalCloud
from gateway_kit.localcloud.store import Doc

from .common import _NAMED_KEYS, HM, LISTENER, MEMBER, POOL

# -- member health (see the module docstring) ---------------------------------------------------

MEMBER_CHECKED = "octavia.member_checked"
#: ``fn(cloud, member) -> "ONLINE"|"ERROR"|"OFFLINE"|None``: a data plane's health verdict.
MEMBER_HEALTH = "octavia.member_health"
#: ``fn(cloud, kind, id) -> dict | None``: a data plane's traffic counters.
STATS = "octavia.stats"
ZERO_STATS = dict.fromkeys(
    ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors"), 0
)


def stats(cloud: LocalCloud, kind: str, rid: str) -> dict[str, int]:
    """A load balancer's or listener's ``/stats``: the data plane's counters, else zeros."""
    counters = cloud.extensions.get(STATS)
    found = counters(cloud, kind, rid) if counters is not None else None
    return dict(found) if found else dict(ZERO_STATS)


_SERVER = "compute.server"
_PORT = "network.port"


def _pool_monitor(cloud: LocalCloud, pool_id: str) -> Doc | None:
    """The pool's enabled health monitor, if any."""
    for hm in cloud.store.find(HM, lambda d: d["pool_id"] == pool_id):
        if hm.get("admin_state_up", True):
            return hm
    return None


def _arm_member_check(cloud: LocalCloud, member: Doc) -> None:
    """Schedule the monitor's first check of ``member`` one transition step from now."""
    member["_hm_checked"] = False
    clock.lc(member)["queue"] = []
    cloud.transition(MEMBER, member, {"_hook": MEMBER_CHECKED})


def _hook_member_checked(cloud: LocalCloud, kind: str, member: Doc) -> Doc | None:
    member["_hm_checked"] = True
    return member


def _backend_up(cloud: LocalCloud, member: Doc) -> bool:
    """Whether something the local cloud runs answers on the member's address."""
    address = str(member.get("monitor_address") or member["address"])
    subnet_id = member.get("subnet_id")

    def owns(port: Doc) -> bool:
        return any(ip.get("ip_address") == address and (not subnet_id or ip.get("subnet_id") == subnet_id)
                   for ip in port.get("fixed_ips", []))  # fmt: skip

    for port in cloud.store.find(_PORT, owns):
        if not port.get("admin_state_up", True):
            continue
        if str(port.get("device_owner", "")).startswith("compute:"):
            server = cloud.get(_SERVER, str(port.get("device_id")))
            if server is not None and server.get("status") == "ACTIVE":
                return True
        elif port.get("status") == "ACTIVE":
            return True
    return False


def _member_status(cloud: LocalCloud, member: Doc) -> str:
    if not member.get("admin_state_up", True):
        return str(olc.OFFLINE)
    if _pool_monitor(cloud, member["pool_id"]) is None:
        return str(olc.NO_MONITOR)
    probe = cloud.extensions.get(MEMBER_HEALTH)
    if probe is not None:  # the data plane's monitors really probe
        verdict: str | None = probe(cloud, member)
        if verdict is not None:
            return verdict
    if not member.get("_hm_checked"):
        return str(olc.OFFLINE)
    return str(olc.ONLINE if _backend_up(cloud, member) else olc.ERROR)


def _listener_status(cloud: LocalCloud, listener: Doc) -> str:
    """A listener accepts connections once provisioned, unless disabled."""
    if not listener.get("admin_state_up", True) or listener["provisioning_status"] == olc.PENDING_CREATE:
        return str(olc.OFFLINE)
    return str(olc.ONLINE)


def _pool_status(cloud: LocalCloud, pool: Doc) -> str:
    """Octavia's roll-up of the enabled members: ERROR if all are down, DEGRADED if some are."""
    if not pool.get("admin_state_up", True) or pool["provisioning_status"] == olc.PENDING_CREATE:
        return str(olc.OFFLINE)
    members = [m for m in cloud.store.find(MEMBER, lambda d: d["pool_id"] == pool["id"])
               if m.get("admin_state_up", True)]  # fmt: skip
    down = [m for m in members if _member_status(cloud, m) == olc.ERROR]
    if not down:
        return str(olc.ONLINE)
    return str(olc.ERROR if len(down) == len(members) else olc.DEGRADED)


def lb_operating(cloud: LocalCloud, lb: Doc) -> str:
    """A load balancer's ``operating_status``; with a data plane's real monitors, Octavia's health
    manager roll-up: ``DEGRADED`` while one of its enabled pools is ``ERROR`` or ``DEGRADED``."""
    status = str(lb.get("operating_status"))
    if status != olc.ONLINE or cloud.extensions.get(MEMBER_HEALTH) is None:
        return status
    for pool in cloud.store.find(POOL, lambda d: d.get("loadbalancer_id") == lb["id"]):
        if pool.get("admin_state_up", True) and _pool_status(cloud, pool) in (olc.ERROR, olc.DEGRADED):
            return str(olc.DEGRADED)
    return status


_OPERATING: dict[str, Callable[[LocalCloud, Doc], str]] = {
    LISTENER: _listener_status,
    POOL: _pool_status,
    MEMBER: _member_status,
}


def _refresh_operating(cloud: LocalCloud, kind: str, doc: Doc) -> None:
    """Bring a listener's, pool's or member's stored ``operating_status`` up to date."""
    status = _OPERATING[kind](cloud, doc)
    if doc.get("operating_status") != status:
        doc["operating_status"] = status
        if cloud.store.get(kind, doc["id"]) is not None:
            cloud.store.put(kind, doc)


_HM_KEYS = (
    "id",
    "name",
    "type",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "admin_state_up",
    "project_id",
    "provisioning_status",
    "operating_status",
    "created_at",
    "updated_at",
    "tags",
    "http_version",
    "domain_name",
)


_L7P_KEYS = (
    *_NAMED_KEYS,
    "project_id",
    "action",
    "listener_id",
    "redirect_pool_id",
    "redirect_url",
    "redirect_prefix",
    "position",
    "created_at",
    "updated_at",
    "tags",
    "redirect_http_code",
)


_L7R_KEYS = (
    "id",
    "type",
    "compare_type",
    "key",
    "value",
    "invert",
    "provisioning_status",
    "operating_status",
    "created_at",
    "updated_at",
    "project_id",
    "admin_state_up",
    "tags",
)
