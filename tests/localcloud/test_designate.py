"""Designate v2 of the local cloud, through openstacksdk and python-designateclient over HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests
from designateclient import exceptions as dexc
from designateclient.v2 import client as dclient
from openstack import exceptions as osexc

from gateway_kit.localcloud.testing import RunningLocalCloud


def _zone(conn, name=None, **kw):
    name = name or f"z{uuid.uuid4().hex[:8]}.example.org."
    zone = conn.dns.create_zone(name=name, email="joe@example.org", ttl=3600, **kw)
    return conn.dns.wait_for_status(zone, "ACTIVE", interval=0.05, wait=10)


def test_zone_lifecycle_pending_then_active(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = conn.dns.create_zone(name="life.example.org.", email="joe@example.org")
    assert (zone.status, zone.action) == ("PENDING", "CREATE")
    zone = conn.dns.wait_for_status(zone, "ACTIVE", interval=0.05, wait=10)
    assert zone.action == "NONE"
    rsets = {(r.type, r.name) for r in conn.dns.recordsets(zone)}
    assert {("SOA", "life.example.org."), ("NS", "life.example.org.")} <= rsets
    updated = conn.dns.update_zone(zone, ttl=7200)
    assert (updated.status, updated.action, updated.ttl) == ("PENDING", "UPDATE", 7200)
    conn.dns.delete_zone(zone)
    conn.dns.wait_for_delete(zone, interval=0.05, wait=10)
    assert conn.dns.find_zone("life.example.org.") is None


def test_recordsets_and_find_zone_by_name(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = _zone(conn, "rs.example.org.")
    assert conn.dns.find_zone("rs.example.org.").id == zone.id
    a = conn.dns.create_recordset(zone, name="www.rs.example.org.", type="A", records=["192.0.2.10"])
    assert (a.status, a.action) == ("PENDING", "CREATE")
    txt = conn.create_recordset("rs.example.org.", "txt.rs.example.org.", "TXT", ['"v=spf1 -all"'])
    assert txt["zone_id"] == zone.id
    updated = conn.dns.update_recordset(a, records=["192.0.2.11"])
    assert updated.records == ["192.0.2.11"]
    names = {r.name for r in conn.dns.recordsets(zone, type="A")}
    assert names == {"www.rs.example.org."}


@pytest.mark.parametrize(
    ("name", "status"),
    [("no-dot.example.org", 400), ("single.", 400), ("bad_-.example.org.", 400)],
)
def test_invalid_zone_names_are_400(lc: RunningLocalCloud, name: str, status: int) -> None:
    conn = lc.connect()
    with pytest.raises(osexc.HttpException) as err:
        conn.dns.create_zone(name=name, email="joe@example.org")
    assert err.value.status_code == status


def test_duplicate_zone_and_recordset_409(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = _zone(conn, "dup.example.org.")
    with pytest.raises(osexc.ConflictException, match="Duplicate Zone"):
        conn.dns.create_zone(name="dup.example.org.", email="joe@example.org")
    conn.dns.create_recordset(zone, name="a.dup.example.org.", type="A", records=["192.0.2.1"])
    with pytest.raises(osexc.ConflictException, match="Duplicate RecordSet"):
        conn.dns.create_recordset(zone, name="a.dup.example.org.", type="A", records=["192.0.2.2"])


def test_recordset_validation(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = _zone(conn, "val.example.org.")
    cases = [
        dict(name="out.other.org.", type="A", records=["192.0.2.1"]),
        dict(name="x.val.example.org.", type="A", records=["not-an-ip"]),
        dict(name="val.example.org.", type="CNAME", records=["www.example.org."]),
        dict(name="soa.val.example.org.", type="SOA", records=["x"]),
    ]
    for case in cases:
        with pytest.raises(osexc.BadRequestException):
            conn.dns.create_recordset(zone, **case)
    soa = next(r for r in conn.dns.recordsets(zone) if r.type == "SOA")
    with pytest.raises(osexc.BadRequestException):
        conn.dns.delete_recordset(soa, zone)


def test_other_projects_zone_is_invisible(lc: RunningLocalCloud) -> None:
    demo, alt = lc.connect(), lc.connect("local-alt")
    zone = _zone(demo, "private.example.org.")
    assert alt.dns.find_zone("private.example.org.") is None
    with pytest.raises(osexc.NotFoundException):
        alt.dns.get_zone(zone.id)
    with pytest.raises(osexc.ConflictException):  # the name is still taken cloud-wide
        alt.dns.create_zone(name="private.example.org.", email="a@example.org")


def test_unknown_ids_and_non_uuid(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    with pytest.raises(osexc.NotFoundException):
        conn.dns.get_zone(str(uuid.uuid4()))
    with pytest.raises(osexc.BadRequestException):  # Designate: invalid_uuid
        conn.dns.get_zone("example.org.")


def test_zone_quota_413(lc: RunningLocalCloud) -> None:
    admin, alt = lc.connect("local-admin"), lc.connect("local-alt")
    alt_project = alt.current_project_id
    admin.dns.update_quota(alt_project, zones=1)
    try:
        _zone(alt, "q1.example.net.")
        with pytest.raises(osexc.HttpException) as err:
            alt.dns.create_zone(name="q2.example.net.", email="a@example.net")
        assert err.value.status_code == 413
    finally:
        admin.dns.delete_quota(alt_project)


def test_designateclient_error_bodies(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    client = dclient.Client(session=conn.session)
    client.zones.create("dc.example.org.", email="a@example.org")
    assert client.zones.get("dc.example.org.")["name"] == "dc.example.org."
    with pytest.raises(dexc.Conflict) as conflict:
        client.zones.create("dc.example.org.", email="a@example.org")
    assert conflict.value.type == "duplicate_zone"
    with pytest.raises(dexc.NotFound):
        client.zones.get(str(uuid.uuid4()))
    with pytest.raises(dexc.BadRequest):
        client.zones.create("nodot.example.org", email="a@example.org")
    client.recordsets.create("dc.example.org.", "www", "A", ["192.0.2.20"])
    assert "www.dc.example.org." in {r["name"] for r in client.recordsets.list("dc.example.org.")}


def test_error_body_has_only_designate_keys(lc: RunningLocalCloud) -> None:
    token = lc.connect().auth_token
    resp = requests.get(f"{lc.url}/dns/v2/zones/{uuid.uuid4()}", headers={"X-Auth-Token": token})
    assert resp.status_code == 404
    assert set(resp.json()) == {"code", "type", "message", "request_id"}
    assert resp.json()["type"] == "zone_not_found"


@pytest.mark.parametrize(
    ("path", "key", "value", "clash", "invalid", "member_reads"),
    [("tlds", "name", "org", "ORG", "bad tld!", True),
     ("blacklists", "pattern", r"^evil\.example\.$", r"^evil\.example\.$", "(", False)],
)  # fmt: skip
def test_tlds_and_blacklists(  # type: ignore[no-untyped-def]
    lc: RunningLocalCloud, path, key, value, clash, invalid, member_reads
) -> None:
    admin = {"X-Auth-Token": lc.connect("local-admin").auth_token}
    member = {"X-Auth-Token": lc.connect().auth_token}
    url = f"{lc.url}/dns/v2/{path}"
    created = requests.post(url, json={key: value, "description": "d"}, headers=admin)
    assert created.status_code == 201 and created.json()[key] == value
    item = f"{url}/{created.json()['id']}"
    assert requests.post(url, json={key: value}, headers=member).status_code == 403
    dup = requests.post(url, json={key: clash}, headers=admin)
    assert dup.status_code == 409 and dup.json()["type"] == f"duplicate_{path[:-1]}"
    assert requests.post(url, json={key: invalid}, headers=admin).status_code == 400
    assert requests.get(item, headers=member).status_code == (200 if member_reads else 403)
    assert requests.get(url, headers=member).status_code == (200 if member_reads else 403)
    assert requests.patch(item, json={"description": "x"}, headers=member).status_code == 403
    patched = requests.patch(item, json={"description": "x"}, headers=admin).json()
    assert patched["description"] == "x" and patched["updated_at"]
    assert requests.delete(item, headers=admin).status_code == 204
    gone = requests.get(item, headers=admin)
    assert gone.status_code == 404 and gone.json()["type"] == f"{path[:-1]}_not_found"


# Key sets of the api-ref samples (openstack/designate api-ref/source/samples/...), transcribed.
ZONE_SAMPLE_KEYS = {
    "id",
    "pool_id",
    "project_id",
    "name",
    "email",
    "ttl",
    "serial",
    "status",
    "action",
    "description",
    "masters",
    "type",
    "transferred_at",
    "version",
    "created_at",
    "updated_at",
    "attributes",
    "links",
}
# ``shared`` arrived with API v2.1 (shared zones), after the sample was written.
ZONE_EXTRA_KEYS = {"shared"}
RECORDSET_SAMPLE_KEYS = {
    "description",
    "links",
    "updated_at",
    "records",
    "ttl",
    "id",
    "name",
    "project_id",
    "zone_id",
    "zone_name",
    "created_at",
    "version",
    "type",
    "status",
    "action",
}
LIST_SAMPLE_KEYS = {"links", "metadata"}


def test_shapes_match_api_ref_samples(lc: RunningLocalCloud) -> None:
    conn = lc.connect()
    zone = _zone(conn, "shape.example.org.")
    headers = {"X-Auth-Token": conn.auth_token}
    base = f"{lc.url}/dns/v2"
    body = requests.get(f"{base}/zones/{zone.id}", headers=headers).json()
    assert set(body) == ZONE_SAMPLE_KEYS | ZONE_EXTRA_KEYS
    listing = requests.get(f"{base}/zones", headers=headers).json()
    assert set(listing) == LIST_SAMPLE_KEYS | {"zones"}
    assert set(listing["metadata"]) == {"total_count"}
    rs = requests.post(
        f"{base}/zones/{zone.id}/recordsets",
        headers=headers,
        json={"name": "s.shape.example.org.", "type": "A", "records": ["192.0.2.1"]},
    )
    assert rs.status_code == 202
    assert set(rs.json()) == RECORDSET_SAMPLE_KEYS
