"""tempest.lib's service clients as a strict response-schema oracle for Nova and Cinder.

Every call below checks the status code, the microversion echo headers and the body against
tempest's JSON schemas for that microversion (``additionalProperties: false``): the assertions are
upstream's, not ours.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tempest.lib import auth
from tempest.lib.services.compute import (
    flavors_client,
    keypairs_client,
    limits_client,
    quotas_client,
    servers_client,
    volumes_client,
)
from tempest.lib.services.volume.v3 import snapshots_client
from tempest.lib.services.volume.v3 import volumes_client as v3_volumes

from gateway_kit.localcloud.testing import RunningLocalCloud, running_local_cloud

COMPUTE_VERSIONS = [
    None,
    "2.3",
    "2.9",
    "2.16",
    "2.19",
    "2.26",
    "2.47",
    "2.57",
    "2.61",
    "2.63",
    "2.71",
    "2.73",
    "2.75",
    "2.79",
    "2.89",
    "2.96",
    "2.98",
    "2.100",
]
VOLUME_VERSIONS = [None, "3.13", "3.48", "3.61", "3.63", "3.65", "3.71"]
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq2HkFmXk0lSa0v1bT2Wdq0ZK5Yx0p3C2bDk8e0a1Zb c"


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("tempest") / "s", delay=0.0) as running:
        yield running


def _provider(lc: RunningLocalCloud, user: str) -> auth.KeystoneV3AuthProvider:
    creds = auth.KeystoneV3Credentials(
        username=user,
        password=f"{user}-secret",
        project_name=user,
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return auth.KeystoneV3AuthProvider(creds, lc.url + "/identity/v3")


@pytest.mark.parametrize("user", ["demo", "admin"])
@pytest.mark.parametrize("mv", COMPUTE_VERSIONS)
def test_nova_responses_match_tempest_schemas(lc: RunningLocalCloud, mv: str | None, user: str) -> None:
    ap = _provider(lc, user)
    clients = [
        cls(ap, "compute", "RegionOne")
        for cls in (
            servers_client.ServersClient,
            flavors_client.FlavorsClient,
            keypairs_client.KeyPairsClient,
            limits_client.LimitsClient,
            quotas_client.QuotasClient,
        )
    ]
    for client in clients:
        client.api_microversion = mv
    sc, fc, kc, lcl, qc = clients
    conn = lc.connect("local" if user == "demo" else "local-admin")
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk", ignore_missing=False).id
    net = conn.network.find_network("private", ignore_missing=True, project_id=conn.current_project_id)
    if net is None:
        net = conn.network.create_network(name="private")
        conn.network.create_subnet(network_id=net.id, cidr="10.42.0.0/24", ip_version=4)
    server = sc.create_server(name="schema", imageRef=image, flavorRef="1", networks=[{"uuid": net.id}])[
        "server"
    ]
    sid = server["id"]
    sc.show_server(sid)
    sc.list_servers()
    sc.list_servers(detail=True)
    sc.update_server(sid, name="schema-2")
    sc.set_server_metadata(sid, {"a": "b"})
    sc.list_server_metadata(sid)
    sc.stop_server(sid)
    sc.show_server(sid)
    sc.start_server(sid)
    sc.lock_server(sid)
    sc.unlock_server(sid)
    sc.get_console_output(sid, length=3)
    sc.list_addresses(sid)
    fc.list_flavors(detail=True)
    fc.list_flavors()
    fc.show_flavor("1")
    lcl.show_limits()
    qc.show_quota_set(conn.current_project_id)
    qc.show_default_quota_set(conn.current_project_id)
    kc.create_keypair(name=f"k-{user}-{mv}", public_key=PUBKEY)
    kc.list_keypairs()
    kc.show_keypair(f"k-{user}-{mv}")
    kc.delete_keypair(f"k-{user}-{mv}")
    sc.delete_server(sid)


@pytest.mark.parametrize("mv", VOLUME_VERSIONS)
def test_cinder_responses_match_tempest_schemas(lc: RunningLocalCloud, mv: str | None) -> None:
    ap = _provider(lc, "demo")
    vc = v3_volumes.VolumesClient(ap, "volumev3", "RegionOne")
    snc = snapshots_client.SnapshotsClient(ap, "volumev3", "RegionOne")
    vc.api_microversion = snc.api_microversion = mv
    vid = vc.create_volume(size=1, name="v")["volume"]["id"]
    vc.show_volume(vid)
    vc.list_volumes()
    vc.list_volumes(detail=True)
    vc.update_volume(vid, name="v2")
    sid = snc.create_snapshot(volume_id=vid, name="s")["snapshot"]["id"]
    snc.show_snapshot(sid)
    snc.list_snapshots(detail=True)
    snc.delete_snapshot(sid)
    snc.wait_for_resource_deletion(sid)
    vc.delete_volume(vid)


def test_nova_volume_attachments_match_tempest_schemas(lc: RunningLocalCloud) -> None:
    ap = _provider(lc, "demo")
    sc = servers_client.ServersClient(ap, "compute", "RegionOne")
    sc.api_microversion = "2.89"
    conn = lc.connect()
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk", ignore_missing=False).id
    net = conn.network.find_network("private", ignore_missing=False).id
    sid = sc.create_server(name="att", imageRef=image, flavorRef="1", networks=[{"uuid": net}])["server"][
        "id"
    ]
    conn.compute.wait_for_server(conn.compute.get_server(sid), interval=0.05, wait=10)
    vol = conn.block_storage.wait_for_status(
        conn.block_storage.create_volume(size=1), "available", interval=0.05, wait=10
    )
    sc.attach_volume(sid, volumeId=vol.id)
    sc.list_volume_attachments(sid)
    sc.show_volume_attachment(sid, vol.id)
    conn.block_storage.wait_for_status(vol, "in-use", interval=0.05, wait=10)
    sc.detach_volume(sid, vol.id)
    _ = volumes_client  # the deprecated Nova volume proxy is not served (404 since 2.36)
