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


def test_orphans_lists_what_an_interrupted_create_left_untagged(hosting_app: Any, control: Control) -> None:
    """`deploy orphans` lists a group and an address left untagged (known by their description)
    while no deployment records them, says the next apply adopts them, and `--delete` removes them."""
    engine = engine_for(hosting_app)
    conn = engine.cloud.conn
    spec = load_spec(STANDARD)
    try:
        control.add_rule(service="network", method="PUT", path="/security-groups/[^/]+/tags", status=500)
        with pytest.raises(GatewayError):
            engine.apply(spec)  # the group is made, its tag call fails: untagged, not recorded
        control.clear_faults()
        (group,) = conn.network.security_groups(name="standard")
        assert owner_from_tags(group.tags) is None
        # an address made by an apply of a deployment the database no longer knows, left untagged
        ext = conn.network.find_network("public")
        stray = conn.network.create_ip(
            floating_network_id=ext.id, description=description_for("gone", "fip:web-1")
        )
        # an address with no mark of the kit: not ours, not listed
        conn.network.create_ip(floating_network_id=ext.id, description="made by hand")

        found = {o["id"]: o for o in engine.orphans()}
        assert set(found) == {group.id, stray.id}
        assert found[group.id]["untagged"] and found[group.id]["deployment"] == "standard"
        assert found[group.id]["key"] == "secgroup" and found[group.id]["deployment_known"]
        assert found[stray.id]["untagged"] and (found[stray.id]["deployment"], found[stray.id]["key"]) == (
            "gone",
            "fip:web-1",
        )
        assert not found[stray.id]["deployment_known"]

        out = _cli(hosting_app, "deploy", "orphans").output
        assert f"secgroup\t{group.id}\tstandard\tdeployment=standard key=secgroup" in out, out
        assert "`gateway-kit deploy apply` of standard adopts it" in out, out
        assert f"fip\t{stray.id}" in out and "2 orphan(s)" in out, out

        assert "2 orphan(s) deleted" in _cli(hosting_app, "deploy", "orphans", "--delete").output
        assert list(conn.network.security_groups(name="standard")) == []
        assert [ip.id for ip in conn.network.ips(description=description_for("gone", "fip:web-1"))] == []
        assert engine.orphans() == []
    finally:
        control.clear_faults()
        if any(d.name == "standard" for d in engine.deployments()):
            engine.destroy("standard")
        engine.cloud.close()


def _cli(app: Any, *args: str) -> Any:
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from gateway_kit.cli import main

    return CliRunner().invoke(
        main, list(args), obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False
    )
