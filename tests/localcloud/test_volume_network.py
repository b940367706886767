"""Cinder, Glance and Neutron of the local cloud through openstacksdk: states and refusals."""

from __future__ import annotations

import time

import pytest
import requests
from openstack import exceptions as osexc

from gateway_kit.localcloud.testing import LocalCloudController, RunningLocalCloud
from tests.localcloud.conftest import create_server

FAST = {"interval": 0.05, "wait": 15}


def test_volume_lifecycle_extend_snapshot(cloud: RunningLocalCloud) -> None:
    bs = cloud.connect().block_storage
    vol = bs.create_volume(name="data", size=2)
    assert vol.status == "creating"
    vol = bs.wait_for_status(vol, "available", **FAST)
    cloud.controller.hold("volume.volume", vol.id)  # held, "extending" is there to be seen
    bs.extend_volume(vol, 3)
    assert bs.get_volume(vol).status == "extending"
    cloud.controller.release("volume.volume", vol.id)
    vol = bs.wait_for_status(vol, "available", **FAST)
    assert bs.get_volume(vol).size == 3
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=vol.id, name="s1"), "available", **FAST)
    with pytest.raises(osexc.BadRequestException, match="have snapshots"):
        bs.delete_volume(vol)
    limits = bs.get_limits().absolute
    assert limits.total_volumes_used >= 1 and limits.total_snapshots_used >= 1
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, **FAST)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, **FAST)
    with pytest.raises(osexc.NotFoundException):
        bs.get_volume(vol.id)


def test_volume_and_snapshot_metadata(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect()
    bs = conn.block_storage
    vol = bs.wait_for_status(bs.create_volume(name="meta", size=1), "available", **FAST)
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=vol.id, name="meta-s"), "available", **FAST)
    base = f"{cloud.url}/volume/v3/{conn.current_project_id}"
    headers = {"X-Auth-Token": conn.auth_token}
    for coll, res_id in (("volumes", vol.id), ("snapshots", snap.id)):
        url = f"{base}/{coll}/{res_id}/metadata"
        assert requests.post(url, json={"metadata": {"a": "1", "b": "2"}}, headers=headers, timeout=10).ok
        assert requests.put(f"{url}/b", json={"meta": {"b": "3"}}, headers=headers, timeout=10).ok
        assert requests.get(f"{url}/b", headers=headers, timeout=10).json() == {"meta": {"b": "3"}}
        assert requests.delete(f"{url}/a", headers=headers, timeout=10).ok
        assert requests.get(url, headers=headers, timeout=10).json() == {"metadata": {"b": "3"}}
        missing = requests.get(f"{url}/a", headers=headers, timeout=10)
        assert missing.status_code == 404 and "Metadata with key a could not be found" in missing.text
    assert requests.get(f"{base}/backups/{vol.id}/metadata", headers=headers, timeout=10).status_code == 404
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, **FAST)
    bs.delete_volume(vol)


def test_volume_quota_is_413(cloud: RunningLocalCloud, ctl: LocalCloudController) -> None:
    bs = cloud.connect().block_storage
    ctl.set_quota("demo", "gigabytes", 5)
    with pytest.raises(osexc.HttpException) as err:
        bs.create_volume(name="big", size=50)
    assert err.value.status_code == 413
    assert "exceeds allowed gigabytes quota" in str(err.value)
    ctl.set_quota("demo", "gigabytes", 1000)


