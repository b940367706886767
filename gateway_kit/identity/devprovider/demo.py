"""The demo part that runs the development OpenID provider and points the gateway at it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from ...demo import DemoContext
from .cli import DEFAULT_USERS

DEMO_CLIENT_ID = "gateway-kit-dev"
DEMO_CLIENT_SECRET = "gateway-kit-dev-secret"  # a published development fixture


class DevIdPPart:
    """Starts ``gateway-kit devidp serve`` on a free loopback port and configures provider ``dev``.

    Demo users come from the packaged ``dev-users.toml`` (the same as ``auth/dev-users.toml``):
    ``ada`` is an admin (group ``gk-demo-admins``), ``grace`` an operator, ``alan`` a user.
    """

    name = "devidp"
    order = 20

    def __init__(self, users_file: Path = DEFAULT_USERS, timeout: float = 30.0) -> None:
        self.users_file = users_file
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.discovery_url = ""
        self.log = Path()

    def start(self, ctx: DemoContext) -> None:
        port = ctx.free_port()
        issuer = f"http://{ctx.host}:{port}"
        proc = ctx.spawn(
            "devidp",
            [
                sys.executable,
                "-m",
                "gateway_kit",
                "devidp",
                "serve",
                "--host",
                ctx.host,
                "--port",
                str(port),
                "--users",
                str(self.users_file),
            ],
        )
        url = self.discovery_url = f"{issuer}/.well-known/openid-configuration"
        self.proc, self.log = proc, ctx.instance_path / "logs" / "devidp.log"
        providers: dict[str, Any] = dict(ctx.settings.get("IDENTITY_PROVIDERS") or {})
        providers["dev"] = {
            "kind": "oidc",
            "title": "Development provider (demo users)",
            "discovery_url": url,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "scopes": ["openid", "email", "profile", "org.cilogon.userinfo"],
            "groups_claim": "isMemberOf",
        }
        web_url = str(getattr(ctx, "web_url", "") or "")
        if web_url:  # the provider's access tokens for resource=<web_url>/api work on the API
            providers["dev"]["api_audience"] = f"{web_url.rstrip('/')}/api"
        ctx.settings["IDENTITY_PROVIDERS"] = providers
        rules: dict[str, Any] = dict(ctx.settings.get("IDENTITY_ROLE_RULES") or {})
        rules.setdefault("admin", ["gk-demo-admins"])
        rules.setdefault("operator", ["gk-demo-operators"])
        ctx.settings["IDENTITY_ROLE_RULES"] = rules
        # The demo users in the astro-lab group join the demo community project (its allocation
        # pays for their jobs; datasets are created in it).
        projects: dict[str, Any] = dict(ctx.settings.get("IDENTITY_PROJECT_MAP") or {})
        projects.setdefault("astro-lab", "demo")
        ctx.settings["IDENTITY_PROJECT_MAP"] = projects
        ctx.say(
            f"dev login     {issuer} (DEVELOPMENT ONLY) users: ada / ada-dev-password (admin), "
            "grace / grace-dev-password (operator), alan / alan-dev-password"
        )

    def wait_ready(self) -> None:
        """Wait until the provider serves its discovery document (it booted meanwhile)."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the development OpenID provider exited (status {self.proc.returncode}); see {self.log}"
                )
            try:
                if requests.get(self.discovery_url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the development OpenID provider did not answer at {self.discovery_url}")
            time.sleep(0.05)

    def stop(self) -> None:
        pass  # the demo context ends the child's process group
