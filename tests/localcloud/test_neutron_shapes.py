"""Neutron responses of the local cloud compared structurally with the api-ref samples.

The key sets below are transcribed from openstack/neutron-lib ``api-ref/source/v2/samples/``
(each set names its sample). A real Neutron renders an attribute only when the extension that
defines it is loaded, so each comparison is::

    rendered keys == sample keys - NOT_LOADED + EXTRA

where every ``NOT_LOADED`` key names an extension the local cloud does not advertise in
``/v2.0/extensions`` (the test checks that) and every ``EXTRA`` key is explained: an advertised
extension newer than the sample, or a sample that left the key out.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gateway_kit.localcloud.testing import RunningLocalCloud
from tests.localcloud.conftest import allow_tcp

# networks/network-show-response.json
NETWORK_SAMPLE_KEYS = {
    "admin_state_up",
    "availability_zone_hints",
    "availability_zones",
    "created_at",
    "description",
    "dns_domain",
    "id",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "is_default",
    "l2_adjacency",
    "mtu",
    "name",
    "port_security_enabled",
    "project_id",
    "pvlan",
    "qinq",
    "qos_policy_id",
    "revision_number",
    "router:external",
    "shared",
    "status",
    "subnets",
    "tags",
    "tenant_id",
    "updated_at",
    "vlan_transparent",
}
NETWORK_NOT_LOADED = {"pvlan": "pvlan", "qinq": "qinq", "vlan_transparent": "vlan-transparent"}
# networks/network-provider-show-response.json (the admin view, with the provider extension)
NETWORK_PROVIDER_SAMPLE_KEYS = (NETWORK_SAMPLE_KEYS - {"pvlan"}) | {
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
}

# subnets/subnet-show-response.json
SUBNET_SAMPLE_KEYS = {
    "allocation_pools",
    "cidr",
    "created_at",
    "description",
    "dns_nameservers",
    "dns_publish_fixed_ip",
    "enable_dhcp",
    "gateway_ip",
    "host_routes",
    "id",
    "ip_version",
    "ipv6_address_mode",
    "ipv6_ra_mode",
    "name",
    "network_id",
    "project_id",
    "revision_number",
    "router:external",
    "segment_id",
    "service_types",
    "subnetpool_id",
    "tags",
    "tenant_id",
    "updated_at",
}
ALLOCATION_POOL_SAMPLE_KEYS = {"start", "end"}

# ports/port-show-response.json (a project member's view)
PORT_SAMPLE_KEYS = {
    "admin_state_up",
    "allowed_address_pairs",
    "created_at",
    "data_plane_status",
    "description",
    "device_id",
    "device_owner",
    "dns_assignment",
    "dns_domain",
    "dns_name",
    "extra_dhcp_opts",
    "fixed_ips",
    "hardware_offload_type",
    "id",
    "ip_allocation",
    "mac_address",
    "name",
    "network_id",
    "port_security_enabled",
    "project_id",
    "propagate_uplink_status",
    "pvlan_community",
    "pvlan_type",
    "qos_network_policy_id",
    "qos_policy_id",
    "revision_number",
    "security_groups",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
}
PORT_NOT_LOADED = {
    "data_plane_status": "data-plane-status",
    # dns-integration is not advertised (the SDK would then send dns_name/dns_domain with
    # floating IPs), yet ports and floating IPs keep the sample's empty ``dns_name``.
    "dns_assignment": "dns-integration",
    "dns_domain": "dns-domain-ports",
    "hardware_offload_type": "port-hardware-offload-type",
    "pvlan_community": "pvlan",
    "pvlan_type": "pvlan",
}
# The member-readable attribute of the advertised ``binding`` extension (the sample was taken
# without it).
PORT_EXTRA = {"binding:vnic_type": "binding"}
# ports/port-bind-show-response.json (the admin view: binding:* and resource_request)
PORT_ADMIN_SAMPLE_KEYS = PORT_SAMPLE_KEYS | {
    "binding:host_id",
    "binding:profile",
    "binding:vif_details",
    "binding:vif_type",
    "binding:vnic_type",
    "mac_learning_enabled",
    "resource_request",
    "trusted",
}
PORT_ADMIN_NOT_LOADED = {
    **PORT_NOT_LOADED,
    "trusted": "port-trusted-vif",
    "mac_learning_enabled": "mac-learning",  # a vmware-nsx plugin attribute
}
FIXED_IP_SAMPLE_KEYS = {"ip_address", "subnet_id"}

# routers/router-show-response.json
ROUTER_SAMPLE_KEYS = {
    "admin_state_up",
    "availability_zone_hints",
    "availability_zones",
    "conntrack_helpers",
    "created_at",
    "description",
    "distributed",
    "external_gateway_info",
    "flavor_id",
    "ha",
    "id",
    "name",
    "project_id",
    "revision_number",
    "routes",
    "service_type_id",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
}
ROUTER_NOT_LOADED = {"conntrack_helpers": "l3-conntrack-helper", "service_type_id": "router-service-type"}
GATEWAY_INFO_SAMPLE_KEYS = {"enable_snat", "external_fixed_ips", "network_id"}
ROUTE_SAMPLE_KEYS = {"destination", "nexthop"}

# floatingips/floatingip-show-response.json
FIP_SAMPLE_KEYS = {
    "created_at",
    "description",
    "dns_domain",
    "dns_name",
    "fixed_ip_address",
    "floating_ip_address",
    "floating_network_id",
    "id",
    "port_details",
    "port_forwardings",
    "port_id",
    "project_id",
    "qos_network_policy_id",
    "qos_policy_id",
    "revision_number",
    "router_id",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
}
PORT_DETAILS_SAMPLE_KEYS = {
    "admin_state_up",
    "device_id",
    "device_owner",
    "mac_address",
    "name",
    "network_id",
    "status",
}

# security-groups/security-group-show-response.json
SG_SAMPLE_KEYS = {
    "created_at",
    "description",
    "id",
    "name",
    "project_id",
    "revision_number",
    "security_group_rules",
    "shared",
    "stateful",
    "tags",
    "tenant_id",
    "updated_at",
}
# security-groups/security-group-rule-create-response.json
RULE_SAMPLE_KEYS = {
    "belongs_to_default_sg",
    "created_at",
    "description",
    "direction",
    "ethertype",
    "id",
    "port_range_max",
    "port_range_min",
    "project_id",
    "protocol",
    "remote_address_group_id",
    "remote_group_id",
    "remote_ip_prefix",
    "revision_number",
    "security_group_id",
    "tenant_id",
    "updated_at",
}
RULE_EXTRA = {
    # the rules nested in security-group-show-response.json carry tags (standard-attr-tag)
    "tags": "standard-attr-tag",
    "normalized_cidr": "security-groups-normalized-cidr",
}

# quotas/quotas-list-for-project-response.json
QUOTA_SAMPLE_KEYS = {
    "floatingip",
    "network",
    "port",
    "rbac_policy",
    "router",
    "security_group",
    "security_group_rule",
    "subnet",
    "subnetpool",
}
# quotas/quotas-list-response.json adds the project to each entry
QUOTAS_LIST_EXTRA = {"project_id", "tenant_id"}
# quota_details/quota-details-show-for-project-response.json
QUOTA_DETAIL_SAMPLE_KEYS = {"used", "limit", "reserved"}


def _expected(
    sample: set[str], not_loaded: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> set[str]:
    return (sample - set(not_loaded or {})) | set(extra or {})


@pytest.fixture(scope="module")
def api(cloud: RunningLocalCloud) -> dict[str, Any]:
    """A small topology made through openstacksdk, and raw GETs as a member and as admin."""
    conn = cloud.connect()
    admin_token = cloud.connect("local-admin").session.get_token()
    net = conn.network.create_network(name="shapes")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
    port = conn.network.create_port(network_id=net.id)
    public = conn.network.find_network("public", ignore_missing=False)
    router = conn.network.create_router(name="shapes-r", external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=sub.id)
    conn.network.update_router(router, routes=[{"destination": "10.88.0.0/24", "nexthop": "10.77.0.9"}])
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    sg = conn.network.create_security_group(name="shapes-sg")
    rule = allow_tcp(conn, sg.id, 22)
    base = f"{cloud.url}/networking/v2.0"

    def get(path: str, admin: bool = False) -> Any:
        token = admin_token if admin else conn.session.get_token()
        resp = requests.get(base + path, headers={"X-Auth-Token": token}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    ids = {
        "network": net.id,
        "subnet": sub.id,
        "port": port.id,
        "router": router.id,
        "floatingip": fip.id,
        "security_group": sg.id,
        "security_group_rule": rule.id,
        "project": conn.current_project_id,
    }
    extensions = {e["alias"] for e in get("/extensions")["extensions"]}
    return {"get": get, "ids": ids, "extensions": extensions}


def _check_extensions(
    api: dict[str, Any], not_loaded: dict[str, str], extra: dict[str, str] | None = None
) -> None:
    for key, alias in not_loaded.items():
        assert alias not in api["extensions"], f"{key}: {alias} is advertised but not rendered"
    for key, alias in (extra or {}).items():
        assert alias in api["extensions"], f"{key}: {alias} is rendered but not advertised"


def test_network_shape(api: dict[str, Any]) -> None:
    get, net_id = api["get"], api["ids"]["network"]
    _check_extensions(api, NETWORK_NOT_LOADED)
    expected = _expected(NETWORK_SAMPLE_KEYS, NETWORK_NOT_LOADED)
    assert set(get(f"/networks/{net_id}")["network"]) == expected
    for listed in get("/networks")["networks"]:
        assert set(listed) == expected
    admin = get(f"/networks/{net_id}", admin=True)["network"]
    assert set(admin) == _expected(NETWORK_PROVIDER_SAMPLE_KEYS, NETWORK_NOT_LOADED)


def test_subnet_shape(api: dict[str, Any]) -> None:
    get = api["get"]
    body = get(f"/subnets/{api['ids']['subnet']}")["subnet"]
    assert set(body) == SUBNET_SAMPLE_KEYS
    assert body["router:external"] is False
    assert all(set(p) == ALLOCATION_POOL_SAMPLE_KEYS for p in body["allocation_pools"])
    for listed in get("/subnets")["subnets"]:
        assert set(listed) == SUBNET_SAMPLE_KEYS
        assert isinstance(listed["router:external"], bool)
    assert any(s["router:external"] for s in get("/subnets")["subnets"])


def test_port_shape(api: dict[str, Any]) -> None:
    get, port_id = api["get"], api["ids"]["port"]
    _check_extensions(api, PORT_ADMIN_NOT_LOADED, PORT_EXTRA)
    body = get(f"/ports/{port_id}")["port"]
    assert set(body) == _expected(PORT_SAMPLE_KEYS, PORT_NOT_LOADED, PORT_EXTRA)
    assert all(set(ip) == FIXED_IP_SAMPLE_KEYS for ip in body["fixed_ips"])
    for listed in get("/ports")["ports"]:
        assert set(listed) == _expected(PORT_SAMPLE_KEYS, PORT_NOT_LOADED, PORT_EXTRA)
    admin = get(f"/ports/{port_id}", admin=True)["port"]
    assert set(admin) == _expected(PORT_ADMIN_SAMPLE_KEYS, PORT_ADMIN_NOT_LOADED)
    assert isinstance(admin["binding:profile"], dict)
    assert isinstance(admin["binding:vif_details"], dict)


def test_router_shape(api: dict[str, Any]) -> None:
    get = api["get"]
    _check_extensions(api, ROUTER_NOT_LOADED)
    body = get(f"/routers/{api['ids']['router']}")["router"]
    assert set(body) == _expected(ROUTER_SAMPLE_KEYS, ROUTER_NOT_LOADED)
    assert set(body["external_gateway_info"]) == GATEWAY_INFO_SAMPLE_KEYS
    assert all(set(ip) == FIXED_IP_SAMPLE_KEYS for ip in body["external_gateway_info"]["external_fixed_ips"])
    assert body["routes"] and all(set(r) == ROUTE_SAMPLE_KEYS for r in body["routes"])
    for listed in get("/routers")["routers"]:
        assert set(listed) == _expected(ROUTER_SAMPLE_KEYS, ROUTER_NOT_LOADED)


def test_floating_ip_shape(api: dict[str, Any]) -> None:
    get = api["get"]
    body = get(f"/floatingips/{api['ids']['floatingip']}")["floatingip"]
    assert set(body) == FIP_SAMPLE_KEYS
    assert set(body["port_details"]) == PORT_DETAILS_SAMPLE_KEYS
    for listed in get("/floatingips")["floatingips"]:
        assert set(listed) == FIP_SAMPLE_KEYS


def test_security_group_and_rule_shapes(api: dict[str, Any]) -> None:
    get = api["get"]
    _check_extensions(api, {}, RULE_EXTRA)
    body = get(f"/security-groups/{api['ids']['security_group']}")["security_group"]
    assert set(body) == SG_SAMPLE_KEYS
    rule_keys = _expected(RULE_SAMPLE_KEYS, None, RULE_EXTRA)
    assert body["security_group_rules"]
    assert all(set(r) == rule_keys for r in body["security_group_rules"])
    rule = get(f"/security-group-rules/{api['ids']['security_group_rule']}")
    assert set(rule["security_group_rule"]) == rule_keys
    for listed in get("/security-group-rules")["security_group_rules"]:
        assert set(listed) == rule_keys
    for listed in get("/security-groups")["security_groups"]:
        assert set(listed) == SG_SAMPLE_KEYS


def test_quota_shapes(api: dict[str, Any]) -> None:
    get, project = api["get"], api["ids"]["project"]
    assert set(get(f"/quotas/{project}")["quota"]) == QUOTA_SAMPLE_KEYS
    assert set(get(f"/quotas/{project}/default")["quota"]) == QUOTA_SAMPLE_KEYS
    details = get(f"/quotas/{project}/details")["quota"]
    assert set(details) == QUOTA_SAMPLE_KEYS
    assert all(set(d) == QUOTA_DETAIL_SAMPLE_KEYS for d in details.values())
    listing = get("/quotas", admin=True)["quotas"]
    assert listing and all(set(q) == QUOTA_SAMPLE_KEYS | QUOTAS_LIST_EXTRA for q in listing)


def test_an_unknown_collection_is_404_and_a_rule_update_405(cloud: RunningLocalCloud) -> None:
    base = f"{cloud.url}/networking/v2.0"
    for method, path in (("GET", "/nopes"), ("GET", "/nopes/1"), ("POST", "/nopes"), ("DELETE", "/nopes/1")):
        resp = requests.request(
            method, base + path, json={}, timeout=10
        )  # no token: the path is checked first
        assert resp.status_code == 404 and "HTTPNotFound" in resp.text, (method, path, resp.text)
    token = cloud.connect().session.get_token()
    resp = requests.put(
        base + "/security-group-rules/x", json={}, headers={"X-Auth-Token": token}, timeout=10
    )
    assert resp.status_code == 405
    resp = requests.put(
        base + "/nopes/x/tags", json={"tags": []}, headers={"X-Auth-Token": token}, timeout=10
    )
    assert resp.status_code == 404
