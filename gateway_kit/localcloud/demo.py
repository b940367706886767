"""The local cloud as a part of ``gateway-kit demo`` (entry point ``gateway_kit.demo_parts``)."""

from __future__ import annotations

import subprocess
from typing import Any

from gateway_kit.localcloud.readiness import serve_argv, wait_until_up
from gateway_kit.process_lifetime import stop_process


class LocalCloudPart:
    """Starts ``python -m gateway_kit.localcloud serve`` and points the gateway at it.

    Lifecycle: :meth:`start` spawns the server on a free loopback port with its state under
    ``<instance>/localcloud`` (so a second demo run finds the servers, volumes... of the first)
    and sets ``OS_CLIENT_CONFIG_FILE`` for every child process and ``CLOUD_NAME = "local"`` for
    the gateway at once; :meth:`wait_ready` waits until Keystone answers (and ``clouds.yaml``
    exists). The data plane is on (``--dataplane``, instances'
    directories under ``<instance>/localcloud/dataplane``): the demo's burst instances really run.
    :meth:`stop` terminates the server (the demo also ends its process group).
    """

    name = "localcloud"
    order = 10

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.dns_port = 0

    def start(self, ctx: Any) -> None:
        port = ctx.free_port()
        dns_port = ctx.free_port()
        state_dir = ctx.instance_path / "localcloud"
        clouds_yaml = state_dir / "clouds.yaml"
        self.url = f"http://{ctx.host}:{port}"
        self.proc = ctx.spawn(
            "localcloud",
            serve_argv(
                port, state_dir, "--dataplane", host=ctx.host, clouds_yaml=clouds_yaml, dns_port=dns_port
            ),
        )
        ctx.env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
        ctx.settings["CLOUD_NAME"] = "local"
        # Certificates check TXT visibility on the local cloud's DNS server.
        ctx.settings["CERTS_DNS_NAMESERVERS"] = [f"{ctx.host}:{dns_port}"]
        self.dns_port = dns_port
        ctx.say(
            f"local cloud   {self.url}/identity  (clouds.yaml: {clouds_yaml}; clouds "
            "'local', 'local-admin', 'local-alt')"
        )
        ctx.say(f"cloud DNS     dig @{ctx.host} -p {dns_port} NAME A")

    def wait_ready(self) -> None:
        assert self.proc is not None, "start() first"
        wait_until_up(self.url, timeout=60, process=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=10)
