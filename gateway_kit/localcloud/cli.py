"""``gateway-kit localcloud``: serve the local cloud, run its fidelity check.

The foundation's CLI adds :data:`localcloud` as a sub-command group; until then (or without the
rest of the kit) use ``python -m gateway_kit.localcloud ...``.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from gateway_kit.localcloud.clock import ClockConfig
from gateway_kit.localcloud.core import LocalCloudConfig


def _state_dir_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--state-dir``: the local cloud's state directory (``instance/localcloud`` by default)."""
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("instance/localcloud"),
        show_default=True,
        help=help,
    )


@click.group("localcloud")
def localcloud() -> None:
    """An OpenStack-compatible cloud on loopback (Keystone, Nova, Glance, Cinder, Neutron...)."""


@localcloud.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (keep it on loopback: the control API is unauthenticated).",
)
@click.option(
    "--port",
    default=18080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@_state_dir_option("Where the SQLite state lives; a restart with the same directory keeps every resource.")
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML seed (projects, users, flavors, images, networks, quotas) applied to "
    "a new state directory. Default: the packaged seed.toml.",
)
@click.option(
    "--clouds-yaml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write clouds.yaml. Default: STATE_DIR/clouds.yaml.",
)
@click.option(
    "--clock",
    "clock_mode",
    type=click.Choice(["time", "poll"]),
    default="time",
    show_default=True,
    help="Advance state transitions by wall-clock time or per read (poll).",
)
@click.option(
    "--delay",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds per state transition step (time clock).",
)
@click.option(
    "--polls",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Reads per state transition step (poll clock).",
)
@click.option("--public-url", help="Base URL for links instead of each request's Host.")
@click.option(
    "--dns-port",
    default=15353,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the DNS server answering from the Designate zones (UDP and TCP; 0: any free port).",
)
@click.option("--no-dns", is_flag=True, help="Do not run the DNS server.")
@click.option(
    "--dataplane",
    is_flag=True,
    help="Run each ACTIVE instance's cloud-config (write_files, runcmd) as local "
    "processes on its own 127.100.x.y address, with systemd units (see gateway_kit.localcloud.dataplane).",
)
@click.option(
    "--dataplane-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where instances' directories live with --dataplane. Default: STATE_DIR/dataplane.",
)
def serve(
    host: str,
    port: int,
    state_dir: Path,
    seed: Path | None,
    clouds_yaml: Path | None,
    clock_mode: str,
    delay: float,
    polls: int,
    public_url: str | None,
    dns_port: int,
    no_dns: bool,
    dataplane: bool,
    dataplane_root: Path | None,
) -> None:
    """Serve the local cloud until interrupted and write its clouds.yaml."""
    from gateway_kit.localcloud.server import LocalCloudServer

    config = LocalCloudConfig(
        state_dir=state_dir,
        seed=seed,
        clock=ClockConfig(mode=clock_mode, delay=delay, polls=polls),
        public_url=public_url,
    )
    try:
        server = LocalCloudServer(config, host=host, port=port, dns_port=None if no_dns else dns_port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    path = server.write_clouds_yaml(clouds_yaml or state_dir / "clouds.yaml")

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"localcloud: serving {server.url} (state: {state_dir})")
    click.echo(
        f"localcloud: clouds.yaml written to {path}; clouds: local, local-admin, "
        "local-alt, devstack, devstack-admin, devstack-alt"
    )
    click.echo(f"localcloud: export OS_CLIENT_CONFIG_FILE={path.resolve()}")
    try:
        server._start_dns()
    except OSError as exc:
        server.cloud.close()
        raise click.ClickException(f"cannot serve DNS on {host}:{dns_port}: {exc}") from exc
    if server.dns_port is not None:
        click.echo(f"localcloud: DNS on {host}:{server.dns_port} (dig @{host} -p {server.dns_port} NAME A)")
    if dataplane:
        from gateway_kit.localcloud import dataplane as plane

        root = dataplane_root or state_dir / "dataplane"
        root.mkdir(parents=True, exist_ok=True)
        plane.enable(server.cloud, root)
        click.echo(f"localcloud: data plane on; instances run under {root} on 127.100.x.y")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("localcloud: stopping")
    finally:
        if dataplane:
            plane.disable(server.cloud)
        server.cloud.close()


@localcloud.command("resolve")
@click.argument("name")
@click.option("--dns-host", default="127.0.0.1", show_default=True, help="The local cloud's DNS server.")
@click.option(
    "--dns-port",
    default=15353,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the local cloud's DNS server to ask.",
)
@_state_dir_option("The cloud's state directory (for the data plane's port map).")
@click.option(
    "--dataplane-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The data plane's directory if not STATE_DIR/dataplane.",
)
def resolve(name: str, dns_host: str, dns_port: int, state_dir: Path, dataplane_root: Path | None) -> None:
    """Print NAME's address from the local DNS server and how to reach it (curl, Chromium)."""
    from gateway_kit.localcloud.dataplane import names

    try:
        addresses = names.resolve(name, dns_host, dns_port)
    except OSError as exc:
        raise click.ClickException(f"{exc}; is 'gateway-kit localcloud serve' running?") from exc
    if not addresses:
        raise click.ClickException(
            f"{name} has no A record in the local cloud's zones (create a recordset in Designate)"
        )
    mapped = names.read_ports(dataplane_root or state_dir / "dataplane")
    for address in addresses:
        for line in names.hints(name.rstrip("."), address, mapped):
            click.echo(line)


@localcloud.command("hostaddr")
@click.argument("env_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("variable")
@click.option(
    "--nameserver",
    envvar="INSTANCE_NAMESERVER",
    required=True,
    help="HOST:PORT of the local cloud's DNS server (a data-plane instance has it in $INSTANCE_NAMESERVER).",
)
@click.option(
    "--wait",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to keep asking while the name has no record yet.",
)
def hostaddr(env_file: Path, variable: str, nameserver: str, wait: float) -> None:
    """On a data-plane instance: make VARIABLE's PostgreSQL URL in ENV_FILE connect to its host's
    address from the local cloud's DNS server (libpq's hostaddr=; the name stays the URL's host).
    The instance's own resolver is the host's, which does not know the deployment's zone."""
    from gateway_kit.localcloud.dataplane import names

    try:
        names.pin_hostaddr(env_file, variable, nameserver, wait, say=click.echo)
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc


@localcloud.command("fidelity")
@click.argument("pytest_args", nargs=-1)
def fidelity(pytest_args: tuple[str, ...]) -> None:
    """Run openstacksdk's own functional tests against a fresh local cloud."""
    from gateway_kit.localcloud import fidelity as runner

    status = runner.run(list(pytest_args))
    if status:
        raise SystemExit(status)
