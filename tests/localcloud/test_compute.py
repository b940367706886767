"""Nova of the local cloud through the real openstacksdk over HTTP: states, actions, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from openstack import exceptions as osexc
from openstack.connection import Connection

from gateway_kit.localcloud.testing import LocalCloudController, RunningLocalCloud
from tests.localcloud.conftest import create_server

FAST = {"interval": 0.05, "wait": 15}


@pytest.fixture
def conn(cloud: RunningLocalCloud) -> Connection:
    return cloud.connect("local")


UBUNTU = "Featured-Ubuntu24"


def _image(conn: Connection) -> str:
    return str(conn.image.find_image(UBUNTU, ignore_missing=False).id)


@pytest.fixture
def server(conn: Connection) -> Iterator[object]:
    srv = create_server(conn, "t-srv", image=UBUNTU)
    srv = conn.compute.wait_for_server(srv, **FAST)
    yield srv
    conn.compute.unlock_server(srv)
    conn.compute.delete_server(srv, ignore_missing=True)
    conn.compute.wait_for_delete(srv, **FAST)


def _raw(
    cloud: RunningLocalCloud, method: str, path: str, mv: str | None = None, **kw: object
) -> requests.Response:
    token = cloud.connect("local").session.get_token()
    headers = {"X-Auth-Token": token}
    if mv:
        headers["OpenStack-API-Version"] = f"compute {mv}"
    return requests.request(method, cloud.url + "/compute/v2.1" + path, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def test_a_full_page_links_to_the_next(cloud: RunningLocalCloud, server: object) -> None:
    first = _raw(cloud, "GET", "/flavors/detail?limit=2").json()
    assert len(first["flavors"]) == 2
    (link,) = first["flavors_links"]
    marker = first["flavors"][-1]["id"]
    assert link["rel"] == "next" and link["href"].endswith(
        f"/compute/v2.1/flavors/detail?limit=2&marker={marker}"
    )
    page = _raw(cloud, "GET", "/servers?limit=1").json()
    assert page["servers_links"][0]["href"].endswith(f"/servers?limit=1&marker={page['servers'][0]['id']}")
    assert "servers_links" not in _raw(cloud, "GET", "/servers?limit=1000").json()


def test_jetstream_flavors_with_gpu_extra_specs(conn: Connection) -> None:
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert {
        "m3.tiny",
        "m3.small",
        "m3.quad",
        "m3.medium",
        "m3.large",
        "m3.xl",
        "m3.2xl",
        "r3.large",
        "r3.xl",
        "g3.small",
        "g3.large",
    } <= set(flavors)
    assert flavors["g3.small"].extra_specs["resources:VGPU"] == "1"
    assert flavors["g3.large"].extra_specs["pci_passthrough:alias"] == "a100:1"
    assert flavors["m3.tiny"].vcpus == 1
    with pytest.raises(osexc.NotFoundException):
        conn.compute.get_flavor("m3.tiny")  # a name where an id is expected
    assert conn.compute.find_flavor("m3.tiny").id == "1"


def test_microversions_echoed_and_shaped(cloud: RunningLocalCloud, server: object) -> None:
    sid = server.id  # type: ignore[attr-defined]
    old = _raw(cloud, "GET", f"/servers/{sid}")
    assert old.headers["OpenStack-API-Version"] == "compute 2.1"
    assert old.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    body = old.json()["server"]
    for absent in ("locked", "description", "tags", "pinned_availability_zone"):
        assert absent not in body
    assert set(body["flavor"]) == {"id", "links"}
    new = _raw(cloud, "GET", f"/servers/{sid}", mv="2.100")
    assert new.headers["OpenStack-API-Version"] == "compute 2.100"
    body = new.json()["server"]
    assert body["locked"] is False and body["tags"] == [] and "scheduler_hints" in body
    assert body["flavor"]["original_name"] == "m3.tiny"
    too_new = _raw(cloud, "GET", f"/servers/{sid}", mv="2.200")
    assert too_new.status_code == 406
    latest = _raw(cloud, "GET", "/flavors/detail", mv="latest")
    assert latest.headers["X-OpenStack-Nova-API-Version"] == "2.100"
    assert "extra_specs" in latest.json()["flavors"][0]


def test_limits_shape_depends_on_microversion(cloud: RunningLocalCloud) -> None:
    legacy = _raw(cloud, "GET", "/limits").json()["limits"]["absolute"]
    assert "maxImageMeta" in legacy and "maxTotalFloatingIps" in legacy
    modern = _raw(cloud, "GET", "/limits", mv="2.57").json()["limits"]["absolute"]
    assert "maxImageMeta" not in modern and "maxPersonality" not in modern
    assert modern["maxTotalInstances"] == 10


def test_server_addresses_and_name_lookup(conn: Connection, server: object) -> None:
    srv = conn.compute.get_server(server.id)  # type: ignore[attr-defined]
    fixed = srv.addresses["private"][0]
    assert fixed["OS-EXT-IPS:type"] == "fixed" and fixed["addr"].startswith("10.0.0.")
    with pytest.raises(osexc.NotFoundException):
        conn.compute.get_server("t-srv")
    assert conn.compute.find_server("t-srv").id == srv.id
    ports = list(conn.network.ports(device_id=srv.id))
    assert ports and ports[0].device_owner == "compute:nova"


def test_action_state_machine(conn: Connection, server: object, ctl: LocalCloudController) -> None:
    c = conn.compute
    srv = server
    c.stop_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="SHUTOFF", **FAST)  # type: ignore[attr-defined]
    with pytest.raises(osexc.ConflictException, match="vm_state stopped"):
        c.suspend_server(srv)
    c.start_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    c.suspend_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="SUSPENDED", **FAST)
    c.resume_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    ctl.hold("compute.server", srv.id)  # held, the transient state is there to be seen
    c.reboot_server(srv, "HARD")
    assert c.get_server(srv.id).status == "HARD_REBOOT"
    ctl.release("compute.server", srv.id)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    c.resize_server(srv, "2")
    srv = c.wait_for_server(c.get_server(srv.id), status="VERIFY_RESIZE", **FAST)
    c.revert_server_resize(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    assert srv.flavor.name == "m3.tiny"
    c.resize_server(srv, "2")
    srv = c.wait_for_server(c.get_server(srv.id), status="VERIFY_RESIZE", **FAST)
    c.confirm_server_resize(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    assert srv.flavor.name == "m3.small"
    c.shelve_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="SHELVED_OFFLOADED", **FAST)
    c.unshelve_server(srv)
    srv = c.wait_for_server(c.get_server(srv.id), status="ACTIVE", **FAST)
    with pytest.raises(osexc.ConflictException):
        c.resume_server(srv)  # not suspended
    assert c.get_server(srv.id).task_state is None


def test_locked_server_refuses_delete_and_actions(conn: Connection, server: object) -> None:
    c = conn.compute
    c.lock_server(server, locked_reason="maintenance")
    srv = c.get_server(server.id)  # type: ignore[attr-defined]
    assert srv.is_locked and srv.locked_reason == "maintenance"
    with pytest.raises(osexc.ConflictException, match="is locked"):
        c.delete_server(srv)
    with pytest.raises(osexc.ConflictException, match="is locked"):
        c.stop_server(srv)
    c.unlock_server(srv)
    c.stop_server(srv)


def test_metadata_tags_console_and_image(conn: Connection, server: object) -> None:
    c = conn.compute
    c.set_server_metadata(server, k1="v1", k2="v2")
    assert c.get_server_metadata(server).metadata == {"k1": "v1", "k2": "v2"}
    c.delete_server_metadata(server, ["k1"])
    with pytest.raises(osexc.NotFoundException):
        c.delete_server_metadata(server, ["k1"])
    c.add_tag_to_server(server, "gpu")
    assert c.get_server(server.id).tags == ["gpu"]  # type: ignore[attr-defined]
    out = c.get_server_console_output(server, length=2)["output"]
    assert out.strip().endswith("login:")
    image = c.create_server_image(server, "snap-1", wait=True, timeout=15)
    assert conn.image.get_image(image.id).status == "active"
    conn.image.delete_image(image)


def test_networks_auto_is_ambiguous_with_two_networks(conn: Connection) -> None:
    net = conn.network.create_network(name="second")
    conn.network.create_subnet(network_id=net.id, cidr="10.9.0.0/24", ip_version=4)
    try:
        with pytest.raises(osexc.ConflictException, match="Multiple possible networks"):
            conn.compute.create_server(name="x", image_id=_image(conn), flavor_id="1", networks="auto")
    finally:
        conn.network.delete_network(net)


def test_instance_quota(conn: Connection, ctl: LocalCloudController) -> None:
    ctl.set_quota("demo", "instances", 0)
    with pytest.raises(
        osexc.ForbiddenException,
        match="Quota exceeded for instances: Requested 1, but already used 0 of 0 instances",
    ):
        create_server(conn, "q", image=UBUNTU)
    ctl.set_quota("demo", "instances", 10)
    ctl.set_quota("demo", "cores", 1)
    with pytest.raises(osexc.ForbiddenException, match="Quota exceeded for cores"):
        create_server(conn, "q", flavor="8", image=UBUNTU)
    ctl.set_quota("demo", "cores", 64)


def test_keypairs(conn: Connection) -> None:
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq2HkFmXk0lSa0v1bT2Wdq0ZK5Yx0p3C2bDk8e0a1Zb c"
    kp = conn.compute.create_keypair(name="kp-test", public_key=pub)
    assert kp.fingerprint.count(":") == 15
    with pytest.raises(osexc.ConflictException, match="already exists"):
        conn.compute.create_keypair(name="kp-test", public_key=pub)
    with pytest.raises(osexc.BadRequestException):
        conn.compute.create_keypair(name="kp-bad", public_key="not a key")
    assert "kp-test" in {k.name for k in conn.compute.keypairs()}
    conn.compute.delete_keypair("kp-test")
    with pytest.raises(osexc.NotFoundException):
        conn.compute.get_keypair("kp-test")


def test_other_project_cannot_see_server(cloud: RunningLocalCloud, server: object) -> None:
    alt = cloud.connect("local-alt")
    with pytest.raises(osexc.NotFoundException):
        alt.compute.get_server(server.id)  # type: ignore[attr-defined]
    assert server.id not in {s.id for s in alt.compute.servers()}  # type: ignore[attr-defined]
    with pytest.raises(osexc.ForbiddenException):
        list(alt.compute.servers(all_projects=True))


def test_fail_next_create_and_hold(conn: Connection, ctl: LocalCloudController) -> None:
    ctl.fail_next_create("compute.server")
    srv = create_server(conn, "doomed", image=UBUNTU)
    with pytest.raises(osexc.ResourceFailure):
        conn.compute.wait_for_server(srv, **FAST)
    failed = conn.compute.get_server(srv.id)
    assert failed.status == "ERROR" and "No valid host" in failed.fault["message"]
    conn.compute.delete_server(failed)
    ctl.hold("compute.server", "next")
    srv = create_server(conn, "held", image=UBUNTU)
    with pytest.raises(osexc.ResourceTimeout):
        conn.compute.wait_for_server(srv, interval=0.05, wait=0.5)
    assert conn.compute.get_server(srv.id).status == "BUILD"
    ctl.release("compute.server", srv.id)
    conn.compute.wait_for_server(srv, **FAST)
    conn.compute.delete_server(srv)


def test_injected_errors_throttle_and_delay(cloud: RunningLocalCloud, ctl: LocalCloudController) -> None:
    import time

    conn = cloud.connect("local")
    conn.compute.get_limits()
    rule = ctl.error_rate("compute", "GET", rate=1.0, status=503, path="^/limits")
    with pytest.raises(osexc.HttpException) as err:
        conn.compute.get_limits()
    assert err.value.status_code == 503
    ctl.remove_rule(rule)
    ctl.throttle("compute", "GET", retry_after=7, count=1, path="^/flavors")
    resp = _raw(cloud, "GET", "/flavors")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert "overLimit" in resp.json()
    assert _raw(cloud, "GET", "/flavors").status_code == 200  # count=1 is spent
    ctl.slow("compute", 0.3, "GET", count=1, path="^/flavors")
    start = time.monotonic()
    assert _raw(cloud, "GET", "/flavors").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_poll_clock_advances_per_read(conn: Connection, ctl: LocalCloudController) -> None:
    ctl.clock(mode="poll", polls=2)
    srv = create_server(conn, "polled", image=UBUNTU)
    assert conn.compute.get_server(srv.id).status == "BUILD"
    assert conn.compute.get_server(srv.id).status == "ACTIVE"
    conn.compute.delete_server(srv)
    ctl.clock(mode="time", delay=0.05)
    conn.compute.wait_for_delete(srv, **FAST)


def test_volume_attachment_drives_cinder(conn: Connection, server: object) -> None:
    bs = conn.block_storage
    vol = bs.wait_for_status(bs.create_volume(name="att", size=1), "available", **FAST)
    conn.compute.create_volume_attachment(server, volume=vol)
    bs.wait_for_status(vol, "in-use", **FAST)
    with pytest.raises(osexc.BadRequestException, match="must be available"):
        bs.delete_volume(vol)
    atts = list(conn.compute.volume_attachments(server))
    assert atts[0].volume_id == vol.id and atts[0].attachment_id
    assert bs.get_volume(vol).attachments[0]["server_id"] == server.id  # type: ignore[attr-defined]
    conn.compute.delete_volume_attachment(server, vol)
    bs.wait_for_status(vol, "available", **FAST)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, **FAST)


def test_security_groups_interfaces_password_and_actions(
    cloud: RunningLocalCloud, conn: Connection, server: object
) -> None:
    c = conn.compute
    sid = server.id  # type: ignore[attr-defined]
    # Ansible's server module reads the server's groups on every run.
    groups = _raw(cloud, "GET", f"/servers/{sid}/os-security-groups").json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    assert all(r["parent_group_id"] == groups[0]["id"] for r in groups[0]["rules"])
    assert c.get_server_password(server) == ""
    c.clear_server_password(server)
    net = conn.network.find_network("private", ignore_missing=False)
    iface = c.create_server_interface(server, net_id=net.id)
    assert iface.port_id in [i.port_id for i in c.server_interfaces(server)]
    bad = _raw(cloud, "POST", f"/servers/{sid}/os-interface", json={"interfaceAttachment": {}})
    assert bad.status_code == 400 and "port_id" in bad.json()["badRequest"]["message"]
    c.delete_server_interface(iface, server=server)
    assert conn.network.find_port(iface.port_id) is None  # Nova made it, so Nova deletes it
    actions = [a.action for a in c.server_actions(server)]
    assert actions == ["detach_interface", "attach_interface", "create"]
    diag = _raw(cloud, "GET", f"/servers/{sid}/diagnostics")
    assert diag.status_code == 403  # admin only, as Nova's default policy