def test_volume_microversion_fields(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect()
    vol = conn.block_storage.create_volume(name="mv", size=1)
    url = f"{cloud.url}/volume/v3/{conn.current_project_id}/volumes/{vol.id}"
    token = conn.session.get_token()
    old = requests.get(url, headers={"X-Auth-Token": token}, timeout=5)
    assert old.headers["OpenStack-API-Version"] == "volume 3.0"
    assert "consumes_quota" not in old.json()["volume"]
    assert "os-vol-tenant-attr:tenant_id" not in old.json()["volume"]
    new = requests.get(
        url, headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.71"}, timeout=5
    )
    assert new.json()["volume"]["consumes_quota"] is True
    bad = requests.get(
        url, headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.99"}, timeout=5
    )
    assert bad.status_code == 406


def test_failed_volume_create(cloud: RunningLocalCloud, ctl: LocalCloudController) -> None:
    bs = cloud.connect().block_storage
    ctl.fail_next_create("volume.volume")
    vol = bs.create_volume(name="broken", size=1)
    with pytest.raises(osexc.ResourceFailure):
        bs.wait_for_status(vol, "available", failures=["error"], **FAST)
    bs.delete_volume(vol)


def test_images_visibility_and_upload(cloud: RunningLocalCloud) -> None:
    demo, alt = cloud.connect(), cloud.connect("local-alt")
    img = demo.image.create_image(
        name="private-img", disk_format="qcow2", container_format="bare", data=b"bytes!", visibility="private"
    )
    assert demo.image.get_image(img).status == "active"
    assert demo.image.get_image(img).checksum
    with pytest.raises(osexc.NotFoundException):
        alt.image.get_image(img.id)
    assert "Featured-Ubuntu24" in {i.name for i in alt.image.images()}
    with pytest.raises(osexc.ForbiddenException):
        demo.image.create_image(
            name="pub", disk_format="raw", container_format="bare", visibility="public", allow_duplicates=True
        )
    demo.image.delete_image(img)


def test_default_security_group_and_duplicate_rule(cloud: RunningLocalCloud) -> None:
    net = cloud.connect().network
    default = net.find_security_group("default", ignore_missing=False)
    assert len(default.security_group_rules) == 4
    sg = net.create_security_group(name="web")
    assert {r["direction"] for r in sg.security_group_rules} == {"egress"}
    rule = {
        "security_group_id": sg.id,
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range_min": 443,
        "port_range_max": 443,
        "remote_ip_prefix": "0.0.0.0/0",
    }
    net.create_security_group_rule(**rule)
    with pytest.raises(osexc.ConflictException, match="already exists"):
        net.create_security_group_rule(**rule)
    net.delete_security_group(sg)


def test_floating_ip_shows_in_nova_addresses(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect()
    srv = conn.compute.wait_for_server(create_server(conn, "fip"), **FAST)
    private = conn.network.find_network("private", ignore_missing=False)
    port = next(iter(conn.network.ports(device_id=srv.id)))
    public = conn.network.find_network("public", ignore_missing=False)
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    assert fip.status == "ACTIVE" and fip.router_id
    addrs = conn.compute.get_server(srv.id).addresses["private"]
    assert {"floating", "fixed"} == {a["OS-EXT-IPS:type"] for a in addrs}
    with pytest.raises(osexc.ConflictException, match="still in use"):
        conn.network.delete_network(private)
    conn.compute.delete_server(srv)
    conn.compute.wait_for_delete(srv, **FAST)
    fip = conn.network.get_ip(fip.id)
    assert fip.port_id is None and fip.status == "DOWN"
    conn.network.delete_ip(fip)


def test_floating_ip_quota_is_409(cloud: RunningLocalCloud, ctl: LocalCloudController) -> None:
    net = cloud.connect().network
    public = net.find_network("public", ignore_missing=False)
    ctl.set_quota("demo", "floatingip", 0)
    with pytest.raises(
        osexc.ConflictException,
        match=r"Quota exceeded for resources: "
        r"\['floatingip'\]",
    ):
        net.create_ip(floating_network_id=public.id)
    ctl.set_quota("demo", "floatingip", 50)


def test_neutron_error_shape(cloud: RunningLocalCloud) -> None:
    conn = cloud.connect()
    resp = requests.get(
        f"{cloud.url}/networking/v2.0/networks/private",
        headers={"X-Auth-Token": conn.session.get_token()},
        timeout=5,
    )
    assert resp.status_code == 404
    assert resp.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_deleted_snapshot_stops_blocking_its_volume_by_the_clock(cloud: RunningLocalCloud) -> None:
    """Nobody lists snapshots here: the snapshot's delete must finish on the cloud's clock."""
    bs = cloud.connect().block_storage
    vol = bs.wait_for_status(bs.create_volume(name="snapped", size=1), "available", **FAST)
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=vol.id, name="s-gone"), "available", **FAST)
    bs.delete_snapshot(snap)
    deadline = time.monotonic() + 15
    while True:
        try:
            bs.delete_volume(vol)
            break
        except osexc.BadRequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    bs.wait_for_delete(vol, **FAST)
