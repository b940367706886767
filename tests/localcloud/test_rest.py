"""The local cloud's REST toolkit: route names, pagination and filters."""

from __future__ import annotations

import re

import pytest

from gateway_kit.localcloud.app import create_app
from gateway_kit.localcloud.core import ApiError, LocalCloudConfig
from gateway_kit.localcloud.rest import after_marker, endpoint_name, filter_docs, limited


def test_every_endpoint_has_a_real_name() -> None:
    app = create_app(LocalCloudConfig())
    names = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert not [n for n in names if re.fullmatch(r"\w+\.r\d+", n)], "numbered endpoints are back"
    assert "load_balancer.lbaas_pools_members_list@v2_0" in names
    assert "load_balancer.lbaas_pools_members_list@v2" in names
    assert "dns.v2_tlds_update" in names
    assert "compute.create_server" in names
    # Octavia answers each rule under both version prefixes.
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/load-balancer/v2/lbaas/loadbalancers", "/load-balancer/v2.0/lbaas/loadbalancers"} <= rules


def test_endpoint_name() -> None:
    assert endpoint_name("/lbaas/pools/<pool_id>/members", "GET") == "lbaas_pools_members_list"
    assert endpoint_name("/lbaas/pools/<rid>", "GET") == "lbaas_pools_show"
    assert endpoint_name("/v2/blacklists/<doc_id>", "PATCH") == "v2_blacklists_update"


DOCS = [{"id": "a", "name": "x", "on": True}, {"id": "b", "name": "y", "on": False}, {"id": "c", "name": "x"}]


def test_marker_limit_and_filters() -> None:
    assert [d["id"] for d in after_marker(DOCS, "a")] == ["b", "c"]
    assert after_marker(DOCS, "zz") == []  # Neutron: an unknown marker is an empty page
    with pytest.raises(ApiError, match="zz"):
        after_marker(DOCS, "zz", not_found=lambda m: ApiError(400, f"marker {m} not found"))
    assert [d["id"] for d in limited(DOCS, "2")] == ["a", "b"]
    assert limited(DOCS, None) == DOCS
    with pytest.raises(ApiError, match="non-negative integer") as err:
        limited(DOCS, "many")
    assert err.value.status == 400
    assert [d["id"] for d in filter_docs(DOCS, {"name": ["x"]})] == ["a", "c"]
    assert [d["id"] for d in filter_docs(DOCS, {"on": ["false"]})] == ["b"]
