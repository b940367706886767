"""Datasets: uploads (resumed, checksummed, quota), downloads (Range, ETag), visibility, names."""

from __future__ import annotations

import os

import pytest

from gateway_kit.data import storage

from .conftest import CHUNK, World, put, sha, start, upload

DATA = os.urandom(3 * CHUNK + 1234)


def test_chunked_upload_interrupted_and_resumed(world: World) -> None:
    c = world.client("alice")
    uid = world.create(c)
    r = start(c, uid, "raw/obs.bin", DATA)
    assert r.status_code == 201
    first = r.get_json()
    assert first["chunk_count"] == 4 and first["missing"] == [0, 1, 2, 3]
    # Chunks 2 and 0 arrive, then the connection drops in the middle of chunk 3.
    assert put(c, uid, first["id"], 2, DATA).status_code == 200
    assert put(c, uid, first["id"], 0, DATA).status_code == 200
    cut = DATA[3 * CHUNK : 3 * CHUNK + 100]
    r = c.put(
        f"/api/v1/datasets/{uid}/uploads/{first['id']}/chunks/3",
        data=cut,
        headers={"X-Chunk-SHA256": sha(DATA[3 * CHUNK :])},
    )
    assert r.status_code == 422
    # Completing early names what is missing.
    r = c.post(f"/api/v1/datasets/{uid}/uploads/{first['id']}/complete")
    assert r.status_code == 409 and r.get_json()["missing"] == [1, 3]
    # The client restarts: the same request answers the open upload and what it still needs.
    again = start(c, uid, "raw/obs.bin", DATA)
    assert again.status_code == 200
    body = again.get_json()
    assert body["id"] == first["id"] and body["received"] == [0, 2] and body["missing"] == [1, 3]
    for i in body["missing"]:
        assert put(c, uid, body["id"], i, DATA).status_code == 200
    r = c.post(f"/api/v1/datasets/{uid}/uploads/{body['id']}/complete")
    assert r.status_code == 201
    assert r.get_json()["sha256"] == sha(DATA) and r.get_json()["size"] == len(DATA)
    ds = c.get(f"/api/v1/datasets/{uid}").get_json()
    assert ds["files"][0]["path"] == "raw/obs.bin" and ds["size"] == len(DATA)
    target = storage.dataset_dir(world.app.config, uid) / "raw" / "obs.bin"
    assert target.read_bytes() == DATA
    assert oct(target.stat().st_mode & 0o777) == "0o444"
    assert not list(storage.uploads_dir(world.app.config).iterdir())  # nothing left behind


def test_chunk_with_wrong_checksum_is_refused(world: World) -> None:
    c = world.client("alice")
    uid = world.create(c)
    up = start(c, uid, "a.bin", DATA).get_json()
    r = put(c, uid, up["id"], 1, DATA, digest="0" * 64)
    assert r.status_code == 422
    problem = r.get_json()
    assert problem["type"].endswith("/checksum_mismatch") and problem["expected"] == "0" * 64
    status = c.get(f"/api/v1/datasets/{uid}/uploads/{up['id']}").get_json()
    assert 1 in status["missing"]  # not recorded: it must be sent again


def test_file_checksum_mismatch_is_refused_and_nothing_installed(world: World) -> None:
    c = world.client("alice")
    uid = world.create(c)
    r = c.post(
        f"/api/v1/datasets/{uid}/uploads",
        json={"path": "b.bin", "size": len(DATA), "sha256": sha(b"another file"), "chunk_size": CHUNK},
    )
    up = r.get_json()
    for i in up["missing"]:
        assert put(c, uid, up["id"], i, DATA).status_code == 200
    r = c.post(f"/api/v1/datasets/{uid}/uploads/{up['id']}/complete")
    assert r.status_code == 422 and r.get_json()["received"] == sha(DATA)
    assert c.get(f"/api/v1/datasets/{uid}").get_json()["files"] == []
    assert not (storage.dataset_dir(world.app.config, uid) / "b.bin").exists()


