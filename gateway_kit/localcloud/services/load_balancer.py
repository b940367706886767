"""Octavia v2 (load balancing) for the local cloud, under ``/load-balancer``.

openstacksdk does no version discovery for Octavia: it appends ``/v2.0`` to the catalog URL, so
the API answers under ``/load-balancer/v2.0/...`` (and ``/v2/...``, as Octavia does).

Resources: load balancers (with ``/stats``, ``/status``, ``/failover``), listeners (HTTP, HTTPS,
TERMINATED_HTTPS, TCP, UDP, SCTP, PROMETHEUS), pools, members, health monitors, L7 policies and
rules, quotas, providers, flavors and flavor profiles, availability zones and their profiles,
and amphorae. The vocabulary (protocols, algorithms, statuses, health monitor types, L7 values)
is octavia-lib's :mod:`octavia_lib.common.constants`.

**Provisioning state machine** (Octavia's, with the no-op amphora driver's operating statuses):

* a new load balancer is ``PENDING_CREATE`` and becomes ``ACTIVE``/``ONLINE`` after the core's
  transition delay; its VIP is a Neutron port on ``vip_subnet_id``/``vip_network_id`` (owner
  ``Octavia``), and one ``STANDALONE`` amphora is allocated to it;
* every create/update/delete of a child object first requires the parent load balancer to be
  ``ACTIVE`` (``ACTIVE`` or ``ERROR`` for deletes), else **409** ``Load Balancer <id> is immutable
  and cannot be updated.``; it then puts the load balancer (and the child) into ``PENDING_*``
  until the transition completes, when children turn ``ACTIVE`` and deleted ones disappear;
* ``PUT``/``DELETE`` on the load balancer itself while pending answer **409** ``Invalid state
  PENDING_UPDATE of loadbalancer resource <id>``; a delete of a load balancer with children needs
  ``?cascade=true``, and takes everything (VIP port included) away when it completes.

**Member health** (there are no real backends, so the health monitor's verdict is decided from
what the local cloud knows about the member's address, ``monitor_address`` if set):

* a member whose pool has no health monitor, or only a disabled one (``admin_state_up`` false),
  is ``NO_MONITOR``; a disabled member (``admin_state_up`` false) is ``OFFLINE``;
* otherwise the member is ``OFFLINE`` until the monitor's first check, which comes one transition
  step (standing for the monitor's ``delay``) after the member was added, the monitor was
  created or enabled, or the member was enabled -- whichever came last, so members added to a
  pool that already has a monitor are checked like the ones present when it was created;
* once checked, the member is ``ONLINE`` while its address is a fixed IP of a Neutron port (on
  the member's ``subnet_id`` if given) that is up: a server's port whose server is ``ACTIVE``, or
  another port whose status is ``ACTIVE``; else ``ERROR`` (the backend does not answer). The
  verdict follows the backend on every read, as Octavia's health manager does: stop the
  server and the member turns ``ERROR``, start it and it is ``ONLINE`` again.

Listeners are ``ONLINE`` once provisioned and pools roll their enabled members up as Octavia's
health manager does (``ERROR`` when all are down, ``DEGRADED`` when some are, else ``ONLINE``);
a disabled listener or pool is ``OFFLINE``.

``TERMINATED_HTTPS`` needs ``default_tls_container_ref`` naming a Barbican secret (a PKCS#12
bundle) or certificate container the caller's project can read; otherwise **400** ``Could not
retrieve certificate: <ref>``, or ``The PKCS12 bundle is unreadable...`` for a secret that is
not PKCS#12.

Errors are Octavia's ``{"faultcode", "faultstring", "debuginfo"}``. Quotas are the core's flat
resources ``load_balancer``, ``listener``, ``pool``, ``member``, ``health_monitor``,
``l7policy``, ``l7rule`` (Octavia's default: unlimited); over quota is **403** ``Quota has been
met for resources: ...``.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flask
from flask import Response, request
from octavia_lib.common import constants as olc

from gateway_kit.localcloud import clock
from gateway_kit.localcloud.core import (
    ApiError,
    AuthContext,
    CatalogEntry,
    LocalCloud,
    Service,
    current_cloud,
    json_response,
    new_id,
    require_token,
)

__all__ = ["register", "render_octavia_error"]

Doc = dict[str, Any]

LB = "octavia.loadbalancer"
LISTENER = "octavia.listener"
POOL = "octavia.pool"
MEMBER = "octavia.member"
HM = "octavia.healthmonitor"
L7POLICY = "octavia.l7policy"
L7RULE = "octavia.l7rule"
AMPHORA = "octavia.amphora"
FLAVOR = "octavia.flavor"
FLAVOR_PROFILE = "octavia.flavorprofile"
AZ = "octavia.availabilityzone"
AZ_PROFILE = "octavia.availabilityzoneprofile"

CHILD_KINDS = (L7RULE, L7POLICY, HM, MEMBER, POOL, LISTENER)
PROVIDERS = {
    "amphora": "The Octavia Amphora driver.",
    "octavia": "Deprecated alias of the Octavia Amphora driver.",
}
FLAVOR_CAPABILITIES = [
    {
        "name": "loadbalancer_topology",
        "description": "The load balancer topology. One of: SINGLE - One amphora per load balancer. "
        "ACTIVE_STANDBY - Two amphora per load balancer.",
    },
    {"name": "compute_flavor", "description": "The compute driver flavor ID."},
    {"name": "amp_image_tag", "description": "The amphora image tag."},
]
AZ_CAPABILITIES = [
    {"name": "compute_zone", "description": "The compute availability zone."},
    {"name": "management_network", "description": "The management network ID for the amphora."},
    {"name": "valid_vip_networks", "description": "List of network IDs that are allowed for VIP use."},
]
QUOTA_RESOURCES = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")
#: Octavia answers each quota also under its deprecated name.
QUOTA_ALIASES = {"load_balancer": "loadbalancer", "health_monitor": "healthmonitor"}
VIP_FALLBACK_NET = ipaddress.ip_network("10.255.0.0/16")


# -- errors ------------------------------------------------------------------------------------


def render_octavia_error(err: ApiError) -> Response:
    """Octavia's (WSME) fault body."""
    return json_response(
        {
            "faultcode": "Client" if err.status < 500 else "Server",
            "faultstring": err.message,
            "debuginfo": None,
        },
        err.status,
    )


def _not_found(resource: str, rid: str) -> ApiError:
    return ApiError(404, f"{resource} {rid} not found.")


def _invalid(attr: str, value: Any, why: str) -> ApiError:
    return ApiError(400, f"Invalid input for field/attribute {attr}. Value: '{value}'. {why}")


def _unknown_attr(root: str, body: Any, key: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid input for field/attribute {root}. Value: '{body}'. "
        f"Unknown attribute for argument {root}: {key}",
    )


def _immutable(lb_id: str) -> ApiError:
    return ApiError(409, f"Load Balancer {lb_id} is immutable and cannot be updated.")


def _forbidden() -> ApiError:
    return ApiError(403, "Policy does not allow this request to be performed.")


# -- helpers -----------------------------------------------------------------------------------


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def _body(root: str) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, f"Invalid input: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get(root), dict):
        raise ApiError(400, f'Missing argument: "{root}"')
    unknown = [k for k in body if k != root]
    if unknown:
        raise ApiError(400, f'Unknown argument: "{unknown[0]}"')
    inner: dict[str, Any] = body[root]
    return inner


def _check_attrs(body: dict[str, Any], allowed: tuple[str, ...], root: str) -> None:
    for key in body:
        if key not in allowed:
            raise _unknown_attr(root, body, key)


def _enum(
    body: dict[str, Any], key: str, choices: tuple[str, ...] | list[str], required: bool = False
) -> Any:
    if key not in body or body[key] is None:
        if required:
            raise _invalid(key, None, "Mandatory field missing.")
        return None
    if body[key] not in choices:
        raise _invalid(key, body[key], f"Value should be one of: {', '.join(choices)}")
    return body[key]


def _int(body: dict[str, Any], key: str, lo: int, hi: int, required: bool = False) -> Any:
    if key not in body or body[key] is None:
        if required:
            raise _invalid(key, None, "Mandatory field missing.")
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(key, value, "Wrong type. Expected '<class 'int'>'")
    if not lo <= value <= hi:
        raise _invalid(key, value, f"Value should be greater or equal to {lo} and lower or equal to {hi}")
    return value


