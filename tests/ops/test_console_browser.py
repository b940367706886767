"""The issue's done-when, in the real demo and headless Chromium: an operator drains a burst pool,
issues a certificate against the demo's ACME server (Pebble) and destroys a deployment from the
consoles, and each action is in the audit log; a plain user is refused."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from gateway_kit.certs.demo import pebble_binary
from tests.conftest import require_service
from tests.demo_support import chromium_browser, login_with_dev_provider, running_demo, wait_until

SPEC = """
name = "console-demo"
[network]
name = "private"
[roles.web]
count = 1
flavor = "m3.tiny"
image = "cirros-0.6.2-x86_64-disk"
"""
CERT_NAME = "portal.gw-demo.org"


def demo_env_file(instance: Path) -> dict[str, str]:
    """The variables ``source <instance>/demo.env`` would export."""
    env = {}
    for line in (instance / "demo.env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def test_operator_acts_from_the_consoles_and_each_action_is_audited(tmp_path: Path) -> None:
    require_service("Pebble", pebble_binary() is not None, "install Debian's 'pebble' (.ci/services.sh does)")
    with running_demo(tmp_path, ready_timeout=120) as demo, chromium_browser() as browser:
        assert requests.get(demo.url + "/healthz", timeout=10).status_code == 200
        # A deployment to destroy, applied with the CLI from the demo's env file (as the banner says).
        assert (demo.instance / "demo.env").stat().st_mode & 0o077 == 0  # it may hold a client secret
        env = {**demo_env_file(demo.instance), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        assert env["GATEWAY_KIT_CERTS_DIRECTORY_URL"].startswith("https://127.0.0.1:")
        spec = tmp_path / "console-demo.toml"
        spec.write_text(SPEC)
        done = subprocess.run(
            [sys.executable, "-m", "gateway_kit", "deploy", "apply", str(spec)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr

        errors: list[str] = []

        def page_for(username: str) -> Any:
            page = browser.new_context().new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: d.accept())
            login_with_dev_provider(page, demo.url, username)
            return page

        alan = page_for("alan")
        for path in (
            "/operator/burst",
            "/operator/certificates",
            "/operator/hosting/console-demo",
            "/operator/audit",
        ):
            assert alan.goto(demo.url + path).status == 403, path
        alan.close()

        grace = page_for("grace")
        grace.goto(demo.url + "/operator/burst")
        grace.click("#drain-burst")
        grace.wait_for_selector(".flash.success")
        assert "of burst draining" in grace.inner_text(".flash.success")

        grace.goto(demo.url + "/operator/certificates")
        grace.fill("#issue-names", CERT_NAME)
        grace.click("#issue")
        grace.wait_for_selector(f'tr.cert[data-name="{CERT_NAME}"]', timeout=120000)
        assert grace.inner_text(f'tr.cert[data-name="{CERT_NAME}"] td.status') == "valid"

        grace.goto(demo.url + "/operator/hosting/console-demo")
        shown = grace.inner_text("main")  # the deployment view: values, never Python reprs
        assert "server:" in shown and not [r for r in ("={}", "=False", "=True", "{'", "['") if r in shown]
        grace.click("details.destroy > summary")
        grace.fill("#destroy-confirm", "console-demo")
        grace.click("#destroy")
        grace.wait_for_url("**/operator/hosting/console-demo/run")
        wait_until(
            grace,
            "document.querySelector('#run-state') && "
            "document.querySelector('#run-state').dataset.state !== 'running'",
            timeout=180000,
        )
        assert grace.get_attribute("#run-state", "data-state") == "done", grace.inner_text("main")
        assert "Deployment console-demo destroyed" in grace.inner_text("#run-state")

        grace.goto(demo.url + "/operator/audit")
        rows = grace.eval_on_selector_all(
            "#audit-log tbody tr",
            "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))",
        )
        seen = {(r[1], r[2], r[3], r[4]) for r in rows}
        assert ("grace", "burst.drain", "burst", "ok") in seen, rows
        assert ("grace", "certs.issue", CERT_NAME, "ok") in seen, rows
        assert ("grace", "hosting.destroy", "console-demo", "ok") in seen, rows
        assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    # The banner says how to reach the demo's cloud from another shell.
    assert f"export OS_CLIENT_CONFIG_FILE={demo.instance / 'localcloud' / 'clouds.yaml'}" in demo.output
    assert f"source {demo.instance / 'demo.env'}" in demo.output
