"""The README's own example, ``deploy/examples/standard.toml``, deploys a serving gateway on the
local cloud's data plane: after ``deploy apply``, ``/healthz`` at its ``www`` name (resolved by
the cloud's DNS server) answers 200 from a web VM, whose database is the spec's database VM
(``postgres-on-volume``: PostgreSQL on its volume, a directory there, under its systemd unit;
reached by its Designate name ``database-1.<zone>``). ``destroy`` ends it all."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from gateway_kit.hosting.engine import engine_for
from gateway_kit.hosting.spec import load_spec
from gateway_kit.hosting.userdata import SECRETS, unseal
from gateway_kit.localcloud.dataplane.names import read_ports, resolve
from gateway_kit.localcloud.testing import RunningLocalCloud, wait_until

from ..conftest import make_app
from .conftest import SERVING, STANDARD, database_vm_url


def _address(conn: Any, server_id: str) -> str:
    return str(conn.compute.get_server(server_id).addresses["private"][0]["addr"])


@pytest.mark.slow
def test_standard_example_serves_healthz_at_its_www_name(
    postgres_dataplane: RunningLocalCloud, tmp_path: Path
) -> None:
    cloud = postgres_dataplane
    app = make_app(tmp_path, **SERVING)
    engine = engine_for(app)
    spec = load_spec(STANDARD)
    assert spec.dns is not None
    zone = spec.dns.zone.rstrip(".")
    plane = cloud.state_dir / "dataplane"
    try:
        engine.apply(spec)
        [address] = resolve(f"www.{zone}", "127.0.0.1", cloud.dns_port or 0)
        url = f"http://{address}:{read_ports(plane).get((address, 80), 80)}/healthz"
        request_id = secrets.token_hex(8)

        def healthz() -> requests.Response:
            headers = {"Host": f"www.{zone}", "X-Request-ID": request_id}
            return requests.get(url, headers=headers, timeout=5)

        wait_until(lambda: healthz().status_code == 200, timeout=240, what="/healthz 200 at www")
        r = healthz()  # the gateway answered (its request id), its database reachable
        assert (r.json(), r.headers["X-Request-ID"]) == ({"status": "ok", "database": "ok"}, request_id)
        conn = engine.cloud.conn
        webs = [conn.compute.find_server(f"standard-web-{i}") for i in (1, 2)]
        members = {m.address for m in conn.load_balancer.members(engine.cloud_id("standard", "pool"))}
        assert members == {_address(conn, w.id) for w in webs}  # the load balancer's are the web VMs

        # the web VMs' database: the database VM, by its name
        database = conn.compute.find_server("standard-database-1")
        db_address = _address(conn, database.id)
        env = (plane / webs[0].id / "rootfs" / "etc" / "gateway-kit" / "env").read_text()
        assert f"@database-1.{zone}:5432/gateway?hostaddr={db_address}\n" in env
        # ... PostgreSQL with its data in the volume's directory, password only where it belongs
        dep, _ = engine.status("standard")
        password = unseal(app.config, dep.spec[SECRETS]["db_password"])
        db_url = database_vm_url(cloud, engine)
        assert db_url == f"postgresql+psycopg://gateway:{password}@{db_address}:5432/gateway"
        console = (plane / database.id / "console.log").read_text()
        assert "is a directory: using it as it is" in console and password not in console
        volume = engine.cloud_id("standard", "volume:database-1")
        assert (plane / "volumes" / str(volume) / "postgresql" / "data" / "PG_VERSION").is_file()
        libpq = db_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq, connect_timeout=10) as db:
            assert db.execute("SELECT current_user").fetchone() == ("gateway",)
    finally:
        engine.destroy("standard")
        engine.cloud.close()

    def refused() -> bool:
        try:
            psycopg.connect(libpq, connect_timeout=2).close()
        except psycopg.OperationalError:
            return True
        return False

    wait_until(refused, what="PostgreSQL ended with its VM", timeout=30)
    assert not Path(f"/tmp/gk-pg-{database.id}").exists()  # its socket was an abstract one
