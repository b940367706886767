"""Volumes on the data plane: directories inside instances that outlive attachments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.localcloud.dataplane import volumes as vols
from gateway_kit.localcloud.testing import RunningLocalCloud, boot_server, running_local_cloud, wait_until

WRITER = """#cloud-config
mounts:
  - [vdb, /srv/data, ext4, "defaults,nofail"]
runcmd:
  - sh -c 'while [ ! -d "${INSTANCE_ROOT:-}/srv/data" ]; do sleep 0.2; done; echo "written by $INSTANCE_NAME" > "${INSTANCE_ROOT:-}/srv/data/hello"' &
"""
READER = """#cloud-config
runcmd:
  - |
    sh -c 'while [ ! -f "${INSTANCE_ROOT:-}/mnt/vdb/hello" ]; do sleep 0.2; done; echo "read: $(cat "${INSTANCE_ROOT:-}/mnt/vdb/hello")"' &
"""


def test_mount_points_and_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "mounts": [["vdb", "/srv/data"], ["/dev/vdc", "none", "swap"], ["/dev/disk/by-id/virtio-abc", "/x"]]
    }
    assert vols.mount_points(config) == {"/dev/vdb": "/srv/data", "/dev/disk/by-id/virtio-abc": "/x"}
    monkeypatch.setattr(vols, "GIB", 1024)  # sizes in KiB for this test
    plane = vols.Volumes(tmp_path)
    folder = plane.volumes / "v1"
    folder.mkdir(parents=True)
    (folder / "big").write_bytes(b"x" * 2048)
    plane._quota({"v1": {"id": "v1", "size": 1, "attachments": []}}, {})
    if os.geteuid() != 0:  # root ignores permissions
        with pytest.raises(PermissionError):
            (folder / "more").write_bytes(b"y")
    (folder / "big").unlink()
    plane._quota({"v1": {"id": "v1", "size": 1, "attachments": []}}, {})
    (folder / "more").write_bytes(b"y")


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLocalCloud]:
    with running_local_cloud(tmp_path_factory.mktemp("dpv") / "state", dataplane=True) as cloud:
        yield cloud


def _attach(conn: Any, server: Any, volume: Any) -> None:
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    conn.block_storage.wait_for_status(volume, status="in-use", failures=["error"], interval=0.1, wait=60)


def _detach(conn: Any, server: Any, volume: Any) -> None:
    conn.compute.delete_volume_attachment(server, volume.id)
    conn.block_storage.wait_for_status(volume, status="available", failures=["error"], interval=0.1, wait=60)


def test_volume_written_by_one_server_is_read_by_another(dp: RunningLocalCloud) -> None:
    root = dp.state_dir / "dataplane"
    conn, writer = boot_server(dp, "vol-writer", WRITER)
    _conn, reader = boot_server(dp, "vol-reader", READER)
    volume = conn.block_storage.create_volume(name="data", size=1)
    conn.block_storage.wait_for_status(volume, status="available", failures=["error"], interval=0.1, wait=60)
    _attach(conn, writer, volume)
    hello = root / "volumes" / volume.id / "hello"
    wait_until(lambda: hello.is_file(), what="the writer's file in the volume")
    assert hello.read_text() == "written by vol-writer\n"
    assert (root / writer.id / "rootfs/mnt/vdb/hello").is_file()
    assert (root / writer.id / f"rootfs/dev/disk/by-id/virtio-{volume.id[:20]}/hello").is_file()

    _detach(conn, writer, volume)
    wait_until(lambda: not (root / writer.id / "rootfs/srv/data").exists(), what="link gone on detach")
    _attach(conn, reader, volume)
    log = wait_until(
        lambda: "read: written by vol-writer" in conn.compute.get_server_console_output(reader)["output"],
        what="the reader's console",
    )
    assert log

    # A snapshot copies the volume; a volume made from it starts with the same files.
    snap = conn.block_storage.create_snapshot(volume_id=volume.id, name="snap", force=True)
    conn.block_storage.wait_for_status(snap, status="available", failures=["error"], interval=0.1, wait=60)
    wait_until(lambda: (root / "snapshots" / snap.id / "hello").is_file(), what="snapshot copy")
    hello.write_text("changed after the snapshot\n")
    copy = conn.block_storage.create_volume(name="copy", size=1, snapshot_id=snap.id)
    conn.block_storage.wait_for_status(copy, status="available", failures=["error"], interval=0.1, wait=60)
    copied = root / "volumes" / copy.id / "hello"
    wait_until(lambda: copied.is_file(), what="volume from snapshot")
    assert copied.read_text() == "written by vol-writer\n"

    # Deleting a volume deletes its directory.
    conn.block_storage.delete_volume(copy)
    conn.block_storage.wait_for_delete(copy, interval=0.1, wait=60)
    wait_until(lambda: not copied.parent.exists(), what="directory of the deleted volume removed")
