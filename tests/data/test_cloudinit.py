"""The database role's cloud-init script, run twice against a directory stand-in for the volume
with the real PostgreSQL server binaries: formats once, never again, and changes nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway_kit.data import dbhost

from ..conftest import require_postgres_server

FAKE = {
    # The stand-in device is a file (DEV); its label is DEV.fstype, its file system DEV.fs/.
    # blkid -p -o value -s TYPE|PTTYPE DEV: what the stand-in's label file says; exit 2 if none.
    "blkid": '#!/bin/sh\nfor a; do dev="$a"; done\ncase "$*" in *PTTYPE*) exit 2;; esac\n'
    '[ -f "$dev.fstype" ] || exit 2\ncat "$dev.fstype"\n',
    "mkfs": '#!/bin/sh\nfor a; do dev="$a"; done\n[ -f "$dev.fstype" ] && '
    '{ echo "mkfs on a formatted device" >&2; exit 99; }\n'
    'echo ext4 > "$dev.fstype"\necho x >> "$GK_TEST_MKFS_COUNT"\n',
    "mount": '#!/bin/sh\nmkdir -p -m 755 "$1.fs" && ln -sfn "$1.fs" "$2.link" && rmdir "$2" && mv "$2.link" "$2"\n',
    "is_mounted": '#!/bin/sh\ntest -L "$1"\n',
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture()
def stand_in() -> Iterator[dict[str, str]]:
    pg_bin = require_postgres_server()
    # Not under pytest's tmp_path: the postgres user must be able to traverse it.
    root = Path(tempfile.mkdtemp(prefix="gk-pgvol-"))
    root.chmod(0o755)
    fake = root / "bin"
    fake.mkdir()
    for name, body in FAKE.items():
        (fake / name).write_text(body)
        (fake / name).chmod(0o755)
    (root / "device").write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "GK_DEVICE": str(root / "device"),
        "GK_MOUNTPOINT": str(root / "mnt"),
        "GK_PRIVATE_IP": "127.0.0.1",
        "GK_WEB_HOSTS": "127.0.0.1 10.0.0.7",
        "GK_PG_PORT": str(_free_port()),
        "GK_PG_BIN": pg_bin,
        "GK_PASSWORD_FILE": str(root / "etc" / "db-password"),
        "GK_DATABASE_URL_FILE": str(root / "etc" / "database-url"),
        "GK_SOCKET_DIR": str(root / "sock"),
        "GK_FSTAB": str(root / "fstab"),
        "GK_SERVICE": "pg_ctl",
        "GK_BLKID": str(fake / "blkid"),
        "GK_MKFS": str(fake / "mkfs"),
        "GK_MOUNT": str(fake / "mount"),
        "GK_IS_MOUNTED": str(fake / "is_mounted"),
        "GK_TEST_MKFS_COUNT": str(root / "mkfs-count"),
    }
    try:
        yield env
    finally:
        data = Path(env["GK_MOUNTPOINT"]) / "postgresql" / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    f"{pg_bin}/pg_ctl",
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", str(dbhost.SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _fingerprint(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    data = Path(env["GK_MOUNTPOINT"]) / "postgresql" / "data"
    files = [
        data / "postgresql.conf",
        data / "gateway-kit.conf",
        data / "pg_hba.conf",
        Path(env["GK_PASSWORD_FILE"]),
        Path(env["GK_DATABASE_URL_FILE"]),
        Path(env["GK_FSTAB"]),
        Path(env["GK_DEVICE"] + ".fstype"),
        data / "PG_VERSION",
    ]
    return {str(f): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files}


def test_script_twice_formats_once_and_changes_nothing(stand_in: dict[str, str]) -> None:
    import psycopg

    env = stand_in
    first = _run(env)
    assert "is blank: creating a filesystem" in first.stdout
    assert "initialising PostgreSQL" in first.stdout
    assert Path(env["GK_TEST_MKFS_COUNT"]).read_text() == "x\n"
    password = Path(env["GK_PASSWORD_FILE"]).read_text().strip()
    assert len(password) == 64
    assert password not in first.stdout + first.stderr
    url = Path(env["GK_DATABASE_URL_FILE"]).read_text().strip()
    assert oct(Path(env["GK_DATABASE_URL_FILE"]).stat().st_mode & 0o777) == "0o600"
    assert url == dbhost.database_url("127.0.0.1", password, port=int(env["GK_PG_PORT"]))
    # The gateway's role connects over TCP with its password and owns its database.
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('survives')")
    # Only the web VMs, only that database and role, only with a password.
    hba = (Path(env["GK_MOUNTPOINT"]) / "postgresql/data/pg_hba.conf").read_text()
    host_lines = [ln.split() for ln in hba.splitlines() if ln.startswith("host")]
    assert host_lines == [
        ["host", "gateway", "gateway", "127.0.0.1/32", "scram-sha-256"],
        ["host", "gateway", "gateway", "10.0.0.7/32", "scram-sha-256"],
    ]
    conf = (Path(env["GK_MOUNTPOINT"]) / "postgresql/data/gateway-kit.conf").read_text()
    assert "listen_addresses = '127.0.0.1'" in conf
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(conninfo.replace("/gateway", "/postgres"), connect_timeout=5)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(conninfo.replace(password, "wrong-password"), connect_timeout=5)
    server_log = (Path(env["GK_MOUNTPOINT"]) / "postgresql/server.log").read_text()
    assert password not in server_log

    before = _fingerprint(env)
    second = _run(env)
    assert "already holds ext4: not formatting" in second.stdout
    assert "initialising" not in second.stdout and "wrote" not in second.stdout
    assert "role gateway" not in second.stdout
    assert Path(env["GK_TEST_MKFS_COUNT"]).read_text() == "x\n"  # never formatted again
    assert _fingerprint(env) == before
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("survives",)]


def test_existing_filesystem_is_never_formatted(stand_in: dict[str, str]) -> None:
    env = stand_in
    Path(env["GK_DEVICE"] + ".fstype").write_text("xfs\n")
    Path(env["GK_DEVICE"] + ".fs").mkdir(mode=0o755)
    Path(env["GK_DEVICE"] + ".fs", "precious").write_text("keep me")
    out = _run(env)
    assert "already holds xfs: not formatting" in out.stdout
    assert not Path(env["GK_TEST_MKFS_COUNT"]).exists()
    assert Path(env["GK_DEVICE"] + ".fs", "precious").read_text() == "keep me"


def test_directory_volume_is_used_as_it_is(stand_in: dict[str, str]) -> None:
    """The local cloud's data plane links a volume in as a directory: no mkfs, no mount, no
    fstab line; PostgreSQL's data lands in that directory and answers."""
    import psycopg

    env = dict(stand_in)
    volume = Path(env["GK_DEVICE"] + ".dir")
    volume.mkdir()
    volume.chmod(0o755)
    env["GK_DEVICE"] = str(volume)
    out = _run(env)
    assert "is a directory: using it as it is" in out.stdout
    assert not Path(env["GK_TEST_MKFS_COUNT"]).exists()
    assert not Path(env["GK_FSTAB"]).exists()
    assert not Path(env["GK_MOUNTPOINT"]).exists()
    assert (volume / "postgresql" / "data" / "PG_VERSION").is_file()
    url = Path(env["GK_DATABASE_URL_FILE"]).read_text().strip()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("gateway",)
    # stop the server the fixture's teardown does not know about (its data is elsewhere)
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            f"{env['GK_PG_BIN']}/pg_ctl",
            "-D",
            str(volume / "postgresql" / "data"),
            "-m",
            "immediate",
            "stop",
        ],
        capture_output=True,
        check=False,
    )


def test_template_renders_valid_cloud_config() -> None:
    import jinja2

    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(dbhost.TEMPLATE.read_text())
    base = dict(
        deployment="demo",
        role="database",
        vm="database-1",
        index=0,
        hostname="demo-database-1",
        zone="",
        fqdn="demo-database-1",
        roles={},
        volumes=[],
        has_volume=True,
    )
    doc = yaml.safe_load(
        template.render(
            **base, **dbhost.user_data_context("0123456789abcdef0123456789", ["10.0.0.5"], "p" * 64)
        )
    )
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/etc/gateway-kit/db-password"]["permissions"] == "0600"
    assert (
        "GK_VOLUME_ID=0123456789abcdef0123456789"
        in files["/etc/gateway-kit/postgres-on-volume.env"]["content"]
    )
    assert dbhost.device_path("0123456789abcdef0123456789") == "/dev/disk/by-id/virtio-0123456789abcdef0123"
    yaml.safe_load(template.render(**base))  # the engine's context alone renders too
