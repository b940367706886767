"""[tls]: the spec's validation, and `deploy apply` issuing, delivering and reusing a certificate
(a real Pebble and a local cloud with Designate, Barbican and Octavia: tests/certs/conftest.py)."""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.errors import ValidationError
from gateway_kit.hosting.spec import Tls, parse_spec, spec_from_json

from .conftest import FAST, STANDARD


def _data(**tables: Any) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(STANDARD.read_text())
    data.update(tables)
    return data


def _errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        parse_spec(data, STANDARD.parent)
    return {e["field"]: e["message"] for e in err.value.extra["errors"]}


def test_tls_names_resolve_in_the_zone_and_round_trip() -> None:
    spec = parse_spec(_data(tls={"names": ["www", "portal", "Other.Example.NET."]}), STANDARD.parent)
    assert spec.tls == Tls(
        names=("www.gateway.example.org", "portal.gateway.example.org", "other.example.net"),
        listener_port=443,
        staging=False,
    )
    assert spec_from_json(spec.to_json()) == spec
    assert parse_spec(_data(), STANDARD.parent).tls is None


def test_tls_errors_name_the_field() -> None:
    errors = _errors(_data(tls={"names": ["www", "web-1", "www"], "listener_port": 8443, "stagin": True}))
    assert "not a name of the deployment's load balancer" in errors["tls.names[1]"]
    assert "listed twice" in errors["tls.names[2]"]
    assert "port 443" in errors["tls.listener_port"]
    assert "did you mean 'staging'" in errors["tls.stagin"]
    tcp = _data(tls={"names": ["www"], "redirect_http": True})
    tcp["load_balancer"]["listeners"] = [{"protocol": "TCP", "port": 80}]
    assert "no HTTP listener" in _errors(tcp)["tls.redirect_http"]
    assert "true or false" in _errors(_data(tls={"names": ["www"], "redirect_http": 1}))["tls.redirect_http"]

    assert "required" in _errors(_data(tls={}))["tls.names"]
    assert "non-empty array" in _errors(_data(tls={"names": "www"}))["tls.names"]
    no_lb = _data(tls={"names": ["www.gateway.example.org."]})
    del no_lb["load_balancer"]
    no_lb["dns"].pop("lb_record")
    no_lb["dns"].pop("aliases")
    assert "needs a [load_balancer] table" in _errors(no_lb)["tls"]
    no_dns = _data(tls={"names": ["www"]})
    del no_dns["dns"]
    assert "no [dns] zone" in _errors(no_dns)["tls.names[0]"]

    clash = _data(tls={"names": ["www"]})
    clash["load_balancer"]["listeners"].append({"protocol": "HTTPS", "port": 443})
    assert "belongs to [tls]" in _errors(clash)["load_balancer.listeners"]
    bare = _data()
    bare["load_balancer"]["listeners"].append({"protocol": "TERMINATED_HTTPS", "port": 443})
    assert "add a [tls] table" in _errors(bare)["load_balancer.listeners"]


