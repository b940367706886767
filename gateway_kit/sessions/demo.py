"""The sessions part of ``gateway-kit demo``: example interactive applications and the session proxy.

The proxy is the demo's front door for sessions: it serves ``/sessions/<id>/`` itself and forwards
every other path to the gateway, so the Connect links (``SESSIONS_PROXY_URL``) share the
gateway's login cookie (cookies are per host, not per port).
"""

from __future__ import annotations

import sys

from ..demo import DemoContext


class SessionsDemoPart:
    name = "sessions"
    order = 60  # after jobs (50), before the worker (80), which must see the same settings

    def start(self, ctx: DemoContext) -> None:
        ctx.add_plugin("gateway_kit.sessions.examples")
        ctx.settings.setdefault("SESSIONS_POLL_INTERVAL", 0.5)
        port = ctx.free_port()
        proxy_url = f"http://{ctx.host}:{port}"
        ctx.settings["SESSIONS_PROXY_URL"] = proxy_url
        ctx.settings["SESSIONS_PROXY_LISTEN"] = f"{ctx.host}:{port}"
        ctx.settings["SESSIONS_PROXY_UPSTREAM"] = ctx.web_url

    def background(self, ctx: DemoContext) -> None:
        """The proxy starts once the gateway listens: no page needs it before a session runs."""
        proc = ctx.spawn("session-proxy", [sys.executable, "-m", "gateway_kit", "sessions", "proxy"])
        ctx.say(
            f"sessions      proxy {ctx.settings['SESSIONS_PROXY_URL']}/sessions/<id>/ (pid {proc.pid}); "
            "apps: jupyterlab, hello-web"
        )

    def stop(self) -> None:
        pass  # the context ends every child's process group
