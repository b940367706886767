"""An admin's quota override, then its reset (DELETE): each service answers its defaults again."""

from __future__ import annotations

import pytest
import requests

from gateway_kit.localcloud.testing import RunningLocalCloud


@pytest.mark.parametrize(
    ("path", "root", "key", "deleted"),
    [
        ("/compute/v2.1/os-quota-sets/{p}", "quota_set", "instances", 202),
        ("/networking/v2.0/quotas/{p}", "quota", "network", 204),
        ("/volume/v3/{admin}/os-quota-sets/{p}", "quota_set", "volumes", 200),
        ("/load-balancer/v2/lbaas/quotas/{p}", "quota", "load_balancer", 204),
    ],
)
def test_reset_quota_restores_the_default(
    cloud: RunningLocalCloud, path: str, root: str, key: str, deleted: int
) -> None:
    admin, demo = cloud.connect("local-admin"), cloud.connect("local")
    url = cloud.url + path.format(p=demo.current_project_id, admin=admin.current_project_id)
    headers = {"X-Auth-Token": admin.auth_token}
    default = requests.get(url, headers=headers, timeout=10).json()[root][key]
    assert requests.put(url, json={root: {key: 77}}, headers=headers, timeout=10).ok
    assert requests.get(url, headers=headers, timeout=10).json()[root][key] == 77
    assert requests.delete(url, headers=headers, timeout=10).status_code == deleted
    assert requests.get(url, headers=headers, timeout=10).json()[root][key] == default != 77


@pytest.mark.parametrize(
    ("path", "rule", "code"),
    [
        ("/compute/v2.1/os-quota-sets/{p}", "os_compute_api:os-quota-sets:delete", "forbidden"),
        ("/networking/v2.0/quotas/{p}", "delete_quota", "PolicyNotAuthorized"),
        ("/volume/v3/{p}/os-quota-sets/{p}", "volume_extension:quotas:delete", "forbidden"),
    ],
)
def test_a_member_may_not_reset_quotas(cloud: RunningLocalCloud, path: str, rule: str, code: str) -> None:
    demo = cloud.connect("local")
    url = cloud.url + path.format(p=demo.current_project_id)
    resp = requests.delete(url, headers={"X-Auth-Token": demo.auth_token}, timeout=10)
    assert resp.status_code == 403
    assert f"Policy doesn't allow {rule} to be performed." in resp.text and code in resp.text