# -- end to end: deploy apply + certs ---------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cloud() -> Iterator[tuple[Any, Any]]:
    """The certs tests' cloud and Pebble, started for this module only (own OS_CLIENT_CONFIG_FILE)."""
    from gateway_kit.localcloud.testing import running_local_cloud
    from tests.certs import conftest as certs

    with (
        running_local_cloud(
            Path(tempfile.mkdtemp(prefix="gk-tls-")) / "state", delay=0.02, dns=True
        ) as running,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("OS_CLIENT_CONFIG_FILE", str(running.clouds_yaml))
        cloud = certs.Cloud(running)
        pebbles = certs.pebble.__wrapped__(cloud)  # the certs suite's Pebble, on this cloud's DNS
        try:
            certs._zone(cloud.connect(), certs.ZONE)
            yield cloud, next(pebbles)
        finally:
            pebbles.close()


def _spec_file(tmp_path: Path, tls: str) -> Path:
    text = STANDARD.read_text()
    text = text.replace('zone = "gateway.example.org."', 'zone = "gw-test.org."')
    text = text.replace("create_zone = true ", "create_zone = false")
    path = tmp_path / "deploy.toml"
    path.write_text(text + "\n" + tls)
    return path


def test_apply_issues_delivers_then_reuses(
    tls_cloud: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway_kit.certs import service
    from gateway_kit.hosting.engine import engine_for
    from tests.certs.conftest import certs_config, require_service

    from ..conftest import make_app

    cloud, pebble = tls_cloud
    require_service("Pebble", pebble is not None, "install the Debian package 'pebble'")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.running.clouds_yaml))
    app = make_app(tmp_path, **{**certs_config(cloud, pebble), **FAST})
    path = _spec_file(tmp_path, '[tls]\nnames = ["www", "portal"]\n')
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from gateway_kit.cli import main

    engines: list[Any] = []

    def capture(*args: Any, **kwargs: Any) -> Any:
        engines.append(engine_for(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr("gateway_kit.hosting.cli.engine_for", capture)

    def apply(spec: Path) -> Any:
        return CliRunner().invoke(
            main, ["deploy", "apply", str(spec)], obj=ScriptInfo(create_app=lambda: app)
        )

    def destroy() -> None:
        engine = engine_for(app)
        try:
            engine.destroy("standard")
            assert engine.orphans() == []
        finally:
            engine.cloud.close()

    result = apply(path)
    assert result.exit_code == 0, result.output
    assert "Certificate www.gw-test.org issued for www.gw-test.org, portal.gw-test.org" in result.output
    conn = cloud.connect()
    octavia = conn.load_balancer
    lb = octavia.find_load_balancer("standard-lb")
    listeners = list(octavia.listeners(loadbalancer_id=lb.id))
    https = [li for li in listeners if li.protocol == "TERMINATED_HTTPS"]
    http = [li for li in listeners if li.protocol == "HTTP"]
    assert len(https) == 1 and https[0].protocol_port == 443 and len(http) == 1
    cert = service.show(app, "www.gw-test.org")
    assert cert["status"] == "valid" and cert["delivery"]["load_balancer_id"] == lb.id
    assert https[0].default_tls_container_ref == cert["delivery"]["secret_ref"]
    # each listener has its own default pool, both with the two web VMs and the /healthz monitor
    tls_pool = octavia.find_pool("standard-tls-pool")
    main_pool = octavia.find_pool("standard-pool")
    assert https[0].default_pool_id == tls_pool.id == cert["delivery"]["pool_id"]
    assert http[0].default_pool_id == main_pool.id
    webs = sorted(
        a["addr"]
        for s in conn.compute.servers(details=True)
        if "-web-" in s.name
        for net in s.addresses.values()
        for a in net
    )
    for pool in (tls_pool, main_pool):
        assert sorted(m.address for m in octavia.members(pool.id)) == webs and len(webs) == 2
        assert octavia.get_health_monitor(pool.health_monitor_id).url_path == "/healthz"
    cloud.wait_no_challenge_records()
    secrets = [s for s in conn.key_manager.secrets() if s.name == "gateway-kit-cert-www.gw-test.org"]
    assert len(secrets) == 1

    # a second apply changes nothing in the cloud and reuses the certificate
    result = apply(path)
    assert result.exit_code == 0, result.output
    assert "no changes" in result.output and "reused" in result.output
    assert engines[-1].cloud.requests.records and engines[-1].cloud.requests.mutating() == []
    assert service.show(app, "www.gw-test.org")["serial"] == cert["serial"]
    assert len([s for s in conn.key_manager.secrets() if s.name == secrets[0].name]) == 1

    # other names under the same handle: a clear refusal, nothing issued
    other = _spec_file(tmp_path, '[tls]\nnames = ["www"]\n')
    result = apply(other)
    assert result.exit_code != 0 and "exists" in result.output and "[tls]" in result.output

    # destroy: the load balancer with its listeners and pools, and the certificate's secret
    destroy()
    assert octavia.find_load_balancer("standard-lb", ignore_missing=True) is None
    assert not [s for s in conn.key_manager.secrets() if s.name == secrets[0].name]
    kept = service.show(app, "www.gw-test.org")
    assert kept["status"] == "valid" and "secret_ref" not in kept["delivery"]

    # applied again: the kept certificate is delivered to the new load balancer, no new order
    path = _spec_file(tmp_path, '[tls]\nnames = ["www", "portal"]\n')  # `other` overwrote it
    result = apply(path)
    assert result.exit_code == 0, result.output
    assert "delivered to standard-lb" in result.output
    again = service.show(app, "www.gw-test.org")
    lb = octavia.find_load_balancer("standard-lb")
    assert again["serial"] == cert["serial"] and again["delivery"]["load_balancer_id"] == lb.id
    destroy()
    assert not [s for s in conn.key_manager.secrets() if s.name == secrets[0].name]


def test_tls_pool_follows_the_web_role(engine: Any, control: Any) -> None:
    """[tls]'s pool is created, scaled, replaced and destroyed with the main pool (no certs here)."""

    def spec(**web: Any) -> Any:
        data = _data(tls={"names": ["www"]})
        data["roles"]["web"].update(web)
        return parse_spec(data, STANDARD.parent)

    def members(pool: Any) -> list[str]:
        return sorted(m.address for m in octavia.members(pool.id))

    def webs() -> dict[str, Any]:
        return {s.name: s for s in engine.cloud.conn.compute.servers(details=True) if "-web-" in s.name}

    plan = engine.apply(spec())
    assert {"pool:tls", "monitor:tls", "member:tls:web-1", "member:tls:web-2"} <= {
        c.key for c in plan.changes
    }
    octavia = engine.cloud.conn.load_balancer
    main, tls = octavia.find_pool("standard-pool"), octavia.find_pool("standard-tls-pool")
    assert tls.lb_algorithm == main.lb_algorithm and tls.protocol == "HTTP"
    assert octavia.get_health_monitor(tls.health_monitor_id).url_path == "/healthz"
    assert members(tls) == members(main) and len(members(tls)) == 2

    plan = engine.apply(spec(count=3))
    assert {c.key for c in plan.changes} == {
        "server:web-3",
        "member:web-3",
        "member:tls:web-3",
        "record:web-3",
    }
    assert members(tls) == members(main) and len(members(tls)) == 3
    plan = engine.apply(spec())
    assert {c.key for c in plan.changes if c.action == "delete"} == {
        "server:web-3",
        "member:web-3",
        "member:tls:web-3",
        "record:web-3",
    }
    assert members(tls) == members(main) and len(members(tls)) == 2

    # rolling replace: both pools' members move to the new VMs
    old = {n: s.id for n, s in webs().items()}
    engine.apply(spec(image="Featured-RockyLinux9"))
    new = webs()
    assert set(new) == set(old) and all(new[n].id != old[n] for n in old)
    addresses = sorted(a["addr"] for s in new.values() for net in s.addresses.values() for a in net)
    assert members(tls) == members(main) == addresses
    assert all(m.operating_status == "ONLINE" for m in octavia.members(tls.id))

    engine.cloud.requests.clear()
    assert engine.apply(spec(image="Featured-RockyLinux9")).empty
    assert engine.cloud.requests.mutating() == []
    assert engine.orphans() == []

    # redirect_http: an L7 policy (with its PATH / rule) on the HTTP listener; off again: gone
    redirect = _data(tls={"names": ["www", "portal"], "redirect_http": True})
    redirect["roles"]["web"]["image"] = "Featured-RockyLinux9"
    plan = engine.apply(parse_spec(redirect, STANDARD.parent))
    assert [(c.action, c.key) for c in plan.changes] == [("create", "l7policy:http-80")]
    http = octavia.find_listener("standard-http-80")
    policies = list(octavia.l7_policies(listener_id=http.id))
    assert len(policies) == 1 and policies[0].action == "REDIRECT_PREFIX"
    assert policies[0].redirect_prefix == "https://www.gateway.example.org"
    rules = list(octavia.l7_rules(policies[0].id))
    assert [(r.type, r.compare_type, r.rule_value) for r in rules] == [("PATH", "STARTS_WITH", "/")]
    engine.cloud.requests.clear()
    assert engine.apply(parse_spec(redirect, STANDARD.parent)).empty
    assert engine.cloud.requests.mutating() == []
    plan = engine.apply(spec(image="Featured-RockyLinux9"))
    assert [(c.action, c.key) for c in plan.changes] == [("delete", "l7policy:http-80")]
    assert list(octavia.l7_policies(listener_id=http.id)) == []

    engine.destroy("standard")
    assert octavia.find_pool("standard-tls-pool", ignore_missing=True) is None
    assert engine.orphans() == []