def test_range_etag_and_content_disposition(world: World) -> None:
    c = world.client("alice")
    uid = world.create(c)
    assert upload(c, uid, "dir/table.csv", DATA).status_code == 201
    url = f"/api/v1/datasets/{uid}/files/dir/table.csv"
    full = c.get(url)
    assert full.status_code == 200 and full.data == DATA
    assert full.headers["ETag"] == f'"{sha(DATA)}"'
    assert full.headers["Content-Disposition"].startswith("attachment")
    assert "table.csv" in full.headers["Content-Disposition"]
    assert "private" in full.headers["Cache-Control"]
    part = c.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == DATA[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    tail = c.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == DATA[-10:]
    assert c.get(url, headers={"Range": f"bytes={len(DATA) + 5}-"}).status_code == 416
    assert c.get(url, headers={"If-None-Match": f'"{sha(DATA)}"'}).status_code == 304
    # The page route answers the same bytes.
    assert c.get(f"/datasets/{uid}/files/dir/table.csv", headers={"Range": "bytes=0-9"}).data == DATA[:10]


@pytest.mark.parametrize(
    "path",
    [
        "../escape.txt",
        "a/../../b",
        "/etc/passwd",
        "a\\b",
        "a//b",
        "./a",
        "a/./b",
        "bad\x00name",
        "a/..",
        "line\nbreak",
        "-rf",
        ".hidden/x",
        "x/",
    ],
)
def test_path_traversal_and_odd_names_refused(world: World, path: str) -> None:
    c = world.client("alice")
    uid = world.create(c)
    r = start(c, uid, path, b"x")
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["field"] == "path"


def test_download_paths_cannot_escape(world: World, tmp_path: object) -> None:
    c = world.client("alice")
    uid = world.create(c, visibility="public")
    secret = storage.root(world.app.config) / "secret.txt"
    secret.write_text("no")
    for rel in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt"):
        assert c.get(f"/api/v1/datasets/{uid}/files/{rel}").status_code == 404


def test_quota_exceeded_refused_with_the_numbers(world: World) -> None:
    c = world.client("alice")
    uid = world.create(c)
    big = 700_000
    r = c.post(f"/api/v1/datasets/{uid}/uploads", json={"path": "one.bin", "size": big, "sha256": "a" * 64})
    assert r.status_code == 201  # reserved: 0.7 of the 1 MB quota
    r = c.post(f"/api/v1/datasets/{uid}/uploads", json={"path": "two.bin", "size": big, "sha256": "b" * 64})
    assert r.status_code == 403
    problem = r.get_json()
    assert problem["type"].endswith("/quota_exceeded")
    assert (problem["quota_bytes"], problem["used_bytes"], problem["requested_bytes"]) == (
        1_000_000,
        big,
        big,
    )
    assert "1000000 bytes" in problem["detail"] and "700000 bytes" in problem["detail"]
    # Another project's quota is its own.
    b = world.client("bob")
    other = world.create(b, project="bio")
    assert c.get("/api/v1/datasets").status_code == 200
    assert b.get(f"/api/v1/datasets/{other}").get_json()["project"] == "bio"  # by name, as created
    r = b.post(f"/api/v1/datasets/{other}/uploads", json={"path": "x.bin", "size": big, "sha256": "c" * 64})
    assert r.status_code == 201


ROLES = ("anonymous", "alice", "carol", "bob", "olga", "root", "nobody")
#: Who sees a dataset created by alice in project astro, by visibility.
EXPECTED = {
    "public": set(ROLES),
    "project": {"alice", "carol", "olga", "root"},
    "private": {"alice", "carol", "olga", "root"},
}


@pytest.mark.parametrize("visibility", ["public", "project", "private"])
def test_visibility_for_every_role(world: World, visibility: str) -> None:
    alice = world.client("alice")
    uid = world.create(alice, visibility=visibility)
    assert upload(alice, uid, "f.txt", b"hello").status_code == 201
    for role in ROLES:
        c = world.client(None if role == "anonymous" else role)
        sees = role in EXPECTED[visibility]
        expected = 200 if sees else 404
        assert c.get(f"/api/v1/datasets/{uid}").status_code == expected, role
        assert c.get(f"/api/v1/datasets/{uid}/files/f.txt").status_code == expected, role
        assert c.get(f"/datasets/{uid}").status_code == expected, role
        listed = [d["id"] for d in c.get("/api/v1/datasets").get_json()["datasets"]]
        assert (uid in listed) is sees, role


def test_private_dataset_of_a_project_member_is_hidden_from_other_members(world: World) -> None:
    carol = world.client("carol")
    uid = world.create(carol, visibility="private")
    # alice is in astro but neither its creator nor a manager.
    assert world.client("alice").get(f"/api/v1/datasets/{uid}").status_code == 404
    # another project's private dataset: 404 for alice, exactly like a missing one
    bob = world.client("bob")
    theirs = world.create(bob, project="bio")
    a = world.client("alice")
    assert a.get(f"/api/v1/datasets/{theirs}").get_json()["status"] == 404
    assert a.get("/api/v1/datasets/ds-000000000000").status_code == 404
    assert a.post(f"/api/v1/datasets/{theirs}/uploads", json={}).status_code == 404


def test_writes_need_creator_manager_or_admin(world: World) -> None:
    alice = world.client("alice")
    uid = world.create(alice, visibility="project")
    assert world.client("carol").patch(f"/api/v1/datasets/{uid}", json={"license": "MIT"}).status_code == 200
    # olga (operator) and a second project member can read but not change it
    for name in ("olga",):
        r = world.client(name).patch(f"/api/v1/datasets/{uid}", json={"license": "x"})
        assert r.status_code == 403
    assert world.client("nobody").post("/api/v1/datasets", json={"name": "x"}).status_code == 422
    anonymous = world.client().post("/api/v1/datasets", json={"name": "x"})
    assert anonymous.status_code == 403  # no session: the CSRF check answers first
    bogus = world.client().post(
        "/api/v1/datasets", json={"name": "x"}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert bogus.status_code == 401
    assert world.client("root").delete(f"/api/v1/datasets/{uid}").status_code == 204


def test_tokens_need_the_datasets_scopes(world: World) -> None:
    c = world.app.test_client()
    read_only = world.token("alice", ["datasets:read"])
    r = c.post("/api/v1/datasets", json={"name": "x", "project": "astro"}, headers=read_only)
    assert r.status_code == 403
    writer = world.token("alice", ["datasets:read", "datasets:write"])
    r = c.post("/api/v1/datasets", json={"name": "x", "project": "astro"}, headers=writer)
    assert r.status_code == 201
    jobs_only = world.token("alice", ["jobs:read"])
    assert c.get("/api/v1/datasets", headers=jobs_only).status_code == 403


def test_session_writes_need_the_csrf_header(world: World) -> None:
    c = world.client("alice")
    c.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert c.post("/api/v1/datasets", json={"name": "x"}).status_code == 403


def test_search_pages_and_openapi(world: World) -> None:
    alice = world.client("alice")
    uid = world.create(alice, name="Galaxy survey", visibility="public")
    world.create(alice, name="Hidden notes")
    anon = world.client()
    r = anon.get("/api/v1/datasets?q=galaxy").get_json()
    assert [d["id"] for d in r["datasets"]] == [uid] and r["total"] == 1
    page = anon.get("/datasets?q=survey")
    assert page.status_code == 200 and b"Galaxy survey" in page.data
    assert b"Hidden notes" not in anon.get("/datasets").data
    assert b"Hidden notes" in alice.get("/datasets").data
    assert alice.get("/datasets/new").status_code == 200
    r = alice.post("/datasets/new", data={"name": "Form made", "project": "astro", "visibility": "project"})
    assert r.status_code == 302
    doc = anon.get("/api/openapi.json").get_json()
    assert "/api/v1/datasets" in doc["paths"] and "Dataset" in doc["components"]["schemas"]
    assert "/api/v1/datasets/{uid}/uploads/{upload_id}/chunks/{index}" in doc["paths"]


def test_page_form_upload(world: World) -> None:
    import io

    alice = world.client("alice")
    uid = world.create(alice)
    r = alice.post(
        f"/datasets/{uid}/upload",
        data={"folder": "notes", "file": (io.BytesIO(b"line\n"), "readme.txt")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    files = alice.get(f"/api/v1/datasets/{uid}").get_json()["files"]
    assert files == [
        {
            "path": "notes/readme.txt",
            "size": 5,
            "sha256": sha(b"line\n"),
            "url": f"/api/v1/datasets/{uid}/files/notes/readme.txt",
        }
    ]
    page = alice.get(f"/datasets/{uid}")
    assert b"notes/readme.txt" in page.data
