"""The `database` role's cloud-config (postgres-on-volume) on the local cloud's data plane: the
volume is a directory, files live in the instance root, PostgreSQL runs under its systemd unit as
the postgres user and answers on the VM's address."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from gateway_kit.data import dbhost
from gateway_kit.localcloud.testing import RunningLocalCloud, boot_server, wait_until


@pytest.mark.slow
def test_postgres_on_volume_runs_on_the_data_plane(postgres_dataplane: RunningLocalCloud) -> None:
    import psycopg

    dp_cloud = postgres_dataplane
    conn = dp_cloud.connect()
    volume = conn.block_storage.create_volume(name="pgdata", size=1)
    conn.block_storage.wait_for_status(volume, status="available", failures=["error"], interval=0.1, wait=60)
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(dbhost.TEMPLATE.read_text())
    password = dbhost.new_password()
    user_data = template.render(
        deployment="t", role="database", vm="database-1", index=0, hostname="t-database-1", zone="",
        fqdn="t-database-1", roles={}, volumes=[], has_volume=True,
        **dbhost.user_data_context(volume.id, ["10.0.0.0/26"], password),
    )  # fmt: skip
    _conn, server = boot_server(dp_cloud, "database-1", user_data)
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    base = dp_cloud.state_dir / "dataplane" / server.id
    url_file = base / "rootfs" / "etc" / "gateway-kit" / "database-url"
    try:
        wait_until(url_file.is_file, what="the database URL the script writes", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{(base / 'console.log').read_text()}") from None
    console = (base / "console.log").read_text()
    assert "is a directory: using it as it is" in console, console
    assert password not in console
    url = url_file.read_text().strip()
    address = conn.compute.get_server(server.id).addresses["private"][0]["addr"]
    assert url == dbhost.database_url(address, password)
    # its data is in the volume's directory, and the gateway's role reaches it over TCP
    assert (dp_cloud.state_dir / "dataplane" / "volumes" / volume.id / "postgresql/data/PG_VERSION").is_file()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=10) as db:
        assert db.execute("SELECT current_user").fetchone() == ("gateway",)
    # deleting the server ends its PostgreSQL
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.1, wait=60)

    def refused() -> bool:
        try:
            psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return True
        return False

    wait_until(refused, what="PostgreSQL ended with its server", timeout=30)
    assert not Path(f"/tmp/gk-pg-{server.id}").exists()  # its socket is an abstract one