def _uuid(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        uuid.UUID(str(value))
    except ValueError as exc:
        raise _invalid(key, value, "Value should be UUID format") from exc
    return str(value)


def _str(body: dict[str, Any], key: str, max_len: int = 255) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(key, value, "Wrong type. Expected '<class 'str'>'")
    if len(value) > max_len:
        raise _invalid(key, value, f"Value should have a maximum character requirement of {max_len}")
    return value


def _auth() -> AuthContext:
    return require_token()


def _visible(auth: AuthContext, doc: Doc) -> bool:
    return auth.is_admin or doc.get("project_id") == auth.project_id


def _get(cloud: LocalCloud, auth: AuthContext, kind: str, rid: str, resource: str) -> Doc:
    doc = cloud.get(kind, rid)
    if doc is None or not _visible(auth, doc):
        raise _not_found(resource, rid)
    return doc


def _settle_lb(cloud: LocalCloud, lb_id: str) -> Doc | None:
    """Read the parent load balancer so that its due transitions (and their hooks) fire."""
    return cloud.get(LB, lb_id)


def _filter(items: list[Doc], keys: tuple[str, ...]) -> list[Doc]:
    out = items
    for key in keys:
        wanted = request.args.get(key)
        if wanted is None:
            continue
        out = [
            d
            for d in out
            if str(d.get(key)).lower() == wanted.lower()
            or (isinstance(d.get(key), bool) and str(d[key]).lower() == wanted.lower())
        ]
    return out


def _project_quota(cloud: LocalCloud, project_id: str, resource: str, kind: str, label: str) -> None:
    used = len(cloud.store.find(kind, lambda d: d.get("project_id") == project_id))
    if cloud.over_quota(project_id, resource, used, 1):
        raise ApiError(403, f"Quota has been met for resources: {label}")


def _lock_lb(cloud: LocalCloud, lb: Doc, deleting: bool = False) -> None:
    allowed = (olc.ACTIVE, olc.ERROR) if deleting else (olc.ACTIVE,)
    if lb["provisioning_status"] not in allowed:
        raise _immutable(lb["id"])
    lb["provisioning_status"] = olc.PENDING_UPDATE
    lb["updated_at"] = _now()
    cloud.transition(LB, lb, {"provisioning_status": olc.ACTIVE, "_hook": "octavia.lb_settled"})
    cloud.put(LB, lb)


def _ids(docs: list[Doc]) -> list[dict[str, str]]:
    return [{"id": d["id"]} for d in docs]


# -- resource specs ------------------------------------------------------------------------------


@dataclass
class Spec:
    kind: str
    root: str
    collection: str
    label: str
    render: Callable[[LocalCloud, Doc], dict[str, Any]]
    filters: tuple[str, ...] = (
        "id",
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "project_id",
    )
    extra_filters: tuple[str, ...] = field(default_factory=tuple)


def _base(doc: Doc, keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: doc.get(k) for k in keys}
    if "project_id" in keys:
        out["tenant_id"] = doc.get("project_id")
    return out


_LB_KEYS = (
    "id",
    "name",
    "description",
    "provisioning_status",
    "operating_status",
    "admin_state_up",
    "project_id",
    "created_at",
    "updated_at",
    "vip_address",
    "vip_port_id",
    "vip_subnet_id",
    "vip_network_id",
    "vip_sg_ids",
    "additional_vips",
    "provider",
    "flavor_id",
    "vip_qos_policy_id",
    "tags",
    "availability_zone",
    "vip_vnic_type",
)


def _render_lb(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    out = _base(doc, _LB_KEYS)
    out["listeners"] = _ids(cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == doc["id"]))
    out["pools"] = _ids(cloud.store.find(POOL, lambda d: d["loadbalancer_id"] == doc["id"]))
    return out


_LISTENER_KEYS = (
    "id",
    "name",
    "description",
    "provisioning_status",
    "operating_status",
    "admin_state_up",
    "protocol",
    "protocol_port",
    "connection_limit",
    "default_tls_container_ref",
    "sni_container_refs",
    "project_id",
    "default_pool_id",
    "insert_headers",
    "created_at",
    "updated_at",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "tags",
    "client_ca_tls_container_ref",
    "client_authentication",
    "client_crl_container_ref",
    "allowed_cidrs",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
)


def _render_listener(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, LISTENER, doc)
    out = _base(doc, _LISTENER_KEYS)
    out["loadbalancers"] = [{"id": doc["loadbalancer_id"]}]
    out["l7policies"] = _ids(cloud.store.find(L7POLICY, lambda d: d["listener_id"] == doc["id"]))
    return out


_POOL_KEYS = (
    "id",
    "name",
    "description",
    "provisioning_status",
    "operating_status",
    "admin_state_up",
    "protocol",
    "lb_algorithm",
    "session_persistence",
    "project_id",
    "created_at",
    "updated_at",
    "tags",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_enabled",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
)


def _render_pool(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, POOL, doc)
    out = _base(doc, _POOL_KEYS)
    out["loadbalancers"] = [{"id": doc["loadbalancer_id"]}]
    out["listeners"] = _ids(cloud.store.find(LISTENER, lambda d: d.get("default_pool_id") == doc["id"]))
    hms = cloud.store.find(HM, lambda d: d["pool_id"] == doc["id"])
    out["healthmonitor_id"] = hms[0]["id"] if hms else None
    out["members"] = _ids(cloud.store.find(MEMBER, lambda d: d["pool_id"] == doc["id"]))
    return out


_MEMBER_KEYS = (
    "id",
    "name",
    "operating_status",
    "provisioning_status",
    "admin_state_up",
    "address",
    "protocol_port",
    "weight",
    "backup",
    "subnet_id",
    "project_id",
    "created_at",
    "updated_at",
    "monitor_address",
    "monitor_port",
    "tags",
    "vnic_type",
)


def _render_member(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    _refresh_operating(cloud, MEMBER, doc)
    return _base(doc, _MEMBER_KEYS)


# -- member health (see the module docstring) ---------------------------------------------------

MEMBER_CHECKED = "octavia.member_checked"
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


def _render_hm(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    out = _base(doc, _HM_KEYS)
    out["pools"] = [{"id": doc["pool_id"]}]
    return out


_L7P_KEYS = (
    "id",
    "name",
    "description",
    "provisioning_status",
    "operating_status",
    "admin_state_up",
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


def _render_l7policy(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    out = _base(doc, _L7P_KEYS)
    out["rules"] = _ids(cloud.store.find(L7RULE, lambda d: d["l7policy_id"] == doc["id"]))
    return out


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


def _render_l7rule(cloud: LocalCloud, doc: Doc) -> dict[str, Any]:
    return _base(doc, _L7R_KEYS)


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


# -- load balancers ------------------------------------------------------------------------------


def _allocate_vip(
    cloud: LocalCloud, auth: AuthContext, lb_id: str, project_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    subnet_id = _uuid(body, "vip_subnet_id")
    network_id = _uuid(body, "vip_network_id")
    port_id = _uuid(body, "vip_port_id")
    address = body.get("vip_address")
    if not (subnet_id or network_id or port_id):
        raise ApiError(
            400, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id."
        )
    if address is not None:
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise ApiError(400, f"The IP Address {address} is invalid.") from exc
    has_neutron = any(s.name == "network" for s in cloud.services)
    if not has_neutron:
        # No Neutron in this cloud: hand out an address from a private range, as a provider
        # with a flat VIP network would.
        used = {d.get("vip_address") for d in cloud.store.all(LB)}
        host = next(str(ip) for ip in VIP_FALLBACK_NET.hosts() if str(ip) not in used)
        return {
            "vip_address": address or host,
            "vip_subnet_id": subnet_id,
            "vip_network_id": network_id,
            "vip_port_id": port_id or new_id(),
        }
    from gateway_kit.localcloud.services import network as neutron

    if port_id:
        port = cloud.store.get("network.port", port_id)
        if port is None:
            raise ApiError(400, f"Port {port_id} not found.")
        ip = port["fixed_ips"][0] if port.get("fixed_ips") else {}
        return {
            "vip_address": ip.get("ip_address"),
            "vip_subnet_id": ip.get("subnet_id"),
            "vip_network_id": port["network_id"],
            "vip_port_id": port_id,
        }
    subnet = None
    if subnet_id:
        subnet = cloud.store.get("network.subnet", subnet_id)
        if subnet is None:
            raise ApiError(400, f"Subnet {subnet_id} not found.")
        if network_id and subnet["network_id"] != network_id:
            raise ApiError(400, f"Validation failure: Subnet {subnet_id} is not on network {network_id}.")
        network_id = subnet["network_id"]
    else:
        net = cloud.store.get("network.network", str(network_id))
        if net is None:
            raise ApiError(400, f"Network {network_id} not found.")
        subnets = cloud.store.find("network.subnet", lambda s: s["network_id"] == network_id)
        if not subnets:
            raise ApiError(400, "Validation failure: Supplied network does not contain a subnet.")
        subnet = subnets[0]
    fixed: dict[str, Any] = {"subnet_id": subnet["id"]}
    if address:
        fixed["ip_address"] = address
    try:
        port = neutron.create_port(
            cloud,
            project_id,
            str(network_id),
            device_id=f"lb-{lb_id}",
            device_owner="Octavia",
            fixed_ips=[fixed],
            name=f"octavia-lb-{lb_id}",
            security_groups=[],
        )
    except ApiError as exc:
        if exc.status == 409:
            raise ApiError(409, f"The VIP IP address is already in use: {exc.message}") from exc
        raise ApiError(400, f"Validation failure: {exc.message}") from exc
    ip = port["fixed_ips"][0]
    return {
        "vip_address": ip["ip_address"],
        "vip_subnet_id": ip["subnet_id"],
        "vip_network_id": network_id,
        "vip_port_id": port["id"],
    }


def _create_lb() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("loadbalancer")
    _check_attrs(
        body,
        (
            "name",
            "description",
            "admin_state_up",
            "vip_address",
            "vip_port_id",
            "vip_subnet_id",
            "vip_network_id",
            "vip_qos_policy_id",
            "vip_sg_ids",
            "additional_vips",
            "project_id",
            "listeners",
            "pools",
            "provider",
            "tags",
            "flavor_id",
            "availability_zone",
        ),
        "loadbalancer",
    )
    project_id = auth.project_id
    if body.get("project_id") and body["project_id"] != project_id:
        if not auth.is_admin:
            raise _forbidden()
        project_id = str(body["project_id"])
    if body.get("listeners") or body.get("pools"):
        raise ApiError(
            501,
            "Provider 'amphora' does not support a requested action: single-call create of "
            "a load balancer tree is not supported by the local cloud.",
        )
    provider = body.get("provider") or "amphora"
    if provider not in PROVIDERS:
        raise ApiError(400, f"Provider '{provider}' is not enabled.")
    flavor_id = _uuid(body, "flavor_id")
    if flavor_id:
        flavor = cloud.get(FLAVOR, flavor_id)
        if flavor is None:
            raise ApiError(400, f"Flavor {flavor_id} not found.")
        if not flavor.get("enabled", True):
            raise ApiError(400, f"The selected flavor is not allowed in this deployment: {flavor_id}")
    az = body.get("availability_zone")
    if az is not None and cloud.get(AZ, az) is None:
        raise ApiError(400, f"Availability Zone {az} not found.")
    _project_quota(cloud, project_id, "load_balancer", LB, "Load Balancer")
    lb_id = new_id()
    vip = _allocate_vip(cloud, auth, lb_id, project_id, body)
    lb: Doc = {
        "id": lb_id,
        "name": _str(body, "name") or "",
        "description": _str(body, "description") or "",
        "provisioning_status": olc.PENDING_CREATE,
        "operating_status": olc.OFFLINE,
        "admin_state_up": bool(body.get("admin_state_up", True)),
        "project_id": project_id,
        "created_at": _now(),
        "updated_at": None,
        **vip,
        "vip_sg_ids": body.get("vip_sg_ids") or [],
        "additional_vips": [],
        "provider": provider,
        "flavor_id": flavor_id,
        "vip_qos_policy_id": _uuid(body, "vip_qos_policy_id"),
        "tags": list(body.get("tags") or []),
        "availability_zone": az,
        "vip_vnic_type": "normal",
    }
    cloud.transition(
        LB,
        lb,
        {"provisioning_status": olc.ACTIVE, "operating_status": olc.ONLINE, "_hook": "octavia.lb_settled"},
        create=True,
        error={"provisioning_status": olc.ERROR, "operating_status": olc.ERROR},
    )
    cloud.put(LB, lb)
    return json_response({"loadbalancer": _render_lb(cloud, lb)}, 201)


def _update_lb(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    body = _body("loadbalancer")
    _check_attrs(
        body,
        ("name", "description", "vip_qos_policy_id", "admin_state_up", "vip_sg_ids", "tags"),
        "loadbalancer",
    )
    if lb["provisioning_status"] != olc.ACTIVE:
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    for key in ("name", "description"):
        if key in body:
            lb[key] = _str(body, key) or ""
    if "admin_state_up" in body:
        lb["admin_state_up"] = bool(body["admin_state_up"])
    for key in ("vip_qos_policy_id", "vip_sg_ids", "tags"):
        if key in body:
            lb[key] = body[key]
    lb["provisioning_status"] = olc.PENDING_UPDATE
    lb["updated_at"] = _now()
    cloud.transition(LB, lb, {"provisioning_status": olc.ACTIVE, "_hook": "octavia.lb_settled"})
    cloud.put(LB, lb)
    return json_response({"loadbalancer": _render_lb(cloud, lb)}, 202)


def _delete_lb(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    cascade = request.args.get("cascade", "false").lower() in ("true", "1", "yes")
    has_children = any(
        cloud.store.find(k, lambda d: d.get("loadbalancer_id") == rid) for k in (LISTENER, POOL)
    )
    if has_children and not cascade:
        raise ApiError(400, f"Validation failure: Cannot delete Load Balancer {rid} - it has children")
    lb["provisioning_status"] = olc.PENDING_DELETE
    lb["updated_at"] = _now()
    lb.get("_lc", {}).get("queue", []).clear()
    cloud.transition(LB, lb, {"_hook": "octavia.lb_deleted"})
    cloud.put(LB, lb)
    return Response(status=204)


def _lb_stats(rid: str) -> Response:
    cloud = current_cloud()
    _get(cloud, _auth(), LB, rid, "Load Balancer")
    return json_response(
        {
            "stats": {
                "bytes_in": 0,
                "bytes_out": 0,
                "active_connections": 0,
                "total_connections": 0,
                "request_errors": 0,
            }
        }
    )


def _lb_status(rid: str) -> Response:
    cloud = current_cloud()
    lb = _get(cloud, _auth(), LB, rid, "Load Balancer")
    listeners = []
    for lis in cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == rid):
        _refresh_operating(cloud, LISTENER, lis)
        pools = []
        pool_id = lis.get("default_pool_id")
        for pool in [p for p in [cloud.store.get(POOL, str(pool_id))] if pool_id and p is not None]:
            pid = pool["id"]
            _refresh_operating(cloud, POOL, pool)
            pool_members = cloud.list(MEMBER, _in_pool(pid))
            for m in pool_members:
                _refresh_operating(cloud, MEMBER, m)
            members = [
                {
                    "id": m["id"],
                    "name": m["name"],
                    "operating_status": m["operating_status"],
                    "provisioning_status": m["provisioning_status"],
                    "address": m["address"],
                    "protocol_port": m["protocol_port"],
                }
                for m in pool_members
            ]
            entry: dict[str, Any] = {
                "id": pool["id"],
                "name": pool["name"],
                "provisioning_status": pool["provisioning_status"],
                "operating_status": pool["operating_status"],
                "members": members,
            }
            for hm in [h for h in cloud.store.all(HM) if h["pool_id"] == pid]:
                entry["health_monitor"] = {
                    "id": hm["id"],
                    "name": hm["name"],
                    "type": hm["type"],
                    "provisioning_status": hm["provisioning_status"],
                    "operating_status": hm["operating_status"],
                }
            pools.append(entry)
        listeners.append(
            {
                "id": lis["id"],
                "name": lis["name"],
                "operating_status": lis["operating_status"],
                "provisioning_status": lis["provisioning_status"],
                "pools": pools,
            }
        )
    return json_response(
        {
            "statuses": {
                "loadbalancer": {
                    "id": lb["id"],
                    "name": lb["name"],
                    "operating_status": lb["operating_status"],
                    "provisioning_status": lb["provisioning_status"],
                    "listeners": listeners,
                }
            }
        }
    )


def _lb_failover(rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    lb = _get(cloud, auth, LB, rid, "Load Balancer")
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise ApiError(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {rid}")
    lb["provisioning_status"] = olc.PENDING_UPDATE
    cloud.transition(
        LB,
        lb,
        {"provisioning_status": olc.ACTIVE, "operating_status": olc.ONLINE, "_hook": "octavia.lb_settled"},
    )
    cloud.put(LB, lb)
    return Response(status=202)


# -- children ------------------------------------------------------------------------------------


def _new_child(auth: AuthContext, lb: Doc, body: dict[str, Any]) -> Doc:
    return {
        "id": new_id(),
        "name": _str(body, "name") or "",
        "provisioning_status": olc.PENDING_CREATE,
        "operating_status": olc.OFFLINE,
        "admin_state_up": bool(body.get("admin_state_up", True)),
        "project_id": lb["project_id"],
        "loadbalancer_id": lb["id"],
        "created_at": _now(),
        "updated_at": None,
        "tags": list(body.get("tags") or []),
    }


def _tls_ref(cloud: LocalCloud, auth: AuthContext, ref: Any, pkcs12: bool = True) -> str:
    """Validate a Barbican ref as Octavia's cert manager would (readable, and a certificate)."""
    from gateway_kit.localcloud.services import key_manager

    if not isinstance(ref, str):
        raise ApiError(400, f"Could not retrieve certificate: {ref}")
    found = key_manager.lookup_ref(cloud, ref, auth.project_id)
    if found is None:
        raise ApiError(400, f"Could not retrieve certificate: {ref}")
    what, doc = found
    if what == "container":
        if doc.get("type") != "certificate":
            raise ApiError(400, f"Could not retrieve certificate: {ref}")
        return ref
    payload = key_manager.secret_payload(doc)
    if pkcs12 and (payload is None or not _looks_like_pkcs12(payload)):
        raise ApiError(
            400,
            "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make "
            "sure it does not require a pass phrase. Error: Could not deserialize PKCS12 data",
        )
    return ref


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        from cryptography.hazmat.primitives.serialization import pkcs12

        pkcs12.load_key_and_certificates(data, None)
    except (ValueError, TypeError):
        return False
    return True


_LISTENER_ATTRS = (
    "name",
    "description",
    "admin_state_up",
    "protocol",
    "protocol_port",
    "connection_limit",
    "default_tls_container_ref",
    "sni_container_refs",
    "project_id",
    "default_pool_id",
    "l7policies",
    "insert_headers",
    "loadbalancer_id",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "tags",
    "client_ca_tls_container_ref",
    "client_authentication",
    "client_crl_container_ref",
    "allowed_cidrs",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
    "default_pool",
)


def _apply_listener_common(
    cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any], creating: bool
) -> None:
    for key in (
        "timeout_client_data",
        "timeout_member_connect",
        "timeout_member_data",
        "timeout_tcp_inspect",
    ):
        if key in body:
            doc[key] = _int(body, key, 0, 31536000000)
    if "connection_limit" in body:
        doc["connection_limit"] = _int(body, "connection_limit", -1, 2147483647)
    if "description" in body:
        doc["description"] = _str(body, "description") or ""
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        doc["admin_state_up"] = bool(body["admin_state_up"])
    if "insert_headers" in body:
        headers = body["insert_headers"] or {}
        bad = [h for h in headers if h not in olc.SUPPORTED_HTTP_HEADERS + olc.SUPPORTED_SSL_HEADERS]
        if bad:
            raise ApiError(400, f"Validation failure: {bad[0]} is not a valid option for insert_headers")
        doc["insert_headers"] = headers
    if "allowed_cidrs" in body:
        cidrs = body["allowed_cidrs"] or []
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise _invalid("allowed_cidrs", cidrs, "Value should be IP network format") from exc
        doc["allowed_cidrs"] = cidrs
    for key in (
        "tags",
        "tls_versions",
        "alpn_protocols",
        "tls_ciphers",
        "hsts_max_age",
        "hsts_include_subdomains",
        "hsts_preload",
    ):
        if key in body:
            doc[key] = body[key]
    if "default_tls_container_ref" in body and body["default_tls_container_ref"] is not None:
        doc["default_tls_container_ref"] = _tls_ref(cloud, auth, body["default_tls_container_ref"])
    if "sni_container_refs" in body:
        doc["sni_container_refs"] = [_tls_ref(cloud, auth, r) for r in body["sni_container_refs"] or []]
    if "client_authentication" in body:
        doc["client_authentication"] = _enum(body, "client_authentication", olc.SUPPORTED_CLIENT_AUTH_MODES)
    for key in ("client_ca_tls_container_ref", "client_crl_container_ref"):
        if body.get(key) is not None:
            doc[key] = _tls_ref(cloud, auth, body[key], pkcs12=False)
    if "default_pool_id" in body:
        pool_id = _uuid(body, "default_pool_id")
        if pool_id is not None:
            pool = cloud.get(POOL, pool_id)
            if pool is None or pool["loadbalancer_id"] != doc["loadbalancer_id"]:
                raise ApiError(400, f"Pool {pool_id} not found.")
            if cloud.store.find(
                LISTENER, lambda d: d.get("default_pool_id") == pool_id and d["id"] != doc["id"]
            ):
                raise ApiError(409, f"Pool {pool_id} is in use and cannot be modified.")
        doc["default_pool_id"] = pool_id


def _create_listener() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("listener")
    _check_attrs(body, _LISTENER_ATTRS, "listener")
    protocol = _enum(body, "protocol", olc.LISTENER_SUPPORTED_PROTOCOLS, required=True)
    port = _int(body, "protocol_port", 1, 65535, required=True)
    lb_id = _uuid(body, "loadbalancer_id")
    if lb_id is None:
        raise _invalid("loadbalancer_id", None, "Mandatory field missing.")
    lb = cloud.get(LB, lb_id)
    if lb is None or not _visible(auth, lb):
        raise ApiError(400, f"Load Balancer {lb_id} not found.")
    if protocol == olc.PROTOCOL_TERMINATED_HTTPS and not body.get("default_tls_container_ref"):
        raise ApiError(
            400,
            "Validation failure: An SNI or default certificate container reference must be "
            "provided for TERMINATED_HTTPS listeners.",
        )
    if protocol != olc.PROTOCOL_TERMINATED_HTTPS and (
        body.get("default_tls_container_ref") or body.get("sni_container_refs")
    ):
        raise ApiError(
            400,
            "Validation failure: Certificate container references are only allowed on "
            "TERMINATED_HTTPS protocol listeners.",
        )
    for other in cloud.store.find(LISTENER, lambda d: d["loadbalancer_id"] == lb_id):
        same_family = {other["protocol"], protocol} <= {olc.PROTOCOL_UDP} or (
            olc.PROTOCOL_UDP not in (other["protocol"], protocol)
            and olc.PROTOCOL_SCTP not in (other["protocol"], protocol)
        )
        if other["protocol_port"] == port and same_family:
            raise ApiError(
                409,
                f"Another Listener on this Load Balancer is already using protocol {protocol} "
                f"and protocol_port {port}",
            )
    _project_quota(cloud, lb["project_id"], "listener", LISTENER, "Listener")
    doc = _new_child(auth, lb, body)
    doc.update(
        {
            "description": "",
            "protocol": protocol,
            "protocol_port": port,
            "connection_limit": -1,
            "default_tls_container_ref": None,
            "sni_container_refs": [],
            "default_pool_id": None,
            "insert_headers": {},
            "timeout_client_data": 50000,
            "timeout_member_connect": 5000,
            "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0,
            "client_ca_tls_container_ref": None,
            "client_authentication": olc.CLIENT_AUTH_NONE,
            "client_crl_container_ref": None,
            "allowed_cidrs": None,
            "tls_ciphers": None,
            "tls_versions": None,
            "alpn_protocols": None,
            "hsts_max_age": None,
            "hsts_include_subdomains": False,
            "hsts_preload": False,
        }
    )
    if protocol == olc.PROTOCOL_TERMINATED_HTTPS:
        doc["tls_versions"] = ["TLSv1.2", "TLSv1.3"]
        doc["alpn_protocols"] = ["h2", "http/1.1", "http/1.0"]
    _apply_listener_common(cloud, auth, doc, body, creating=True)
    _lock_lb(cloud, lb)
    cloud.put(LISTENER, doc)
    return json_response({"listener": _render_listener(cloud, doc)}, 201)


def _update_child(
    spec: Spec,
    apply: Callable[[LocalCloud, AuthContext, Doc, dict[str, Any]], None],
    allowed: tuple[str, ...],
    rid: str,
) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    _settle_lb(cloud, doc["loadbalancer_id"])
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    body = _body(spec.root)
    _check_attrs(body, allowed, spec.root)
    lb = cloud.get(LB, doc["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    apply(cloud, auth, doc, body)
    doc["provisioning_status"] = olc.PENDING_UPDATE
    doc["updated_at"] = _now()
    _lock_lb(cloud, lb)
    cloud.put(spec.kind, doc)
    return json_response({spec.root: spec.render(cloud, doc)}, 202)


def _delete_child(spec: Spec, cascade: Callable[[LocalCloud, Doc], None] | None, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    _settle_lb(cloud, doc["loadbalancer_id"])
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    lb = cloud.get(LB, doc["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] not in (olc.ACTIVE, olc.ERROR):
        raise _immutable(lb["id"])
    if doc["provisioning_status"] == olc.PENDING_DELETE:
        raise _immutable(lb["id"])
    if cascade is not None:
        cascade(cloud, doc)
    doc["provisioning_status"] = olc.PENDING_DELETE
    _lock_lb(cloud, lb, deleting=True)
    cloud.put(spec.kind, doc)
    return Response(status=204)


def _mark_deleted(cloud: LocalCloud, kind: str, predicate: Callable[[Doc], bool]) -> list[Doc]:
    docs = cloud.store.find(kind, predicate)
    for d in docs:
        d["provisioning_status"] = olc.PENDING_DELETE
        cloud.store.put(kind, d)
    return docs


def _cascade_listener(cloud: LocalCloud, doc: Doc) -> None:
    policies = _mark_deleted(cloud, L7POLICY, lambda d: d["listener_id"] == doc["id"])
    ids = {p["id"] for p in policies}
    _mark_deleted(cloud, L7RULE, lambda d: d["l7policy_id"] in ids)


def _cascade_pool(cloud: LocalCloud, doc: Doc) -> None:
    using = cloud.store.find(
        L7POLICY,
        lambda d: d.get("redirect_pool_id") == doc["id"] and d["provisioning_status"] != olc.PENDING_DELETE,
    )
    if using:
        raise ApiError(409, f"Pool {doc['id']} is in use by L7 policy {using[0]['id']}")
    _mark_deleted(cloud, MEMBER, lambda d: d["pool_id"] == doc["id"])
    _mark_deleted(cloud, HM, lambda d: d["pool_id"] == doc["id"])
    for lis in cloud.store.find(LISTENER, lambda d: d.get("default_pool_id") == doc["id"]):
        lis["default_pool_id"] = None
        cloud.store.put(LISTENER, lis)


def _cascade_l7policy(cloud: LocalCloud, doc: Doc) -> None:
    _mark_deleted(cloud, L7RULE, lambda d: d["l7policy_id"] == doc["id"])


_POOL_ATTRS = (
    "name",
    "description",
    "admin_state_up",
    "listener_id",
    "loadbalancer_id",
    "protocol",
    "lb_algorithm",
    "session_persistence",
    "project_id",
    "healthmonitor",
    "members",
    "tags",
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_enabled",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
)


def _apply_pool(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "lb_algorithm" in body:
        doc["lb_algorithm"] = _enum(body, "lb_algorithm", olc.SUPPORTED_LB_ALGORITHMS, required=True)
    for key in ("name", "description"):
        if key in body:
            doc[key] = _str(body, key) or ""
    if "admin_state_up" in body:
        doc["admin_state_up"] = bool(body["admin_state_up"])
    if "session_persistence" in body:
        sp = body["session_persistence"]
        if sp is not None:
            if not isinstance(sp, dict):
                raise _invalid("session_persistence", sp, "Wrong type.")
            _enum(sp, "type", olc.SUPPORTED_SP_TYPES, required=True)
            if sp["type"] == olc.SESSION_PERSISTENCE_APP_COOKIE and not sp.get("cookie_name"):
                raise ApiError(
                    400, "Validation failure: APP_COOKIE session persistence type requires a cookie name."
                )
            sp = {
                "type": sp["type"],
                "cookie_name": sp.get("cookie_name"),
                "persistence_timeout": sp.get("persistence_timeout"),
                "persistence_granularity": sp.get("persistence_granularity"),
            }
        doc["session_persistence"] = sp
    for key in ("tags", "tls_enabled", "tls_ciphers", "tls_versions", "alpn_protocols"):
        if key in body:
            doc[key] = body[key]
    for key in ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref"):
        if body.get(key) is not None:
            doc[key] = _tls_ref(cloud, auth, body[key], pkcs12=key == "tls_container_ref")


def _create_pool() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("pool")
    _check_attrs(body, _POOL_ATTRS, "pool")
    protocol = _enum(
        body, "protocol", (*olc.POOL_SUPPORTED_PROTOCOLS, olc.PROTOCOL_TERMINATED_HTTPS), required=True
    )
    _enum(body, "lb_algorithm", olc.SUPPORTED_LB_ALGORITHMS, required=True)
    listener_id = _uuid(body, "listener_id")
    lb_id = _uuid(body, "loadbalancer_id")
    if not listener_id and not lb_id:
        raise ApiError(400, "Validation failure: Either a listener or load balancer must be specified.")
    listener = None
    if listener_id:
        listener = cloud.get(LISTENER, listener_id)
        if listener is None or not _visible(auth, listener):
            raise ApiError(400, f"Listener {listener_id} not found.")
        if lb_id and listener["loadbalancer_id"] != lb_id:
            raise ApiError(400, "Validation failure: The specified listener and load balancer do not match.")
        lb_id = listener["loadbalancer_id"]
        if listener.get("default_pool_id"):
            raise ApiError(409, "This listener already has a default pool")
        compatible = {
            olc.PROTOCOL_HTTP: {olc.PROTOCOL_HTTP, olc.PROTOCOL_PROXY, olc.PROTOCOL_PROXYV2},
            olc.PROTOCOL_HTTPS: {
                olc.PROTOCOL_HTTPS,
                olc.PROTOCOL_PROXY,
                olc.PROTOCOL_PROXYV2,
                olc.PROTOCOL_TCP,
            },
            olc.PROTOCOL_TERMINATED_HTTPS: {olc.PROTOCOL_HTTP, olc.PROTOCOL_PROXY, olc.PROTOCOL_PROXYV2},
            olc.PROTOCOL_TCP: {
                olc.PROTOCOL_TCP,
                olc.PROTOCOL_HTTP,
                olc.PROTOCOL_HTTPS,
                olc.PROTOCOL_PROXY,
                olc.PROTOCOL_PROXYV2,
            },
            olc.PROTOCOL_UDP: {olc.PROTOCOL_UDP},
            olc.PROTOCOL_SCTP: {olc.PROTOCOL_SCTP},
        }.get(listener["protocol"], set())
        if protocol not in compatible:
            raise ApiError(
                400,
                f"Validation failure: The pool protocol '{protocol}' is invalid while the listener "
                f"protocol is '{listener['protocol']}'.",
            )
    lb = cloud.get(LB, str(lb_id))
    if lb is None or not _visible(auth, lb):
        raise ApiError(400, f"Load Balancer {lb_id} not found.")
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    _project_quota(cloud, lb["project_id"], "pool", POOL, "Pool")
    doc = _new_child(auth, lb, body)
    doc.update(
        {
            "description": "",
            "protocol": protocol,
            "lb_algorithm": body["lb_algorithm"],
            "session_persistence": None,
            "tls_container_ref": None,
            "ca_tls_container_ref": None,
            "crl_container_ref": None,
            "tls_enabled": False,
            "tls_ciphers": None,
            "tls_versions": None,
            "alpn_protocols": None,
        }
    )
    _apply_pool(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(POOL, doc)
    if listener is not None:
        listener["default_pool_id"] = doc["id"]
        listener["provisioning_status"] = olc.PENDING_UPDATE
        cloud.put(LISTENER, listener)
    return json_response({"pool": _render_pool(cloud, doc)}, 201)


_MEMBER_ATTRS = (
    "name",
    "admin_state_up",
    "address",
    "protocol_port",
    "weight",
    "backup",
    "subnet_id",
    "project_id",
    "monitor_address",
    "monitor_port",
    "tags",
    "request_sriov",
)


def _apply_member(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "weight" in body:
        doc["weight"] = _int(body, "weight", 0, 256)
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        enable = bool(body["admin_state_up"]) and not doc.get("admin_state_up", True)
        doc["admin_state_up"] = bool(body["admin_state_up"])
        if enable:
            _arm_member_check(cloud, doc)
    if "backup" in body:
        doc["backup"] = bool(body["backup"])
    if "monitor_port" in body:
        doc["monitor_port"] = _int(body, "monitor_port", 1, 65535)
    if "monitor_address" in body:
        doc["monitor_address"] = body["monitor_address"]
    if "tags" in body:
        doc["tags"] = list(body["tags"] or [])


def _pool_for(cloud: LocalCloud, auth: AuthContext, pool_id: str) -> Doc:
    pool = cloud.get(POOL, pool_id)
    if pool is None or not _visible(auth, pool) or pool["provisioning_status"] == olc.PENDING_DELETE:
        raise _not_found("Pool", pool_id)
    return pool


def _create_member(pool_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    pool = _pool_for(cloud, auth, pool_id)
    body = _body("member")
    _check_attrs(body, _MEMBER_ATTRS, "member")
    address = body.get("address")
    try:
        ipaddress.ip_address(str(address))
    except ValueError as exc:
        raise _invalid("address", address, "Value should be IP address format") from exc
    port = _int(body, "protocol_port", 1, 65535, required=True)
    subnet_id = _uuid(body, "subnet_id")
    if (
        subnet_id
        and any(s.name == "network" for s in cloud.services)
        and cloud.store.get("network.subnet", subnet_id) is None
    ):
        raise ApiError(400, f"Subnet {subnet_id} not found.")
    if cloud.store.find(
        MEMBER, lambda d: d["pool_id"] == pool_id and d["address"] == address and d["protocol_port"] == port
    ):
        raise ApiError(
            409, f"Another member on this pool is already using ip {address} on protocol_port {port}"
        )
    lb = cloud.get(LB, pool["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    _project_quota(cloud, lb["project_id"], "member", MEMBER, "Member")
    doc = _new_child(auth, lb, body)
    doc.update(
        {
            "pool_id": pool_id,
            "address": address,
            "protocol_port": port,
            "weight": 1,
            "backup": False,
            "subnet_id": subnet_id,
            "monitor_address": None,
            "monitor_port": None,
            "vnic_type": "normal",
        }
    )
    _apply_member(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    _arm_member_check(cloud, doc)
    doc["operating_status"] = _member_status(cloud, doc)
    cloud.put(MEMBER, doc)
    return json_response({"member": _render_member(cloud, doc)}, 201)


_HM_ATTRS = (
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
    "pool_id",
    "tags",
    "http_version",
    "domain_name",
)


def _apply_hm(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    for key, lo, hi in (
        ("delay", 0, 2147483647),
        ("timeout", 0, 2147483647),
        ("max_retries", 1, 10),
        ("max_retries_down", 1, 10),
    ):
        if key in body:
            doc[key] = _int(body, key, lo, hi, required=True)
    if "http_method" in body:
        doc["http_method"] = _enum(body, "http_method", olc.SUPPORTED_HEALTH_MONITOR_HTTP_METHODS)
    if "url_path" in body:
        path = body["url_path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise ApiError(400, "Validation failure: URL path is not valid.")
        doc["url_path"] = path
    for key in ("expected_codes", "http_version", "domain_name", "tags"):
        if key in body:
            doc[key] = body[key]
    if "name" in body:
        doc["name"] = _str(body, "name") or ""
    if "admin_state_up" in body:
        enable = bool(body["admin_state_up"]) and not doc.get("admin_state_up", True)
        doc["admin_state_up"] = bool(body["admin_state_up"])
        if enable and doc.get("pool_id"):
            for member in cloud.store.find(MEMBER, lambda d: d["pool_id"] == doc["pool_id"]):
                _arm_member_check(cloud, member)
                cloud.put(MEMBER, member)
    if doc.get("timeout") is not None and doc.get("delay") is not None and doc["timeout"] > doc["delay"]:
        raise ApiError(
            400,
            f"Validation failure: The request delay value {doc['delay']} should be larger than the "
            f"request timeout value {doc['timeout']}.",
        )


def _create_hm() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("healthmonitor")
    _check_attrs(body, _HM_ATTRS, "healthmonitor")
    hm_type = _enum(body, "type", olc.SUPPORTED_HEALTH_MONITOR_TYPES, required=True)
    pool_id = _uuid(body, "pool_id")
    if pool_id is None:
        raise _invalid("pool_id", None, "Mandatory field missing.")
    for key in ("delay", "timeout", "max_retries"):
        if key not in body:
            raise _invalid(key, None, "Mandatory field missing.")
    pool = cloud.get(POOL, pool_id)
    if pool is None or not _visible(auth, pool):
        raise ApiError(400, f"Pool {pool_id} not found.")
    if cloud.store.find(HM, lambda d: d["pool_id"] == pool_id):
        raise ApiError(409, "This pool already has a health monitor")
    lb = cloud.get(LB, pool["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    _project_quota(cloud, lb["project_id"], "health_monitor", HM, "Health Monitor")
    doc = _new_child(auth, lb, body)
    is_http = hm_type in (olc.HEALTH_MONITOR_HTTP, olc.HEALTH_MONITOR_HTTPS)
    doc.update(
        {
            "pool_id": pool_id,
            "type": hm_type,
            "max_retries_down": 3,
            "http_method": olc.HEALTH_MONITOR_HTTP_DEFAULT_METHOD if is_http else None,
            "url_path": "/" if is_http else None,
            "expected_codes": "200" if is_http else None,
            "http_version": None,
            "domain_name": None,
            "operating_status": olc.ONLINE,
        }
    )
    _apply_hm(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(HM, doc)
    for member in cloud.store.find(MEMBER, lambda d: d["pool_id"] == pool_id):
        _arm_member_check(cloud, member)
        member["operating_status"] = _member_status(cloud, member)
        cloud.put(MEMBER, member)
    return json_response({"healthmonitor": _render_hm(cloud, doc)}, 201)


_L7P_ATTRS = (
    "name",
    "description",
    "admin_state_up",
    "project_id",
    "action",
    "redirect_pool_id",
    "redirect_url",
    "redirect_prefix",
    "position",
    "listener_id",
    "rules",
    "tags",
    "redirect_http_code",
)


def _apply_l7policy(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "action" in body:
        doc["action"] = _enum(body, "action", olc.SUPPORTED_L7POLICY_ACTIONS, required=True)
    for key in ("name", "description"):
        if key in body:
            doc[key] = _str(body, key) or ""
    for key in ("redirect_url", "redirect_prefix", "redirect_http_code", "tags", "position"):
        if key in body:
            doc[key] = body[key]
    if "admin_state_up" in body:
        doc["admin_state_up"] = bool(body["admin_state_up"])
    if "redirect_pool_id" in body:
        doc["redirect_pool_id"] = _uuid(body, "redirect_pool_id")
    action = doc["action"]
    if action == olc.L7POLICY_ACTION_REDIRECT_TO_URL:
        if not doc.get("redirect_url"):
            raise ApiError(400, "Invalid L7 Policy: redirect_url must be set when action is REDIRECT_TO_URL")
        doc["redirect_pool_id"] = doc["redirect_prefix"] = None
        doc["redirect_http_code"] = doc.get("redirect_http_code") or 302
    elif action == olc.L7POLICY_ACTION_REDIRECT_PREFIX:
        if not doc.get("redirect_prefix"):
            raise ApiError(
                400, "Invalid L7 Policy: redirect_prefix must be set when action is REDIRECT_PREFIX"
            )
        doc["redirect_pool_id"] = doc["redirect_url"] = None
        doc["redirect_http_code"] = doc.get("redirect_http_code") or 302
    elif action == olc.L7POLICY_ACTION_REDIRECT_TO_POOL:
        pool_id = doc.get("redirect_pool_id")
        pool = cloud.get(POOL, pool_id) if pool_id else None
        if pool is None or pool["loadbalancer_id"] != doc["loadbalancer_id"]:
            raise ApiError(400, f"Pool {pool_id} not found.")
        doc["redirect_url"] = doc["redirect_prefix"] = doc["redirect_http_code"] = None
    else:
        doc["redirect_url"] = doc["redirect_prefix"] = doc["redirect_http_code"] = doc["redirect_pool_id"] = (
            None
        )


def _create_l7policy() -> Response:
    cloud = current_cloud()
    auth = _auth()
    body = _body("l7policy")
    _check_attrs(body, _L7P_ATTRS, "l7policy")
    _enum(body, "action", olc.SUPPORTED_L7POLICY_ACTIONS, required=True)
    listener_id = _uuid(body, "listener_id")
    listener = cloud.get(LISTENER, str(listener_id)) if listener_id else None
    if listener is None or not _visible(auth, listener):
        raise ApiError(400, f"Listener {listener_id} not found.")
    lb = cloud.get(LB, listener["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    _project_quota(cloud, lb["project_id"], "l7policy", L7POLICY, "L7 Policy")
    doc = _new_child(auth, lb, body)
    siblings = cloud.store.find(L7POLICY, lambda d: d["listener_id"] == listener_id)
    doc.update(
        {
            "description": "",
            "listener_id": listener_id,
            "action": body["action"],
            "redirect_pool_id": None,
            "redirect_url": None,
            "redirect_prefix": None,
            "redirect_http_code": None,
            "position": len(siblings) + 1,
            "operating_status": olc.ONLINE,
        }
    )
    _apply_l7policy(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(L7POLICY, doc)
    return json_response({"l7policy": _render_l7policy(cloud, doc)}, 201)


_L7R_ATTRS = ("type", "compare_type", "key", "value", "invert", "admin_state_up", "project_id", "tags")


def _apply_l7rule(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    if "type" in body:
        doc["type"] = _enum(body, "type", olc.SUPPORTED_L7RULE_TYPES, required=True)
    if "compare_type" in body:
        doc["compare_type"] = _enum(body, "compare_type", olc.SUPPORTED_L7RULE_COMPARE_TYPES, required=True)
    for key in ("key", "value", "tags"):
        if key in body:
            doc[key] = body[key]
    for key in ("invert", "admin_state_up"):
        if key in body:
            doc[key] = bool(body[key])
    if doc["type"] in (olc.L7RULE_TYPE_HEADER, olc.L7RULE_TYPE_COOKIE) and not doc.get("key"):
        raise ApiError(400, f"Error parsing L7Rule: key must be specified for {doc['type']} rules")
    if not doc.get("value"):
        raise _invalid("value", doc.get("value"), "Mandatory field missing.")


def _policy_for(cloud: LocalCloud, auth: AuthContext, policy_id: str) -> Doc:
    policy = cloud.get(L7POLICY, policy_id)
    if policy is None or not _visible(auth, policy) or policy["provisioning_status"] == olc.PENDING_DELETE:
        raise _not_found("L7 Policy", policy_id)
    return policy


def _create_l7rule(policy_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    policy = _policy_for(cloud, auth, policy_id)
    body = _body("rule")
    _check_attrs(body, _L7R_ATTRS, "rule")
    _enum(body, "type", olc.SUPPORTED_L7RULE_TYPES, required=True)
    _enum(body, "compare_type", olc.SUPPORTED_L7RULE_COMPARE_TYPES, required=True)
    lb = cloud.get(LB, policy["loadbalancer_id"])
    assert lb is not None
    if lb["provisioning_status"] != olc.ACTIVE:
        raise _immutable(lb["id"])
    _project_quota(cloud, lb["project_id"], "l7rule", L7RULE, "L7 Rule")
    doc = _new_child(auth, lb, body)
    del doc["name"]
    doc.update({"l7policy_id": policy_id, "key": None, "invert": False, "operating_status": olc.ONLINE})
    doc["type"] = body["type"]
    doc["compare_type"] = body["compare_type"]
    _apply_l7rule(cloud, auth, doc, body)
    _lock_lb(cloud, lb)
    cloud.put(L7RULE, doc)
    return json_response({"rule": _render_l7rule(cloud, doc)}, 201)


# -- generic list/show ---------------------------------------------------------------------------


SPECS: dict[str, Spec] = {
    "loadbalancers": Spec(
        LB,
        "loadbalancer",
        "loadbalancers",
        "Load Balancer",
        _render_lb,
        extra_filters=(
            "vip_address",
            "vip_port_id",
            "vip_subnet_id",
            "vip_network_id",
            "provider",
            "flavor_id",
            "availability_zone",
        ),
    ),
    "listeners": Spec(
        LISTENER,
        "listener",
        "listeners",
        "Listener",
        _render_listener,
        extra_filters=("protocol", "protocol_port", "loadbalancer_id", "default_pool_id"),
    ),
    "pools": Spec(
        POOL,
        "pool",
        "pools",
        "Pool",
        _render_pool,
        extra_filters=("protocol", "lb_algorithm", "loadbalancer_id"),
    ),
    "members": Spec(
        MEMBER,
        "member",
        "members",
        "Member",
        _render_member,
        extra_filters=("address", "protocol_port", "subnet_id", "weight"),
    ),
    "healthmonitors": Spec(
        HM, "healthmonitor", "healthmonitors", "Health Monitor", _render_hm, extra_filters=("type", "pool_id")
    ),
    "l7policies": Spec(
        L7POLICY,
        "l7policy",
        "l7policies",
        "L7 Policy",
        _render_l7policy,
        extra_filters=("action", "listener_id", "position"),
    ),
    "rules": Spec(
        L7RULE,
        "rule",
        "rules",
        "L7 Rule",
        _render_l7rule,
        filters=("id", "provisioning_status", "operating_status", "project_id"),
        extra_filters=("type", "compare_type", "value", "key"),
    ),
}


def _list(spec: Spec, predicate: Callable[[Doc], bool] | None = None) -> Response:
    cloud = current_cloud()
    auth = _auth()
    for _lb in cloud.list(LB, lambda d: _visible(auth, d)):
        pass  # reading the load balancers fires their due transitions (children settle)
    docs = cloud.list(spec.kind, lambda d: _visible(auth, d) and (predicate is None or predicate(d)))
    if spec.kind in _OPERATING:
        for doc in docs:
            _refresh_operating(cloud, spec.kind, doc)
    docs = _filter(docs, spec.filters + spec.extra_filters)
    return json_response(
        {spec.collection: [spec.render(cloud, d) for d in docs], f"{spec.collection}_links": []}
    )


def _show(spec: Spec, rid: str, predicate: Callable[[Doc], bool] | None = None) -> Response:
    cloud = current_cloud()
    auth = _auth()
    doc = _get(cloud, auth, spec.kind, rid, spec.label)
    if doc.get("loadbalancer_id") and spec.kind != LB:
        _settle_lb(cloud, doc["loadbalancer_id"])
        doc = _get(cloud, auth, spec.kind, rid, spec.label)
    if predicate is not None and not predicate(doc):
        raise _not_found(spec.label, rid)
    return json_response({spec.root: spec.render(cloud, doc)})


# -- quotas, providers, flavors, availability zones, amphorae ------------------------------------


def _quota_doc(cloud: LocalCloud, project_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in QUOTA_RESOURCES:
        value = cloud.quota(project_id, res)
        out[res] = value
        if res in QUOTA_ALIASES:
            out[QUOTA_ALIASES[res]] = value
    return out


def _list_quotas() -> Response:
    cloud = current_cloud()
    auth = _auth()
    projects = [
        d["id"]
        for d in cloud.store.all("core.quota")
        if any(r in d.get("limits", {}) for r in QUOTA_RESOURCES)
    ]
    if not auth.is_admin:
        projects = [p for p in projects if p == auth.project_id]
    quotas = [{"project_id": p, "tenant_id": p, **_quota_doc(cloud, p)} for p in projects]
    return json_response({"quotas": quotas, "quotas_links": []})


def _quota_defaults() -> Response:
    cloud = current_cloud()
    _auth()
    out: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for table in cloud.seed_data.get("quotas", {}).values():
        if isinstance(table, dict):
            defaults.update(table)
    for res in QUOTA_RESOURCES:
        out[res] = int(defaults.get(res, -1))
        if res in QUOTA_ALIASES:
            out[QUOTA_ALIASES[res]] = out[res]
    return json_response({"quota": out})


def _show_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if project_id != auth.project_id and not auth.is_admin:
        raise _forbidden()
    return json_response({"quota": _quota_doc(cloud, project_id)})


def _update_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    body = _body("quota")
    reverse = {v: k for k, v in QUOTA_ALIASES.items()}
    for key, value in body.items():
        res = reverse.get(key, key)
        if res not in QUOTA_RESOURCES:
            raise _unknown_attr("quota", body, key)
        if value is not None:
            limit = _int(body, key, -1, 2000000000)
            cloud.set_quota(project_id, res, limit)
    return json_response({"quota": _quota_doc(cloud, project_id)}, 202)


def _reset_quota(project_id: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = cloud.store.get("core.quota", project_id)
    if doc is not None:
        for res in QUOTA_RESOURCES:
            doc.get("limits", {}).pop(res, None)
        cloud.store.put("core.quota", doc)
    return Response(status=204)


def _providers() -> Response:
    _auth()
    return json_response({"providers": [{"name": n, "description": d} for n, d in PROVIDERS.items()]})


def _provider_caps(provider: str, which: str) -> Response:
    _auth()
    if provider not in PROVIDERS:
        raise ApiError(400, f"Provider '{provider}' is not enabled.")
    caps = FLAVOR_CAPABILITIES if which == "flavor" else AZ_CAPABILITIES
    return json_response({f"{which}_capabilities": caps})


@dataclass
class AdminSpec:
    kind: str
    root: str
    collection: str
    label: str
    keys: tuple[str, ...]
    required: tuple[str, ...]
    id_key: str = "id"
    json_keys: tuple[str, ...] = ()
    ref: tuple[str, str, str] | None = None  # (field, kind, label) that must exist


ADMIN_SPECS: dict[str, AdminSpec] = {
    "flavorprofiles": AdminSpec(
        FLAVOR_PROFILE,
        "flavorprofile",
        "flavorprofiles",
        "Flavor profile",
        ("id", "name", "provider_name", "flavor_data"),
        ("name", "provider_name", "flavor_data"),
        json_keys=("flavor_data",),
    ),
    "flavors": AdminSpec(
        FLAVOR,
        "flavor",
        "flavors",
        "Flavor",
        ("id", "name", "description", "enabled", "flavor_profile_id"),
        ("name", "flavor_profile_id"),
        ref=("flavor_profile_id", FLAVOR_PROFILE, "Flavor profile"),
    ),
    "availabilityzoneprofiles": AdminSpec(
        AZ_PROFILE,
        "availability_zone_profile",
        "availability_zone_profiles",
        "Availability Zone Profile",
        ("id", "name", "provider_name", "availability_zone_data"),
        ("name", "provider_name", "availability_zone_data"),
        json_keys=("availability_zone_data",),
    ),
    "availabilityzones": AdminSpec(
        AZ,
        "availability_zone",
        "availability_zones",
        "Availability Zone",
        ("name", "description", "enabled", "availability_zone_profile_id"),
        ("name", "availability_zone_profile_id"),
        id_key="name",
        ref=("availability_zone_profile_id", AZ_PROFILE, "Availability Zone Profile"),
    ),
}


def _admin_render(spec: AdminSpec, doc: Doc) -> dict[str, Any]:
    return {k: doc.get(k) for k in spec.keys}


def _admin_validate(cloud: LocalCloud, spec: AdminSpec, doc: Doc, body: dict[str, Any]) -> None:
    for key in body:
        if key not in spec.keys or key == "id":
            raise _unknown_attr(spec.root, body, key)
    for key in spec.json_keys:
        if key in body:
            try:
                json.loads(body[key])
            except (TypeError, ValueError) as exc:
                raise ApiError(400, f"Validation failure: {key} must be a JSON object.") from exc
    if "provider_name" in body and body["provider_name"] not in PROVIDERS:
        raise ApiError(400, f"Provider '{body['provider_name']}' is not enabled.")
    if (
        spec.ref
        and body.get(spec.ref[0]) is not None
        and cloud.get(spec.ref[1], str(body[spec.ref[0]])) is None
    ):
        raise ApiError(400, f"{spec.ref[2]} {body[spec.ref[0]]} not found.")
    doc.update(body)


def _admin_list(spec: AdminSpec) -> Response:
    cloud = current_cloud()
    _auth()
    docs = _filter(cloud.list(spec.kind), spec.keys)
    return json_response(
        {spec.collection: [_admin_render(spec, d) for d in docs], f"{spec.collection}_links": []}
    )


def _admin_get(cloud: LocalCloud, spec: AdminSpec, rid: str) -> Doc:
    doc = cloud.get(spec.kind, rid)
    if doc is None:
        raise _not_found(spec.label, rid)
    return doc


def _admin_show(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    _auth()
    return json_response({spec.root: _admin_render(spec, _admin_get(cloud, spec, rid))})


def _admin_create(spec: AdminSpec) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    body = _body(spec.root)
    for key in spec.required:
        if body.get(key) is None:
            raise _invalid(key, None, "Mandatory field missing.")
    doc: Doc = {k: None for k in spec.keys}
    if "enabled" in spec.keys:
        doc["enabled"] = True
    if "description" in spec.keys:
        doc["description"] = ""
    _admin_validate(cloud, spec, doc, body)
    if spec.id_key == "name":
        doc["id"] = doc["name"]
        if cloud.get(spec.kind, doc["id"]) is not None:
            raise ApiError(409, f"A {spec.label} of {doc['name']} already exists.")
    else:
        if cloud.store.find(spec.kind, lambda d: d.get("name") == doc["name"]):
            raise ApiError(409, f"A {spec.label} of {doc['name']} already exists.")
        doc["id"] = new_id()
    cloud.put(spec.kind, doc)
    return json_response({spec.root: _admin_render(spec, doc)}, 201)


def _admin_update(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = _admin_get(cloud, spec, rid)
    body = _body(spec.root)
    if spec.id_key == "name" and "name" in body:
        raise _unknown_attr(spec.root, body, "name")
    _admin_validate(cloud, spec, doc, body)
    cloud.put(spec.kind, doc)
    return json_response({spec.root: _admin_render(spec, doc)})


def _admin_delete(spec: AdminSpec, rid: str) -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = _admin_get(cloud, spec, rid)
    users: list[Doc] = []
    if spec.kind == FLAVOR_PROFILE:
        users = cloud.store.find(FLAVOR, lambda d: d.get("flavor_profile_id") == rid)
    elif spec.kind == AZ_PROFILE:
        users = cloud.store.find(AZ, lambda d: d.get("availability_zone_profile_id") == rid)
    elif spec.kind == FLAVOR:
        users = cloud.store.find(LB, lambda d: d.get("flavor_id") == rid)
    elif spec.kind == AZ:
        users = cloud.store.find(LB, lambda d: d.get("availability_zone") == rid)
    if users:
        raise ApiError(409, f"{spec.label} {rid} is in use and cannot be modified.")
    cloud.delete(spec.kind, doc["id"])
    return Response(status=204)


_AMP_KEYS = (
    "id",
    "loadbalancer_id",
    "compute_id",
    "lb_network_ip",
    "vrrp_ip",
    "ha_ip",
    "vrrp_port_id",
    "ha_port_id",
    "cert_expiration",
    "cert_busy",
    "role",
    "status",
    "vrrp_interface",
    "vrrp_id",
    "vrrp_priority",
    "cached_zone",
    "created_at",
    "updated_at",
    "image_id",
    "compute_flavor",
)


def _amphorae() -> Response:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    for _lb in cloud.list(LB):
        pass
    docs = _filter(cloud.list(AMPHORA), ("id", "loadbalancer_id", "role", "status", "compute_id"))
    return json_response({"amphorae": [{k: d.get(k) for k in _AMP_KEYS} for d in docs], "amphorae_links": []})


def _amphora(amp_id: str) -> Doc:
    cloud = current_cloud()
    auth = _auth()
    if not auth.is_admin:
        raise _forbidden()
    doc = cloud.get(AMPHORA, amp_id)
    if doc is None:
        raise _not_found("Amphora", amp_id)
    return doc


def _show_amphora(amp_id: str) -> Response:
    doc = _amphora(amp_id)
    return json_response({"amphora": {k: doc.get(k) for k in _AMP_KEYS}})


def _amphora_action(amp_id: str) -> Response:
    _amphora(amp_id)
    return Response(status=202)


def _amphora_stats(amp_id: str) -> Response:
    doc = _amphora(amp_id)
    stats = [
        {
            "id": amp_id,
            "listener_id": lis["id"],
            "loadbalancer_id": doc["loadbalancer_id"],
            "active_connections": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "request_errors": 0,
            "total_connections": 0,
        }
        for lis in current_cloud().store.find(
            LISTENER, lambda d: d["loadbalancer_id"] == doc["loadbalancer_id"]
        )
    ]
    return json_response({"amphora_stats": stats})


def _listener_stats(rid: str) -> Response:
    cloud = current_cloud()
    _get(cloud, _auth(), LISTENER, rid, "Listener")
    return json_response(
        {
            "stats": {
                "bytes_in": 0,
                "bytes_out": 0,
                "active_connections": 0,
                "total_connections": 0,
                "request_errors": 0,
            }
        }
    )


def _versions() -> Response:
    href = current_cloud().url("/load-balancer/v2")
    return json_response(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "updated": "2024-10-01T00:00:00Z",
                    "links": [{"href": href, "rel": "self"}],
                }
            ]
        }
    )


# -- registration ----------------------------------------------------------------------------------


def register(cloud: LocalCloud) -> None:
    """Register Octavia under ``/load-balancer`` (see :mod:`gateway_kit.localcloud.core`)."""
    bp = flask.Blueprint("load_balancer", __name__, url_prefix="/load-balancer")
    n = 0

    def route(rule: str, view: Callable[..., Response], *methods: str) -> None:
        nonlocal n
        for version in ("/v2.0", "/v2"):
            n += 1
            bp.add_url_rule(version + rule, f"r{n}", view, methods=list(methods))

    bp.add_url_rule("", "versions", _versions, methods=["GET"])
    bp.add_url_rule("/", "versions_slash", _versions, methods=["GET"])

    def bind(fn: Callable[..., Response], *args: Any) -> Callable[..., Response]:
        def view(**kw: Any) -> Response:
            return fn(*args, *kw.values())

        return view

    lbaas = "/lbaas"
    route(f"{lbaas}/loadbalancers", bind(_list, SPECS["loadbalancers"]), "GET")
    route(f"{lbaas}/loadbalancers", _create_lb, "POST")
    route(f"{lbaas}/loadbalancers/<rid>", bind(_show, SPECS["loadbalancers"]), "GET")
    route(f"{lbaas}/loadbalancers/<rid>", _update_lb, "PUT")
    route(f"{lbaas}/loadbalancers/<rid>", _delete_lb, "DELETE")
    route(f"{lbaas}/loadbalancers/<rid>/stats", _lb_stats, "GET")
    route(f"{lbaas}/loadbalancers/<rid>/status", _lb_status, "GET")
    route(f"{lbaas}/loadbalancers/<rid>/failover", _lb_failover, "PUT")
    route(f"{lbaas}/listeners", bind(_list, SPECS["listeners"]), "GET")
    route(f"{lbaas}/listeners", _create_listener, "POST")
    route(f"{lbaas}/listeners/<rid>", bind(_show, SPECS["listeners"]), "GET")
    route(
        f"{lbaas}/listeners/<rid>",
        bind(_update_child, SPECS["listeners"], _apply_listener_update, _LISTENER_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/listeners/<rid>", bind(_delete_child, SPECS["listeners"], _cascade_listener), "DELETE")
    route(f"{lbaas}/listeners/<rid>/stats", _listener_stats, "GET")
    route(f"{lbaas}/pools", bind(_list, SPECS["pools"]), "GET")
    route(f"{lbaas}/pools", _create_pool, "POST")
    route(f"{lbaas}/pools/<rid>", bind(_show, SPECS["pools"]), "GET")
    route(f"{lbaas}/pools/<rid>", bind(_update_child, SPECS["pools"], _apply_pool, _POOL_ATTRS), "PUT")
    route(f"{lbaas}/pools/<rid>", bind(_delete_child, SPECS["pools"], _cascade_pool), "DELETE")
    route(f"{lbaas}/pools/<pool_id>/members", _create_member, "POST")
    route(f"{lbaas}/healthmonitors", bind(_list, SPECS["healthmonitors"]), "GET")
    route(f"{lbaas}/healthmonitors", _create_hm, "POST")
    route(f"{lbaas}/healthmonitors/<rid>", bind(_show, SPECS["healthmonitors"]), "GET")
    route(
        f"{lbaas}/healthmonitors/<rid>",
        bind(_update_child, SPECS["healthmonitors"], _apply_hm, _HM_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/healthmonitors/<rid>", bind(_delete_child, SPECS["healthmonitors"], None), "DELETE")
    route(f"{lbaas}/l7policies", bind(_list, SPECS["l7policies"]), "GET")
    route(f"{lbaas}/l7policies", _create_l7policy, "POST")
    route(f"{lbaas}/l7policies/<rid>", bind(_show, SPECS["l7policies"]), "GET")
    route(
        f"{lbaas}/l7policies/<rid>",
        bind(_update_child, SPECS["l7policies"], _apply_l7policy, _L7P_ATTRS),
        "PUT",
    )
    route(f"{lbaas}/l7policies/<rid>", bind(_delete_child, SPECS["l7policies"], _cascade_l7policy), "DELETE")
    route(f"{lbaas}/l7policies/<policy_id>/rules", _create_l7rule, "POST")
    for parent, nested in (("pools/<pool_id>/members", NESTED["members"]),
                           ("l7policies/<policy_id>/rules", NESTED["rules"])):  # fmt: skip
        route(f"{lbaas}/{parent}", bind(_nested_list, nested), "GET")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_show, nested), "GET")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_update, nested), "PUT")
        route(f"{lbaas}/{parent}/<rid>", bind(_nested_delete, nested), "DELETE")
    route(f"{lbaas}/quotas", _list_quotas, "GET")
    route(f"{lbaas}/quotas/defaults", _quota_defaults, "GET")
    route(f"{lbaas}/quotas/<project_id>", _show_quota, "GET")
    route(f"{lbaas}/quotas/<project_id>", _update_quota, "PUT")
    route(f"{lbaas}/quotas/<project_id>", _reset_quota, "DELETE")
    route(f"{lbaas}/providers", _providers, "GET")
    route(f"{lbaas}/providers/<provider>/flavor_capabilities", bind(_caps, "flavor"), "GET")
    route(
        f"{lbaas}/providers/<provider>/availability_zone_capabilities",
        bind(_caps, "availability_zone"),
        "GET",
    )
    for path, spec in ADMIN_SPECS.items():
        route(f"{lbaas}/{path}", bind(_admin_list, spec), "GET")
        route(f"{lbaas}/{path}", bind(_admin_create, spec), "POST")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_show, spec), "GET")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_update, spec), "PUT")
        route(f"{lbaas}/{path}/<rid>", bind(_admin_delete, spec), "DELETE")
    route("/octavia/amphorae", _amphorae, "GET")
    route("/octavia/amphorae/<amp_id>", _show_amphora, "GET")
    route("/octavia/amphorae/<amp_id>/config", _amphora_action, "PUT")
    route("/octavia/amphorae/<amp_id>/failover", _amphora_action, "PUT")
    route("/octavia/amphorae/<amp_id>/stats", _amphora_stats, "GET")

    cloud.add_hook("octavia.lb_settled", _hook_lb_settled)
    cloud.add_hook("octavia.lb_deleted", _hook_lb_deleted)
    cloud.add_hook(MEMBER_CHECKED, _hook_member_checked)
    cloud.add_service(
        Service(
            name="load_balancer",
            prefix="/load-balancer",
            blueprint=bp,
            catalog=[CatalogEntry("load-balancer", "octavia", "/load-balancer")],
            render_error=render_octavia_error,
        )
    )


def _apply_listener_update(cloud: LocalCloud, auth: AuthContext, doc: Doc, body: dict[str, Any]) -> None:
    for key in ("protocol", "protocol_port", "loadbalancer_id", "project_id"):
        if key in body and body[key] != doc.get(key):
            raise _unknown_attr("listener", body, key)
    _apply_listener_common(cloud, auth, doc, body, creating=False)


def _caps(which: str, provider: str) -> Response:
    return _provider_caps(provider, which)


def _in_pool(pool_id: str) -> Callable[[Doc], bool]:
    return lambda d: d["pool_id"] == pool_id


@dataclass(frozen=True)
class Nested:
    """A child addressed under its parent (``pools/<id>/members``, ``l7policies/<id>/rules``)."""

    spec: str
    parent_key: str
    parent_for: Callable[[LocalCloud, AuthContext, str], Doc]
    apply: Callable[[LocalCloud, AuthContext, Doc, dict[str, Any]], None]
    attrs: tuple[str, ...]

    def under(self, parent_id: str) -> Callable[[Doc], bool]:
        return lambda d: d[self.parent_key] == parent_id

    def child(self, parent_id: str, rid: str) -> str:
        """Check the parent and that ``rid`` is one of its children; return ``rid``."""
        cloud = current_cloud()
        self.parent_for(cloud, _auth(), parent_id)
        doc = cloud.get(SPECS[self.spec].kind, rid)
        if doc is None or doc[self.parent_key] != parent_id:
            raise _not_found(SPECS[self.spec].label, rid)
        return rid


NESTED = {
    "members": Nested("members", "pool_id", _pool_for, _apply_member, _MEMBER_ATTRS),
    "rules": Nested("rules", "l7policy_id", _policy_for, _apply_l7rule, _L7R_ATTRS),
}


def _nested_list(nested: Nested, parent_id: str) -> Response:
    nested.parent_for(current_cloud(), _auth(), parent_id)
    return _list(SPECS[nested.spec], nested.under(parent_id))


def _nested_show(nested: Nested, parent_id: str, rid: str) -> Response:
    nested.parent_for(current_cloud(), _auth(), parent_id)
    return _show(SPECS[nested.spec], rid, nested.under(parent_id))


def _nested_update(nested: Nested, parent_id: str, rid: str) -> Response:
    return _update_child(SPECS[nested.spec], nested.apply, nested.attrs, nested.child(parent_id, rid))


def _nested_delete(nested: Nested, parent_id: str, rid: str) -> Response:
    return _delete_child(SPECS[nested.spec], None, nested.child(parent_id, rid))
