"""An apply that stops between creating a Neutron resource and tagging it (killed, or the tag call
failing): the next apply adopts the untagged resource, known by the description set in the create
call itself, instead of making a second one and leaking the first."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_kit.errors import GatewayError
from gateway_kit.hosting.engine import engine_for
from gateway_kit.hosting.handlers.base import description_for, owner_from_tags
from gateway_kit.hosting.spec import load_spec
from gateway_kit.localcloud.testing import LocalCloudController as Control
from tests.hosting.conftest import STANDARD


def test_reapply_adopts_a_group_and_an_address_left_untagged(hosting_app: Any, control: Control) -> None:
    engine = engine_for(hosting_app)
    conn = engine.cloud.conn
    spec = load_spec(STANDARD)
    lb_ip = description_for("standard", "fip:lb")
    try:
        for collection in ("security-groups", "floatingips"):
            control.add_rule(service="network", method="PUT", path=f"/{collection}/[^/]+/tags", status=500)
            with pytest.raises(GatewayError):
                engine.apply(spec)  # stops after the create, before the tag
            control.clear_faults()
        engine.apply(spec)
        groups = list(conn.network.security_groups(name="standard"))
        assert len(groups) == 1 and owner_from_tags(groups[0].tags) == ("standard", "secgroup")
        ips = list(conn.network.ips(description=lb_ip))
        assert len(ips) == 1 and owner_from_tags(ips[0].tags) == ("standard", "fip:lb")
        assert engine.orphans() == []
        engine.destroy("standard")
        assert list(conn.network.security_groups(name="standard")) == []
        assert list(conn.network.ips(description=lb_ip)) == []
    finally:
        control.clear_faults()
        engine.cloud.close()
