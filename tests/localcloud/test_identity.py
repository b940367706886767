"""Keystone v3 of the local cloud, through openstacksdk and raw HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from openstack import exceptions as osexc

from gateway_kit.localcloud.testing import RunningLocalCloud, running_local_cloud


def test_password_and_appcred_auth_scope_to_their_projects(cloud: RunningLocalCloud) -> None:
    demo = cloud.connect("local")
    alt = cloud.connect("local-alt")
    admin = cloud.connect("local-admin")
    appcred = cloud.connect("local-appcred-gateway")
    assert demo.current_project_id != alt.current_project_id
    assert appcred.current_project_id == demo.current_project_id
    names = {p.name for p in admin.identity.projects()}
    assert {"admin", "demo", "alt"} <= names
    # A member only lists its own projects.
    assert [p.name for p in demo.identity.projects()] == ["demo"]


def _password_login(url: str, password: str, project: str = "") -> requests.Response:
    """Keystone's password authentication as user ``demo`` (scoped to ``project`` if given)."""
    user = {"name": "demo", "domain": {"name": "Default"}, "password": password}
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return requests.post(url + "/identity/v3/auth/tokens", json={"auth": auth}, timeout=5)


def test_wrong_password_is_401(cloud: RunningLocalCloud) -> None:
    resp = _password_login(cloud.url, "nope")
    assert resp.status_code == 401
    assert resp.json()["error"]["title"] == "Unauthorized"
    assert "X-Subject-Token" not in resp.headers


@pytest.mark.parametrize(
    "path",
    ["/compute/v2.1/servers", "/networking/v2.0/networks", "/image/v2/images", "/identity/v3/projects"],
)
def test_missing_or_bad_token_is_401(cloud: RunningLocalCloud, path: str) -> None:
    for headers in ({}, {"X-Auth-Token": "lc-not-a-token"}):
        resp = requests.get(cloud.url + path, headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == 401
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_tokens_expire(tmp_path) -> None:
    from gateway_kit.localcloud.core import LocalCloudConfig
    from gateway_kit.localcloud.server import LocalCloudServer

    ttl = 3
    with LocalCloudServer(LocalCloudConfig(state_dir=tmp_path, token_ttl=ttl)) as server:
        issued = time.monotonic()
        resp = _password_login(server.url, "demo-secret", project="demo")
        assert resp.status_code == 201
        token = resp.headers["X-Subject-Token"]
        body = resp.json()["token"]
        assert body["project"]["name"] == "demo"
        assert {r["name"] for r in body["roles"]} >= {"member"}
        ok = requests.get(server.url + "/compute/v2.1/flavors", headers={"X-Auth-Token": token}, timeout=5)
        # valid while young (a busy host may take the whole ttl to get here: then it may be expired)
        assert ok.status_code == 200 or time.monotonic() - issued >= ttl, ok.status_code
        deadline = time.monotonic() + 60  # then refused, for good
        while (
            status := requests.get(
                server.url + "/compute/v2.1/flavors", headers={"X-Auth-Token": token}, timeout=5
            ).status_code
        ) != 401:
            assert status == 200 and time.monotonic() < deadline, status
            time.sleep(0.2)


def test_catalog_follows_request_host(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect("local")
    token = conn.session.get_token()
    port = cloud.url.rsplit(":", 1)[1]
    resp = requests.get(
        f"http://127.0.0.1:{port}/identity/v3/auth/catalog",
        headers={"X-Auth-Token": token, "Host": "cloud.example:4242"},
        timeout=5,
    )
    urls = {e["type"]: e["endpoints"][0]["url"] for e in resp.json()["catalog"]}
    assert urls["compute"] == "http://cloud.example:4242/compute/v2.1"
    assert urls["block-storage"].startswith("http://cloud.example:4242/volume/v3/")
    assert urls["network"] == "http://cloud.example:4242/networking"


def test_members_cannot_administer(cloud: RunningLocalCloud) -> None:
    demo = cloud.connect("local")
    with pytest.raises(osexc.ForbiddenException):
        demo.identity.create_project(name="sneaky")
    admin = cloud.connect("local-admin")
    project = admin.identity.create_project(name="temp-project")
    with pytest.raises(osexc.ConflictException):
        admin.identity.create_project(name="temp-project")
    admin.identity.delete_project(project)
    with pytest.raises(osexc.NotFoundException):
        admin.identity.get_project(project.id)


def test_application_credential_lifecycle(cloud: RunningLocalCloud) -> None:
    demo = cloud.connect("local")
    cred = demo.identity.create_application_credential(demo.current_user_id, "ci-cred")
    assert cred.secret
    method = {
        "methods": ["application_credential"],
        "application_credential": {"id": cred.id, "secret": cred.secret},
    }

    def login() -> requests.Response:
        auth = {"auth": {"identity": method}}
        return requests.post(cloud.url + "/identity/v3/auth/tokens", json=auth, timeout=5)

    resp = login()
    assert resp.status_code == 201
    assert resp.json()["token"]["application_credential"]["id"] == cred.id
    demo.identity.delete_application_credential(demo.current_user_id, cred.id)
    again = login()
    assert again.status_code == 401


def test_restart_keeps_state(tmp_path) -> None:
    with running_local_cloud(tmp_path / "s") as first:
        conn = first.connect()
        kp = conn.compute.create_keypair(name="persist", public_key=PUBKEY)
        net = conn.network.create_network(name="kept")
        vol = conn.block_storage.create_volume(name="kept-vol", size=1)
        conn.block_storage.wait_for_status(vol, "available", interval=0.05, wait=10)
    with running_local_cloud(tmp_path / "s") as second:
        conn = second.connect()
        assert conn.compute.get_keypair("persist").fingerprint == kp.fingerprint
        assert conn.network.get_network(net.id).name == "kept"
        assert conn.block_storage.get_volume(vol.id).status == "available"


PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq2HkFmXk0lSa0v1bT2Wdq0ZK5Yx0p3C2bDk8e0a1Zb test@example"


def test_role_grant_check_and_revoke(cloud: RunningLocalCloud) -> None:
    admin = cloud.connect("local-admin")
    project = admin.identity.create_project(name="grant-project")
    user = admin.identity.find_user("demo", ignore_missing=False)
    role = admin.identity.find_role("member", ignore_missing=False)
    try:
        assert not admin.identity.validate_user_has_project_role(project, user, role)
        admin.identity.assign_project_role_to_user(project, user, role)
        assert admin.identity.validate_user_has_project_role(project, user, role)
        admin.identity.unassign_project_role_from_user(project, user, role)
        assert not admin.identity.validate_user_has_project_role(project, user, role)
        # Revoking what is not granted: 404 naming the assignment, as Keystone answers.
        resp = requests.delete(
            f"{cloud.url}/identity/v3/projects/{project.id}/users/{user.id}/roles/{role.id}",
            headers={"X-Auth-Token": admin.auth_token},
            timeout=5,
        )
        assert resp.status_code == 404
        assert f"Could not find role assignment with role: {role.id}" in resp.text
    finally:
        admin.identity.delete_project(project)
