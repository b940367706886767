"""``gateway-kit localcloud hostaddr``: a data-plane instance connects a PostgreSQL URL's name to
the address the local cloud's DNS server gives it (libpq's ``hostaddr=``), the name kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway_kit.localcloud.dataplane.names import pin_hostaddr, with_hostaddr
from gateway_kit.localcloud.testing import running_local_cloud, wait_until

URL = "postgresql+psycopg://gateway:s3cret-pw@database-1.names.test:5432/gateway"


def test_with_hostaddr_sets_one_parameter() -> None:
    assert with_hostaddr(URL, "127.100.0.9") == URL + "?hostaddr=127.100.0.9"
    again = with_hostaddr(URL + "?sslmode=disable&hostaddr=10.0.0.1", "127.100.0.9")
    assert again == URL + "?sslmode=disable&hostaddr=127.100.0.9"


def test_pin_hostaddr_asks_the_clouds_dns_server(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text(f"A=1\nGATEWAY_KIT_DATABASE_URL={URL}\nB=2\n")
    env.chmod(0o600)
    said: list[str] = []
    with running_local_cloud(tmp_path / "lc", dns=True) as cloud:
        nameserver = f"127.0.0.1:{cloud.dns_port}"
        with pytest.raises(OSError, match=r"database-1\.names\.test has no A record"):
            pin_hostaddr(env, "GATEWAY_KIT_DATABASE_URL", nameserver, wait=0, say=said.append)
        conn = cloud.connect()
        zone = conn.dns.create_zone(name="names.test.", email="ops@names.test")
        conn.dns.create_recordset(zone, name="database-1.names.test.", type="A", records=["127.100.7.7"])
        address = wait_until(
            lambda: pin_hostaddr(env, "GATEWAY_KIT_DATABASE_URL", nameserver, wait=0, say=said.append),
            what="the record served",
        )
        assert address == "127.100.7.7"
        assert env.read_text() == f"A=1\nGATEWAY_KIT_DATABASE_URL={URL}?hostaddr=127.100.7.7\nB=2\n"
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        assert pin_hostaddr(env, "NOT_THERE", nameserver) is None
    env.write_text("GATEWAY_KIT_DATABASE_URL=postgresql://u:p@127.0.0.1:5432/db\n")
    assert pin_hostaddr(env, "GATEWAY_KIT_DATABASE_URL", "127.0.0.1:1") is None  # an address already
    assert said and not any("s3cret" in line for line in said)  # the URL's password is never said
