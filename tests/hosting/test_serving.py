"""The deployed portal serves at its name: on the local cloud's data plane, ``deploy apply`` of
a web role with the kit's ``gateway-kit:web`` template gives VMs that run gunicorn under a
systemd unit bound to their own address, behind the load balancer's floating IP, whose DNS name
answers ``/healthz`` 200. The generated secrets reach the VMs 0600 and nowhere else, and
``deploy release`` (with ``--rotate``) replaces the VMs one at a time while requests through the
load balancer keep succeeding."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import socket
import ssl
import stat
import threading
import tomllib
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
import requests
import sqlalchemy

from gateway_kit.hosting.engine import engine_for
from gateway_kit.hosting.releases import META_RELEASE
from gateway_kit.hosting.spec import parse_spec
from gateway_kit.hosting.userdata import SECRETS, unseal
from gateway_kit.localcloud.dataplane.names import read_ports
from gateway_kit.localcloud.testing import RunningLocalCloud, local_cloud_dataplane, wait_until

from ..conftest import login, make_app, make_user, require_service
from .conftest import FAST, STANDARD
from .test_releases import _release

__all__ = ["local_cloud_dataplane"]  # the fixture


def _web_only(**tables: Any) -> Any:
    data: dict[str, Any] = tomllib.loads(STANDARD.read_text())
    del data["roles"]["database"], data["volumes"]
    data["dns"]["zone"] = "serving.test."
    data.update(tables)
    return parse_spec(data, STANDARD.parent)


class RequestLoop(threading.Thread):
    """GET ``/healthz`` through the load balancer until stopped (at most ``limit`` requests),
    counting the answers that are not 200 and the connections that fail."""

    def __init__(self, address: str, limit: int = 20000) -> None:
        super().__init__(daemon=True)
        self.address, self.limit = address, limit
        self.stop = threading.Event()
        self.sent, self.failed = 0, []  # type: ignore[var-annotated]

    def run(self) -> None:
        while not self.stop.is_set() and self.sent < self.limit:
            self.sent += 1
            try:
                if not _healthz(self.address):
                    self.failed.append("not 200")
            except requests.RequestException as exc:
                self.failed.append(repr(exc))
            self.stop.wait(0.05)


def _www_address(cloud: RunningLocalCloud) -> str:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = cloud.dns_port or 0
    return str(resolver.resolve("www.serving.test.", "A")[0])


def _port(cloud: RunningLocalCloud, address: str, port: int) -> int:
    """Where the data plane really serves ``address:port`` (10000 + port when it may not bind it)."""
    return read_ports(cloud.state_dir / "dataplane").get((address, port), port)


def _healthz(address: str) -> bool:
    port = 80 if os.geteuid() == 0 else 10080
    r = requests.get(f"http://{address}:{port}/healthz", timeout=5, headers={"Host": "www.serving.test"})
    return r.status_code == 200


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


SEQSTATS = Path(__file__).resolve().parents[2] / "examples" / "seqstats"
#: The deployed portal's settings: SeqStats' plugin, jobs on the worker VM, in a folder the VMs
#: share (the data plane's VMs share the host's file system; on a real cloud, a shared volume).
PORTAL_SETTINGS = """gateway_name = "SeqStats"
plugins = ["seqstats.gateway"]
jobs_dir = "{jobs}"
[jobs_destinations_map.local]
executor = "local"
[jobs_routing_rules]
"*" = "local"
"""


def _seqstats_wheels(folder: Path) -> tuple[Path, Path]:
    """SeqStats' wheel as it is (0.1.0) and as 0.1.1, built from the example's source."""
    from gateway_kit.scaffold.wheels import build_from_source

    src = folder / "seqstats"
    shutil.copytree(SEQSTATS, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info"))
    one = build_from_source(src, folder / "v1")
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    return one, build_from_source(src, folder / "v2")


def _portal(wheel: Path, settings: Path) -> Any:
    """Two web VMs and a worker VM running SeqStats from ``wheel``, sharing a PostgreSQL that the
    operator names (the test's), with the kit's generated secrets."""
    return _web_only(
        app={"requirement": "seqstats", "wheel": str(wheel), "settings": str(settings)},
        secrets={"gateway_kit_database_url": "env:GK_SERVING_DATABASE_URL"},
        roles={
            "web": {
                "count": 2,
                "flavor": "m3.small",
                "image": "Featured-Ubuntu24",
                "cloud_init": "gateway-kit:web",
            },
            "worker": {
                "count": 1,
                "flavor": "m3.small",
                "image": "Featured-Ubuntu24",
                "cloud_init": "gateway-kit:worker",
            },
        },
    )


DEV_USERS = (
    Path(__file__).resolve().parents[2] / "gateway_kit" / "identity" / "devprovider" / "dev-users.toml"
)
#: The deployed portal's settings for logging in through the development provider at {issuer}.
DEV_LOGIN_SETTINGS = """[identity_providers.dev]
kind = "oidc"
title = "Development provider"
discovery_url = "{issuer}/.well-known/openid-configuration"
client_id = "gateway-kit-dev"
client_secret = "gateway-kit-dev-secret"
scopes = ["openid", "email", "profile", "org.cilogon.userinfo"]
"""


def _job_runs_on_the_worker(tmp_path: Path, database_url: str, portal: str) -> None:
    """A user with a token submits SeqStats' ``composition`` through the load balancer; the
    worker VM runs it to COMPLETED and its output downloads through the load balancer."""
    from gateway_kit.db import db
    from gateway_kit.identity.models import Project, ProjectMember, User
    from gateway_kit.identity.tokens import create_token
    from gateway_kit.jobs import accounting

    shared = make_app(tmp_path / "shared", DATABASE_URL=database_url)  # the VMs migrated it
    with db.session_scope(shared) as s:
        user = User(username="alice", display_name="Alice", email="alice@example.org", role="user")
        group = Project(name="genomics", title="Genomics")
        s.add_all([user, group])
        s.flush()
        s.add(ProjectMember(project_id=group.id, user_id=user.id))
        accounting.set_allocation(s, group, 100.0, None, top_up=False, note="test")
    with shared.test_request_context():
        _row, token = create_token(db.session, db.session.merge(user), "test", ["jobs:read", "jobs:write"], 1)
        db.session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    fasta = (SEQSTATS / "tests" / "data" / "sample.fasta").read_bytes()
    body = {"application": "composition", "inputs": {}}
    r = requests.post(
        f"{portal}/api/v1/jobs",
        headers=auth,
        data={"request": json.dumps(body)},
        files={"fasta": ("reads.fa", fasta)},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job = r.json()["id"]

    def state() -> str:
        return str(requests.get(f"{portal}/api/v1/jobs/{job}", headers=auth, timeout=10).json()["state"])

    wait_until(lambda: state() in ("COMPLETED", "FAILED", "CANCELLED"), timeout=120, what="the job to end")
    assert state() == "COMPLETED"
    out = requests.get(f"{portal}/api/v1/jobs/{job}/outputs/composition.tsv", headers=auth, timeout=10)
    assert out.status_code == 200 and "seq12" in out.text


def _site(cloud: RunningLocalCloud, server_id: str) -> Path:
    """Where ``gk-install`` put the release on that VM (beside the host's gateway-kit)."""
    return _env_file(cloud, server_id).parents[2] / "var" / "lib" / "gateway-kit" / "release" / "site"


@pytest.mark.slow
def test_web_role_serves_healthz_at_its_name_and_secrets_rotate(
    local_cloud_dataplane: RunningLocalCloud,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    cloud = local_cloud_dataplane
    monkeypatch.setenv("GK_SERVING_DATABASE_URL", postgres_url)
    app = make_app(
        tmp_path,
        **{
            **FAST,
            "HOSTING_MEMBER_TIMEOUT": 180.0,
            "HOSTING_SERVER_TIMEOUT": 120.0,
            "HOSTING_DRAIN_SECONDS": 1.0,
        },
    )
    engine = engine_for(app)
    v1, v2 = _seqstats_wheels(tmp_path / "build")
    settings = tmp_path / "portal.toml"
    settings.write_text(PORTAL_SETTINGS.format(jobs=tmp_path / "jobs"))
    spec = _portal(v1, settings)
    shared = sqlalchemy.create_engine(postgres_url)
    try:
        engine.apply(spec)
        address = _www_address(cloud)
        assert address.startswith("127.")  # the load balancer's floating IP, on loopback
        wait_until(lambda: _healthz(address), timeout=180, what="/healthz 200 through the load balancer")
        # the portal is SeqStats, installed from the release's wheel (the host does not have it)
        r = requests.get(
            f"http://{address}:{_port(cloud, address, 80)}/seqstats/", allow_redirects=False, timeout=10
        )
        assert r.status_code == 302 and "/login" in r.headers["Location"]
        with pytest.raises(ImportError):
            __import__("seqstats")

        def worker_seen() -> bool:  # the worker VM's heartbeat in the shared database
            with shared.connect() as db:
                return bool(db.execute(sqlalchemy.text("SELECT count(*) FROM job_workers")).scalar())

        wait_until(worker_seen, timeout=120, what="the worker VM's heartbeat in PostgreSQL")
        _job_runs_on_the_worker(tmp_path, postgres_url, f"http://{address}:{_port(cloud, address, 80)}")

        conn = engine.cloud.conn
        web1 = conn.compute.find_server("standard-web-1")
        env = _env_file(cloud, web1.id)
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        text = env.read_text()
        key = re.search(r"^GATEWAY_KIT_SECRET_KEY=(\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        dep, resources = engine.status("standard")
        assert unseal(app.config, dep.spec[SECRETS]["secret_key"]) == key
        assert re.search(r"^GUNICORN_BIND=127\.\d+\.\d+\.\d+:80$", text, re.M)
        shown = str(dep.spec) + str([vars(r) for r in resources]) + engine.plan(spec).render()
        console = conn.compute.get_server_console_output(web1.id)["output"]
        assert key not in shown and key not in console and "GATEWAY_KIT_SECRET_KEY" not in console

        # release 0.1.1 and a new secret key in one rolling pass, requests flowing all along
        spec = _portal(v2, settings)
        loop = RequestLoop(address)
        loop.start()
        try:
            plan = engine.release(spec, rotate=["secret_key"])
        finally:
            loop.stop.set()
            loop.join(30)
        assert loop.sent > 20 and loop.failed == [], (loop.sent, loop.failed[:5])
        assert {"server:web-1", "server:web-2", "server:worker-1"} <= {c.key for c in plan.changes}
        _, resources = engine.status("standard")
        running = {r.key: r.detail["metadata"][META_RELEASE] for r in resources if r.kind == "server"}
        two = _release(v2)
        assert running == {"server:web-1": two, "server:web-2": two, "server:worker-1": two}
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
        _assert_no_secret_shown(app, cloud, [key], caplog.text)
        engine.destroy("standard")
        assert engine.orphans() == []  # nothing of the deployment is left in the cloud
    finally:
        if any(d.name == "standard" for d in engine.deployments()):
            engine.destroy("standard")
        engine.cloud.close()
        shared.dispose()


def _assert_no_secret_shown(app: Any, cloud: RunningLocalCloud, earlier: list[str], logged: str) -> None:
    """None of the deployment's secrets (now and ``earlier``) is in a log of the test's process,
    a VM's console log or unit journal, the operator's pages or ``deploy status``."""
    from tests.hosting.test_day2 import _cli

    dep, _ = engine_for(app).status("standard")
    secrets = [unseal(app.config, v) for v in dep.spec[SECRETS].values()] + earlier
    assert len(secrets) >= 3 and all(len(x) >= 16 for x in secrets)
    client = app.test_client()
    login(client, make_user(app, "olive", role="operator"))
    shown = {"log": logged, "deploy status": _cli(app, "deploy", "status", "standard").output}
    for page in ("/", "/standard", "/standard/status.json", "/standard/plan"):
        r = client.get(f"/operator/hosting{page}")
        assert r.status_code == 200, page
        shown[page] = r.get_data(as_text=True)
    for path in (cloud.state_dir / "dataplane").rglob("*.log"):  # console.log, journal/<unit>.log
        shown[str(path)] = path.read_text(errors="replace")
    assert any("gunicorn" in text.lower() or "booting worker" in text.lower() for text in shown.values())
    leaks = [(where, n) for where, text in shown.items() for n, x in enumerate(secrets) if x in text]
    assert leaks == []


@pytest.mark.slow
def test_https_through_the_load_balancer_reaches_the_portal_and_http_redirects(
    local_cloud_dataplane: RunningLocalCloud,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """[tls] with a real Pebble: the certificate lands on the TERMINATED_HTTPS listener, whose
    TLS (checked against Pebble's chain, for the name) reaches a web VM's gunicorn; HTTP on port 80
    answers a redirect to the https name (the REDIRECT_PREFIX policy). Headless Chromium, given
    the load balancer's address for the name, logs in through the development OpenID provider
    (the deployed settings point at it; the two web VMs share a PostgreSQL)."""
    from gateway_kit.hosting.tls import ensure_certificate
    from gateway_kit.identity.devprovider import serve_devidp
    from tests.certs import conftest as certs

    cloud = local_cloud_dataplane
    users = tmp_path / "dev-users.toml"
    users.write_text(
        DEV_USERS.read_text().replace(
            '"http://127.0.0.1:5000/login/callback/dev"', '"https://www.serving.test/login/callback/dev"'
        )
    )
    idp, issuer = serve_devidp(users)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    settings = tmp_path / "portal.toml"
    settings.write_text(DEV_LOGIN_SETTINGS.format(issuer=issuer))
    monkeypatch.setenv("GK_SERVING_DATABASE_URL", postgres_url)
    require_service("Pebble", certs.PEBBLE.exists(), "install the Debian package 'pebble'")
    acme = certs.Cloud(cloud)
    pebbles = certs.pebble.__wrapped__(acme)  # the certs suite's Pebble, on this cloud's DNS
    pebble = next(pebbles)
    config = {
        **certs.certs_config(acme, pebble, CERTS_CONTACT_EMAIL="ops@serving.test"),
        **FAST,
        "HOSTING_MEMBER_TIMEOUT": 180.0,
        "HOSTING_SERVER_TIMEOUT": 120.0,
    }
    app = make_app(tmp_path, **config)
    engine = engine_for(app)
    spec = _web_only(
        tls={"names": ["www", "portal"], "redirect_http": True},
        app={"settings": str(settings)},
        secrets={"gateway_kit_database_url": "env:GK_SERVING_DATABASE_URL"},
    )
    try:
        engine.apply(spec)
        line = ensure_certificate(app, spec, engine.cloud_id("standard", "lb"))
        assert "issued for www.serving.test, portal.serving.test" in line
        address = _www_address(cloud)
        trust = tmp_path / "pebble-chain.pem"
        trust.write_bytes(pebble.root_pem() + pebble.intermediate_pem())
        https = _port(cloud, address, 443)

        def healthy() -> bool:
            return _https_get(address, https, "portal.serving.test", "/healthz", trust)[0] == 200

        wait_until(healthy, timeout=180, what="/healthz 200 over https through the load balancer")
        status, body = _https_get(address, https, "www.serving.test", "/healthz", trust)
        assert status == 200 and json.loads(body)["status"] == "ok"
        # a name the certificate does not hold is refused by the client's hostname check
        with pytest.raises(ssl.SSLCertVerificationError):
            _https_get(address, https, "other.serving.test", "/healthz", trust)

        http = requests.get(
            f"http://{address}:{_port(cloud, address, 80)}/healthz?x=1",
            headers={"Host": "www.serving.test"},
            allow_redirects=False,
            timeout=10,
        )
        assert http.status_code in (301, 302, 303, 307, 308)
        assert http.headers["Location"] == "https://www.serving.test/healthz?x=1"
        env = _env_file(cloud, engine.cloud.conn.compute.find_server("standard-web-1").id).read_text()
        assert "GATEWAY_KIT_PUBLIC_URL=https://www.serving.test\n" in env
        if https == 443:  # a browser's URL has no room for the data plane's port mapping
            _chromium_logs_in(address)
    finally:
        engine.destroy("standard")
        engine.cloud.close()
        pebbles.close()
        idp.shutdown()


def _chromium_logs_in(address: str) -> None:
    """Headless Chromium resolves www.serving.test to the load balancer, logs in as ada through
    the development provider's page, and is back on the portal, signed in."""
    from playwright.sync_api import sync_playwright

    from tests.demo_support import CHROMIUM, CHROMIUM_ARGS, require_chromium, sign_in_on_dev_provider_page

    require_chromium()
    rules = f"--host-resolver-rules=MAP www.serving.test {address}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rules], headless=True
        )
        try:
            # Pebble's certificate (checked against its chain above) is not in Chromium's store
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto("https://www.serving.test/")
            page.click("#login-link")
            page.click("#provider-dev")
            sign_in_on_dev_provider_page(page, "ada", "ada-dev-password")
            assert page.url.startswith("https://www.serving.test/")
            assert page.inner_text("#signed-in-as") == "Ada Lovelace"
            page.goto("https://www.serving.test/")  # another request, maybe the other web VM
            assert page.inner_text("#signed-in-as") == "Ada Lovelace"
        finally:
            browser.close()
