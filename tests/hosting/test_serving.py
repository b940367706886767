"""The deployed portal serves at its name: on the local cloud's data plane, one deployment of
SeqStats from its wheel (2 web VMs under the kit's ``gateway-kit:web`` template, gunicorn under a
systemd unit bound to each VM's own address, behind the load balancer's floating IP; a worker VM;
a database VM, PostgreSQL on its volume, reached by its name), with ``[tls]`` from Pebble, goes
through a portal's life:

- ``deploy apply`` killed with SIGKILL mid-way, then re-applied: it converges with one of each
  resource;
- https at the load balancer's DNS name (HTTP redirected), where headless Chromium logs in
  through the development OpenID provider, submits a job from SeqStats' form, follows it to
  COMPLETED (the worker VM runs it) and downloads its output;
- ``deploy release`` (with ``--rotate secret_key``), then ``deploy rollback``, each replacing the
  VMs one at a time while requests through the load balancer keep succeeding, ``deploy status``
  showing the release on every VM;
- the generated secrets reach the VMs 0600 and nowhere else (logs, console logs, journals,
  pages); ``destroy`` leaves nothing."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
import requests

from gateway_kit.hosting.engine import Engine, engine_for
from gateway_kit.hosting.spec import parse_spec
from gateway_kit.hosting.spec_types import DeploymentSpec
from gateway_kit.hosting.userdata import SECRETS, unseal
from gateway_kit.localcloud.dataplane.names import read_ports
from gateway_kit.localcloud.testing import RunningLocalCloud, wait_until

from ..conftest import login, make_app, make_user, require_service
from .conftest import FAST, STANDARD, database_vm_url
from .test_day2 import _cli
from .test_releases import _release

NAME = "www.serving.test"


class RequestLoop(threading.Thread):
    """Run ``probe`` (a request through the load balancer: True when answered 200) until stopped
    (at most ``limit`` times), counting the answers that are not 200 and the connections that fail."""

    def __init__(self, probe: Callable[[], bool], limit: int = 20000) -> None:
        super().__init__(daemon=True)
        self.probe, self.limit = probe, limit
        self.stop = threading.Event()
        self.sent, self.failed = 0, []  # type: ignore[var-annotated]

    def run(self) -> None:
        while not self.stop.is_set() and self.sent < self.limit:
            self.sent += 1
            try:
                if not self.probe():
                    self.failed.append("not 200")
            except (OSError, http.client.HTTPException) as exc:
                self.failed.append(repr(exc))
            self.stop.wait(0.05)

    def __enter__(self) -> RequestLoop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(30)


def _www_address(cloud: RunningLocalCloud) -> str:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = cloud.dns_port or 0
    return str(resolver.resolve(f"{NAME}.", "A")[0])


def _port(cloud: RunningLocalCloud, address: str, port: int) -> int:
    """Where the data plane really serves ``address:port`` (10000 + port when it may not bind it)."""
    return read_ports(cloud.state_dir / "dataplane").get((address, port), port)


def _https_get(address: str, port: int, name: str, path: str, trust: Path) -> tuple[int, bytes]:
    """GET ``https://name/path`` from ``address:port``, the certificate checked against ``trust``
    for ``name`` (SNI and hostname), as a browser that resolved ``name`` would."""
    ctx = ssl.create_default_context(cafile=str(trust))
    raw = socket.create_connection((address, port), timeout=10)
    conn = http.client.HTTPConnection(name, port, timeout=10)
    try:
        conn.sock = ctx.wrap_socket(raw, server_hostname=name)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
        raw.close()


def _env_file(cloud: RunningLocalCloud, server_id: str) -> Path:
    return cloud.state_dir / "dataplane" / server_id / "rootfs" / "etc" / "gateway-kit" / "env"


def _site(cloud: RunningLocalCloud, server_id: str) -> Path:
    """Where ``gk-install`` put the release on that VM (beside the host's gateway-kit)."""
    return _env_file(cloud, server_id).parents[2] / "var" / "lib" / "gateway-kit" / "release" / "site"


SEQSTATS = Path(__file__).resolve().parents[2] / "examples" / "seqstats"
#: The deployed portal's settings: SeqStats' plugin, jobs on the worker VM, in a folder the VMs
#: share (the data plane's VMs share the host's file system; on a real cloud, a shared volume),
#: charged to a community project; login through the development provider at {issuer}.
PORTAL_SETTINGS = """gateway_name = "SeqStats"
plugins = ["seqstats.gateway"]
jobs_dir = "{jobs}"
jobs_community_project = "genomics"
[jobs_destinations_map.local]
executor = "local"
[jobs_routing_rules]
"*" = "local"
[identity_providers.dev]
kind = "oidc"
title = "Development provider"
discovery_url = "{issuer}/.well-known/openid-configuration"
client_id = "gateway-kit-dev"
client_secret = "gateway-kit-dev-secret"
scopes = ["openid", "email", "profile", "org.cilogon.userinfo"]
"""
DEV_USERS = (
    Path(__file__).resolve().parents[2] / "gateway_kit" / "identity" / "devprovider" / "dev-users.toml"
)


def _seqstats_wheels(folder: Path) -> tuple[Path, Path]:
    """SeqStats' wheel as it is (0.1.0) and as 0.1.1, built from the example's source."""
    from gateway_kit.scaffold.wheels import build_from_source

    src = folder / "seqstats"
    shutil.copytree(SEQSTATS, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info"))
    one = build_from_source(src, folder / "v1")
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    return one, build_from_source(src, folder / "v2")


def _portal_data(wheel: Path, settings: Path) -> dict[str, Any]:
    """The spec, as data: two web VMs and a worker VM running SeqStats from ``wheel``, sharing the
    database VM (PostgreSQL on its volume, reached by its name), with the kit's generated secrets,
    behind the load balancer at www (and portal) with a certificate for both."""
    data: dict[str, Any] = tomllib.loads(STANDARD.read_text())
    del data["volumes"]  # the datasets volume
    data["dns"]["zone"] = "serving.test."
    vm = {"flavor": "m3.small", "image": "Featured-Ubuntu24"}
    data.update(
        app={"requirement": "seqstats", "wheel": str(wheel), "settings": str(settings)},
        roles={
            "web": {"count": 2, **vm, "cloud_init": "gateway-kit:web"},
            "worker": {"count": 1, **vm, "cloud_init": "gateway-kit:worker"},
            "database": data["roles"]["database"],
        },
        tls={"names": ["www", "portal"], "redirect_http": True},
    )
    return data


def _portal(wheel: Path, settings: Path) -> DeploymentSpec:
    return parse_spec(_portal_data(wheel, settings), STANDARD.parent)


def _toml(data: dict[str, Any]) -> str:
    """``data`` (tables, arrays, strings, numbers, booleans) as TOML, one inline value per key
    (a TOML basic string is a JSON string)."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v) if isinstance(v, str) else repr(v)

    text = "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in data.items())
    assert tomllib.loads(text) == data
    return text


def _ready_servers(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            query = "SELECT count(*) FROM hosting_resources WHERE kind = 'server' AND status = 'ready'"
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def _apply_killed_midway(tmp_path: Path, config: dict[str, Any], data: dict[str, Any]) -> str:
    """``gateway-kit deploy apply`` of the spec, with the app's settings, SIGKILLed once its first
    VM is ACTIVE (the load balancer and the rest still to come); returns what it printed."""
    spec = tmp_path / "portal-spec.toml"
    spec.write_text(_toml(data))
    db = tmp_path / "instance" / "gateway.db"  # the app's (make_app's instance folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    env.update({f"GATEWAY_KIT_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    env.update(GATEWAY_KIT_ENV="testing", GATEWAY_KIT_DATABASE_URL=f"sqlite:///{db}")
    out = tmp_path / "killed-apply.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway_kit", "deploy", "apply", str(spec)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _ready_servers(db) >= 1 or proc.poll() is not None, timeout=120, what="a VM")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    printed = out.read_text(errors="replace")
    assert proc.returncode == -signal.SIGKILL, printed[-3000:]  # not finished: killed mid-way
    return printed


def _assert_one_of_each(engine: Engine) -> None:
    """No resource of the deployment is in the cloud twice, nor left out of its records."""
    conn = engine.cloud.conn
    names = Counter(s.name for s in conn.compute.servers() if s.name.startswith("standard-"))
    assert names == Counter(["standard-web-1", "standard-web-2", "standard-worker-1", "standard-database-1"])
    assert len(list(conn.load_balancer.load_balancers(name="standard-lb"))) == 1
    assert len(list(conn.network.ips(tags="gateway-kit"))) == 1
    assert len(list(conn.network.security_groups(name="standard"))) == 1
    assert len(list(conn.load_balancer.members(conn.load_balancer.find_pool("standard-pool").id))) == 2
    assert engine.orphans() == []


def _status_text(app: Any) -> str:
    r = _cli(app, "deploy", "status", "standard")
    assert r.exit_code == 0, r.output
    return str(r.output)


@pytest.mark.slow
@pytest.mark.timeout(600)  # one deployment through what two tests did, 300 s each
def test_portal_serves_at_its_name_over_https_survives_a_killed_apply_releases_and_rolls_back(
    postgres_dataplane: RunningLocalCloud,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gateway_kit.hosting.tls import ensure_certificate
    from gateway_kit.identity.devprovider import serve_devidp
    from tests.certs import conftest as certs

    caplog.set_level(logging.INFO)
    cloud = postgres_dataplane
    require_service("Pebble", certs.PEBBLE.exists(), "install the Debian package 'pebble'")
    users = tmp_path / "dev-users.toml"
    users.write_text(
        DEV_USERS.read_text().replace(
            '"http://127.0.0.1:5000/login/callback/dev"', f'"https://{NAME}/login/callback/dev"'
        )
    )
    idp, issuer = serve_devidp(users)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    acme = certs.Cloud(cloud)
    pebbles = certs.pebble.__wrapped__(acme)  # the certs suite's Pebble, on this cloud's DNS
    pebble = next(pebbles)
    config = {
        **certs.certs_config(acme, pebble, CERTS_CONTACT_EMAIL="ops@serving.test"),
        **FAST,
        "HOSTING_MEMBER_TIMEOUT": 180.0,
        "HOSTING_SERVER_TIMEOUT": 120.0,
        "HOSTING_DRAIN_SECONDS": 1.0,
    }
    app = make_app(tmp_path, **config)
    engine = engine_for(app)
    v1, v2 = _seqstats_wheels(tmp_path / "build")
    settings = tmp_path / "portal.toml"
    settings.write_text(PORTAL_SETTINGS.format(jobs=tmp_path / "jobs", issuer=issuer))
    try:
        # SIGKILL mid-way, then apply again: it converges, with one of each resource
        killed = _apply_killed_midway(tmp_path, config, _portal_data(v1, settings))
        spec = _portal(v1, settings)
        engine.apply(spec)
        _assert_one_of_each(engine)
        line = ensure_certificate(app, spec, engine.cloud_id("standard", "lb"))
        assert "issued for www.serving.test, portal.serving.test" in line

        address = _www_address(cloud)
        assert address.startswith("127.")  # the load balancer's floating IP, on loopback
        trust = tmp_path / "pebble-chain.pem"
        trust.write_bytes(pebble.root_pem() + pebble.intermediate_pem())
        https = _port(cloud, address, 443)

        def healthy(name: str = NAME) -> bool:
            return _https_get(address, https, name, "/healthz", trust)[0] == 200

        wait_until(healthy, timeout=180, what="/healthz 200 over https through the load balancer")
        status, body = _https_get(address, https, "portal.serving.test", "/healthz", trust)
        assert status == 200 and json.loads(body)["status"] == "ok"
        # a name the certificate does not hold is refused by the client's hostname check
        with pytest.raises(ssl.SSLCertVerificationError):
            _https_get(address, https, "other.serving.test", "/healthz", trust)
        plain = requests.get(
            f"http://{address}:{_port(cloud, address, 80)}/healthz?x=1",
            headers={"Host": NAME},
            allow_redirects=False,
            timeout=10,
        )
        assert plain.status_code in (301, 302, 303, 307, 308)
        assert plain.headers["Location"] == f"https://{NAME}/healthz?x=1"
        # the portal is SeqStats, installed from the release's wheel (the host does not have it)
        assert _https_get(address, https, NAME, "/seqstats/", trust)[0] == 302  # to the login
        with pytest.raises(ImportError):
            __import__("seqstats")

        conn = engine.cloud.conn
        web1 = conn.compute.find_server("standard-web-1")
        env = _env_file(cloud, web1.id)
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        text = env.read_text()
        key = re.search(r"^GATEWAY_KIT_SECRET_KEY=(\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        dep, resources = engine.status("standard")
        assert unseal(app.config, dep.spec[SECRETS]["secret_key"]) == key
        assert re.search(r"^GUNICORN_BIND=127\.\d+\.\d+\.\d+:80$", text, re.M)
        assert f"GATEWAY_KIT_PUBLIC_URL=https://{NAME}\n" in text
        shown = str(dep.spec) + str([vars(r) for r in resources]) + engine.plan(spec).render()
        console = conn.compute.get_server_console_output(web1.id)["output"]
        assert key not in shown and key not in console and "GATEWAY_KIT_SECRET_KEY" not in console

        if https == 443:  # a browser's URL has no room for the data plane's port mapping
            _community_allocation(tmp_path, database_vm_url(cloud, engine))
            _chromium_runs_a_job(address)

        # release 0.1.1 and a new secret key in one rolling pass, requests flowing all along
        one, two = _release(v1), _release(v2)
        spec = _portal(v2, settings)
        with RequestLoop(healthy) as loop:
            plan = engine.release(spec, rotate=["secret_key"])
        assert loop.sent > 20 and loop.failed == [], (loop.sent, loop.failed[:5])
        assert {"server:web-1", "server:web-2", "server:worker-1"} <= {c.key for c in plan.changes}
        status_text = _status_text(app)
        assert all(f"{vm} runs release {two}" in status_text for vm in ("web-1", "web-2", "worker-1"))
        web1 = conn.compute.find_server("standard-web-1")
        text = _env_file(cloud, web1.id).read_text()
        rotated = re.search(r"^GATEWAY_KIT_SECRET_KEY=(\S+)$", text, re.M)
        assert rotated is not None and rotated.group(1) != key
        assert f"GK_RELEASE={two}" in text
        for vm in ("standard-web-1", "standard-web-2"):  # installed before their member was healthy
            assert (_site(cloud, conn.compute.find_server(vm).id) / "seqstats-0.1.1.dist-info").is_dir()
        # a worker has no pool member to wait for: its unit installs the release once it boots
        site = _site(cloud, conn.compute.find_server("standard-worker-1").id)
        wait_until(
            lambda: (site / "seqstats-0.1.1.dist-info").is_dir(), timeout=60, what="the worker's release"
        )
        assert engine.apply(spec).empty

        # rollback: back to 0.1.0 on every VM, one at a time, requests flowing all along
        with RequestLoop(healthy) as loop:
            r = _cli(app, "deploy", "rollback", "standard")
        assert r.exit_code == 0, r.output
        assert f"runs release {one} again" in r.output
        assert loop.sent > 20 and loop.failed == [], (loop.sent, loop.failed[:5])
        status_text = _status_text(app)
        assert all(f"{vm} runs release {one}" in status_text for vm in ("web-1", "web-2", "worker-1"))
        for vm in ("standard-web-1", "standard-web-2"):
            assert (_site(cloud, conn.compute.find_server(vm).id) / "seqstats-0.1.0.dist-info").is_dir()

        _assert_no_secret_shown(app, cloud, [key], caplog.text + killed + r.output)
        engine.destroy("standard")
        assert engine.orphans() == []  # nothing of the deployment is left in the cloud
    finally:
        if any(d.name == "standard" for d in engine.deployments()):
            engine.destroy("standard")
        engine.cloud.close()
        pebbles.close()
        idp.shutdown()


def _assert_no_secret_shown(app: Any, cloud: RunningLocalCloud, earlier: list[str], logged: str) -> None:
    """None of the deployment's secrets (now and ``earlier``) is in a log of the test's process,
    a VM's console log or unit journal, the operator's pages or ``deploy status``."""
    dep, _ = engine_for(app).status("standard")
    secrets = [unseal(app.config, v) for v in dep.spec[SECRETS].values()] + earlier
    assert len(secrets) >= 3 and all(len(x) >= 16 for x in secrets)
    client = app.test_client()
    login(client, make_user(app, "olive", role="operator"))
    shown = {"log": logged, "deploy status": _status_text(app)}
    for page in ("/", "/standard", "/standard/status.json", "/standard/plan"):
        r = client.get(f"/operator/hosting{page}")
        assert r.status_code == 200, page
        shown[page] = r.get_data(as_text=True)
    for path in (cloud.state_dir / "dataplane").rglob("*.log"):  # console.log, journal/<unit>.log
        shown[str(path)] = path.read_text(errors="replace")
    assert any("gunicorn" in text.lower() or "booting worker" in text.lower() for text in shown.values())
    leaks = [(where, n) for where, text in shown.items() for n, x in enumerate(secrets) if x in text]
    assert leaks == []


def _community_allocation(tmp_path: Path, database_url: str) -> None:
    """The portal's community project, ``genomics``, with 100 SUs (the VMs migrated its database)."""
    from gateway_kit.db import db
    from gateway_kit.jobs.testing import make_member

    shared = make_app(tmp_path / "shared", DATABASE_URL=database_url)
    try:
        make_member(shared, "olga", project="genomics")  # ada charges it as the community project
    finally:
        db.engine(shared).dispose()


def _chromium_runs_a_job(address: str) -> None:
    """Headless Chromium resolves www.serving.test to the load balancer, logs in as ada through
    the development provider's page, submits SeqStats' ``composition`` from its form, follows the
    job page to COMPLETED (the worker VM runs it) and downloads its table."""
    from playwright.sync_api import sync_playwright

    from tests.demo_support import CHROMIUM, CHROMIUM_ARGS, require_chromium, sign_in_on_dev_provider_page
    from tests.demo_support import wait_until as page_wait_until

    require_chromium()
    rules = f"--host-resolver-rules=MAP {NAME} {address}"
    portal = f"https://{NAME}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rules], headless=True
        )
        try:
            # Pebble's certificate (checked against its chain above) is not in Chromium's store
            page = browser.new_context(ignore_https_errors=True, accept_downloads=True).new_page()
            page.set_default_timeout(30000)
            page.goto(f"{portal}/")
            page.click("#login-link")
            page.click("#provider-dev")
            sign_in_on_dev_provider_page(page, "ada", "ada-dev-password")
            assert page.url.startswith(f"{portal}/")
            assert page.inner_text("#signed-in-as") == "Ada Lovelace"
            page.goto(f"{portal}/apps/composition")  # another request, maybe the other web VM
            page.set_input_files("#in-fasta", str(SEQSTATS / "tests" / "data" / "sample.fasta"))
            page.click("#job-form button[type=submit]")
            page.wait_for_selector("#job-state")
            ended = "['COMPLETED', 'FAILED', 'CANCELED'].includes(document.querySelector('#job-state').textContent.trim())"
            page_wait_until(page, ended, timeout=120000)
            assert page.inner_text("#job-state").strip() == "COMPLETED", page.inner_text("#job")
            with page.expect_download() as info:
                page.click("#outputs a:text('composition.tsv')")
            assert info.value.suggested_filename == "composition.tsv"
            assert "seq12" in Path(info.value.path()).read_text()
        finally:
            browser.close()
