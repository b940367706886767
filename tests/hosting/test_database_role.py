"""The database role: PostgreSQL on its volume (data feature's cloud-init), the password kept out of logs."""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

import pytest

from gateway_kit.hosting.engine import Engine
from gateway_kit.hosting.spec import load_spec
from gateway_kit.hosting.userdata import SECRETS
from gateway_kit.localcloud.dataplane import decode_user_data
from gateway_kit.localcloud.services.compute import SERVER
from gateway_kit.localcloud.testing import LocalCloudController

from .conftest import STANDARD


def _user_data(engine: Engine, localcloud: Any, name: str) -> str:
    """As Nova stores it (the API shows it to admins only)."""
    server_id = engine.cloud.conn.compute.find_server(name).id
    return decode_user_data(localcloud.cloud.store.get(SERVER, server_id)["user_data"])


def test_database_vm_runs_postgres_on_volume(
    engine: Engine, control: LocalCloudController, localcloud: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = load_spec(STANDARD)
    engine.apply(spec)
    conn = engine.cloud.conn

    db = _user_data(engine, localcloud, "standard-database-1")
    assert "/usr/local/sbin/gk-postgres-on-volume" in db and "fs_setup" not in db
    script = base64.b64decode(re.search(r"encoding: b64\n\s+content: (\S+)", db).group(1)).decode()  # type: ignore[union-attr]
    assert 'if [ -z "$fstype" ] && [ -z "$ptable" ]; then' in script  # formats only a blank volume
    volume = conn.block_storage.find_volume("standard-database-1-data")
    assert f"GK_VOLUME_ID={volume.id}" in db
    subnet = next(iter(conn.network.subnets(network_id=conn.network.find_network("private").id)))
    assert f'GK_WEB_HOSTS="{subnet.cidr}"' in db
    password = re.search(r"/etc/gateway-kit/db-password\n.*\n.*\n\s+content: ([0-9a-f]{64})", db).group(1)  # type: ignore[union-attr]
    assert "${" not in db

    url = f"postgresql+psycopg://gateway:{password}@database-1.gateway.example.org:5432/gateway"
    for web in ("standard-web-1", "standard-web-2"):
        assert f"GATEWAY_KIT_DATABASE_URL={url}" in _user_data(engine, localcloud, web)

    # stored sealed in the deployment record, never in plain text; nothing logged it
    dep, _ = engine.status("standard")
    assert password not in str(dep.spec) and dep.spec[SECRETS]["db_password"]
    assert password not in caplog.text
    # keystoneauth's DEBUG request bodies carry no user data (base64 of the password-bearing text)
    assert base64.b64encode(db.encode()).decode()[:40] not in caplog.text
    assert '"user_data": "<redacted>"' in caplog.text
    assert password not in str([s.detail for s in engine.steps("standard", 200)])

    # stable: a re-apply changes nothing; a new web VM gets the same password
    assert engine.apply(spec).empty
    from .test_changes import _spec

    engine.apply(_spec(roles__web__count=3))
    assert f"GATEWAY_KIT_DATABASE_URL={url}" in _user_data(engine, localcloud, "standard-web-3")
    assert password not in caplog.text
    engine.destroy("standard")
